#!/usr/bin/env python3
"""Make the teacher and data for the distillation benchmark
(crates/optimize/examples/bench_distill.rs).

    python3 scripts/distill_bench_setup.py [OUT_DIR]   (default: target/distill-bench)

Writes into OUT_DIR:
  teacher_1024_512.onnx  MLP 64-1024-512-10 (MatMul + Add + Relu, Softmax
                         probabilities), input float[N,64], trained with
                         scikit-learn's MLPClassifier (seed 0)
  digits_train.csv       the training 70 % (1,257 rows): 64 features / 16, label last
  digits_test.csv        the held-out 30 % (540 rows), the same split as
                         assets/models/digits_eval.csv

The data is scikit-learn's bundled copy of the UCI digits (read from the
installed wheel; nothing is downloaded). Needs scikit-learn, onnx, numpy
(pip install scikit-learn onnx numpy). Idempotent: files already there are
kept unless --force.
"""

import argparse
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier

SEED = 0


def write_csv(path, x, y):
    with open(path, "w") as f:
        for row, label in zip(x, y):
            f.write(",".join(f"{v:.4g}" for v in row) + f",{label}\n")


def export(clf, path):
    nodes, inits, prev = [], [], "input"
    n = len(clf.coefs_)
    for i, (w, b) in enumerate(zip(clf.coefs_, clf.intercepts_)):
        k = i + 1
        inits.append(numpy_helper.from_array(w.astype(np.float32), f"fc{k}.weight"))
        inits.append(numpy_helper.from_array(b.astype(np.float32), f"fc{k}.bias"))
        nodes.append(helper.make_node("MatMul", [prev, f"fc{k}.weight"], [f"fc{k}.mm"], name=f"fc{k}_MatMul"))
        nodes.append(helper.make_node("Add", [f"fc{k}.mm", f"fc{k}.bias"], [f"fc{k}.add"], name=f"fc{k}_Add"))
        prev = f"fc{k}.add"
        if k < n:
            nodes.append(helper.make_node("Relu", [prev], [f"fc{k}.relu"], name=f"fc{k}_Relu"))
            prev = f"fc{k}.relu"
    nodes.append(helper.make_node("Softmax", [prev], ["probabilities"], axis=1, name="softmax"))
    graph = helper.make_graph(
        nodes,
        "teacher_1024_512",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 64])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", 10])],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="edgefleet-bench")
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out_dir", nargs="?", default=os.path.join("target", "distill-bench"))
    ap.add_argument("--force", action="store_true")
    args = ap.parse_args()
    os.makedirs(args.out_dir, exist_ok=True)
    teacher = os.path.join(args.out_dir, "teacher_1024_512.onnx")
    train_csv = os.path.join(args.out_dir, "digits_train.csv")
    test_csv = os.path.join(args.out_dir, "digits_test.csv")
    if not args.force and all(os.path.exists(p) for p in (teacher, train_csv, test_csv)):
        print(f"kept {teacher}, {train_csv}, {test_csv}")
        return 0

    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float32)
    y = digits.target.astype(np.int64)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.3, random_state=SEED, stratify=y)
    clf = MLPClassifier(hidden_layer_sizes=(1024, 512), activation="relu", alpha=1e-4, max_iter=300, random_state=SEED)
    clf.fit(x_train, y_train)
    export(clf, teacher)
    write_csv(train_csv, x_train, y_train)
    write_csv(test_csv, x_test, y_test)
    params = sum(w.size + b.size for w, b in zip(clf.coefs_, clf.intercepts_))
    print(f"teacher 64-1024-512-10: {params} params, scikit-learn held-out accuracy {clf.score(x_test, y_test):.4f}")
    for p in (teacher, train_csv, test_csv):
        print(f"wrote {p} ({os.path.getsize(p)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
