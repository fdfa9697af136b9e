#!/usr/bin/env python3
"""Runs attn-bench (release) and its PyTorch twins on the same workloads and prints a ratio per figure.
Usage: python3 Benchmarks/compare.py [WORKLOAD…]   (needs torch; build first: swift build -c release)
Ratios are AttentionKit / PyTorch for throughputs (higher is better) and PyTorch / AttentionKit for times."""
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
THROUGHPUT = {"gflops", "steps_per_s", "mb_per_s"}
TIMES = {"median", "composed_median", "mha_layer_median"}


def run(cmd):
    out = subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True, text=True).stdout
    return {d["workload"]: d for d in (json.loads(l) for l in out.splitlines() if l.startswith("{"))}


def main():
    names = sys.argv[1:] or ["matmul", "mlp_train", "cnn_train_step_b128", "attention_b128"]
    ours = run([os.path.join(ROOT, ".build/release/attn-bench"), *names])
    theirs = run([sys.executable, os.path.join(ROOT, "Benchmarks/torch/bench_core.py"), *names])
    for workload, a in ours.items():
        b = theirs.get(workload)
        if b is None:
            continue
        for key in sorted(set(a) & set(b)):
            if key in THROUGHPUT:
                ratio = a[key] / b[key]
            elif key in TIMES:
                ratio = b[key] / a[key]
            else:
                continue
            print(json.dumps({"workload": workload, "figure": key, "attentionkit": a[key], "pytorch": b[key],
                              "ratio": round(ratio, 3)}))


if __name__ == "__main__":
    main()
