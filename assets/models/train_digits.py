#!/usr/bin/env python3
"""Train the two demo classifiers edgefleet ships and export them as ONNX.

Provenance: the data is scikit-learn's bundled copy of the UCI "Optical
Recognition of Handwritten Digits" test set (8x8 images, 1,797 samples,
scikit-learn is BSD-3 licensed), loaded from the installed wheel with
`sklearn.datasets.load_digits` -- nothing is downloaded.

Outputs (next to this script):
  mlp_digits.onnx   64-128-64-10 MLP (MatMul+Add+Relu, Softmax probabilities),
                    input float[N,64], output float[N,10]
  cnn_digits.onnx   Conv3x3(8)+Relu+MaxPool2 -> Flatten -> Gemm(32)+Relu -> Gemm(10)
                    logits, input float[N,1,8,8], output float[N,10]
  digits_eval.csv   the held-out 30% (540 rows): 64 features scaled to [0,1]
                    (pixel / 16) then the integer label

Both models take the features scaled to [0,1] (pixel / 16). Everything is
seeded, so a rerun reproduces the same files on the same library versions.

Usage: python3 assets/models/train_digits.py
"""

import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier

SEED = 0
OPSET = 13
IR_VERSION = 8  # tract's protobuf is from the IR-8 era
HERE = os.path.dirname(os.path.abspath(__file__))


def load_split():
    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float32)
    y = digits.target.astype(np.int64)
    return train_test_split(x, y, test_size=0.3, random_state=SEED, stratify=y)


def write_model(graph, path):
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name="edgefleet-train_digits",
    )
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, path)


def train_mlp(x_train, y_train):
    clf = MLPClassifier(
        hidden_layer_sizes=(128, 64),
        activation="relu",
        alpha=1e-4,
        max_iter=400,
        random_state=SEED,
    )
    clf.fit(x_train, y_train)
    return clf


def export_mlp(clf, path):
    nodes = []
    inits = []
    prev = "input"
    n_layers = len(clf.coefs_)
    for i, (w, b) in enumerate(zip(clf.coefs_, clf.intercepts_)):
        w_name, b_name = f"fc{i + 1}.weight", f"fc{i + 1}.bias"
        inits.append(numpy_helper.from_array(w.astype(np.float32), w_name))
        inits.append(numpy_helper.from_array(b.astype(np.float32), b_name))
        mm, add = f"fc{i + 1}.matmul", f"fc{i + 1}.add"
        nodes.append(helper.make_node("MatMul", [prev, w_name], [mm], name=f"fc{i + 1}_MatMul"))
        nodes.append(helper.make_node("Add", [mm, b_name], [add], name=f"fc{i + 1}_Add"))
        if i + 1 < n_layers:
            nodes.append(helper.make_node("Relu", [add], [f"fc{i + 1}.relu"], name=f"fc{i + 1}_Relu"))
            prev = f"fc{i + 1}.relu"
        else:
            prev = add
    nodes.append(helper.make_node("Softmax", [prev], ["probabilities"], axis=1, name="softmax"))
    graph = helper.make_graph(
        nodes,
        "mlp_digits",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 64])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", 10])],
        initializer=inits,
    )
    write_model(graph, path)


# ---- a small CNN trained with plain numpy ----------------------------------

CONV_CH = 8
HIDDEN = 32


def im2col(x):
    """x: [B,1,8,8] -> [B,64,9] patches of a 3x3 kernel with padding 1."""
    b = x.shape[0]
    p = np.pad(x[:, 0], ((0, 0), (1, 1), (1, 1)))
    cols = np.empty((b, 64, 9), dtype=np.float32)
    k = 0
    for dy in range(3):
        for dx in range(3):
            cols[:, :, k] = p[:, dy:dy + 8, dx:dx + 8].reshape(b, 64)
            k += 1
    return cols


def cnn_forward(params, x):
    wc, bc, w1, b1, w2, b2 = params
    cols = im2col(x)  # [B,64,9]
    conv = cols @ wc.reshape(CONV_CH, 9).T + bc  # [B,64,C]
    conv = conv.transpose(0, 2, 1).reshape(-1, CONV_CH, 8, 8)
    relu = np.maximum(conv, 0)
    blocks = relu.reshape(-1, CONV_CH, 4, 2, 4, 2)
    pooled = blocks.max(axis=(3, 5))  # [B,C,4,4]
    flat = pooled.reshape(-1, CONV_CH * 16)
    h_pre = flat @ w1.T + b1
    h = np.maximum(h_pre, 0)
    logits = h @ w2.T + b2
    cache = (cols, conv, relu, blocks, pooled, flat, h_pre, h)
    return logits, cache


def cnn_backward(params, cache, grad_logits):
    wc, bc, w1, b1, w2, b2 = params
    cols, conv, relu, blocks, pooled, flat, h_pre, h = cache
    g_w2 = grad_logits.T @ h
    g_b2 = grad_logits.sum(0)
    g_h = grad_logits @ w2 * (h_pre > 0)
    g_w1 = g_h.T @ flat
    g_b1 = g_h.sum(0)
    g_flat = g_h @ w1
    g_pooled = g_flat.reshape(pooled.shape)
    # route the pooled gradient to the max of each 2x2 block
    mask = blocks == pooled[:, :, :, None, :, None]
    g_blocks = mask * g_pooled[:, :, :, None, :, None]
    g_relu = g_blocks.reshape(relu.shape)
    g_conv = g_relu * (conv > 0)  # [B,C,8,8]
    g_conv = g_conv.reshape(-1, CONV_CH, 64).transpose(0, 2, 1)  # [B,64,C]
    g_wc = np.einsum("bpc,bpk->ck", g_conv, cols).reshape(CONV_CH, 1, 3, 3)
    g_bc = g_conv.sum((0, 1))
    return [g_wc, g_bc, g_w1, g_b1, g_w2, g_b2]


def train_cnn(x_train, y_train, epochs=40, batch=32, lr=1e-3):
    rng = np.random.default_rng(SEED)

    def he(shape, fan_in):
        return (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(np.float32)

    params = [
        he((CONV_CH, 1, 3, 3), 9),
        np.zeros(CONV_CH, np.float32),
        he((HIDDEN, CONV_CH * 16), CONV_CH * 16),
        np.zeros(HIDDEN, np.float32),
        he((10, HIDDEN), HIDDEN),
        np.zeros(10, np.float32),
    ]
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    x = x_train.reshape(-1, 1, 8, 8)
    t = 0
    for _ in range(epochs):
        order = rng.permutation(len(x))
        for s in range(0, len(x), batch):
            idx = order[s:s + batch]
            logits, cache = cnn_forward(params, x[idx])
            z = logits - logits.max(1, keepdims=True)
            p = np.exp(z)
            p /= p.sum(1, keepdims=True)
            p[np.arange(len(idx)), y_train[idx]] -= 1.0
            grads = cnn_backward(params, cache, p / len(idx))
            t += 1
            for i, g in enumerate(grads):  # Adam
                m[i] = 0.9 * m[i] + 0.1 * g
                v[i] = 0.999 * v[i] + 0.001 * g * g
                mh = m[i] / (1 - 0.9 ** t)
                vh = v[i] / (1 - 0.999 ** t)
                params[i] = (params[i] - lr * mh / (np.sqrt(vh) + 1e-8)).astype(np.float32)
    return params


def export_cnn(params, path):
    wc, bc, w1, b1, w2, b2 = params
    inits = [
        numpy_helper.from_array(wc, "conv1.weight"),
        numpy_helper.from_array(bc, "conv1.bias"),
        numpy_helper.from_array(w1, "fc1.weight"),
        numpy_helper.from_array(b1, "fc1.bias"),
        numpy_helper.from_array(w2, "fc2.weight"),
        numpy_helper.from_array(b2, "fc2.bias"),
    ]
    nodes = [
        helper.make_node("Conv", ["input", "conv1.weight", "conv1.bias"], ["conv1"],
                         kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[1, 1], name="conv1"),
        helper.make_node("Relu", ["conv1"], ["conv1.relu"], name="conv1_relu"),
        helper.make_node("MaxPool", ["conv1.relu"], ["pool1"], kernel_shape=[2, 2], strides=[2, 2], name="pool1"),
        helper.make_node("Flatten", ["pool1"], ["flat"], axis=1, name="flatten"),
        helper.make_node("Gemm", ["flat", "fc1.weight", "fc1.bias"], ["fc1"], transB=1, name="fc1"),
        helper.make_node("Relu", ["fc1"], ["fc1.relu"], name="fc1_relu"),
        helper.make_node("Gemm", ["fc1.relu", "fc2.weight", "fc2.bias"], ["logits"], transB=1, name="fc2"),
    ]
    graph = helper.make_graph(
        nodes,
        "cnn_digits",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 1, 8, 8])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 10])],
        initializer=inits,
    )
    write_model(graph, path)


def onnx_accuracy(path, x, y):
    import onnxruntime as ort

    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    inp = sess.get_inputs()[0]
    feed = x.reshape([-1] + [d for d in inp.shape[1:]])
    out = sess.run(None, {inp.name: feed})[0]
    return float((out.argmax(1) == y).mean())


def main():
    x_train, x_test, y_train, y_test = load_split()
    mlp_path = os.path.join(HERE, "mlp_digits.onnx")
    cnn_path = os.path.join(HERE, "cnn_digits.onnx")
    csv_path = os.path.join(HERE, "digits_eval.csv")

    clf = train_mlp(x_train, y_train)
    export_mlp(clf, mlp_path)
    params = train_cnn(x_train, y_train)
    export_cnn(params, cnn_path)

    with open(csv_path, "w") as f:
        for row, label in zip(x_test, y_test):
            f.write(",".join(f"{v:.4g}" for v in row) + f",{label}\n")

    print(f"train {len(x_train)} / held-out {len(x_test)} samples")
    print(f"MLP sklearn accuracy  {clf.score(x_test, y_test):.4f}")
    try:
        print(f"MLP ONNX accuracy     {onnx_accuracy(mlp_path, x_test, y_test):.4f}")
        print(f"CNN ONNX accuracy     {onnx_accuracy(cnn_path, x_test, y_test):.4f}")
    except ImportError:
        logits, _ = cnn_forward(params, x_test.reshape(-1, 1, 8, 8))
        print(f"CNN numpy accuracy    {(logits.argmax(1) == y_test).mean():.4f} (onnxruntime not installed)")
    for p in (mlp_path, cnn_path, csv_path):
        print(f"wrote {os.path.relpath(p)} ({os.path.getsize(p)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
