#!/usr/bin/env python3
"""PyTorch golden values for gradients of gradients (EmberCore's `createGraph`).

Writes Tests/EmberCoreTests/Fixtures/autodiff_golden.json, read by Tests/EmberCoreTests/SecondOrderTests.swift.

Regenerate
----------
    .venv-torch/bin/python scripts/golden/make_autodiff_golden.py      # torch==2.13.0, CPU wheel
    # then: swift test --filter SecondOrder

What each case holds
--------------------
For an op f (op keys, params and the torch formulas are those of make_core_golden.py's OPS, which
GoldenTests.swift's goldenEmberOp mirrors), float64 inputs x_i, a random upstream u_k per float output and a random
v_i per differentiable input:
    L1      = sum_k sum(f(x)_k * u_k)
    g_i     = dL1/dx_i                       torch.autograd.grad(L1, xs, create_graph=True)
    L2      = sum_i sum(g_i * v_i)
    second  = dL2/dx_j for every differentiable x_j (zeros where L2 does not depend on x_j)
i.e. Hessian-vector products H v of L1, cross terms between inputs included. The fixture stores the inputs, outputs,
u, v, g (`grads`) and `second`. `hvp_mlp_loss` is the Hessian-vector product of a small MLP's cross-entropy loss.

"wgan_gp" holds a WGAN-GP gradient penalty (see `wgan_gp()`): the critic's parameters, the real and fake batches, the
interpolation weights, the penalty and its gradients with respect to the parameters.

Format: {"generator", "torch", "seed", "cases": [{name, op, params, inputs: [{shape, dtype, data, grad, pre}],
outputs: [...], upstream: [...], v: [...], grads: [...], second: [...]}]} -- tensors as {shape, dtype, data}, float64
values written with Python's repr (shortest round-trip). Index inputs are int64, masks bool (0/1).

Inputs are float64 so that the comparison measures the formulas, not float32 rounding; tolerance in the test is
|a - b| <= 1e-8 + 1e-6 |b|. Inputs keep away from kinks (relu, abs, clamp bounds, max ties) where a second
derivative is a convention rather than a value.
"""

import json
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_core_golden import OPS, apply_pre, f64  # noqa: E402  (the op table shared with the first-order goldens)

# Ops of this fixture only (SecondOrderTests.swift mirrors them op for op).
EXTRA_OPS = {
    # a small MLP's classification loss: tanh hidden layer, log-softmax cross-entropy over class indices [N, 1]
    "mlp_tanh_ce": lambda x, p: -torch.gather(
        torch.log_softmax(F.linear(torch.tanh(F.linear(x[0], x[1], x[2])), x[3], x[4]), dim=1), 1, x[5]).mean(),
}
OPS = dict(OPS, **EXTRA_OPS)

SEED = 20261201
torch.set_num_threads(1)
rng = np.random.default_rng(SEED)


def U(*shape, lo=-1.0, hi=1.0, pre=None):
    return ("f", list(shape), lambda n: rng.uniform(lo, hi, n), pre or [])


def P(*shape, lo=0.5, hi=2.0, pre=None):
    return U(*shape, lo=lo, hi=hi, pre=pre)


def A(*shape, lo=0.2, hi=1.5, pre=None):
    return ("f", list(shape), lambda n: rng.uniform(lo, hi, n) * rng.choice([-1.0, 1.0], n), pre or [])


def DIST(*shape, pre=None):
    """Distinct values (no ties for max/min/maxpool): a shuffled grid plus a small jitter."""
    def gen(n):
        v = (np.arange(n) - n / 2) * (2.0 / n)
        rng.shuffle(v)
        return v + rng.uniform(-0.2 / n, 0.2 / n, n)
    return ("f", list(shape), gen, pre or [])


def IDX(shape, values):
    return ("i", list(shape), list(values), [])


def MASK(shape, values):
    return ("b", list(shape), [1 if v else 0 for v in values], [])


T = [["transpose"]]
CASES = []


def case(name, op, inputs, params=None):
    CASES.append((name, op, inputs, params or {}))


CONV = {"stride": [1, 1], "padding": [0, 0], "dilation": [1, 1], "groups": 1}

# elementwise binary
case("add_bcast", "add", [U(3, 4), U(4)])
case("sub", "sub", [U(3, 4), U(3, 1)])
case("mul_bcast", "mul", [U(3, 4), U(4)])
case("mul_T", "mul", [U(3, 4, pre=T), U(3, 4)])
case("div", "div", [U(3, 4), A(3, 4)])
case("div_bcast", "div", [U(2, 3), A(3)])
case("pow_tensor", "pow", [P(3, 4), U(3, 4)])
case("pow_scalar", "pow_scalar", [P(3, 4)], {"p": 2.5})
case("maximum", "maximum", [DIST(3, 4), DIST(3, 4)])
case("minimum", "minimum", [DIST(3, 4), DIST(3, 4)])
case("rdiv_scalar", "rdiv_scalar", [A(3, 4)], {"s": 2.0})
case("x_times_x_plus_x", "x_times_x_plus_x", [U(3, 4)])
# unary
for op, mk in [("exp", U), ("log", P), ("log1p", P), ("expm1", U), ("sqrt", P), ("rsqrt", P), ("abs", A),
               ("sin", U), ("cos", U), ("tanh", U), ("sigmoid", U), ("square", U), ("reciprocal", A), ("erf", U)]:
    case(op, op, [mk(3, 5)])
case("tanh_T", "tanh", [U(4, 3, pre=T)])
case("affine", "affine", [U(3, 4)], {"a": 1.5, "b": -0.5})
# activations
case("relu", "relu", [A(3, 5)])
case("leaky_relu", "leaky_relu", [A(3, 5)], {"slope": 0.2})
case("elu", "elu", [A(3, 5)], {"alpha": 1.3})
case("gelu", "gelu", [U(3, 5, lo=-3, hi=3)], {"approximate": False})
case("gelu_tanh", "gelu", [U(3, 5, lo=-3, hi=3)], {"approximate": True})
case("silu", "silu", [U(3, 5, lo=-3, hi=3)])
case("softplus", "softplus", [U(3, 5, lo=-3, hi=3)], {"beta": 2.0, "threshold": 4.0})
case("clamp", "clamp", [A(3, 5)], {"min": -0.1, "max": 0.1})
# reductions
case("sum_axes", "sum", [U(2, 3, 4)], {"axes": [0, 2], "keepDims": False})
case("mean_keep", "mean", [U(3, 4)], {"axes": [1], "keepDims": True})
case("max_axis", "max", [DIST(3, 4)], {"axes": [1], "keepDims": False})
case("min_all", "min", [DIST(3, 4)], {"axes": None, "keepDims": False})
case("prod_axis", "prod", [A(3, 4)], {"axes": [1], "keepDims": False})
case("var", "var", [U(3, 5)], {"axes": [1], "correction": 1, "keepDims": False})
case("std", "std", [U(3, 5)], {"axes": [1], "correction": 1, "keepDims": False})
case("logsumexp", "logsumexp", [U(3, 5)], {"axes": [1], "keepDims": False})
case("softmax_last", "softmax", [U(3, 5)], {"axis": -1})
case("softmax_axis0_T", "softmax", [U(5, 3, pre=T)], {"axis": 0})
case("log_softmax", "log_softmax", [U(3, 5)], {"axis": 1})
case("log_softmax_3d", "log_softmax", [U(2, 3, 4)], {"axis": 1})
case("cumsum", "cumsum", [U(3, 4)], {"axis": 1})
# views (second derivatives through products of views)
case("reshape_T", "reshape", [U(3, 4, pre=T)], {"shape": [2, 6]})
case("permute", "permute", [U(2, 3, 4)], {"dims": [2, 0, 1]})
case("slice_step", "slice", [U(4, 7)], {"axis": 1, "start": 1, "end": None, "step": 2})
case("expand", "expand", [U(3, 1)], {"shape": [3, 4]})
case("flip", "flip", [U(3, 4)], {"axes": [0, 1]})
case("pad_constant", "pad", [U(2, 3)], {"widths": [[1, 2]], "mode": "constant", "value": 0.5})
# linalg
case("matmul", "matmul", [U(3, 4), U(4, 5)])
case("matmul_batch_bcast", "matmul", [U(2, 3, 4), U(4, 2)])
case("matmul_batched", "matmul", [U(2, 3, 4), U(2, 4, 2)])
case("linear_bias", "linear", [U(3, 4), U(5, 4), U(5)])
case("linear_3d", "linear", [U(2, 3, 4), U(5, 4)])
# convolution and pooling
case("conv2d", "conv2d", [U(2, 2, 5, 5), U(3, 2, 3, 3), U(3)], CONV)
case("conv2d_stride_pad_dil", "conv2d", [U(1, 2, 7, 6), U(2, 2, 3, 2)],
     {"stride": [2, 1], "padding": [1, 1], "dilation": [1, 2], "groups": 1})
case("conv2d_groups", "conv2d", [U(1, 4, 5, 5), U(4, 2, 3, 3)], dict(CONV, groups=2))
case("conv_t2d", "conv_transpose2d", [U(1, 2, 3, 3), U(2, 3, 3, 3), U(3)],
     {"stride": [2, 2], "padding": [1, 1], "outputPadding": [1, 1], "dilation": [1, 1], "groups": 1})
case("conv1d", "conv1d", [U(2, 2, 7), U(3, 2, 3)], {"stride": 1, "padding": 1, "dilation": 1, "groups": 1})
case("maxpool", "max_pool2d", [DIST(1, 2, 4, 4)], {"kernel": [2, 2], "stride": [2, 2], "padding": [0, 0], "dilation": [1, 1]})
case("maxpool_overlap", "max_pool2d", [DIST(1, 1, 5, 5)], {"kernel": [3, 3], "stride": [2, 2], "padding": [1, 1], "dilation": [1, 1]})
case("avgpool", "avg_pool2d", [U(1, 2, 5, 5)], {"kernel": [3, 3], "stride": [2, 2], "padding": [1, 1], "countIncludePad": False})
case("adaptive", "adaptive_avg_pool2d", [U(1, 2, 5, 5)], {"outputSize": [2, 3]})
# indexing
case("gather", "gather", [U(3, 4), IDX([3, 2], [0, 3, 1, 1, 2, 0])], {"axis": 1})
case("scatter_add", "scatter_add", [U(3, 4), IDX([2, 4], [0, 1, 2, 0, 2, 2, 1, 1]), U(2, 4)], {"axis": 0})
case("index_select", "index_select", [U(4, 3), IDX([5], [0, 2, 2, 3, 1])], {"axis": 0})
case("embedding", "embedding", [IDX([2, 3], [1, 0, 3, 3, 2, 1]), U(4, 3)])
case("concat", "concat", [U(2, 3), U(2, 2)], {"axis": 1})
case("where", "where", [MASK([3, 4], [i % 3 == 0 for i in range(12)]), U(3, 4), U(4)])
case("masked_fill", "masked_fill", [U(3, 4), MASK([3, 4], [i % 5 == 1 for i in range(12)])], {"value": 0.25})
# composites
case("layernorm", "layernorm", [U(3, 6), U(6), U(6)], {"eps": 1e-5})
case("attention", "attention", [U(2, 3, 4), U(2, 5, 4), U(2, 5, 3)])
case("cross_entropy", "cross_entropy", [U(4, 5), IDX([4, 1], [1, 0, 4, 2])])
case("mlp", "mlp", [U(4, 3), A(6, 3), A(6), U(2, 6), U(2)])
case("masked_softmax", "masked_softmax", [U(3, 5), MASK([3, 5], [i % 4 == 3 for i in range(15)])])
# Hessian-vector products of a small MLP's loss (`second` is H v for all five parameters and the input)
case("hvp_mlp_loss", "mlp_tanh_ce", [U(5, 3), U(4, 3), U(4), U(3, 4), U(3), IDX([5, 1], [0, 2, 1, 1, 0])])


def wgan_gp():
    """A WGAN-GP gradient penalty: critic Linear(4, 8) - LeakyReLU(0.2) - Linear(8, 1) on interpolates
    x_hat = alpha real + (1 - alpha) fake; penalty = mean((||d critic(x_hat) / d x_hat||_2 - 1)^2) over the batch,
    and its gradients with respect to the critic's parameters."""
    n = 6
    real = torch.tensor(rng.normal(0, 1, (n, 4)))
    fake = torch.tensor(rng.normal(0.5, 1, (n, 4)))
    alpha = torch.tensor(rng.uniform(0, 1, (n, 1)))
    params = [torch.tensor(rng.uniform(-0.6, 0.6, s)).requires_grad_(True) for s in [(8, 4), (8,), (1, 8), (1,)]]
    w1, b1, w2, b2 = params
    x_hat = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
    critic = F.linear(F.leaky_relu(F.linear(x_hat, w1, b1), 0.2), w2, b2)
    (g,) = torch.autograd.grad(critic.sum(), x_hat, create_graph=True)
    penalty = ((g.norm(2, dim=1) - 1) ** 2).mean()
    grads = torch.autograd.grad(penalty, params, allow_unused=True)
    grads = [gr if gr is not None else torch.zeros_like(p) for gr, p in zip(grads, params)]
    return {"real": tensor_json(real), "fake": tensor_json(fake), "alpha": tensor_json(alpha),
            "params": [tensor_json(p) for p in params], "slope": 0.2, "penalty": f64(penalty.item()),
            "grads": [tensor_json(gr) for gr in grads]}


def tensor_json(t):
    t = t.detach()
    try:
        t = t.clone().contiguous()
    except RuntimeError:  # second derivatives that are structurally zero come back without storage
        t = torch.zeros(tuple(t.shape), dtype=t.dtype)
    if t.dtype == torch.int64:
        return {"shape": list(t.shape), "dtype": "int64", "data": [int(v) for v in t.reshape(-1).tolist()]}
    if t.dtype == torch.bool:
        return {"shape": list(t.shape), "dtype": "bool", "data": [int(v) for v in t.reshape(-1).tolist()]}
    assert t.dtype == torch.float64, t.dtype
    return {"shape": list(t.shape), "dtype": "float64", "data": [f64(v) for v in t.reshape(-1).tolist()]}


def stored_shape(shape, pre):
    s = list(shape)
    for p in pre:
        assert p == ["transpose"], p
        s[-1], s[-2] = s[-2], s[-1]
    return s


def build(name, op, specs, params):
    leaves, inputs = [], []
    for kind, shape, gen, pre in specs:
        if kind == "f":
            leaf_shape = stored_shape(shape, pre)
            n = int(np.prod(leaf_shape))
            leaf = torch.tensor(np.asarray(gen(n), dtype=np.float64).reshape(leaf_shape)).requires_grad_(True)
        elif kind == "i":
            leaf = torch.tensor(gen, dtype=torch.int64).reshape(shape)
        else:
            leaf = torch.tensor(gen, dtype=torch.bool).reshape(shape)
        leaves.append(leaf)
        js = tensor_json(leaf)
        js.update(grad=kind == "f", pre=pre)
        inputs.append(js)
    xs = [apply_pre(l, s[3]) for l, s in zip(leaves, specs)]
    out = OPS[op](xs, params)
    outs = out if isinstance(out, list) else [out]
    ups = [torch.tensor(rng.uniform(-1, 1, tuple(o.shape)), dtype=torch.float64) for o in outs]
    wrt = [l for l in leaves if l.requires_grad]
    l1 = sum((o * u).sum() for o, u in zip(outs, ups))
    gs = torch.autograd.grad(l1, wrt, create_graph=True, allow_unused=True)
    gs = [g if g is not None else torch.zeros_like(x) for g, x in zip(gs, wrt)]
    vs = [torch.tensor(rng.uniform(-1, 1, tuple(x.shape)), dtype=torch.float64) for x in wrt]
    l2 = sum((g * v).sum() for g, v in zip(gs, vs))
    if l2.requires_grad:
        second = torch.autograd.grad(l2, wrt, allow_unused=True)
        second = [s if s is not None else torch.zeros_like(x) for s, x in zip(second, wrt)]
    else:
        second = [torch.zeros_like(x) for x in wrt]
    it_g, it_s, it_v = iter(gs), iter(second), iter(vs)
    grad_list, second_list, v_list = [], [], []
    for l in leaves:
        if l.requires_grad:
            grad_list.append(tensor_json(next(it_g)))
            second_list.append(tensor_json(next(it_s)))
            v_list.append(tensor_json(next(it_v)))
        else:
            grad_list.append(None)
            second_list.append(None)
            v_list.append(None)
    return {"name": name, "op": op, "params": params, "inputs": inputs, "outputs": [tensor_json(o) for o in outs],
            "upstream": [tensor_json(u) for u in ups], "v": v_list, "grads": grad_list, "second": second_list}


def main():
    cases = [build(*c) for c in CASES]
    assert len({c["name"] for c in cases}) == len(cases)
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    path = os.path.join(root, "Tests", "EmberCoreTests", "Fixtures", "autodiff_golden.json")
    doc = {"generator": "scripts/golden/make_autodiff_golden.py", "torch": torch.__version__, "seed": SEED,
           "cases": cases, "wgan_gp": wgan_gp()}
    with open(path, "w") as f:
        json.dump(doc, f, separators=(",", ":"))
        f.write("\n")
    ops = sorted({c["op"] for c in cases})
    print(f"wrote {path}: {len(cases)} cases over {len(ops)} op keys")


if __name__ == "__main__":
    main()
