#!/usr/bin/env python3
"""PyTorch golden values for EmberCore's differentiable ops.

Writes Tests/EmberCoreTests/Fixtures/core_golden.json (read by Tests/EmberCoreTests/GoldenTests.swift) and
Tests/EmberCoreTests/Fixtures/core_golden_large.json (read by Tests/EmberCoreTests/GoldenLargeTests.swift).

Regenerate
----------
    python3 -m venv .venv-torch
    .venv-torch/bin/pip install torch==2.13.0 numpy      # CPU wheel is enough
    .venv-torch/bin/python scripts/golden/make_core_golden.py
    # then: swift test --filter Golden
    .venv-torch/bin/python scripts/golden/make_core_golden.py --check-capabilities    # optional, see below

The output is deterministic (numpy seed below, CPU kernels, one thread) so a regeneration with the same
torch version gives the same file up to the last ulp of a few transcendental results.
`--check-capabilities` regenerates under every ATEN_CPU_CAPABILITY the CPU has (default, avx2, avx512) and compares
with the committed fixtures: special values exactly, finite values to the tests' tolerance. Every case agreed when the
fixtures were made (torch 2.13.0, AVX-512 machine), so nothing here depends on which PyTorch kernels ran.

Format
------
{"generator", "torch", "numpy", "seed", "cases": [case...]} where each case is
    name      unique case name
    op        the op key (GoldenTests.swift maps every key to the Ember call)
    params    op parameters (axes, stride, ...), names as in the Ember API
    inputs    [{shape, dtype, data (flat, row-major), grad (bool), pre}] -- `pre` is a list of view transforms applied
              to the stored leaf before the op, identically on both sides, so the op sees a non-contiguous input:
                ["transpose"]                    swap the last two dims
                ["flip", [axes]]                 reverse along axes (negative strides in Ember)
                ["slice", axis, start, end, step]  strided slice (end null = to the end)
                ["expand", [shape]]              broadcast view (stride 0)
                ["permute", [dims]]
    outputs   [{shape, dtype, data}] -- ops with several results (split, chunk) list them all
    upstream  [{shape, data}] one per float output: the loss is sum_k sum(outputs[k] * upstream[k])
    grads     one per input: d loss / d input (w.r.t. the stored leaf, before `pre`), or null
    tol       optional {"atol", "rtol"} override of the default |a-b| <= 1e-5 + 1e-4*|b| (reason in `note`)

Float data are float32 written with the shortest decimal that round-trips float32, or float64 (the "special"
group's _f64 twins) written with Python's repr (the shortest decimal that round-trips the double). Values a strict
JSON number cannot carry exactly are strings: "nan", "inf", "-inf", and "-0" for -0.0 (a JSON "-0.0" may be read as
+0.0). "any" marks a gradient element where PyTorch's own answer depends on the element's position in its kernels
(found by check_special_consistency; not compared). Index tensors are int64, masks are bool (stored as 0/1).
A case may carry "group": "special" (below).

How GoldenTests.swift compares: NaN must be NaN (any payload), an infinity the same infinity, a finite value finite
and within |a-b| <= 1e-5 + 1e-4*|b|; where PyTorch's forward output is a zero and Ember's is a zero, the signs must
agree. (Gradient zeros are not held to their sign: PyTorch's follow from the order of operations in its backward
formulas.)

Cases (grouped; `_T`, `_flip`, `_step`, `_expand`, `_perm` suffixes mark non-contiguous inputs)
-----
binary:      add_bcast, add_bcast_rank, add_same_T, add_flip_long, add_both_bcast_long, sub_bcast, mul_bcast,
             mul_T_step, mul_expand, mul_flip_step_long, div_bcast, div_by_0d, pow_tensor, pow_scalar_2_5,
             pow_scalar_3_negbase, pow_scalar_neg_half, maximum_bcast, minimum_bcast, maximum_long_flip,
             add_scalar, rsub_scalar, mul_scalar, div_scalar, rdiv_scalar, neg, reuse_x_twice
unary:       exp, exp_T, log, log1p, expm1, sqrt, sqrt_step, rsqrt, abs, sign, sin, cos, tanh, tanh_flip,
             tanh_small, sigmoid, sigmoid_step, square, reciprocal, erf, affine
activations: relu, relu_T, leaky_relu, elu, elu_alpha, gelu, gelu_tanh, silu, softplus, softplus_beta_threshold,
             clamp, clamp_min_only, clamp_max_only
reductions:  sum_all, sum_axes02, sum_axes02_keep, sum_axis_last_T, mean_all, mean_axis1_keep, mean_axes12_perm,
             max_all, max_axes02, max_axis1_keep_flip, min_axes01, min_all_T, prod_axis1, prod_all, prod_axes02,
             var_axis1, var_axes01_c0_keep, std_all, std_axes02, logsumexp_axis1, logsumexp_all,
             logsumexp_axes01_keep, softmax_last, softmax_axis0_T, softmax_long_rows, log_softmax_axis1_3d,
             log_softmax_long_rows, cumsum_axis0, cumsum_axis1_step, argmax_axis1, argmin_all, argmax_keep_T
views:       reshape_T, flatten, permute, transpose02, slice_step, select, expand, squeeze, unsqueeze, flip,
             contiguous_T, index_multi
linalg:      matmul_2d, matmul_fold_batch, matmul_bcast_batch, matmul_1d_2d, matmul_2d_1d, matmul_1d_1d,
             matmul_3d_1d, matmul_1d_3d, matmul_T_T, matmul_step, matmul_batch_T, linear_bias, linear_3d_nobias,
             linear_T
conv/pool:   conv2d_basic, conv2d_stride2_pad1, conv2d_dilation2, conv2d_groups2, conv2d_depthwise,
             conv2d_asym, conv2d_T, conv1d_basic, conv1d_all, conv_t2d_basic, conv_t2d_stride2_pad1_outpad1,
             conv_t2d_dilation2, conv_t2d_groups2, conv_t2d_asym, maxpool_k2, maxpool_k3_s2_p1, maxpool_dil2,
             maxpool_3d_asym, avgpool_k2, avgpool_k3_s2_p1, avgpool_k3_s2_p1_nopad, avgpool_asym_T,
             adaptive_div, adaptive_nondiv, adaptive_3d
indexing:    gather_axis1, gather_axis0_3d, scatter_add_axis0, scatter_add_axis1, index_select_axis1,
             index_select_axis0, embedding, concat_axis1, concat_axis0_T, stack_axis1, split_axis1, chunk_axis0,
             pad_constant, pad_reflect_1d, pad_reflect_2d, roll_pos, roll_neg, masked_fill, where_bcast
wide/large:  sum_axis0_wide, sum_rows_long, max_axis0_wide, softmax_axis0_wide, cumsum_wide, logsumexp_large,
             softmax_large, log_softmax_large
conventions: relu_at_zero, leaky_relu_at_zero, elu_at_zero, abs_at_zero, clamp_at_bounds, max_ties, min_ties_all,
             maximum_ties, minimum_ties, maxpool_ties, maxpool_ties_k2s2, argmax_ties, argmin_ties, prod_with_zeros,
             prod_all_one_zero
             (gradients at kinks, ties and zeros follow PyTorch's conventions; finite differences cannot check these)
composite:   layernorm, attention, cross_entropy, mlp, masked_softmax
special:     special_<op>_f32 and special_<op>_f64 for
             exp, log, log1p, expm1, sqrt, rsqrt, abs, sign, sin, cos, tanh, sigmoid, square, reciprocal, erf, neg,
             relu, silu, leaky_relu, elu, elu_alpha, gelu, gelu_tanh, softplus, clamp, clamp_min0, clamp_max0, relu_T,
             add, sub, mul, div, maximum, minimum, {add,sub,mul,div}_zeros, maximum_bcast, minimum_bcast,
             eq, ne, lt, le, gt, ge, softmax, log_softmax, softmax_axis0, log_softmax_axis0,
             {sum,mean,max,min,logsumexp}_{rows,axis0}, sum_all, max_all, min_all, {argmax,argmin}_{rows,axis0,all},
             maxpool_k2, maxpool_k2_s1, maxpool_k3_s1_p1, maxpool_k3_s2_p1_dil
             Inputs hold NaN, +-inf, -0.0 and +0.0, subnormal (1e-40), tiny (1e-30) and huge (3e38) values, and values
             past exp's overflow and underflow (+-88.5, +-100). Vectors have 37 elements, so NaN, +-inf and -0.0 sit
             both in the first 32 (the vector body for 8- and 16-lane kernels) and in the 5-element scalar tail; rows
             for softmax and reductions are [6, 37]: NaN in the body, NaN in the tail, all -inf, +inf with -inf,
             -inf entries with +-3e38, signed zeros (`_axis0` runs the same data transposed: the inner > 1 layouts).
             max_pool2d planes put each NaN / tie / -inf pattern in a window of its own. Each case is generated twice
             from the same float32-representable inputs: float32 (`_f32`) and float64 (`_f64`, torch float64, Ember's
             float64 paths); the twins share the upstream gradient. Binary pairs avoid -0.0 vs +0.0 ties for
             maximum/minimum (PyTorch returns the second operand for those in its vectorized body and the first in
             its scalar tail), and GELU avoids +inf and +-3e38 (PyTorch's float32 GELU gives NaN at +inf and inf at
             3e38, where its float64 GELU and the exact function give inf and 3e38; Ember follows the latter).
             check_special_consistency() asserts that what is pinned is PyTorch's semantics and not one code path's:
             forward results equal for equal inputs wherever they sit, and float32 and float64 agreeing on NaN, +-inf
             and the sign of zero (allowing for float32's own overflow, underflow and cancellation below 1e-5).

Large cases (core_golden_large.json)
------------------------------------
Shapes big enough for the vectorized bodies, Ember's multi-threaded splits (elementwise over >= 2^15 elements, sums
over >= 2^16, GEMMs of >= 2^22 flops split by rows or columns of C) and a batched conv2d:
    matmul_256x300x200, matmul_T_T_256x300x200 (both operands transposed views), linear_256x300_200,
    conv2d_16x8x20x20_k3_p1 (16 3x3 filters, padding 1, forward and backward), softmax_512x300, log_softmax_512x300,
    sum_300k, mean_300k, sum_600x500_axis1, sum_600x500_axis0, mean_600x500_axis0_keep, max_600x500_axis1,
    exp_70k, tanh_70k, sigmoid_70k, add_bcast_300x400 ([300,400] + [400]), mul_bcast_300x400 ([300,400] * [300,1]),
    and special values on those paths: {exp,tanh,sigmoid,relu}_70k_specials (NaN / +-inf / -0.0 at the start, at
    vector tails, at the two-thread chunk boundary n/2 and at the end), sum_300k_nan, sum_300k_inf_minus_inf,
    mean_300k_inf, softmax_512x300_specials (NaN rows, +inf and -inf entries), max_600x500_axis1_nan,
    maximum_bcast_300x400_nan.
Inputs are not stored. Both sides compute them with `hashed_values(n, salt, scale)` (GoldenLargeTests.swift:
`goldenHashed`): murmur3's fmix32 of i * 0x9E3779B1 + salt * 0x632BE5AB (mod 2^32), whose top 24 bits become a value in
[-scale, scale) -- integer arithmetic and a power-of-two scale only, so every value is exact in float32 and the two
sides agree bit for bit without any libm. The upstream gradient is made the same way (salt 1000 + case number).
Format: as core_golden.json, except
    inputs    [{shape (the stored leaf's), dtype, gen: {salt, scale}, inject: [[flat index, value]...] (special
              values written over the formula's), grad, pre, check: {indices, data} (a few of the input's values),
              bitsum (sum of the float32 bit patterns as unsigned integers, mod 2^50)}] -- `check` and `bitsum` let
              the Swift side prove it rebuilt the same bits
    upstream  [{shape, gen: {salt, scale}}]
    outputs, grads  tensors of up to 2,000 elements whole; larger ones as {shape, dtype, indices, data}: the first and
              last 50 elements, every 97th, and each case's `extra` indices (where injected specials land)
Input scales keep results O(1) like the small cases', so the same tolerance holds: conv2d's weight gradient sums
6,400 products per element and gets x and the upstream gradient in [-1/8, 1/8).

Dropout is not here: its mask comes from Ember's Philox stream, which PyTorch cannot reproduce; GradCheckTests covers
its gradient.
"""

import json
import math
import os
import subprocess
import sys

import numpy as np
import torch
import torch.nn.functional as F

SEED = 20240611
torch.set_num_threads(1)
torch.use_deterministic_algorithms(True)
rng = np.random.default_rng(SEED)

# ---------------------------------------------------------------------------------------------------------------
# input specs


def X(shape, dist=("normal",), pre=None, grad=True, data=None, dtype="float32"):
    """An input: shape, how to draw it, and view transforms applied before the op."""
    return dict(shape=list(shape), dist=dist, pre=pre or [], grad=grad, data=data, dtype=dtype)


def U(shape, lo=-1.0, hi=1.0, **kw):
    return X(shape, ("uniform", lo, hi), **kw)


def P(shape, lo=0.5, hi=2.0, **kw):
    """Positive values (log, sqrt, pow bases)."""
    return X(shape, ("uniform", lo, hi), **kw)


def A(shape, lo=0.2, hi=1.5, **kw):
    """Values away from zero (relu, abs, sign kinks; reciprocal)."""
    return X(shape, ("away", lo, hi), **kw)


def IDX(shape, values):
    return X(shape, None, grad=False, data=list(values), dtype="int64")


def MASK(shape, values):
    return X(shape, None, grad=False, data=[1 if v else 0 for v in values], dtype="bool")


T = [["transpose"]]


def FLIP(*axes):
    return [["flip", list(axes)]]


def STEP(axis, start=0, end=None, step=2):
    return [["slice", axis, start, end, step]]


def EXPAND(*shape):
    return [["expand", list(shape)]]


def PERM(*dims):
    return [["permute", list(dims)]]


def stored_shape(spec):
    """The leaf shape such that applying `pre` gives the op's input shape spec['shape']."""
    shape = list(spec["shape"])
    for p in reversed(spec["pre"]):
        if p[0] == "transpose":
            shape[-1], shape[-2] = shape[-2], shape[-1]
        elif p[0] == "flip":
            pass
        elif p[0] == "slice":
            _, axis, start, end, step = p
            assert end is None
            shape[axis] = start + (shape[axis] - 1) * step + 1
        elif p[0] == "expand":
            raise ValueError("give the stored shape of an expanded input explicitly (leaf=...)")
        elif p[0] == "permute":
            dims = p[1]
            inv = [0] * len(dims)
            for i, d in enumerate(dims):
                inv[d] = i
            shape = [shape[inv[i]] for i in range(len(dims))]
    return shape


CASES = []


def case(name, op, inputs, params=None, tol=None, note=None, leaf_shapes=None, group=None):
    CASES.append(dict(name=name, op=op, inputs=inputs, params=params or {}, tol=tol, note=note,
                      leaf_shapes=leaf_shapes, group=group))


# ---------------------------------------------------------------------------------------------------------------
# binary elementwise (broadcasting, non-contiguous; rows of >= 8 reach the vectorized float32 kernel)
case("add_bcast", "add", [X([3, 1]), X([1, 4])])
case("add_bcast_rank", "add", [X([2, 3, 4]), X([4])])
case("add_same_T", "add", [X([3, 4], pre=T), X([3, 4])])
case("add_flip_long", "add", [X([2, 11], pre=FLIP(1)), X([2, 11])])
case("add_both_bcast_long", "add", [X([3, 10], pre=EXPAND(3, 10)), X([3, 10], pre=EXPAND(3, 10))],
     leaf_shapes=[[3, 1], [3, 1]])
case("sub_bcast", "sub", [X([2, 3, 4]), X([3, 1])])
case("mul_bcast", "mul", [X([2, 3, 4]), X([4])])
case("mul_T_step", "mul", [X([3, 4], pre=T), X([3, 4], pre=STEP(0))])
case("mul_expand", "mul", [X([3, 4], pre=EXPAND(3, 4)), X([3, 4])], leaf_shapes=[[3, 1], None])
case("mul_flip_step_long", "mul", [X([12], pre=FLIP(0)), X([12], pre=STEP(0))])
case("div_bcast", "div", [X([2, 3]), P([2, 1])])
case("div_by_0d", "div", [X([2, 3]), P([])])
case("pow_tensor", "pow", [P([2, 3]), U([3], -2, 2)])
case("pow_scalar_2_5", "pow_scalar", [P([2, 3])], {"p": 2.5})
case("pow_scalar_3_negbase", "pow_scalar", [A([2, 3])], {"p": 3.0})
case("pow_scalar_neg_half", "pow_scalar", [P([2, 3])], {"p": -0.5})
case("maximum_bcast", "maximum", [X([2, 3]), X([3])])
case("minimum_bcast", "minimum", [X([3, 1]), X([1, 4])])
case("maximum_long_flip", "maximum", [X([2, 9], pre=FLIP(1)), X([2, 9])])
case("add_scalar", "add_scalar", [X([2, 3])], {"s": 2.5})
case("rsub_scalar", "rsub_scalar", [X([2, 3])], {"s": 2.5})
case("mul_scalar", "mul_scalar", [X([2, 3])], {"s": -1.5})
case("div_scalar", "div_scalar", [X([2, 3])], {"s": 4.0})
case("rdiv_scalar", "rdiv_scalar", [A([2, 3])], {"s": 3.0})
case("neg", "neg", [X([2, 3])])
case("reuse_x_twice", "x_times_x_plus_x", [X([2, 3])])

# unary
case("exp", "exp", [X([2, 3])])
case("exp_T", "exp", [X([3, 4], pre=T)])
case("log", "log", [P([2, 3])])
case("log1p", "log1p", [U([2, 3], -0.5, 2.0)])
case("expm1", "expm1", [X([2, 3])])
case("sqrt", "sqrt", [P([2, 3])])
case("sqrt_step", "sqrt", [P([3, 4], pre=STEP(1))])
case("rsqrt", "rsqrt", [P([2, 3])])
case("abs", "abs", [A([2, 3])])
case("sign", "sign", [A([2, 3])])
case("sin", "sin", [U([2, 3], -3, 3)])
case("cos", "cos", [U([2, 3], -3, 3)])
case("tanh", "tanh", [U([3, 4], -3, 3)])
case("tanh_flip", "tanh", [X([2, 9], pre=FLIP(0, 1))])
case("tanh_small", "tanh", [U([16], -0.06, 0.06)])
case("sigmoid", "sigmoid", [U([3, 4], -4, 4)])
case("sigmoid_step", "sigmoid", [X([10, 3], pre=STEP(0))])
case("square", "square", [X([2, 3])])
case("reciprocal", "reciprocal", [A([2, 3], 0.5, 2.0)])
case("erf", "erf", [U([2, 3], -2, 2)])
case("affine", "affine", [X([2, 3])], {"a": 2.0, "b": -1.0})

# activations
case("relu", "relu", [A([3, 4])])
case("relu_T", "relu", [A([3, 9], pre=T)])
case("leaky_relu", "leaky_relu", [A([3, 4])], {"slope": 0.1})
case("elu", "elu", [A([3, 4], 0.1, 2.0)], {"alpha": 1.0})
case("elu_alpha", "elu", [A([3, 4], 0.1, 2.0)], {"alpha": 0.5})
case("gelu", "gelu", [U([3, 4], -3, 3)], {"approximate": False})
case("gelu_tanh", "gelu", [U([3, 4], -3, 3)], {"approximate": True})
case("silu", "silu", [U([3, 4], -4, 4)])
case("softplus", "softplus", [X([2, 4], data=[-25.0, -3.0, -0.5, 0.0, 0.7, 3.0, 19.5, 25.0])],
     {"beta": 1.0, "threshold": 20.0})
case("softplus_beta_threshold", "softplus", [X([2, 4], data=[-2.0, -0.7, 0.1, 0.3, 0.7, 1.5, 3.0, -0.2])],
     {"beta": 2.0, "threshold": 1.0})
case("clamp", "clamp", [X([2, 4], data=[-1.2, -0.6, -0.4, 0.0, 0.3, 0.45, 0.6, 2.0])], {"min": -0.5, "max": 0.5})
case("clamp_min_only", "clamp", [X([2, 3], data=[-1.0, -0.3, 0.1, 0.4, 1.0, -0.1])], {"min": 0.0})
case("clamp_max_only", "clamp", [X([2, 3], data=[-1.0, -0.3, 0.1, 0.4, 1.0, -0.1])], {"max": 0.2})

# reductions
case("sum_all", "sum", [X([2, 3, 4])], {"axes": None, "keepDims": False})
case("sum_axes02", "sum", [X([2, 3, 4])], {"axes": [0, 2], "keepDims": False})
case("sum_axes02_keep", "sum", [X([2, 3, 4])], {"axes": [0, 2], "keepDims": True})
case("sum_axis_last_T", "sum", [X([3, 4], pre=T)], {"axes": [-1], "keepDims": False})
case("mean_all", "mean", [X([2, 3, 4])], {"axes": None, "keepDims": False})
case("mean_axis1_keep", "mean", [X([2, 3, 4])], {"axes": [1], "keepDims": True})
case("mean_axes12_perm", "mean", [X([2, 3, 4], pre=PERM(2, 0, 1))], {"axes": [1, 2], "keepDims": False})
case("max_all", "max", [X([2, 3, 4])], {"axes": None, "keepDims": False})
case("max_axes02", "max", [X([2, 3, 4])], {"axes": [0, 2], "keepDims": False})
case("max_axis1_keep_flip", "max", [X([2, 3, 4], pre=FLIP(1))], {"axes": [1], "keepDims": True})
case("min_axes01", "min", [X([2, 3, 4])], {"axes": [0, 1], "keepDims": False})
case("min_all_T", "min", [X([3, 4], pre=T)], {"axes": None, "keepDims": False})
case("prod_axis1", "prod", [A([2, 3, 4], 0.5, 1.5)], {"axes": [1], "keepDims": False})
case("prod_all", "prod", [A([2, 3], 0.5, 1.5)], {"axes": None, "keepDims": False})
case("prod_axes02", "prod", [A([2, 3, 4], 0.5, 1.5)], {"axes": [0, 2], "keepDims": True})
case("var_axis1", "var", [X([2, 3, 4])], {"axes": [1], "correction": 1, "keepDims": False})
case("var_axes01_c0_keep", "var", [X([2, 3, 4])], {"axes": [0, 1], "correction": 0, "keepDims": True})
case("std_all", "std", [X([2, 3, 4])], {"axes": None, "correction": 1, "keepDims": False})
case("std_axes02", "std", [X([2, 3, 4])], {"axes": [0, 2], "correction": 1, "keepDims": False})
case("logsumexp_axis1", "logsumexp", [X([2, 3, 4])], {"axes": [1], "keepDims": False})
case("logsumexp_all", "logsumexp", [X([2, 3, 4])], {"axes": None, "keepDims": False})
case("logsumexp_axes01_keep", "logsumexp", [X([2, 3, 4])], {"axes": [0, 1], "keepDims": True})
case("softmax_last", "softmax", [X([3, 4])], {"axis": -1})
case("softmax_axis0_T", "softmax", [X([3, 4], pre=T)], {"axis": 0})
case("softmax_long_rows", "softmax", [X([2, 19], ("normal", 3.0))], {"axis": 1})
case("log_softmax_axis1_3d", "log_softmax", [X([2, 3, 4])], {"axis": 1})
case("log_softmax_long_rows", "log_softmax", [X([3, 17], ("normal", 3.0))], {"axis": -1})
case("cumsum_axis0", "cumsum", [X([3, 4])], {"axis": 0})
case("cumsum_axis1_step", "cumsum", [X([2, 5], pre=STEP(0))], {"axis": 1})
case("argmax_axis1", "argmax", [X([3, 4], grad=False)], {"axis": 1, "keepDims": False})
case("argmin_all", "argmin", [X([3, 4], grad=False)], {"axis": None, "keepDims": False})
case("argmax_keep_T", "argmax", [X([3, 4], pre=T, grad=False)], {"axis": 0, "keepDims": True})

# views
case("reshape_T", "reshape", [X([3, 4], pre=T)], {"shape": [2, 6]})
case("flatten", "flatten", [X([2, 3, 4])], {"start": 1, "end": -1})
case("permute", "permute", [X([2, 3, 4])], {"dims": [2, 0, 1]})
case("transpose02", "transpose", [X([2, 3, 4])], {"a": 0, "b": 2})
case("slice_step", "slice", [X([3, 7])], {"axis": 1, "start": 1, "end": 6, "step": 2})
case("select", "select", [X([3, 4])], {"axis": 1, "index": 2})
case("expand", "expand", [X([3, 1])], {"shape": [2, 3, 4]})
case("squeeze", "squeeze", [X([3, 1, 4])], {"axis": 1})
case("unsqueeze", "unsqueeze", [X([3, 4])], {"axis": 1})
case("flip", "flip", [X([3, 4])], {"axes": [0, 1]})
case("contiguous_T", "contiguous", [X([3, 4], pre=T)])
case("index_multi", "index_multi", [X([3, 5, 2])])  # t[1, 0::2, newaxis] -> [3, 1, 2]

# linalg
case("matmul_2d", "matmul", [X([3, 4]), X([4, 2])])
case("matmul_fold_batch", "matmul", [X([2, 3, 4]), X([4, 5])])
case("matmul_bcast_batch", "matmul", [X([2, 1, 3, 4]), X([3, 4, 2])])
case("matmul_1d_2d", "matmul", [X([4]), X([4, 3])])
case("matmul_2d_1d", "matmul", [X([3, 4]), X([4])])
case("matmul_1d_1d", "matmul", [X([4]), X([4])])
case("matmul_3d_1d", "matmul", [X([2, 3, 4]), X([4])])
case("matmul_1d_3d", "matmul", [X([4]), X([2, 4, 3])])
case("matmul_T_T", "matmul", [X([3, 4], pre=T), X([4, 2], pre=T)])
case("matmul_step", "matmul", [X([3, 4], pre=STEP(0)), X([4, 2], pre=STEP(1))])
case("matmul_batch_T", "matmul", [X([2, 3, 4], pre=T), X([2, 4, 2])])
case("linear_bias", "linear", [X([5, 4]), X([3, 4]), X([3])])
case("linear_3d_nobias", "linear", [X([2, 3, 4]), X([5, 4])])
case("linear_T", "linear", [X([5, 4], pre=T), X([3, 4]), X([3])])

# convolution and pooling
case("conv2d_basic", "conv2d", [X([1, 2, 5, 5]), X([3, 2, 3, 3]), X([3])],
     {"stride": [1, 1], "padding": [0, 0], "dilation": [1, 1], "groups": 1})
case("conv2d_stride2_pad1", "conv2d", [X([2, 2, 5, 5]), X([3, 2, 3, 3])],
     {"stride": [2, 2], "padding": [1, 1], "dilation": [1, 1], "groups": 1})
case("conv2d_dilation2", "conv2d", [X([1, 2, 6, 6]), X([2, 2, 2, 2]), X([2])],
     {"stride": [1, 1], "padding": [1, 1], "dilation": [2, 2], "groups": 1})
case("conv2d_groups2", "conv2d", [X([1, 4, 5, 5]), X([4, 2, 3, 3]), X([4])],
     {"stride": [1, 1], "padding": [1, 1], "dilation": [1, 1], "groups": 2})
case("conv2d_depthwise", "conv2d", [X([1, 3, 4, 4]), X([3, 1, 3, 3])],
     {"stride": [1, 1], "padding": [1, 1], "dilation": [1, 1], "groups": 3})
case("conv2d_asym", "conv2d", [X([1, 2, 6, 5]), X([3, 2, 3, 2]), X([3])],
     {"stride": [2, 1], "padding": [1, 0], "dilation": [1, 2], "groups": 1})
case("conv2d_T", "conv2d", [X([1, 2, 5, 4], pre=T), X([2, 2, 3, 3])],
     {"stride": [1, 1], "padding": [1, 1], "dilation": [1, 1], "groups": 1})
case("conv1d_basic", "conv1d", [X([2, 2, 7]), X([3, 2, 3])],
     {"stride": 1, "padding": 0, "dilation": 1, "groups": 1})
case("conv1d_all", "conv1d", [X([2, 2, 9]), X([4, 1, 3]), X([4])],
     {"stride": 2, "padding": 1, "dilation": 2, "groups": 2})
case("conv_t2d_basic", "conv_transpose2d", [X([1, 2, 3, 3]), X([2, 3, 3, 3]), X([3])],
     {"stride": [1, 1], "padding": [0, 0], "outputPadding": [0, 0], "dilation": [1, 1], "groups": 1})
case("conv_t2d_stride2_pad1_outpad1", "conv_transpose2d", [X([2, 2, 3, 3]), X([2, 2, 3, 3])],
     {"stride": [2, 2], "padding": [1, 1], "outputPadding": [1, 1], "dilation": [1, 1], "groups": 1})
case("conv_t2d_dilation2", "conv_transpose2d", [X([1, 2, 3, 3]), X([2, 2, 2, 2]), X([2])],
     {"stride": [1, 1], "padding": [1, 1], "outputPadding": [0, 0], "dilation": [2, 2], "groups": 1})
case("conv_t2d_groups2", "conv_transpose2d", [X([1, 4, 3, 3]), X([4, 1, 2, 2]), X([2])],
     {"stride": [2, 2], "padding": [0, 0], "outputPadding": [0, 0], "dilation": [1, 1], "groups": 2})
case("conv_t2d_asym", "conv_transpose2d", [X([1, 2, 3, 2]), X([2, 2, 3, 2])],
     {"stride": [2, 1], "padding": [1, 0], "outputPadding": [1, 0], "dilation": [1, 1], "groups": 1})
case("maxpool_k2", "max_pool2d", [X([1, 2, 4, 4])], {"kernel": [2, 2], "stride": None, "padding": [0, 0], "dilation": [1, 1]})
case("maxpool_k3_s2_p1", "max_pool2d", [X([1, 2, 5, 5])],
     {"kernel": [3, 3], "stride": [2, 2], "padding": [1, 1], "dilation": [1, 1]})
case("maxpool_dil2", "max_pool2d", [X([1, 1, 5, 5])], {"kernel": [2, 2], "stride": [1, 1], "padding": [0, 0], "dilation": [2, 2]})
case("maxpool_3d_asym", "max_pool2d", [X([2, 4, 5])], {"kernel": [2, 3], "stride": [1, 2], "padding": [1, 1], "dilation": [1, 1]})
case("avgpool_k2", "avg_pool2d", [X([1, 2, 4, 4])], {"kernel": [2, 2], "stride": None, "padding": [0, 0], "countIncludePad": True})
case("avgpool_k3_s2_p1", "avg_pool2d", [X([1, 2, 5, 5])],
     {"kernel": [3, 3], "stride": [2, 2], "padding": [1, 1], "countIncludePad": True})
case("avgpool_k3_s2_p1_nopad", "avg_pool2d", [X([1, 2, 5, 5])],
     {"kernel": [3, 3], "stride": [2, 2], "padding": [1, 1], "countIncludePad": False})
case("avgpool_asym_T", "avg_pool2d", [X([1, 2, 6, 5], pre=T)],
     {"kernel": [2, 3], "stride": [1, 2], "padding": [1, 1], "countIncludePad": False})
case("adaptive_div", "adaptive_avg_pool2d", [X([1, 2, 6, 6])], {"outputSize": [3, 3]})
case("adaptive_nondiv", "adaptive_avg_pool2d", [X([1, 2, 5, 7])], {"outputSize": [3, 4]})
case("adaptive_3d", "adaptive_avg_pool2d", [X([2, 5, 5])], {"outputSize": [2, 3]})

# indexing, joining, padding, masks
case("gather_axis1", "gather", [X([2, 4]), IDX([2, 3], [0, 2, 2, 3, 1, 3])], {"axis": 1})
case("gather_axis0_3d", "gather", [X([3, 2, 2]), IDX([4, 2, 2], [0, 2, 1, 1, 2, 2, 0, 1, 1, 0, 0, 2, 2, 1, 0, 0])],
     {"axis": 0})
case("scatter_add_axis0", "scatter_add", [X([3, 4]), IDX([2, 4], [0, 2, 2, 1, 0, 1, 2, 1]), X([2, 4])], {"axis": 0})
case("scatter_add_axis1", "scatter_add", [X([2, 3]), IDX([2, 4], [0, 2, 2, 1, 1, 1, 0, 2]), X([2, 4])], {"axis": 1})
case("index_select_axis1", "index_select", [X([3, 4]), IDX([3], [3, 0, 3])], {"axis": 1})
case("index_select_axis0", "index_select", [X([4, 2, 3]), IDX([5], [1, 3, 1, 0, 2])], {"axis": 0})
case("embedding", "embedding", [IDX([2, 3], [1, 3, 1, 0, 4, 3]), X([5, 3])])
case("concat_axis1", "concat", [X([2, 1]), X([2, 3], pre=T), X([2, 2])], {"axis": 1})
case("concat_axis0_T", "concat", [X([2, 3], pre=T), X([1, 3])], {"axis": 0})
case("stack_axis1", "stack", [X([2, 3]), X([2, 3], pre=FLIP(0))], {"axis": 1})
case("split_axis1", "split", [X([2, 5])], {"sizes": [1, 3, 1], "axis": 1})
case("chunk_axis0", "chunk", [X([5, 2])], {"chunks": 3, "axis": 0})
case("pad_constant", "pad", [X([2, 3])], {"widths": [[1, 2], [0, 1]], "mode": "constant", "value": 0.5})
case("pad_reflect_1d", "pad", [X([3, 5])], {"widths": [[2, 1]], "mode": "reflect", "value": 0.0})
case("pad_reflect_2d", "pad", [X([2, 4, 5])], {"widths": [[1, 1], [2, 2]], "mode": "reflect", "value": 0.0})
case("roll_pos", "roll", [X([3, 4])], {"shift": 2, "axis": 1})
case("roll_neg", "roll", [X([3, 4])], {"shift": -1, "axis": 0})
case("masked_fill", "masked_fill", [X([3, 4]), MASK([3, 4], [1, 0, 0, 1, 0, 1, 1, 0, 0, 0, 1, 0])], {"value": -2.0})
case("where_bcast", "where", [MASK([3, 1], [1, 0, 1]), X([3, 4]), X([4])])

# wide and large-magnitude paths (float32 kernels for long rows, inner > 1 layouts, max subtraction)
case("sum_axis0_wide", "sum", [X([5, 12])], {"axes": [0], "keepDims": False})
case("sum_rows_long", "sum", [X([3, 37])], {"axes": [1], "keepDims": False})
case("max_axis0_wide", "max", [X([5, 12])], {"axes": [0], "keepDims": False})
case("softmax_axis0_wide", "softmax", [X([3, 10])], {"axis": 0})
case("cumsum_wide", "cumsum", [X([4, 9])], {"axis": 0})
case("logsumexp_large", "logsumexp", [X([2, 6], ("normal", 60.0))], {"axes": [1], "keepDims": False})
case("softmax_large", "softmax", [X([2, 6], ("normal", 60.0))], {"axis": 1})
case("log_softmax_large", "log_softmax", [X([2, 9], ("normal", 60.0))], {"axis": 1})

# gradient conventions at kinks and ties (finite differences cannot check these; PyTorch's choice is the reference)
K8 = [-1.0, 0.0, 0.5, 0.0, -0.25, 2.0, 0.0, -3.0]
case("relu_at_zero", "relu", [X([8], data=K8)])
case("leaky_relu_at_zero", "leaky_relu", [X([8], data=K8)], {"slope": 0.1})
case("elu_at_zero", "elu", [X([8], data=K8)], {"alpha": 0.5})
case("abs_at_zero", "abs", [X([8], data=K8)])
case("clamp_at_bounds", "clamp", [X([8], data=[-0.5, 0.5, -0.6, 0.6, 0.0, -0.5, 0.2, 0.5])], {"min": -0.5, "max": 0.5})
case("max_ties", "max", [X([2, 4], data=[1.0, 3.0, 3.0, 2.0, 5.0, 5.0, 5.0, -1.0])], {"axes": [1], "keepDims": False})
case("min_ties_all", "min", [X([2, 3], data=[1.0, -2.0, 4.0, -2.0, 0.5, -2.0])], {"axes": None, "keepDims": False})
case("maximum_ties", "maximum", [X([4], data=[1.0, 2.0, -1.0, 0.5]), X([4], data=[1.0, 3.0, -1.0, 0.0])])
case("minimum_ties", "minimum", [X([4], data=[1.0, 2.0, -1.0, 0.5]), X([4], data=[1.0, 3.0, -1.0, 0.0])])
case("maxpool_ties", "max_pool2d", [X([1, 1, 4, 4], data=[1, 1, 2, 0, 1, 1, 2, 2, 0, 3, 3, 3, 3, 0, 3, 1])],
     {"kernel": [2, 2], "stride": [1, 1], "padding": [0, 0], "dilation": [1, 1]})
case("maxpool_ties_k2s2", "max_pool2d", [X([1, 1, 4, 4], data=[1, 2, 2, 0, 2, 1, 2, 2, 3, 3, 0, 1, 3, 3, 1, 1])],
     {"kernel": [2, 2], "stride": [2, 2], "padding": [0, 0], "dilation": [1, 1]})
case("argmax_ties", "argmax", [X([2, 4], data=[1, 3, 3, 2, 5, 5, 5, -1], grad=False)], {"axis": 1, "keepDims": False})
case("argmin_ties", "argmin", [X([2, 4], data=[1, -3, 0, -3, 2, 2, 7, 2], grad=False)], {"axis": 1, "keepDims": False})
case("prod_with_zeros", "prod", [X([3, 4], data=[0.5, 0.0, 2.0, -1.5, 0.0, 1.5, 0.0, 0.7, 1.2, -0.8, 0.9, 1.1])],
     {"axes": [1], "keepDims": False})
case("prod_all_one_zero", "prod", [X([2, 3], data=[0.5, 1.5, -2.0, 0.0, 1.2, -0.9])], {"axes": None, "keepDims": False})

# composites built from primitives (the same formula on both sides)
case("layernorm", "layernorm", [X([2, 5]), X([5]), X([5])], {"eps": 1e-5})
case("attention", "attention", [X([2, 3, 4]), X([2, 3, 4]), X([2, 3, 4])])
case("cross_entropy", "cross_entropy", [X([4, 5]), IDX([4, 1], [1, 0, 4, 2])])
case("mlp", "mlp", [X([3, 4]), X([5, 4]), X([5]), X([2, 5]), X([2])])
case("masked_softmax", "masked_softmax", [X([3, 5]), MASK([3, 5], [0, 1, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 1, 0, 1])])

# ---------------------------------------------------------------------------------------------------------------
# special values: NaN, +-inf, -0.0, subnormal and huge inputs (the "special" group; see the docstring). Every case is
# made twice, `_f32` and `_f64`, from the same float32-representable inputs. Vectors have 37 elements: 32 in the
# vectorized body of every kernel width (8 or 16 float lanes) and 5 in the scalar tail, with NaN, +-inf and -0.0 in
# both parts.
NAN, INF = float("nan"), float("inf")
SV = [NAN, 1.5, -INF, -0.0, 0.0, INF, -2.0, 1e-40, -1e-40, 3e38, -3e38, 0.25, 88.5, -88.5, 100.0, -100.0,
      NAN, 0.7, -0.3, 1e-30, -1e-30, 20.5, -20.5, 2.0, -1.0, INF, -INF, -0.0, 5.0, -5.0, 0.5, NAN,
      -0.0, NAN, INF, -INF, 0.0]
# GELU without +inf and +-3e38: PyTorch's float32 GELU kernels return NaN for gelu(+inf) and inf for gelu(3e38) (an
# intermediate overflows) where the float64 kernels and the exact function give inf and 3e38; Ember follows the
# float64 answer, so those inputs would only pin a PyTorch float32 artifact. -inf stays: NaN in both.
SV_GELU = [v if not (v == INF or abs(v) == 3e38) else w for v, w in zip(SV, [9.5, -9.5] * 19)]
# clamp(-0.5, 0.5): values on the bounds, NaN, +-inf and signed zeros
SV_CLAMP = SV[:11] + [0.5, -0.5] + SV[13:]
# binary pairs (a, b). No ties between -0.0 and +0.0 for maximum/minimum: PyTorch returns the second operand for
# those in its vectorized body and the first in its scalar tail, so the sign of that zero depends on the position.
PAIRS = [(NAN, 1.5), (2.0, NAN), (NAN, NAN), (INF, -INF), (-INF, INF), (INF, INF), (-INF, -INF), (0.0, 0.0),
         (-0.0, -0.0), (1e-40, -1e-40), (3e38, 3e38), (-3e38, 3e38), (INF, 1.0), (-INF, 1.0), (1.0, -INF),
         (0.0, INF), (-0.0, -INF), (0.5, 0.25), (-1.0, 2.0), (NAN, INF), (-INF, NAN), (5.0, 5.0), (0.0, 1e-30),
         (-2.0, -0.0), (NAN, -0.0), (1.0, 0.5), (-0.5, -0.25), (INF, NAN), (3.0, -3.0), (0.0, -1.0), (1.0, 1.0),
         (-1e-40, NAN),
         (NAN, 0.0), (1.0, NAN), (-INF, -INF), (NAN, NAN), (2.5, -2.5)]
# signed-zero and division-by-zero pairs for add/sub/mul/div and the comparisons (IEEE fixes every result here)
PAIRS_ZERO = [(-0.0, 0.0), (0.0, -0.0), (1.0, 0.0), (-1.0, 0.0), (1.0, -0.0), (0.0, 0.0), (-0.0, -0.0), (3e38, 3e38),
              (-3e38, -3e38), (1e-40, 1e-40), (INF, 0.0), (0.0, INF), (-0.0, INF), (1e-30, 1e30), (1e30, 1e-30),
              (-1.0, 1.0), (2.0, -2.0), (NAN, 0.0), (0.0, NAN), (1e-40, -1e-40), (-1e-40, 1e-40), (5.0, -0.0),
              (-5.0, -0.0), (-0.0, 5.0), (-0.0, -5.0), (0.0, -5.0), (INF, -0.0), (-INF, 0.0), (0.5, 0.5),
              (-0.0, -1e-40), (1e-40, -0.0), (7.0, 2.0),
              (-0.0, 0.0), (1.0, -0.0), (0.0, 0.0), (NAN, -0.0), (-INF, -0.0)]
assert len(SV) == len(SV_GELU) == len(SV_CLAMP) == len(PAIRS) == len(PAIRS_ZERO) == 37
# rows for softmax and reductions, [6, 37]
_F = [0.3, -1.2, 2.5, 0.0, -0.7, 1.1, 4.0, -3.3, 0.9, -0.1, 2.2, -2.8, 1.7, 0.4, -0.9, 3.1, -1.6, 0.6, 2.9, -0.4,
      1.3, -2.1, 0.8, -1.9, 3.6, 0.2, -0.6, 1.9, -2.4, 0.1, 2.7, -1.1, 1.4, -0.2, 0.5, -3.0, 1.0]
def _row(changes):
    r = list(_F)
    for i, v in changes.items():
        r[i] = v
    return r
ROWS = [_row({3: NAN}),                                 # NaN in the vectorized body
        _row({35: NAN}),                                # NaN in the scalar tail
        [-INF] * 37,                                    # all -inf
        _row({10: INF, 33: -INF}),                      # +inf (softmax: inf - inf = NaN) and -inf
        _row({0: -INF, 17: -INF, 36: -INF, 12: 3e38, 13: -3e38}),  # -inf entries and huge finite values
        [-0.0] * 20 + [0.0] + [-0.0] * 16]              # signed zeros
ROWS_FLAT = [v for r in ROWS for v in r]
# max_pool2d: plane 0 puts every NaN / tie / -inf pattern in the 2x2 windows of a 6x8 image (PyTorch takes the last
# NaN of a window in row-major scan order, else the first maximum); plane 1 is finite with one NaN and one inf.
POOL0 = [NAN, NAN, 1, 2, -INF, -INF, 3, NAN,
         1, NAN, NAN, NAN, -INF, -INF, NAN, 3,
         -0.0, 0.0, INF, 1, NAN, 1, 1, 2,
         0.0, -0.0, 2, INF, 2, 3, 3, NAN,
         1, NAN, NAN, 2, 5, 5, -INF, -1,
         2, 3, NAN, 3, 5, 5, -INF, -2]
POOL1 = [0.5, -1.0, 2.0, 0.25, -0.5, 1.5, 3.0, -2.0,
         1.0, 0.75, NAN, -1.5, 2.5, 0.0, -0.25, 1.25,
         -3.0, 2.25, 0.5, 1.75, INF, -1.0, 0.125, 0.0,
         1.5, -0.75, 0.25, 3.5, 1.0, -2.5, 2.0, 0.5,
         -1.25, 0.5, 1.0, -0.5, 2.75, 1.5, -0.0, 0.75,
         0.25, 1.0, -2.0, 0.5, 1.0, 3.25, -1.0, 2.0]
SPECIAL = []  # (name, op, inputs, params) made into _f32 and _f64 cases below


def special(name, op, inputs, params=None):
    SPECIAL.append((name, op, inputs, params or {}))


def SX(shape, data, pre=None, grad=True):
    return dict(shape=list(shape), data=list(data), pre=pre or [], grad=grad)


for _op in ["exp", "log", "log1p", "expm1", "sqrt", "rsqrt", "abs", "sign", "sin", "cos", "tanh", "sigmoid", "square",
            "reciprocal", "erf", "neg", "relu", "silu"]:
    special(f"special_{_op}", _op, [SX([37], SV)])
special("special_leaky_relu", "leaky_relu", [SX([37], SV)], {"slope": 0.1})
special("special_elu", "elu", [SX([37], SV)], {"alpha": 1.0})
special("special_elu_alpha", "elu", [SX([37], SV)], {"alpha": 0.5})
special("special_gelu", "gelu", [SX([37], SV_GELU)], {"approximate": False})
special("special_gelu_tanh", "gelu", [SX([37], SV_GELU)], {"approximate": True})
special("special_softplus", "softplus", [SX([37], SV)], {"beta": 1.0, "threshold": 20.0})
special("special_clamp", "clamp", [SX([37], SV_CLAMP)], {"min": -0.5, "max": 0.5})
special("special_clamp_min0", "clamp", [SX([37], SV)], {"min": 0.0})
special("special_clamp_max0", "clamp", [SX([37], SV)], {"max": 0.0})
special("special_relu_T", "relu", [SX([37, 2], SV + SV[::-1], pre=T)])
for _op in ["add", "sub", "mul", "div", "maximum", "minimum"]:
    special(f"special_{_op}", _op, [SX([37], [a for a, _ in PAIRS]), SX([37], [b for _, b in PAIRS])])
for _op in ["add", "sub", "mul", "div"]:
    special(f"special_{_op}_zeros", _op, [SX([37], [a for a, _ in PAIRS_ZERO]), SX([37], [b for _, b in PAIRS_ZERO])])
special("special_maximum_bcast", "maximum", [SX([2, 37], [a for a, _ in PAIRS] + [b for _, b in PAIRS]), SX([1], [NAN])])
special("special_minimum_bcast", "minimum", [SX([1], [-INF]), SX([2, 37], [a for a, _ in PAIRS] + [b for _, b in PAIRS])])
for _op in ["eq", "ne", "lt", "le", "gt", "ge"]:
    special(f"special_{_op}", _op, [SX([74], [a for a, _ in PAIRS + PAIRS_ZERO], grad=False),
                                    SX([74], [b for _, b in PAIRS + PAIRS_ZERO], grad=False)])
special("special_softmax", "softmax", [SX([6, 37], ROWS_FLAT)], {"axis": 1})
special("special_log_softmax", "log_softmax", [SX([6, 37], ROWS_FLAT)], {"axis": 1})
special("special_softmax_axis0", "softmax", [SX([37, 6], ROWS_FLAT, pre=T)], {"axis": 0})
special("special_log_softmax_axis0", "log_softmax", [SX([37, 6], ROWS_FLAT, pre=T)], {"axis": 0})
for _op in ["sum", "mean", "max", "min", "logsumexp"]:
    special(f"special_{_op}_rows", _op, [SX([6, 37], ROWS_FLAT)], {"axes": [1], "keepDims": False})
    special(f"special_{_op}_axis0", _op, [SX([37, 6], ROWS_FLAT, pre=T)], {"axes": [0], "keepDims": False})
special("special_sum_all", "sum", [SX([6, 37], ROWS_FLAT)], {"axes": None, "keepDims": False})
special("special_max_all", "max", [SX([6, 37], ROWS_FLAT)], {"axes": None, "keepDims": False})
special("special_min_all", "min", [SX([5, 37], ROWS_FLAT[37:])], {"axes": None, "keepDims": False})
for _op in ["argmax", "argmin"]:
    special(f"special_{_op}_rows", _op, [SX([6, 37], ROWS_FLAT, grad=False)], {"axis": 1, "keepDims": False})
    special(f"special_{_op}_axis0", _op, [SX([37, 6], ROWS_FLAT, pre=T, grad=False)], {"axis": 0, "keepDims": False})
    special(f"special_{_op}_all", _op, [SX([6, 37], ROWS_FLAT[37:] + ROWS_FLAT[:37], grad=False)],
            {"axis": None, "keepDims": False})
special("special_maxpool_k2", "max_pool2d", [SX([1, 2, 6, 8], POOL0 + POOL1)],
        {"kernel": [2, 2], "stride": None, "padding": [0, 0], "dilation": [1, 1]})
special("special_maxpool_k2_s1", "max_pool2d", [SX([1, 2, 6, 8], POOL0 + POOL1)],
        {"kernel": [2, 2], "stride": [1, 1], "padding": [0, 0], "dilation": [1, 1]})
special("special_maxpool_k3_s1_p1", "max_pool2d", [SX([1, 2, 6, 8], POOL0 + POOL1)],
        {"kernel": [3, 3], "stride": [1, 1], "padding": [1, 1], "dilation": [1, 1]})
special("special_maxpool_k3_s2_p1_dil", "max_pool2d", [SX([2, 6, 8], POOL1 + POOL0)],
        {"kernel": [3, 3], "stride": [2, 2], "padding": [1, 1], "dilation": [2, 1]})

for _name, _op, _inputs, _params in SPECIAL:
    for _dt in ["float32", "float64"]:
        case(f"{_name}_{'f32' if _dt == 'float32' else 'f64'}", _op,
             [X(s["shape"], data=s["data"], pre=s["pre"], grad=s["grad"], dtype=_dt) for s in _inputs], _params,
             group="special")

# ---------------------------------------------------------------------------------------------------------------
# torch implementations (Ember's semantics)


def pair(v):
    return tuple(v) if v is not None else None


def prod_axes(x, axes, keep):
    if axes is None:
        return x.prod()
    r = x
    for a in sorted((a % x.dim() for a in axes), reverse=True):
        r = r.prod(dim=a, keepdim=True)
    if not keep:
        r = r.squeeze(tuple(sorted(a % x.dim() for a in axes)))
    return r


def dims(axes, x):
    return tuple(range(x.dim())) if axes is None else tuple(axes)


def pad(x, p):
    flat = []
    for before, after in reversed(p["widths"]):
        flat += [before, after]
    if p["mode"] == "constant":
        return F.pad(x, flat, mode="constant", value=p["value"])
    return F.pad(x, flat, mode="reflect")


def slice_t(x, axis, start, end, step):
    idx = [slice(None)] * x.dim()
    idx[axis] = slice(start, end, step)
    return x[tuple(idx)]


def clamp(x, p):
    return torch.clamp(x, min=p.get("min"), max=p.get("max"))


OPS = {
    "add": lambda x, p: x[0] + x[1],
    "sub": lambda x, p: x[0] - x[1],
    "mul": lambda x, p: x[0] * x[1],
    "div": lambda x, p: x[0] / x[1],
    "pow": lambda x, p: torch.pow(x[0], x[1]),
    "pow_scalar": lambda x, p: torch.pow(x[0], p["p"]),
    "maximum": lambda x, p: torch.maximum(x[0], x[1]),
    "minimum": lambda x, p: torch.minimum(x[0], x[1]),
    "add_scalar": lambda x, p: x[0] + p["s"],
    "rsub_scalar": lambda x, p: p["s"] - x[0],
    "mul_scalar": lambda x, p: x[0] * p["s"],
    "div_scalar": lambda x, p: x[0] / p["s"],
    "rdiv_scalar": lambda x, p: p["s"] / x[0],
    "neg": lambda x, p: -x[0],
    "x_times_x_plus_x": lambda x, p: x[0] * x[0] + x[0],
    "eq": lambda x, p: torch.eq(x[0], x[1]),
    "ne": lambda x, p: torch.ne(x[0], x[1]),
    "lt": lambda x, p: torch.lt(x[0], x[1]),
    "le": lambda x, p: torch.le(x[0], x[1]),
    "gt": lambda x, p: torch.gt(x[0], x[1]),
    "ge": lambda x, p: torch.ge(x[0], x[1]),
    "exp": lambda x, p: torch.exp(x[0]),
    "log": lambda x, p: torch.log(x[0]),
    "log1p": lambda x, p: torch.log1p(x[0]),
    "expm1": lambda x, p: torch.expm1(x[0]),
    "sqrt": lambda x, p: torch.sqrt(x[0]),
    "rsqrt": lambda x, p: torch.rsqrt(x[0]),
    "abs": lambda x, p: torch.abs(x[0]),
    "sign": lambda x, p: torch.sign(x[0]),
    "sin": lambda x, p: torch.sin(x[0]),
    "cos": lambda x, p: torch.cos(x[0]),
    "tanh": lambda x, p: torch.tanh(x[0]),
    "sigmoid": lambda x, p: torch.sigmoid(x[0]),
    "square": lambda x, p: torch.square(x[0]),
    "reciprocal": lambda x, p: torch.reciprocal(x[0]),
    "erf": lambda x, p: torch.erf(x[0]),
    "affine": lambda x, p: p["a"] * x[0] + p["b"],
    "relu": lambda x, p: F.relu(x[0]),
    "leaky_relu": lambda x, p: F.leaky_relu(x[0], p["slope"]),
    "elu": lambda x, p: F.elu(x[0], p["alpha"]),
    "gelu": lambda x, p: F.gelu(x[0], approximate="tanh" if p["approximate"] else "none"),
    "silu": lambda x, p: F.silu(x[0]),
    "softplus": lambda x, p: F.softplus(x[0], beta=p["beta"], threshold=p["threshold"]),
    "clamp": lambda x, p: clamp(x[0], p),
    "sum": lambda x, p: torch.sum(x[0], dim=dims(p["axes"], x[0]), keepdim=p["keepDims"]),
    "mean": lambda x, p: torch.mean(x[0], dim=dims(p["axes"], x[0]), keepdim=p["keepDims"]),
    "max": lambda x, p: torch.amax(x[0], dim=dims(p["axes"], x[0]), keepdim=p["keepDims"]),
    "min": lambda x, p: torch.amin(x[0], dim=dims(p["axes"], x[0]), keepdim=p["keepDims"]),
    "prod": lambda x, p: prod_axes(x[0], p["axes"], p["keepDims"]),
    "var": lambda x, p: torch.var(x[0], dim=dims(p["axes"], x[0]), correction=p["correction"], keepdim=p["keepDims"]),
    "std": lambda x, p: torch.std(x[0], dim=dims(p["axes"], x[0]), correction=p["correction"], keepdim=p["keepDims"]),
    "logsumexp": lambda x, p: torch.logsumexp(x[0], dim=dims(p["axes"], x[0]), keepdim=p["keepDims"]),
    "softmax": lambda x, p: torch.softmax(x[0], dim=p["axis"]),
    "log_softmax": lambda x, p: torch.log_softmax(x[0], dim=p["axis"]),
    "cumsum": lambda x, p: torch.cumsum(x[0], dim=p["axis"]),
    "argmax": lambda x, p: torch.argmax(x[0], dim=p["axis"], keepdim=p["keepDims"] if p["axis"] is not None else False),
    "argmin": lambda x, p: torch.argmin(x[0], dim=p["axis"], keepdim=p["keepDims"] if p["axis"] is not None else False),
    "reshape": lambda x, p: x[0].reshape(p["shape"]),
    "flatten": lambda x, p: torch.flatten(x[0], p["start"], p["end"]),
    "permute": lambda x, p: x[0].permute(*p["dims"]),
    "transpose": lambda x, p: x[0].transpose(p["a"], p["b"]),
    "slice": lambda x, p: slice_t(x[0], p["axis"], p["start"], p["end"], p["step"]),
    "select": lambda x, p: x[0].select(p["axis"], p["index"]),
    "expand": lambda x, p: x[0].expand(*p["shape"]),
    "squeeze": lambda x, p: x[0].squeeze(p["axis"]),
    "unsqueeze": lambda x, p: x[0].unsqueeze(p["axis"]),
    "flip": lambda x, p: x[0].flip(p["axes"]),
    "contiguous": lambda x, p: x[0].contiguous(),
    "index_multi": lambda x, p: x[0][1, 0::2, None],
    "matmul": lambda x, p: torch.matmul(x[0], x[1]),
    "linear": lambda x, p: F.linear(x[0], x[1], x[2] if len(x) > 2 else None),
    "conv2d": lambda x, p: F.conv2d(x[0], x[1], x[2] if len(x) > 2 else None, stride=pair(p["stride"]),
                                    padding=pair(p["padding"]), dilation=pair(p["dilation"]), groups=p["groups"]),
    "conv1d": lambda x, p: F.conv1d(x[0], x[1], x[2] if len(x) > 2 else None, stride=p["stride"],
                                    padding=p["padding"], dilation=p["dilation"], groups=p["groups"]),
    "conv_transpose2d": lambda x, p: F.conv_transpose2d(x[0], x[1], x[2] if len(x) > 2 else None,
                                                        stride=pair(p["stride"]), padding=pair(p["padding"]),
                                                        output_padding=pair(p["outputPadding"]), groups=p["groups"],
                                                        dilation=pair(p["dilation"])),
    "max_pool2d": lambda x, p: F.max_pool2d(x[0], pair(p["kernel"]), stride=pair(p["stride"]),
                                            padding=pair(p["padding"]), dilation=pair(p["dilation"])),
    "avg_pool2d": lambda x, p: F.avg_pool2d(x[0], pair(p["kernel"]), stride=pair(p["stride"]),
                                            padding=pair(p["padding"]), count_include_pad=p["countIncludePad"]),
    "adaptive_avg_pool2d": lambda x, p: F.adaptive_avg_pool2d(x[0], pair(p["outputSize"])),
    "gather": lambda x, p: torch.gather(x[0], p["axis"], x[1]),
    "scatter_add": lambda x, p: torch.scatter_add(x[0], p["axis"], x[1], x[2]),
    "index_select": lambda x, p: torch.index_select(x[0], p["axis"], x[1]),
    "embedding": lambda x, p: F.embedding(x[0], x[1]),
    "concat": lambda x, p: torch.cat(x, dim=p["axis"]),
    "stack": lambda x, p: torch.stack(x, dim=p["axis"]),
    "split": lambda x, p: list(torch.split(x[0], p["sizes"], dim=p["axis"])),
    "chunk": lambda x, p: list(torch.chunk(x[0], p["chunks"], dim=p["axis"])),
    "pad": lambda x, p: pad(x[0], p),
    "roll": lambda x, p: torch.roll(x[0], p["shift"], p["axis"]),
    "masked_fill": lambda x, p: x[0].masked_fill(x[1], p["value"]),
    "where": lambda x, p: torch.where(x[0], x[1], x[2]),
    # composites: written out from primitives so GoldenTests.swift can mirror them op for op
    "layernorm": lambda x, p: (x[0] - x[0].mean(-1, keepdim=True))
    / torch.sqrt(x[0].var(-1, correction=0, keepdim=True) + p["eps"]) * x[1] + x[2],
    "attention": lambda x, p: torch.matmul(torch.softmax(torch.matmul(x[0], x[1].transpose(-2, -1)) / 2.0, dim=-1), x[2]),
    "cross_entropy": lambda x, p: -torch.gather(torch.log_softmax(x[0], dim=1), 1, x[1]).mean(),
    "mlp": lambda x, p: F.linear(F.relu(F.linear(x[0], x[1], x[2])), x[3], x[4]),
    "masked_softmax": lambda x, p: torch.softmax(x[0].masked_fill(x[1], -1e9), dim=-1),
}


def apply_pre(t, pre):
    for p in pre:
        kind = p[0]
        if kind == "transpose":
            t = t.transpose(-2, -1)
        elif kind == "flip":
            t = t.flip(p[1])
        elif kind == "slice":
            t = slice_t(t, p[1], p[2], p[3], p[4])
        elif kind == "expand":
            t = t.expand(*p[1])
        elif kind == "permute":
            t = t.permute(*p[1])
        else:
            raise ValueError(kind)
    return t


# ---------------------------------------------------------------------------------------------------------------
# data and serialization


def special_json(v):
    """The fixture's spelling of a value JSON numbers cannot carry exactly: "nan", "inf", "-inf", "-0"; else None."""
    v = float(v)
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    if v == 0 and math.copysign(1.0, v) < 0:
        return "-0"
    return None


def f32(v):
    """Shortest decimal that round-trips the float32 value, as a Python float (json then prints that decimal)."""
    sp = special_json(v)
    return sp if sp is not None else float(np.format_float_positional(np.float32(v), unique=True, trim="-"))


def f64(v):
    """A float64 value: Python's repr is the shortest decimal that round-trips the double."""
    sp = special_json(v)
    return sp if sp is not None else float(v)


def draw(spec, shape):
    if spec["data"] is not None:
        a = np.array(spec["data"], dtype=np.float64).reshape(shape)
    else:
        kind = spec["dist"][0]
        if kind == "normal":
            scale = spec["dist"][1] if len(spec["dist"]) > 1 else 1.0
            a = rng.standard_normal(shape) * scale
        elif kind == "uniform":
            a = rng.uniform(spec["dist"][1], spec["dist"][2], shape)
        elif kind == "away":
            a = rng.uniform(spec["dist"][1], spec["dist"][2], shape) * rng.choice([-1.0, 1.0], shape)
        else:
            raise ValueError(kind)
    return a.astype(np.float32)


def tensor_json(t):
    t = t.detach()
    if t.dtype == torch.int64:
        return {"shape": list(t.shape), "dtype": "int64", "data": [int(v) for v in t.reshape(-1).tolist()]}
    if t.dtype == torch.bool:
        return {"shape": list(t.shape), "dtype": "bool", "data": [int(v) for v in t.reshape(-1).tolist()]}
    if t.dtype == torch.float64:
        return {"shape": list(t.shape), "dtype": "float64", "data": [f64(v) for v in t.reshape(-1).tolist()]}
    assert t.dtype == torch.float32, t.dtype
    return {"shape": list(t.shape), "dtype": "float32", "data": [f32(v) for v in t.reshape(-1).numpy()]}


TWIN_UPSTREAM = {}


def build(c):
    leaves, js_inputs = [], []
    for i, spec in enumerate(c["inputs"]):
        leaf_shape = (c["leaf_shapes"][i] if c["leaf_shapes"] and c["leaf_shapes"][i] is not None
                      else stored_shape(spec))
        if spec["dtype"] == "float32":
            leaf = torch.from_numpy(draw(spec, leaf_shape)).requires_grad_(spec["grad"])
        elif spec["dtype"] == "float64":
            # the float32 values, exactly, as doubles: the _f32 and _f64 twins of a case see the same numbers
            leaf = torch.from_numpy(draw(spec, leaf_shape).astype(np.float64)).requires_grad_(spec["grad"])
        elif spec["dtype"] == "int64":
            leaf = torch.tensor(spec["data"], dtype=torch.int64).reshape(leaf_shape)
        else:
            leaf = torch.tensor(spec["data"], dtype=torch.bool).reshape(leaf_shape)
        leaves.append(leaf)
        entry = tensor_json(leaf)
        entry["grad"] = bool(spec["grad"]) and spec["dtype"] in ("float32", "float64")
        entry["pre"] = spec["pre"]
        js_inputs.append(entry)
    xs = [apply_pre(l, spec["pre"]) for l, spec in zip(leaves, c["inputs"])]
    for x, spec in zip(xs, c["inputs"]):
        assert list(x.shape) == spec["shape"], (c["name"], list(x.shape), spec["shape"])
    out = OPS[c["op"]](xs, c["params"])
    outs = out if isinstance(out, list) else [out]
    entry = {"name": c["name"], "op": c["op"], "params": c["params"], "inputs": js_inputs,
             "outputs": [tensor_json(o) for o in outs]}
    float_outs = [o for o in outs if o.dtype in (torch.float32, torch.float64)]
    if float_outs and any(l.requires_grad for l in leaves):
        twin = c["name"][:-4] if c["group"] == "special" else None
        if twin is not None and twin in TWIN_UPSTREAM:  # the _f64 twin gets its _f32 twin's upstream, as doubles
            ups = [u.to(o.dtype) for u, o in zip(TWIN_UPSTREAM[twin], float_outs)]
        else:
            ups = [torch.from_numpy(rng.uniform(-1, 1, tuple(o.shape)).astype(np.float32)).to(o.dtype)
                   for o in float_outs]
            if twin is not None:
                TWIN_UPSTREAM[twin] = ups
        loss = sum((o * u).sum() for o, u in zip(float_outs, ups))
        need = [l for l in leaves if l.requires_grad]
        gs = torch.autograd.grad(loss, need, allow_unused=True)
        gmap = {id(l): g for l, g in zip(need, gs)}
        grads = []
        for j, l in enumerate(leaves):
            if not l.requires_grad:
                grads.append(None)
            else:
                g = gmap[id(l)]
                grads.append(tensor_json(g if g is not None else torch.zeros_like(l)))
                k = sum(1 for m in leaves[:j] if m.requires_grad)  # as check_special_consistency counts
                for i in UNPINNED.get((c["name"], k), ()):
                    grads[-1]["data"][i] = "any"
        entry["upstream"] = [tensor_json(u) for u in ups]
        entry["grads"] = grads
    if c["group"]:
        entry["group"] = c["group"]
    if c["tol"]:
        entry["tol"] = c["tol"]
    if c["note"]:
        entry["note"] = c["note"]
    return entry


# ---------------------------------------------------------------------------------------------------------------
# large shapes (core_golden_large.json): inputs from a formula both sides compute exactly, outputs sampled


def hashed_values(n, salt, scale):
    """The fixture's input formula (GoldenTests.swift's `goldenHashed` is the same): for i in [0, n)
        h = (i * 0x9E3779B1 + salt * 0x632BE5AB) mod 2^32, then murmur3's fmix32:
        h ^= h >> 16; h = h * 0x85EBCA6B mod 2^32; h ^= h >> 13; h = h * 0xC2B2AE35 mod 2^32; h ^= h >> 16
        x[i] = ((h >> 8) - 2^23) / 2^23 * scale          (scale a power of two)
    Only integer arithmetic and a power-of-two scaling of a 24-bit integer, so x[i] is exact in float32 and both
    sides get the same bits without relying on any libm."""
    assert scale > 0 and math.frexp(scale)[0] == 0.5, "scale must be a power of two"
    m = np.uint64(0xFFFFFFFF)
    h = (np.arange(n, dtype=np.uint64) * np.uint64(0x9E3779B1) + np.uint64(salt * 0x632BE5AB)) & m
    h ^= h >> np.uint64(16)
    h = (h * np.uint64(0x85EBCA6B)) & m
    h ^= h >> np.uint64(13)
    h = (h * np.uint64(0xC2B2AE35)) & m
    h ^= h >> np.uint64(16)
    v = ((h >> np.uint64(8)).astype(np.int64) - (1 << 23)).astype(np.float64) / float(1 << 23) * scale
    out = v.astype(np.float32)
    assert np.array_equal(out.astype(np.float64), v), "hashed values must be exact in float32"
    return out


def G(shape, salt, scale=1.0, pre=None, grad=True, inject=None):
    """A formula input: `shape` is the stored leaf's shape, `inject` [(flat index, value)] overrides elements."""
    return dict(shape=list(shape), salt=salt, scale=scale, pre=pre or [], grad=grad, inject=inject or [])


LARGE = []


def large(name, op, inputs, params=None, extra=None, up_scale=1.0):
    """`extra`: flat output indices to store besides the sample (e.g. where injected specials land); `up_scale`: the
    upstream gradient's scale (a power of two)."""
    LARGE.append(dict(name=name, op=op, inputs=inputs, params=params or {}, extra=extra or [], up_scale=up_scale))


CONV = {"stride": [1, 1], "padding": [1, 1], "dilation": [1, 1], "groups": 1}
large("matmul_256x300x200", "matmul", [G([256, 300], 1), G([300, 200], 2)])
large("matmul_T_T_256x300x200", "matmul", [G([300, 256], 3, pre=T), G([200, 300], 4, pre=T)])
large("linear_256x300_200", "linear", [G([256, 300], 5), G([200, 300], 6), G([200], 7)])
# The weight gradient sums 16 * 400 = 6400 products per element; x and the upstream gradient in [-1/8, 1/8) keep
# those sums O(1) like the small cases', so float32 summation-order differences stay inside the same 1e-5 atol.
large("conv2d_16x8x20x20_k3_p1", "conv2d", [G([16, 8, 20, 20], 8, 0.125), G([16, 8, 3, 3], 9), G([16], 10)], CONV,
      up_scale=0.125)
large("softmax_512x300", "softmax", [G([512, 300], 11, 4.0)], {"axis": 1})
large("log_softmax_512x300", "log_softmax", [G([512, 300], 12, 4.0)], {"axis": -1})
large("sum_300k", "sum", [G([300000], 13)], {"axes": None, "keepDims": False})
large("mean_300k", "mean", [G([300000], 14)], {"axes": None, "keepDims": False})
large("sum_600x500_axis1", "sum", [G([600, 500], 15)], {"axes": [1], "keepDims": False})
large("sum_600x500_axis0", "sum", [G([600, 500], 16)], {"axes": [0], "keepDims": False})
large("mean_600x500_axis0_keep", "mean", [G([600, 500], 17)], {"axes": [0], "keepDims": True})
large("max_600x500_axis1", "max", [G([600, 500], 18)], {"axes": [1], "keepDims": False})
large("exp_70k", "exp", [G([70000], 19, 8.0)])
large("tanh_70k", "tanh", [G([70000], 20, 8.0)])
large("sigmoid_70k", "sigmoid", [G([70000], 21, 16.0)])
large("add_bcast_300x400", "add", [G([300, 400], 22), G([400], 23)])
large("mul_bcast_300x400", "mul", [G([300, 400], 24), G([300, 1], 25)])
# special values on the threaded and vectorized paths: chunk boundaries (n/2 for two threads), vector tails, ends
SP70 = [(0, NAN), (7, INF), (15, -INF), (34999, NAN), (35000, -0.0), (35001, INF), (50003, -INF), (69998, -0.0),
        (69999, NAN)]
SP70_IDX = [i for i, _ in SP70]
for _op, _salt, _scale in [("exp", 26, 8.0), ("tanh", 27, 8.0), ("sigmoid", 28, 16.0), ("relu", 29, 1.0)]:
    large(f"{_op}_70k_specials", _op, [G([70000], _salt, _scale, inject=SP70)], extra=SP70_IDX)
large("sum_300k_nan", "sum", [G([300000], 30, inject=[(299990, NAN)])], {"axes": None, "keepDims": False})
large("sum_300k_inf_minus_inf", "sum", [G([300000], 31, inject=[(1000, INF), (200000, -INF)])],
      {"axes": None, "keepDims": False})
large("mean_300k_inf", "mean", [G([300000], 32, inject=[(150001, INF)])], {"axes": None, "keepDims": False})
large("softmax_512x300_specials", "softmax",
      [G([512, 300], 33, 4.0, inject=[(7 * 300 + 299, NAN), (300 * 300 + 5, NAN), (400 * 300 + 17, INF),
                                       (401 * 300 + 3, -INF), (402 * 300 + 299, -INF)])], {"axis": 1},
      extra=list(range(7 * 300, 8 * 300, 7)) + [300 * 300 + 5, 400 * 300 + 17, 401 * 300 + 3, 402 * 300 + 299])
large("max_600x500_axis1_nan", "max", [G([600, 500], 34, inject=[(3 * 500 + 499, NAN), (599 * 500, NAN)])],
      {"axes": [1], "keepDims": False})
large("maximum_bcast_300x400_nan", "maximum",
      [G([300, 400], 35, inject=[(0, NAN), (150 * 400 + 7, NAN), (299 * 400 + 399, NAN)]), G([400], 36, inject=[(9, NAN)])],
      extra=[0, 150 * 400 + 7, 299 * 400 + 399] + [r * 400 + 9 for r in range(0, 300, 37)])

LARGE_FULL = 2000  # tensors up to this many elements are stored whole


def sample_indices(n, extra=()):
    """Flat indices stored for a tensor of n elements: all when n <= LARGE_FULL, else the first and last 50, every
    97th, and `extra`."""
    if n <= LARGE_FULL:
        return None
    return sorted(set(range(50)) | set(range(0, n, 97)) | set(range(n - 50, n)) | {i for i in extra if i < n})


def sampled_json(t, extra=()):
    shape = list(t.shape)
    t = t.detach().reshape(-1)
    full = tensor_json(t)
    full["shape"] = shape
    idx = sample_indices(t.numel(), extra)
    if idx is not None:
        full["indices"] = idx
        full["data"] = [full["data"][i] for i in idx]
    return full


def bitsum(a):
    """Sum of the float32 bit patterns as unsigned integers, mod 2^50 (a JSON number doubles hold exactly)."""
    return int(a.view(np.uint32).astype(np.uint64).sum()) % (1 << 50)


def build_large(c):
    leaves, js_inputs = [], []
    for spec in c["inputs"]:
        n = int(np.prod(spec["shape"]))
        a = hashed_values(n, spec["salt"], spec["scale"])
        for i, v in spec["inject"]:
            a[i] = v
        leaf = torch.from_numpy(a.reshape(spec["shape"]).copy()).requires_grad_(spec["grad"])
        leaves.append(leaf)
        check_idx = sorted({0, 1, 2, 3, n // 2, n - 1} | {i for i, _ in spec["inject"]})
        js_inputs.append({"shape": spec["shape"], "dtype": "float32",
                          "gen": {"salt": spec["salt"], "scale": spec["scale"]},
                          "inject": [[i, f32(v)] for i, v in spec["inject"]], "grad": spec["grad"], "pre": spec["pre"],
                          "check": {"indices": check_idx, "data": [f32(a[i]) for i in check_idx]}, "bitsum": bitsum(a)})
    xs = [apply_pre(l, spec["pre"]) for l, spec in zip(leaves, c["inputs"])]
    out = OPS[c["op"]](xs, c["params"])
    entry = {"name": c["name"], "op": c["op"], "params": c["params"], "inputs": js_inputs,
             "outputs": [sampled_json(out, c["extra"])]}
    if out.dtype == torch.float32 and any(l.requires_grad for l in leaves):
        usalt = 1000 + len(LARGE_BUILT)
        up = torch.from_numpy(hashed_values(out.numel(), usalt, c["up_scale"]).reshape(tuple(out.shape)))
        need = [l for l in leaves if l.requires_grad]
        gs = torch.autograd.grad((out * up).sum(), need)
        gmap = {id(l): g for l, g in zip(need, gs)}
        entry["upstream"] = [{"shape": list(out.shape), "gen": {"salt": usalt, "scale": c["up_scale"]}}]
        entry["grads"] = [sampled_json(gmap[id(l)], c["extra"]) if l.requires_grad else None for l in leaves]
    LARGE_BUILT.append(c["name"])
    return entry


LARGE_BUILT = []


# ---------------------------------------------------------------------------------------------------------------
# self-checks of the special-value group


def bits_equal(a, b):
    """Same value bit for bit, any NaN equal to any NaN."""
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)


def special_class(v):
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    if v == 0:
        return "-0" if math.copysign(1.0, v) < 0 else "0"
    return "finite"


ELEMENTWISE = {"exp", "log", "log1p", "expm1", "sqrt", "rsqrt", "abs", "sign", "sin", "cos", "tanh", "sigmoid", "square",
               "reciprocal", "erf", "neg", "relu", "silu", "leaky_relu", "elu", "gelu", "softplus", "clamp", "add",
               "sub", "mul", "div", "maximum", "minimum"}


UNPINNED = {}  # (case name, input index) -> leaf positions whose PyTorch gradient depends on the position


def classes_agree(a, b, signed_zeros=True):
    """float32 result a and float64 result b agree on NaN, +-inf and (optionally) the sign of zero, allowing for
    float32's own overflow (|b| > FLT_MAX) and underflow or cancellation (a zero where |b| is below the tests'
    1e-5 absolute tolerance)."""
    ca, cb = special_class(a), special_class(b)
    if ca == cb or (ca == "finite" and cb == "finite"):
        return True
    if ca.endswith("inf") and abs(b) > 3.4028234e38 and math.copysign(1.0, a) == math.copysign(1.0, b):
        return True
    if ca in ("0", "-0") and (cb in ("0", "-0") and not signed_zeros or cb == "finite" and abs(b) < 1e-5):
        return True
    if cb in ("0", "-0") and ca == "finite" and abs(a) < 1e-5:
        return True
    return False


def check_special_consistency():
    """What the special group pins must be PyTorch's semantics, not an accident of one of its code paths:
    (1) elementwise ops give the same bits for the same inputs wherever they sit (vector body or scalar tail);
    (2) the float32 and float64 kernels agree on NaN, +-inf and the sign of zero, except where float32 itself
        overflows (|exact| > FLT_MAX) or underflows (|exact| < 1e-37).
    Both are asserted for forward outputs. For gradients (upstream all ones) (2) is asserted up to the sign of zero, and
    where (1) fails the positions are recorded in UNPINNED and written as "any" (one case today: PyTorch's ELU
    gradient at NaN is NaN in its vectorized body and g in its scalar tail)."""
    for name, op, inputs, params in SPECIAL:
        outs, grads = {}, {}
        for dt in (torch.float32, torch.float64):
            leaves = [torch.tensor(np.array(s["data"], dtype=np.float32).reshape(stored_shape(
                dict(shape=s["shape"], pre=s["pre"]))), dtype=dt).requires_grad_(s["grad"]) for s in inputs]
            xs = [apply_pre(l, s["pre"]) for l, s in zip(leaves, inputs)]
            out = OPS[op](xs, params)
            outs[dt] = out.detach()
            if out.dtype != torch.bool and any(s["grad"] for s in inputs):
                grads[dt] = torch.autograd.grad(out.sum(), [l for l in leaves if l.requires_grad])
            if op not in ELEMENTWISE:
                continue
            flat_in = [torch.broadcast_to(x, out.shape).reshape(-1).tolist() for x in xs]
            keys = [tuple(struct_key(v[i]) for v in flat_in) for i in range(out.numel())]
            seen = {}
            for i, y in enumerate(out.reshape(-1).tolist()):
                if keys[i] in seen:
                    assert bits_equal(seen[keys[i]], y), f"{name} {dt}: same inputs, different results by position"
                seen[keys[i]] = y
            plain = all(not s["pre"] and list(s["shape"]) == list(out.shape) for s in inputs)
            for k, g in enumerate(grads.get(dt, ())):
                if not plain:
                    continue
                by_key = {}
                for i, y in enumerate(g.reshape(-1).tolist()):
                    by_key.setdefault(keys[i], []).append((i, y))
                for group in by_key.values():
                    if any(not bits_equal(group[0][1], y) for _, y in group):
                        for suffix in ("_f32", "_f64"):
                            UNPINNED.setdefault((name + suffix, k), set()).update(i for i, _ in group)
        o32, o64 = outs[torch.float32].reshape(-1).tolist(), outs[torch.float64].reshape(-1).tolist()
        for i, (a, b) in enumerate(zip(o32, o64)):
            if isinstance(a, bool):
                assert a == b, f"{name}[{i}]: float32 {a}, float64 {b}"
            else:
                assert classes_agree(a, b), f"{name}[{i}]: PyTorch float32 gives {a}, float64 {b}"
        for k, (g32, g64) in enumerate(zip(grads.get(torch.float32, ()), grads.get(torch.float64, ()))):
            for i, (a, b) in enumerate(zip(g32.reshape(-1).tolist(), g64.reshape(-1).tolist())):
                if i not in UNPINNED.get((name + "_f32", k), ()):
                    assert classes_agree(a, b, signed_zeros=False), \
                        f"{name} grad {k}[{i}]: PyTorch float32 gives {a}, float64 {b}"


def struct_key(v):
    return "nan" if math.isnan(v) else (v, math.copysign(1.0, v))


def fixture_values(t):
    return [float(v) if not isinstance(v, str) else {"nan": NAN, "inf": INF, "-inf": -INF, "-0": -0.0, "any": None}[v]
            for v in t["data"]]


def same_within_tolerance(a, b):
    if math.isnan(b) or math.isinf(b) or math.isnan(a) or math.isinf(a):
        return bits_equal(a, b)
    return abs(a - b) <= 1e-5 + 1e-4 * abs(b)


def check_capabilities():
    """Regenerates under each ATEN_CPU_CAPABILITY the CPU supports and compares with the committed fixtures."""
    import tempfile
    here = os.path.dirname(os.path.abspath(__file__))
    fixtures = os.path.normpath(os.path.join(here, "..", "..", "Tests", "EmberCoreTests", "Fixtures"))
    committed = {f: {c["name"]: c for c in json.load(open(os.path.join(fixtures, f)))["cases"]}
                 for f in ("core_golden.json", "core_golden_large.json")}
    bad = 0
    for cap in ("default", "avx2", "avx512"):
        env = dict(os.environ, ATEN_CPU_CAPABILITY=cap)
        got = subprocess.run([sys.executable, "-c", "import torch; print(torch.backends.cpu.get_cpu_capability())"],
                             env=env, capture_output=True, text=True).stdout.strip()
        if got.lower() != cap:
            print(f"{cap}: not available here (torch runs {got})", file=sys.stderr)
            continue
        with tempfile.TemporaryDirectory() as tmp:
            subprocess.run([sys.executable, os.path.abspath(__file__), "--out-dir", tmp], env=env, check=True)
            for f, want in committed.items():
                for c in json.load(open(os.path.join(tmp, f)))["cases"]:
                    w = want[c["name"]]
                    pairs = list(zip(c["outputs"], w["outputs"])) + list(zip(c.get("grads") or [], w.get("grads") or []))
                    for k, (t, u) in enumerate(pairs):
                        if t is None:
                            continue
                        for i, (a, b) in enumerate(zip(fixture_values(t), fixture_values(u))):
                            if a is None or b is None:
                                if (a is None) != (b is None):
                                    bad += 1
                                    print(f"{cap}: {f} {c['name']} tensor {k} [{i}]: 'any' in one only", file=sys.stderr)
                                continue
                            ok = same_within_tolerance(a, b)
                            if ok and k < len(c["outputs"]) and a == 0 and b == 0:
                                ok = math.copysign(1.0, a) == math.copysign(1.0, b)
                            if not ok:
                                bad += 1
                                print(f"{cap}: {f} {c['name']} tensor {k} [{i}]: {a} vs committed {b}", file=sys.stderr)
        print(f"{cap}: compared", file=sys.stderr)
    print("capability check: " + ("all agree" if bad == 0 else f"{bad} differences"), file=sys.stderr)
    return 1 if bad else 0


def main():
    import argparse
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out-dir", help="write the fixtures here instead of Tests/EmberCoreTests/Fixtures")
    ap.add_argument("--check-capabilities", action="store_true",
                    help="regenerate under every ATEN_CPU_CAPABILITY this CPU has and compare with the committed "
                         "fixtures (special values exactly, finite values to the tests' tolerance)")
    args = ap.parse_args()
    if args.check_capabilities:
        return check_capabilities()
    names = [c["name"] for c in CASES]
    assert len(names) == len(set(names)), "duplicate case names"
    check_special_consistency()
    cases = [build(c) for c in CASES]
    doc = {"generator": "scripts/golden/make_core_golden.py", "torch": torch.__version__, "numpy": np.__version__,
           "seed": SEED, "cases": cases}
    here = os.path.dirname(os.path.abspath(__file__))
    out_dir = args.out_dir or os.path.normpath(os.path.join(here, "..", "..", "Tests", "EmberCoreTests", "Fixtures"))
    path = os.path.join(out_dir, "core_golden.json")
    text = json.dumps(doc, separators=(",", ":"))
    with open(path, "w") as f:
        f.write(text + "\n")
    ops = sorted({c["op"] for c in cases})
    print(f"wrote {path}: {len(cases)} cases, {len(ops)} op keys, {len(text) / 1024:.0f} KiB", file=sys.stderr)
    large_names = [c["name"] for c in LARGE]
    assert len(large_names) == len(set(large_names)), "duplicate large case names"
    large_cases = [build_large(c) for c in LARGE]
    doc = {"generator": "scripts/golden/make_core_golden.py", "torch": torch.__version__, "numpy": np.__version__,
           "cases": large_cases}
    path = os.path.join(out_dir, "core_golden_large.json")
    text = json.dumps(doc, separators=(",", ":"))
    with open(path, "w") as f:
        f.write(text + "\n")
    print(f"wrote {path}: {len(large_cases)} cases, {len(text) / 1024:.0f} KiB", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
