#!/usr/bin/env python3
"""Generates core_ops.json: forward results of AttentionKit's tensor ops computed by NumPy/SciPy in float64
from float32 inputs. Run from anywhere: `python3 Tests/AttentionKitTests/Fixtures/generate_core_fixtures.py`.
Needs numpy and scipy. The Swift suite reads the JSON; it never runs Python."""
import json
import os
import numpy as np
from scipy.special import erf

rng = np.random.default_rng(0)
cases = []


def f32(a):
    return np.asarray(a, dtype=np.float32)


def randn(*shape):
    return f32(rng.standard_normal(shape))


def pos(*shape):
    return f32(rng.uniform(0.5, 2.0, shape))


def case(name, inputs, output):
    out = np.asarray(output, dtype=np.float64)
    cases.append({
        "name": name,
        "inputs": [{"shape": list(x.shape), "data": [float(v) for v in np.asarray(x, dtype=np.float64).ravel()]} for x in inputs],
        "output": {"shape": list(out.shape), "data": [float(v) if np.isfinite(v) else str(v) for v in out.ravel()]},
    })


d = lambda x: np.asarray(x, dtype=np.float64)

# elementwise, broadcasting
a, b = randn(2, 3, 4), randn(3, 1)
case("add_broadcast", [a, b], d(a) + d(b))
a, b = randn(4, 1, 5), randn(3, 5)
case("sub_broadcast", [a, b], d(a) - d(b))
a, b = randn(2, 3), randn(2, 3)
case("mul", [a, b], d(a) * d(b))
a, b = randn(3, 4), pos(4)
case("div_broadcast", [a, b], d(a) / d(b))
a = randn(2, 5)
case("pow_scalar_3_negative_base", [a], d(a) ** 3)
a = pos(3, 4)
case("pow_scalar_2.5", [a], d(a) ** 2.5)
a, b = pos(3, 4), randn(4)
case("pow_tensor", [a, b], d(a) ** d(b))
x = randn(4, 5) * 3
case("neg", [x], -d(x))
case("exp", [x], np.exp(d(x)))
case("abs", [x], np.abs(d(x)))
case("tanh", [x], np.tanh(d(x)))
xs = f32(np.concatenate([randn(10) * 3, [-40.0, -20.0, 0.0, 20.0, 40.0]]))
case("sigmoid", [xs], 1 / (1 + np.exp(-d(xs))))
case("relu", [x], np.maximum(d(x), 0))
case("leaky_relu_0.1", [x], np.where(d(x) > 0, d(x), 0.1 * d(x)))
case("elu_1", [x], np.where(d(x) > 0, d(x), np.expm1(d(x))))
case("gelu_erf", [x], 0.5 * d(x) * (1 + erf(d(x) / np.sqrt(2))))
case("gelu_tanh", [x], 0.5 * d(x) * (1 + np.tanh(np.sqrt(2 / np.pi) * (d(x) + 0.044715 * d(x) ** 3))))
case("clamp_-0.5_0.7", [x], np.clip(d(x), -0.5, 0.7))
p = pos(3, 5)
case("log", [p], np.log(d(p)))
case("sqrt", [p], np.sqrt(d(p)))
case("rsqrt", [p], 1 / np.sqrt(d(p)))
a, b = f32(rng.integers(0, 3, (3, 4))), f32(rng.integers(0, 3, (4,)))
case("lt_broadcast", [a, b], (d(a) < d(b)).astype(np.float64))
case("eq_broadcast", [a, b], (d(a) == d(b)).astype(np.float64))
c, a, b = f32(rng.integers(0, 2, (3, 1))), randn(3, 4), randn(4)
case("where", [c, a, b], np.where(d(c) != 0, d(a), d(b)))
a, b = randn(3, 4), randn(4)
case("maximum_broadcast", [a, b], np.maximum(d(a), d(b)))

# reductions
x = randn(3, 4, 5)
case("sum_all", [x], d(x).sum())
case("sum_axes_0_2_keepdims", [x], d(x).sum(axis=(0, 2), keepdims=True))
case("mean_axis_1", [x], d(x).mean(axis=1))
case("max_axis_-1", [x], d(x).max(axis=-1))
case("min_axes_0_1", [x], d(x).min(axis=(0, 1)))
case("argmax_axis_1", [x], np.argmax(d(x), axis=1).astype(np.float64))
case("argmin_flat", [x], np.float64(np.argmin(d(x))))
case("variance_axis_0", [x], d(x).var(axis=0, ddof=1))
case("variance_all_biased", [x], d(x).var(ddof=0))
xl = f32(d(x) * 30)
case("logsumexp_axis_1", [xl], np.log(np.exp(d(xl) - d(xl).max(axis=1, keepdims=True)).sum(axis=1)) + d(xl).max(axis=1))

# movement
case("permute_2_0_1", [x], np.transpose(d(x), (2, 0, 1)))
case("slice_axis1_1_4_step2", [x], d(x)[:, 1:4:2, :])
case("slice_negative_start", [x], d(x)[:, :, -2:])
a, b = randn(2, 3), randn(2, 5)
case("concat_axis1", [a, b], np.concatenate([d(a), d(b)], axis=1))
a, b = randn(2, 3), randn(2, 3)
case("stack_axis1", [a, b], np.stack([d(a), d(b)], axis=1))
a = randn(2, 3)
case("pad_last2", [a], np.pad(d(a), ((1, 2), (0, 3)), constant_values=0.5))
x2 = randn(3, 5)
idx = f32(rng.integers(0, 5, (3, 2)))
case("gather_axis1", [x2, idx], np.take_along_axis(d(x2), idx.astype(np.int64), axis=1))
case("index_select_axis0", [x2], d(x2)[[2, 0, 2, 1]])
b1 = randn(3, 1)
case("broadcast_to", [b1], np.broadcast_to(d(b1), (2, 3, 4)))

# linear algebra
a, b = randn(5, 7), randn(7, 3)
case("matmul_2d", [a, b], d(a) @ d(b))
a, b = randn(2, 4, 5), randn(2, 5, 3)
case("matmul_batched", [a, b], d(a) @ d(b))
a, b = randn(2, 1, 4, 5), randn(3, 5, 6)
case("matmul_broadcast_batch", [a, b], d(a) @ d(b))
a, b = randn(2, 4, 5), randn(5, 3)
case("matmul_3d_2d", [a, b], d(a) @ d(b))
a, b = randn(7, 5), randn(3, 7)
case("matmul_transpose_both", [a, b], d(a).T @ d(b).T)
a, b = randn(2, 4, 5), randn(2, 3, 5)
case("matmul_transpose_b_batched", [a, b], d(a) @ np.swapaxes(d(b), -1, -2))
a, b = randn(5), randn(5, 3)
case("matmul_1d_2d", [a, b], d(a) @ d(b))

# softmax
x = randn(3, 4, 5) * 5
case("softmax_axis_1", [x], np.exp(d(x) - d(x).max(1, keepdims=True)) / np.exp(d(x) - d(x).max(1, keepdims=True)).sum(1, keepdims=True))
xl = f32(np.concatenate([randn(2, 6) * 3, [[1000, 999, -1000, 0, 1, 2]]]))
m = d(xl).max(-1, keepdims=True)
case("log_softmax_last_large", [xl], d(xl) - m - np.log(np.exp(d(xl) - m).sum(-1, keepdims=True)))

# creation
case("arange_0.5_3_0.7", [], np.arange(0.5, 3, 0.7, dtype=np.float64).astype(np.float32))
case("linspace_-1_1_5", [], np.linspace(-1, 1, 5).astype(np.float32))
case("eye_3_4", [], np.eye(3, 4))

path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "core_ops.json")
with open(path, "w") as fh:
    json.dump({"generator": "generate_core_fixtures.py", "numpy": np.__version__, "cases": cases}, fh, indent=None, separators=(",", ":"))
print(f"wrote {len(cases)} cases to {path}")
