#!/usr/bin/env python3
"""Static int8 with calibration data: edgefleet's QDQ rewrite against ONNX
Runtime's `quantize_static`, on the same model and the same calibration
rows, in one run: size, accuracy on the evaluation CSV, quantize time and
ONNX Runtime latency (one thread, batch 1 and 540), side by side.

    bench_quantize_static.py [--model assets/models/mlp_digits.onnx]
                             [--eval assets/models/digits_eval.csv]
                             [--calib CSV] [--rows 300]
                             [--quantizer PATH]

--calib defaults to the first --rows rows of scikit-learn's digits
training split (the split assets/models was trained on), so calibration
and evaluation rows differ; without scikit-learn the first rows of the
evaluation CSV are used (and the script says so). --quantizer is the
`quantize_static` example binary (cargo build --release -p
edgefleet-optimize --example quantize_static). ORT runs QDQ with
per-channel int8 weights and uint8 activations, MinMax and Percentile
(99.99) calibration, like edgefleet's two methods.
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
from onnxruntime.quantization import CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType, quantize_static

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class Rows(CalibrationDataReader):
    def __init__(self, name, shape, x):
        self.it = iter([{name: x[i : i + 1].reshape([1] + shape)} for i in range(len(x))])

    def get_next(self):
        return next(self.it, None)


def session(path):
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    return ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])


def p50_ms(sess, feed, runs):
    for _ in range(10):
        sess.run(None, feed)
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        sess.run(None, feed)
        times.append((time.perf_counter() - t) * 1e3)
    return float(np.percentile(times, 50))


def measure(path, x, y):
    sess = session(path)
    inp = sess.get_inputs()[0]
    shape = [int(d) for d in inp.shape[1:]]
    pred = sess.run(None, {inp.name: x.reshape([-1] + shape)})[0]
    big = np.resize(x, (540, x.shape[1])).reshape([540] + shape)
    return {
        "size": os.path.getsize(path),
        "accuracy": float((pred.argmax(1) == y).mean()),
        "pred": pred.argmax(1),
        "b1_ms": p50_ms(sess, {inp.name: x[:1].reshape([1] + shape)}, 300),
        "b540_ms": p50_ms(sess, {inp.name: big}, 30),
    }


def calibration_rows(args, x_eval):
    if args.calib:
        return np.loadtxt(args.calib, delimiter=",", ndmin=2)[: args.rows, :-1].astype(np.float32), args.calib
    try:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
    except ImportError:
        return x_eval[: args.rows], f"the first {args.rows} evaluation rows (scikit-learn missing)"
    d = load_digits()
    x = (d.data / 16.0).astype(np.float32)
    x_train, _, _, _ = train_test_split(x, d.target, test_size=0.3, random_state=0, stratify=d.target)
    return x_train[: args.rows], f"the first {args.rows} rows of the digits training split"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=os.path.join(ROOT, "assets/models/mlp_digits.onnx"))
    ap.add_argument("--eval", default=os.path.join(ROOT, "assets/models/digits_eval.csv"))
    ap.add_argument("--calib")
    ap.add_argument("--rows", type=int, default=300)
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    ap.add_argument("--quantizer", default=os.path.join(target, "release/examples/quantize_static"))
    args = ap.parse_args()
    if not os.path.exists(args.quantizer):
        ap.error(f"{args.quantizer} missing: cargo build --release -p edgefleet-optimize --example quantize_static")

    data = np.loadtxt(args.eval, delimiter=",", ndmin=2)
    x, y = data[:, :-1].astype(np.float32), data[:, -1].astype(np.int64)
    calib, calib_what = calibration_rows(args, x)
    tmp = tempfile.mkdtemp(prefix="bench_quantize_static_")
    calib_csv = os.path.join(tmp, "calib.csv")
    np.savetxt(calib_csv, np.hstack([calib, np.zeros((len(calib), 1))]), delimiter=",", fmt="%g")

    float_m = measure(args.model, x, y)
    rows = []
    for method, ort_method in (("minmax", CalibrationMethod.MinMax), ("percentile:99.99", CalibrationMethod.Percentile)):
        out = os.path.join(tmp, f"edgefleet_{method.replace(':', '_')}.onnx")
        res = subprocess.run([args.quantizer, args.model, calib_csv, out, method], capture_output=True, text=True)
        if res.returncode != 0:
            sys.exit(f"quantize_static failed: {res.stderr}")
        rows.append((f"edgefleet int8-static {method}", out, json.loads(res.stdout)["transform_ms"]))
        out = os.path.join(tmp, f"ort_{method.replace(':', '_')}.onnx")
        sess = session(args.model)
        inp = sess.get_inputs()[0]
        t = time.perf_counter()
        quantize_static(args.model, out, Rows(inp.name, [int(d) for d in inp.shape[1:]], calib),
                        quant_format=QuantFormat.QDQ, per_channel=True, activation_type=QuantType.QUInt8,
                        weight_type=QuantType.QInt8, calibrate_method=ort_method,
                        extra_options={"CalibPercentile": 99.99})
        rows.append((f"ORT quantize_static {method}", out, (time.perf_counter() - t) * 1e3))

    print(f"model {os.path.relpath(args.model, ROOT)}, {len(y)} eval rows, calibration: {calib_what}; "
          f"onnxruntime {ort.__version__}, one thread")
    print(f"{'':38}{'size B':>10}{'accuracy':>10}{'agree':>8}{'quant ms':>10}{'b1 ms':>9}{'b540 ms':>9}")
    print(f"{'float original':38}{float_m['size']:>10}{float_m['accuracy']:>10.4f}{1.0:>8.3f}{0.0:>10.1f}"
          f"{float_m['b1_ms']:>9.4f}{float_m['b540_ms']:>9.3f}")
    results = {}
    for name, path, qms in rows:
        m = measure(path, x, y)
        results[name] = (m, qms)
        agree = float((m["pred"] == float_m["pred"]).mean())
        print(f"{name:38}{m['size']:>10}{m['accuracy']:>10.4f}{agree:>8.3f}{qms:>10.1f}{m['b1_ms']:>9.4f}{m['b540_ms']:>9.3f}")
    for method in ("minmax", "percentile:99.99"):
        (e, eq), (o, oq) = results[f"edgefleet int8-static {method}"], results[f"ORT quantize_static {method}"]
        print(f"{method}: edgefleet / ORT size {e['size'] / o['size']:.3f}x, accuracy {e['accuracy'] - o['accuracy']:+.4f}, "
              f"batch-540 latency {e['b540_ms'] / o['b540_ms']:.2f}x; vs float: {float_m['b540_ms'] / e['b540_ms']:.2f}x faster at batch 540")
    return 0


if __name__ == "__main__":
    sys.exit(main())
