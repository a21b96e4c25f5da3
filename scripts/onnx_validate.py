#!/usr/bin/env python3
"""Check that ONNX files edgefleet wrote are valid and that other runtimes
load them and agree with the original.

    onnx_validate.py MODEL.onnx... [--eval CSV --reference ORIG.onnx]
                     [--min-agreement 0.98]

For each model: onnx.checker.check_model(full_check=True), an onnxruntime
session, and (with --eval and --reference) top-1 agreement with the
reference on the CSV rows (features, then the label last). Exits 1 if any
check fails, 2 on bad usage.
"""

import argparse
import sys

import numpy as np
import onnx
import onnxruntime as ort


def load_csv(path):
    data = np.loadtxt(path, delimiter=",", dtype=np.float64, ndmin=2)
    return data[:, :-1].astype(np.float32), data[:, -1].astype(np.int64)


def predict(path, x):
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    inp = sess.get_inputs()[0]
    sample_shape = [int(d) for d in inp.shape[1:]]
    batch = inp.shape[0]
    feed = x.reshape([-1] + sample_shape)
    if isinstance(batch, int) and batch > 0 and batch != len(feed):
        # A model with a fixed batch runs in chunks, the last zero-padded.
        outs = []
        for s in range(0, len(feed), batch):
            chunk = feed[s:s + batch]
            pad = np.zeros([batch - len(chunk)] + sample_shape, np.float32)
            out = sess.run(None, {inp.name: np.concatenate([chunk, pad])})[0]
            outs.append(out[: len(chunk)])
        return np.concatenate(outs)
    return sess.run(None, {inp.name: feed})[0]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="+")
    ap.add_argument("--eval")
    ap.add_argument("--reference")
    ap.add_argument("--min-agreement", type=float, default=0.98)
    args = ap.parse_args()
    if bool(args.eval) != bool(args.reference):
        ap.error("--eval and --reference go together")

    x = y = ref = None
    if args.eval:
        x, y = load_csv(args.eval)
        ref = predict(args.reference, x).argmax(1)
        print(f"reference {args.reference}: accuracy {(ref == y).mean():.4f} on {len(y)} rows")

    failed = 0
    for path in args.models:
        try:
            model = onnx.load(path)
            onnx.checker.check_model(model, full_check=True)
            line = f"ok   {path}: checker passed, opset {model.opset_import[0].version}"
            if x is not None:
                pred = predict(path, x).argmax(1)
                agree = float((pred == ref).mean())
                line += f", onnxruntime accuracy {(pred == y).mean():.4f}, agreement {agree:.4f}"
                if agree < args.min_agreement:
                    raise ValueError(f"agreement {agree:.4f} below {args.min_agreement}")
            else:
                ort.InferenceSession(path, providers=["CPUExecutionProvider"])
                line += ", onnxruntime loads it"
            print(line)
        except Exception as e:  # report every model, then fail
            failed += 1
            print(f"FAIL {path}: {e}")
    print(f"{len(args.models) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
