#!/usr/bin/env python3
"""Make the benchmark's wide MLP, 64-1024-512-10 (ReLU, Softmax), trained on
scikit-learn's bundled digits data (the same split as assets/models:
train_test_split(test_size=0.3, random_state=0, stratify=y)), exported with
onnx.helper in the layout of assets/models/mlp_digits.onnx (MatMul + Add,
opset 13, symbolic batch `N`). Training is short (10 epochs of Adam,
seconds): the benchmark needs realistic weights and activations, not the
best accuracy. Also writes the training rows as a calibration CSV.

    pip install scikit-learn onnx numpy
    make_wide_mlp.py OUT.onnx [CALIBRATION.csv]
"""

import sys
import warnings

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier


def main():
    out = sys.argv[1]
    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float32)
    x_train, _, y_train, _ = train_test_split(x, digits.target, test_size=0.3, random_state=0, stratify=digits.target)
    clf = MLPClassifier(hidden_layer_sizes=(1024, 512), max_iter=10, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(x_train, y_train)
    nodes, inits, prev = [], [], "input"
    for i, (w, b) in enumerate(zip(clf.coefs_, clf.intercepts_), start=1):
        inits += [numpy_helper.from_array(w.astype(np.float32), f"fc{i}.weight"),
                  numpy_helper.from_array(b.astype(np.float32), f"fc{i}.bias")]
        nodes += [helper.make_node("MatMul", [prev, f"fc{i}.weight"], [f"fc{i}.matmul"]),
                  helper.make_node("Add", [f"fc{i}.matmul", f"fc{i}.bias"], [f"fc{i}.add"])]
        prev = f"fc{i}.add"
        if i < len(clf.coefs_):
            nodes.append(helper.make_node("Relu", [prev], [f"fc{i}.relu"]))
            prev = f"fc{i}.relu"
    nodes.append(helper.make_node("Softmax", [prev], ["probabilities"], axis=1))
    graph = helper.make_graph(
        nodes, "mlp_wide", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 64])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", 10])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, out)
    if len(sys.argv) > 2:
        np.savetxt(sys.argv[2], np.hstack([x_train, y_train[:, None]]), delimiter=",", fmt="%g")
    print(f"wrote {out} (train accuracy {clf.score(x_train, y_train):.4f})")


if __name__ == "__main__":
    main()
