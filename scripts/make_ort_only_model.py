#!/usr/bin/env python3
"""Make assets/models/mlp_digits_qoperator.onnx: the shipped MLP quantized by
ONNX Runtime's `quantize_static` in QOperator format (QLinearMatMul,
com.microsoft QLinearAdd, QLinearSoftmax...). ONNX Runtime runs it; tract
cannot load it (it has no QLinearAdd), so the tests use it as the model
that only ONNX Runtime can run.

Calibration: the first 200 rows of assets/models/digits_eval.csv, MinMax.

    pip install onnx onnxruntime==1.32.0 numpy
    python3 scripts/make_ort_only_model.py [--format qdq --out PATH]

`--format qdq` writes ORT's QDQ form instead (QuantizeLinear /
DequantizeLinear around every op, Softmax included): tract loads that one
but computes wrong scores for it, which docs/runtimes.md shows.
"""

import argparse
import os

import numpy as np
from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELS = os.path.join(ROOT, "assets/models")


class Rows(CalibrationDataReader):
    def __init__(self, x):
        self.rows = iter([{"input": x[i : i + 1]} for i in range(len(x))])

    def get_next(self):
        return next(self.rows, None)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--format", choices=["qoperator", "qdq"], default="qoperator")
    ap.add_argument("--out", default=os.path.join(MODELS, "mlp_digits_qoperator.onnx"))
    args = ap.parse_args()
    data = np.loadtxt(os.path.join(MODELS, "digits_eval.csv"), delimiter=",", ndmin=2)
    x = data[:200, :-1].astype(np.float32)
    out = args.out
    quantize_static(
        os.path.join(MODELS, "mlp_digits.onnx"),
        out,
        Rows(x),
        quant_format=QuantFormat.QOperator if args.format == "qoperator" else QuantFormat.QDQ,
        per_channel=True,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
    )
    print(f"wrote {os.path.relpath(out, ROOT)} ({os.path.getsize(out)} bytes)")


if __name__ == "__main__":
    main()
