#!/usr/bin/env python3
"""Time one model in Python's onnxruntime, in-process, the way edgefleet's
ort runtime runs it: one intra-op thread, one inter-op thread, every graph
optimization, CPU provider. Prints one JSON line.

    ort_time.py MODEL.onnx ROWS.csv --batch 540 [--warmup 20] [--runs 200]

ROWS.csv has the evaluation format (features, then a label); the first
`batch` rows (cycled if fewer) make the input. Used by the runtime bench
(crates/optimize/examples/runtime_bench.rs) to compare against.
"""

import argparse
import json
import time

import numpy as np
import onnxruntime as ort


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("rows")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--runs", type=int, default=200)
    args = ap.parse_args()
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(args.model, opts, providers=["CPUExecutionProvider"])
    inp = sess.get_inputs()[0]
    data = np.loadtxt(args.rows, delimiter=",", ndmin=2)[:, :-1].astype(np.float32)
    idx = np.arange(args.batch) % len(data)
    shape = [args.batch] + [int(d) for d in inp.shape[1:]]
    feed = {inp.name: np.ascontiguousarray(data[idx].reshape(shape))}
    for _ in range(args.warmup):
        sess.run(None, feed)
    times = []
    for _ in range(args.runs):
        t = time.perf_counter()
        sess.run(None, feed)
        times.append((time.perf_counter() - t) * 1e3)
    print(json.dumps({"onnxruntime": ort.__version__, "batch": args.batch, "p50_ms": float(np.percentile(times, 50)),
                      "mean_ms": float(np.mean(times)), "runs": args.runs}))


if __name__ == "__main__":
    main()
