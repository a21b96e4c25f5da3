#!/usr/bin/env python3
"""Quantize one model with edgefleet and with onnxruntime, in one run, and
print sizes, accuracies, quantize times and latencies side by side.

    bench_quantize.py [--model assets/models/mlp_digits.onnx]
                      [--eval assets/models/digits_eval.csv]
                      [--edgefleet target/debug/edgefleet]

edgefleet: `edgefleet optimize MODEL --recipe int8 --eval CSV --json` and
the same with `int8-dynamic`; quantize time is the report's
`transform_ms` (graph rewrite only), latency is tract's batch-1 p50 from
the report (single thread, after warm-up).
onnxruntime: `quantize_dynamic(per_channel=True, weight_type=QInt8)`,
timed around the call; latency is ORT's batch-1 p50 with one intra-op
thread after warm-up. Ratios are edgefleet ÷ ORT (below 1 = edgefleet
smaller / faster).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import onnxruntime as ort
from onnxruntime.quantization import QuantType, quantize_dynamic

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def ort_session(path):
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    return ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])


def ort_eval(path, x, y, runs=300):
    sess = ort_session(path)
    inp = sess.get_inputs()[0]
    shape = [-1] + [int(d) for d in inp.shape[1:]]
    feed = x.reshape(shape)
    acc = float((sess.run(None, {inp.name: feed})[0].argmax(1) == y).mean())
    one = feed[:1]
    for _ in range(20):
        sess.run(None, {inp.name: one})
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        sess.run(None, {inp.name: one})
        times.append((time.perf_counter() - t) * 1e3)
    return acc, float(np.percentile(times, 50))


def edgefleet(binary, model, csv, recipe, out):
    cmd = [binary, "optimize", model, "--recipe", recipe, "--eval", csv, "-o", out, "--json", "--runs", "300"]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({res.returncode}): {res.stderr}")
    return json.loads(res.stdout)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=os.path.join(ROOT, "assets/models/mlp_digits.onnx"))
    ap.add_argument("--eval", default=os.path.join(ROOT, "assets/models/digits_eval.csv"))
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    default_bin = next(
        (p for p in (os.path.join(target, "release/edgefleet"), os.path.join(target, "debug/edgefleet")) if os.path.exists(p)),
        None,
    )
    ap.add_argument("--edgefleet", default=default_bin)
    args = ap.parse_args()
    if not args.edgefleet:
        ap.error("no edgefleet binary found: build it (cargo build -p edgefleet) or pass --edgefleet")

    data = np.loadtxt(args.eval, delimiter=",", ndmin=2)
    x, y = data[:, :-1].astype(np.float32), data[:, -1].astype(np.int64)
    tmp = tempfile.mkdtemp(prefix="bench_quantize_")

    ef_int8 = edgefleet(args.edgefleet, args.model, args.eval, "int8", os.path.join(tmp, "ef_int8.onnx"))
    ef_dyn = edgefleet(args.edgefleet, args.model, args.eval, "int8-dynamic", os.path.join(tmp, "ef_int8_dynamic.onnx"))

    ort_out = os.path.join(tmp, "ort_int8_dynamic.onnx")
    t = time.perf_counter()
    quantize_dynamic(args.model, ort_out, per_channel=True, weight_type=QuantType.QInt8)
    ort_quant_ms = (time.perf_counter() - t) * 1e3
    ort_acc, ort_lat = ort_eval(ort_out, x, y)
    ort_float_acc, ort_float_lat = ort_eval(args.model, x, y)
    ort_size = os.path.getsize(ort_out)

    print(f"model {os.path.relpath(args.model)} ({os.path.getsize(args.model)} bytes), {len(y)} eval rows, edgefleet binary {os.path.relpath(args.edgefleet)}")
    print(f"float original: tract p50 {ef_int8['latency_ms_before']:.4f} ms, ORT p50 {ort_float_lat:.4f} ms, accuracy {ort_float_acc:.4f}")
    hdr = f"{'':28}{'size B':>9}{'accuracy':>10}{'quantize ms':>13}{'latency ms':>12}  runtime"
    print(hdr)
    rows = [
        ("edgefleet int8", ef_int8["size_after_bytes"], ef_int8["accuracy_after"], ef_int8["transform_ms"], ef_int8["latency_ms_after"], "tract"),
        ("edgefleet int8-dynamic", ef_dyn["size_after_bytes"], ef_dyn["accuracy_after"], ef_dyn["transform_ms"], ef_dyn["latency_ms_after"], "tract"),
        ("ORT quantize_dynamic", ort_size, ort_acc, ort_quant_ms, ort_lat, "onnxruntime"),
    ]
    for name, size, acc, qms, lat, rt in rows:
        print(f"{name:28}{size:>9}{acc:>10.4f}{qms:>13.3f}{lat:>12.4f}  {rt}")
    for name, size, acc, qms, lat, _ in rows[:2]:
        print(
            f"{name} / ORT: size {size / ort_size:.3f}×, accuracy {acc - ort_acc:+.4f}, "
            f"quantize time {qms / ort_quant_ms:.3f}×, latency {lat / ort_lat:.2f}× (different runtimes)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
