#!/usr/bin/env python3
"""PyTorch twins of attn-bench's core workloads (same sizes, same JSON lines). CPU, fp32, 2 threads.
Usage: python3 Benchmarks/torch/bench_core.py [matmul] [mlp_train]"""
import json
import os
import resource
import sys
import time

import torch
from timing import median_time  # noqa: F401  (this directory is on sys.path; the twins import it from here)

torch.set_num_threads(2)
torch.manual_seed(0)


def emit(**fields):
    print(json.dumps(fields), flush=True)


STEPS = int(os.environ.get("BENCH_STEPS", "5"))  # timed training steps, as attn-bench (run.py sets it for both)


def step_median(step, warmup=2, runs=None):
    """Median seconds of `runs` (default BENCH_STEPS) calls of `step` after `warmup` calls."""
    runs = runs or STEPS
    for _ in range(warmup):
        step()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    times.sort()
    return times[len(times) // 2]


def train_step_median(opt, loss_fn):
    """step_median of one training step: the loss, then zero_grad, backward and the optimizer step (attn-bench's order)."""
    def step():
        loss = loss_fn()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return step_median(step)


def rss_mb(field):
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return -1


def bench_matmul():
    for n in [64, 256, 1024, 2048]:
        a, b = torch.randn(n, n), torch.randn(n, n)
        with torch.no_grad():
            t, runs = median_time(lambda: torch.matmul(a, b))
        emit(workload=f"matmul_{n}", gflops=round(2 * n ** 3 / t / 1e9, 2), runs=runs)


def bench_mlp_train():
    batch, in_dim, hidden, classes, steps = 256, 256, 512, 10, 1000
    x = torch.randn(batch, in_dim)
    y = torch.arange(batch) % classes
    w1 = (torch.randn(in_dim, hidden) * 0.05).requires_grad_()
    b1 = torch.zeros(hidden, requires_grad=True)
    w2 = (torch.randn(hidden, classes) * 0.05).requires_grad_()
    b2 = torch.zeros(classes, requires_grad=True)
    opt = torch.optim.SGD([w1, b1, w2, b2], lr=0.05, momentum=0.9)
    rss10 = hwm10 = 0
    start = time.perf_counter()
    for step in range(1, steps + 1):
        logits = torch.relu(x @ w1 + b1) @ w2 + b2
        loss = -torch.log_softmax(logits, dim=1).gather(1, y[:, None]).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        last = loss.item()
        if step == 10:
            rss10, hwm10 = rss_mb("VmRSS"), rss_mb("VmHWM")
    elapsed = time.perf_counter() - start
    emit(workload="mlp_train_1000", steps_per_s=round(steps / elapsed, 1), rss_mb_step10=rss10,
         rss_mb_step1000=rss_mb("VmRSS"), peak_rss_mb_step10=hwm10, peak_rss_mb_step1000=rss_mb("VmHWM"),
         final_loss=last)


def bench_cnn_train_step():
    """Twin of attn-bench cnn_train_step_b128: median of BENCH_STEPS (default 5) SGD steps after 2 warm-up steps."""
    import torch.nn as nn
    layers, c = [], 3
    for out in (32, 64, 128):
        layers += [nn.Conv2d(c, out, 3, padding=1), nn.BatchNorm2d(out), nn.ReLU(), nn.MaxPool2d(2)]
        c = out
    model = nn.Sequential(*layers, nn.Flatten(), nn.Linear(2048, 256), nn.ReLU(), nn.Linear(256, 10))
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x, y = torch.randn(128, 3, 32, 32), torch.arange(128) % 10

    median = train_step_median(opt, lambda: torch.nn.functional.cross_entropy(model(x), y))
    emit(workload="cnn_train_step_b128", unit="s", median=round(median, 4), runs=STEPS, peak_rss_mb=rss_mb("VmHWM"))


def bench_attention():
    """Twin of attn-bench attention_b128: F.scaled_dot_product_attention forward + backward on [128, 4, 65, 32],
    the same math composed from matmul/softmax, and nn.MultiheadAttention(128, 4) on [128, 65, 128]."""
    import torch.nn.functional as F
    b, h, t, dh = 128, 4, 65, 32
    q, k, v = (torch.randn(b, h, t, dh, requires_grad=True) for _ in range(3))
    g = torch.ones(b, h, t, dh)

    def fused():
        for x in (q, k, v):
            x.grad = None
        F.scaled_dot_product_attention(q, k, v).backward(g)

    def composed():
        for x in (q, k, v):
            x.grad = None
        p = torch.softmax(q @ k.transpose(-2, -1) / dh ** 0.5, dim=-1)
        (p @ v).backward(g)

    mha = torch.nn.MultiheadAttention(h * dh, h, batch_first=True)
    x = torch.randn(b, t, h * dh, requires_grad=True)
    gm = torch.ones(b, t, h * dh)

    def module():
        x.grad = None
        mha.zero_grad()
        mha(x, x, x, need_weights=False)[0].backward(gm)

    tf, runs = median_time(fused, min_time=1)
    tc, _ = median_time(composed, min_time=1)
    tm, _ = median_time(module, min_time=1, min_runs=5)
    emit(workload="attention_b128", unit="s", median=round(tf, 5), composed_median=round(tc, 5),
         mha_layer_median=round(tm, 5), runs=runs, shape="B128 H4 T65 Dh32")


WORKLOADS = {"attention_b128": bench_attention, "matmul": bench_matmul, "mlp_train": bench_mlp_train, "cnn_train_step_b128": bench_cnn_train_step}
if __name__ == "__main__":
    names = sys.argv[1:] or list(WORKLOADS)
    for name in names:
        if name not in WORKLOADS:
            sys.exit(f"bench_core.py: unknown workload {name!r} (known: {', '.join(WORKLOADS)})")
        WORKLOADS[name]()
