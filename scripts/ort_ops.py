#!/usr/bin/env python3
"""Write the op set ONNX Runtime's CPU execution provider runs, one op a
line (`Op` for the default ONNX domain, `domain:Op` otherwise), to
crates/optimize/src/runtime/ort_ops.txt. edgefleet compiles that list in
and checks a model's ops against it when the target runs ONNX Runtime.

An op counts when the CPU provider registers a kernel for it, or when ONNX
defines it as a function (ONNX Runtime expands those into ops it has).
Internal domains (`com.microsoft.nchwc`, layout rewrites ORT makes itself)
are left out.

    pip install onnx onnxruntime==1.32.0
    python3 scripts/ort_ops.py
"""

import os

import onnx.defs
import onnxruntime
from onnxruntime.capi import onnxruntime_pybind11_state as C

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "crates/optimize/src/runtime/ort_ops.txt")
INTERNAL = {"com.microsoft.nchwc"}


def qualified(domain, op):
    return op if domain in ("", "ai.onnx") else f"{domain}:{op}"


def main():
    ops = set()
    for k in C.get_all_opkernel_def():
        if k.provider == "CPUExecutionProvider" and k.domain not in INTERNAL:
            ops.add(qualified(k.domain, k.op_name))
    for s in onnx.defs.get_all_schemas():
        if s.domain in ("", "ai.onnx") and (s.has_function or s.has_context_dependent_function):
            ops.add(qualified(s.domain, s.name))
    with open(OUT, "w") as f:
        f.write(f"# ONNX Runtime {onnxruntime.__version__} CPU op set; made by scripts/ort_ops.py\n")
        for op in sorted(ops):
            f.write(op + "\n")
    print(f"{len(ops)} ops -> {os.path.relpath(OUT, ROOT)}")


if __name__ == "__main__":
    main()
