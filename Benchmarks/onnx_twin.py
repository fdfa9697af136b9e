#!/usr/bin/env python3
"""ONNX Runtime twins of attn-bench's inference workloads (issue 27): bench_models.py's PyTorch ViT and text
classifier (the same architectures and batch shapes as attn-bench's), exported once with torch.onnx.export into
runs/onnx/, run by ONNX Runtime with every graph optimisation (ORT_ENABLE_ALL: attention, LayerNorm, GELU fusions)
on 2 intra-op threads; WORKLOAD_int8 runs the model after onnxruntime.quantization.quantize_dynamic (int8 weights,
activations quantized per tensor at run time; what ORT recommends for transformers on CPU). Timing as bench_models.py
(median over ≥ 1 s, ≥ 20 runs at batch 1 / ≥ 5 otherwise, after a warm-up). One JSON line per workload.

Usage: python3 Benchmarks/onnx_twin.py vit_infer_b1 vit_infer_b256_int8 textcls_infer_b1 …
Needs: pip install torch onnx onnxruntime (in a virtual environment)."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "torch"))
import numpy as np  # noqa: E402
import onnxruntime as ort  # noqa: E402
from timing import emit_with_rss as emit, median_time as core_median_time  # noqa: E402  (no torch in this process)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CACHE = os.path.join(ROOT, "runs", "onnx")
THREADS = int(os.environ.get("BENCH_THREADS", "2"))


def median_time(fn, min_time=1.0, min_runs=5):
    """bench_models.py's rule (≥ 1 s and ≥ 5 runs after a warm-up)."""
    return core_median_time(fn, min_time=min_time, min_runs=min_runs)


def padded_ids(n, length=32, vocab=10000, seed=9):
    """Rows of ids in 3..<vocab with lengths in [length/2, length], right-padded with 0 (as padded_rows)."""
    rng = np.random.default_rng(seed)
    out = np.zeros((n, length), dtype=np.int64)
    for i in range(n):
        l = length // 2 + int(rng.integers(0, length // 2 + 1))
        out[i, :l] = rng.integers(3, vocab, size=l)
    return out


def exported(kind, int8):
    """The model file: exported on first use (fp32), then quantized (int8) beside it."""
    os.makedirs(CACHE, exist_ok=True)
    fp32 = os.path.join(CACHE, f"{kind}.onnx")
    if not os.path.exists(fp32):
        import torch
        from bench_models import TextClassifier, ViT
        torch.manual_seed(0)
        if kind == "vit":
            model, example, names = ViT().eval(), (torch.randn(2, 3, 32, 32),), ["images"]
        else:
            model, example, names = TextClassifier().eval(), (torch.from_numpy(padded_ids(2)),), ["ids"]
        torch.onnx.export(model, example, fp32 + ".tmp", input_names=names, output_names=["logits"],
                          dynamic_axes={names[0]: {0: "batch"}, "logits": {0: "batch"}}, opset_version=17, dynamo=False)
        os.replace(fp32 + ".tmp", fp32)
    if not int8:
        return fp32
    q = os.path.join(CACHE, f"{kind}-int8.onnx")
    if not os.path.exists(q):
        from onnxruntime.quantization import QuantType, quantize_dynamic
        quantize_dynamic(fp32, q + ".tmp.onnx", weight_type=QuantType.QInt8)
        os.replace(q + ".tmp.onnx", q)
    return q


def run(workload):
    int8 = workload.endswith("_int8")
    base = workload[: -len("_int8")] if int8 else workload
    kind, batch = base.split("_infer_b")
    batch = int(batch)
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = THREADS
    options.inter_op_num_threads = 1
    if not os.path.exists(os.path.join(CACHE, f"{kind}{'-int8' if int8 else ''}.onnx")):
        # exported in a process of its own: torch stays out of this one's memory
        import subprocess
        subprocess.run([sys.executable, __file__, "--export", kind] + (["--int8"] if int8 else []), check=True)
    session = ort.InferenceSession(exported(kind, int8), options, providers=["CPUExecutionProvider"])
    if kind == "vit":
        feed = {"images": np.random.default_rng(7).standard_normal((batch, 3, 32, 32), dtype=np.float32)}
        unit = "img/s"
    else:
        feed = {"ids": padded_ids(batch)}
        unit = "sent/s"
    call = lambda: session.run(None, feed)  # noqa: E731
    if batch == 1:
        t, runs = median_time(call, min_runs=20)
        emit(workload=workload, unit="ms", median=t * 1000, runs=runs, engine="onnxruntime " + ort.__version__)
    else:
        t, runs = median_time(call)
        emit(workload=workload, unit=unit, median=batch / t, runs=runs, engine="onnxruntime " + ort.__version__)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--export"]:
        exported(sys.argv[2], "--int8" in sys.argv)
    else:
        for w in sys.argv[1:]:
            run(w)
