#!/usr/bin/env python3
"""PyTorch golden values for EmberCore's differentiable ops.

Writes Tests/EmberCoreTests/Fixtures/core_golden.json, read by Tests/EmberCoreTests/GoldenTests.swift.

Regenerate
----------
    python3 -m venv .venv-torch
    .venv-torch/bin/pip install torch==2.13.0 numpy      # CPU wheel is enough
    .venv-torch/bin/python Scripts/golden/make_core_golden.py
    # then: swift test --filter Golden

The output is deterministic (numpy seed below, float32 CPU kernels, one thread) so a regeneration with the same
torch version gives the same file up to the last ulp of a few transcendental results.

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

All float data are float32 written with the shortest decimal that round-trips float32.
Index tensors are int64, masks are bool (stored as 0/1).

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

Dropout is not here: its mask comes from Ember's Philox stream, which PyTorch cannot reproduce; GradCheckTests covers
its gradient.
"""

import json
import os
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


def case(name, op, inputs, params=None, tol=None, note=None, leaf_shapes=None):
    CASES.append(dict(name=name, op=op, inputs=inputs, params=params or {}, tol=tol, note=note,
                      leaf_shapes=leaf_shapes))


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


def f32(v):
    """Shortest decimal that round-trips the float32 value, as a Python float (json then prints that decimal)."""
    return float(np.format_float_positional(np.float32(v), unique=True, trim="-")) if np.isfinite(v) else None


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
    assert t.dtype == torch.float32, t.dtype
    return {"shape": list(t.shape), "dtype": "float32", "data": [f32(v) for v in t.reshape(-1).numpy()]}


def build(c):
    leaves, js_inputs = [], []
    for i, spec in enumerate(c["inputs"]):
        leaf_shape = (c["leaf_shapes"][i] if c["leaf_shapes"] and c["leaf_shapes"][i] is not None
                      else stored_shape(spec))
        if spec["dtype"] == "float32":
            leaf = torch.from_numpy(draw(spec, leaf_shape)).requires_grad_(spec["grad"])
        elif spec["dtype"] == "int64":
            leaf = torch.tensor(spec["data"], dtype=torch.int64).reshape(leaf_shape)
        else:
            leaf = torch.tensor(spec["data"], dtype=torch.bool).reshape(leaf_shape)
        leaves.append(leaf)
        entry = tensor_json(leaf)
        entry["grad"] = bool(spec["grad"]) and spec["dtype"] == "float32"
        entry["pre"] = spec["pre"]
        js_inputs.append(entry)
    xs = [apply_pre(l, spec["pre"]) for l, spec in zip(leaves, c["inputs"])]
    for x, spec in zip(xs, c["inputs"]):
        assert list(x.shape) == spec["shape"], (c["name"], list(x.shape), spec["shape"])
    out = OPS[c["op"]](xs, c["params"])
    outs = out if isinstance(out, list) else [out]
    entry = {"name": c["name"], "op": c["op"], "params": c["params"], "inputs": js_inputs,
             "outputs": [tensor_json(o) for o in outs]}
    float_outs = [o for o in outs if o.dtype == torch.float32]
    if float_outs and any(l.requires_grad for l in leaves):
        ups = [torch.from_numpy(rng.uniform(-1, 1, tuple(o.shape)).astype(np.float32)) for o in float_outs]
        loss = sum((o * u).sum() for o, u in zip(float_outs, ups))
        need = [l for l in leaves if l.requires_grad]
        gs = torch.autograd.grad(loss, need, allow_unused=True)
        gmap = {id(l): g for l, g in zip(need, gs)}
        grads = []
        for l in leaves:
            if not l.requires_grad:
                grads.append(None)
            else:
                g = gmap[id(l)]
                grads.append(tensor_json(g if g is not None else torch.zeros_like(l)))
        entry["upstream"] = [tensor_json(u) for u in ups]
        entry["grads"] = grads
    if c["tol"]:
        entry["tol"] = c["tol"]
    if c["note"]:
        entry["note"] = c["note"]
    return entry


def main():
    names = [c["name"] for c in CASES]
    assert len(names) == len(set(names)), "duplicate case names"
    cases = [build(c) for c in CASES]
    doc = {"generator": "Scripts/golden/make_core_golden.py", "torch": torch.__version__, "numpy": np.__version__,
           "seed": SEED, "cases": cases}
    here = os.path.dirname(os.path.abspath(__file__))
    path = os.path.normpath(os.path.join(here, "..", "..", "Tests", "EmberCoreTests", "Fixtures", "core_golden.json"))
    text = json.dumps(doc, separators=(",", ":"))
    with open(path, "w") as f:
        f.write(text + "\n")
    ops = sorted({c["op"] for c in cases})
    print(f"wrote {path}: {len(cases)} cases, {len(ops)} op keys, {len(text) / 1024:.0f} KiB", file=sys.stderr)


if __name__ == "__main__":
    main()
