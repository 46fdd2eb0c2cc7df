#!/usr/bin/env python3
"""PyTorch golden values for EmberNN: training trajectories, layers, losses, optimizers, schedulers, clipping.

Writes four JSON files under Tests/EmberNNTests/Fixtures, read by the Swift tests in Tests/EmberNNTests:

    nn_training.json   MLP (Sequential 20-32-16-5, ReLU) and CNN (features: conv 1->4 3x3 no bias, BatchNorm2d, ReLU,
                       MaxPool2d 2, conv 4->8 3x3, ReLU; classifier: Flatten, Dropout(0), Linear 32->3) trained 10
                       steps with cross-entropy under SGD(lr 0.05, momentum 0.9) and AdamW(lr 0.01, wd 0.01):
                       initial state_dict (PyTorch's names), inputs, labels, the loss at each step, final state_dict.
    nn_layers.json     forward and backward of every EmberNN layer type: initial state_dict, input, output,
                       upstream u, grads of sum(out * u) w.r.t. the input and each parameter, state_dict after the
                       forward (BatchNorm running statistics); and torch.nn.init.calculate_gain values.
    nn_losses.json     every loss with its options: value and d(sum(loss * u))/d input.
    nn_optim.json      optimizers (5 steps on a least-squares problem, parameters after each step), LR schedulers
                       (lr per step) and gradient clipping.

Regenerate
----------
    python3 -m venv /work/.venv-torch && /work/.venv-torch/bin/pip install torch==2.13.0 numpy   # CPU wheel
    /work/.venv-torch/bin/python scripts/golden/make_nn_golden.py
    OPENBLAS_NUM_THREADS=1 swift test --filter EmberNNTests

Deterministic: numpy seed below for all data, one torch thread, float32 (the float64 twin runs of the training
trajectories are only used to report how sensitive each trajectory is to float32 rounding; see `f32_sensitivity`).

Format
------
A tensor is {"shape": [...], "data": [flat row-major values]} plus "dtype": "int64" for integer tensors (float32
otherwise). Float values are the shortest decimals that round-trip float32. A state dict is {name: tensor} with
PyTorch's names ("0.weight", "features.1.running_mean"); "order" lists the names in PyTorch's state_dict order.

Cases
-----
training:   mlp x {sgd, adamw}, cnn x {sgd, adamw}  (the CNN's classifier holds a Dropout(0.0) in train mode)
layers:     Linear (bias, no bias on 3-D input), Embedding, Flatten (default, 2..3), Dropout (eval p=0.5, train p=0),
            Identity, Conv2d (basic, stride 2 + pad 1, groups 2 no bias, dilation 2, depthwise asymmetric
            kernel/stride/pad), Conv1d (basic; stride, padding, dilation and groups together), ConvTranspose2d (basic,
            stride 2 + pad 1 + output padding 1, groups 2 + dilation 2), MaxPool2d (k2; k3 s2 p1; 2x3 s1), AvgPool2d
            (k2; k3 s2 p1 counting and excluding padding), AdaptiveAvgPool2d (7x5 -> 3x2, -> 1x1), BatchNorm1d (train
            [N, C]; train [N, C, L] with momentum 0.3, eps 1e-3 and two forwards; eval), BatchNorm2d (train with
            running statistics; train without affine; eval), LayerNorm (last dim; last 2 dims, eps 1e-3; no affine),
            GroupNorm (2 groups; 1 group on 3-D input; one group per channel), ReLU, LeakyReLU(0.2), ELU(0.5), GELU
            (exact, tanh), SiLU, Tanh, Sigmoid, Softmax(axis 1)
losses:     cross_entropy (mean/sum/none; weights; ignore_index -100 and 1; label smoothing with weights and ignored
            targets; probability targets with smoothing and weights; [N, C, d] inputs), nll_loss (reductions,
            weights, ignore_index, [N, C, d]), binary_cross_entropy (reductions, weights, soft targets),
            binary_cross_entropy_with_logits (reductions, pos_weight, weights, logits +-30 and 0), mse/l1 (reductions),
            smooth_l1 (beta 1, 0.5, 2, 0), huber (delta 1, 0.3, 2), kl_div (mean/sum/none/batchmean, log_target)
optimizers: SGD (plain, momentum, dampening, nesterov, weight decay, two groups), Adam (default, L2 + betas + eps,
            two groups), AdamW (default, decay + betas, two groups), RMSprop (default, centered, momentum, centered +
            momentum + decay + eps), Adagrad (default, lr_decay, initial_accumulator_value + decay + eps)
schedulers: StepLR (one and two groups), MultiStepLR, ExponentialLR, CosineAnnealingLR (past T_max), LinearLR (warm-up,
            decay), OneCycleLR (defaults, custom div factors), ReduceLROnPlateau (min with cooldown and min_lr; max with
            two groups) fed fixed metric sequences
clipping:   clip_grad_norm_ (clipping, no-op), clip_grad_value_
"""

import json
import os
import sys
import warnings

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

warnings.filterwarnings("ignore", message="reduction: 'mean' divides")   # kl_div 'mean' is tested on purpose

SEED = 20260126
rng = np.random.default_rng(SEED)
torch.set_num_threads(1)
torch.manual_seed(SEED)

HERE = os.path.dirname(os.path.abspath(__file__))
OUT_DIR = os.path.normpath(os.path.join(HERE, "..", "..", "Tests", "EmberNNTests", "Fixtures"))


# ---------------------------------------------------------------------------------------------------------------
# serialization


def f32(v):
    """Shortest decimal that round-trips the float32 value, as a Python float."""
    assert np.isfinite(v), v
    return float(np.format_float_positional(np.float32(v), unique=True, trim="-"))


def tj(t):
    """Tensor -> JSON."""
    if isinstance(t, np.ndarray):
        t = torch.from_numpy(t)
    t = t.detach()
    if t.dtype in (torch.int64, torch.int32):
        return {"shape": list(t.shape), "dtype": "int64", "data": [int(v) for v in t.reshape(-1).tolist()]}
    t = t.to(torch.float32)
    return {"shape": list(t.shape), "data": [f32(v) for v in t.reshape(-1).numpy()]}


def sdj(module):
    sd = module.state_dict()
    return {"order": list(sd.keys()), "tensors": {k: tj(v) for k, v in sd.items()}}


def randn(*shape, scale=1.0):
    return torch.from_numpy((rng.standard_normal(shape) * scale).astype(np.float32))


def uniform(lo, hi, *shape):
    return torch.from_numpy(rng.uniform(lo, hi, shape).astype(np.float32))


def write(name, doc):
    path = os.path.join(OUT_DIR, name)
    text = json.dumps(doc, separators=(",", ":"))
    with open(path, "w") as f:
        f.write(text + "\n")
    print(f"wrote {path}: {len(text) / 1024:.0f} KiB", file=sys.stderr)
    return len(text)


# ---------------------------------------------------------------------------------------------------------------
# (a) training trajectories


def make_mlp():
    return nn.Sequential(nn.Linear(20, 32), nn.ReLU(), nn.Linear(32, 16), nn.ReLU(), nn.Linear(16, 5))


class CNN(nn.Module):
    def __init__(self):
        super().__init__()
        # The conv before BatchNorm has no bias (the usual idiom): BatchNorm subtracts the batch mean, so that bias
        # gets a gradient that is 0 in exact arithmetic and float32 noise in practice, which Adam's g / sqrt(v)
        # normalization turns into +-lr steps of random sign (float32 vs float64 PyTorch disagreed ~1e4x the
        # tolerance on it). No implementation could match that noise.
        self.features = nn.Sequential(nn.Conv2d(1, 4, 3, bias=False), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
                                      nn.Conv2d(4, 8, 3), nn.ReLU())
        self.classifier = nn.Sequential(nn.Flatten(), nn.Dropout(0.0), nn.Linear(32, 3))

    def forward(self, x):
        return self.classifier(self.features(x))


def train(model, x, y, opt_name, dtype):
    model = model.to(dtype)
    x = x.to(dtype)
    model.train()
    if opt_name == "sgd":
        opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    else:
        opt = torch.optim.AdamW(model.parameters(), lr=0.01, weight_decay=0.01)
    losses = []
    for _ in range(10):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses, model


def make_training():
    models = []
    for name, ctor, xshape, classes in [("mlp", make_mlp, (8, 20), 5), ("cnn", CNN, (6, 1, 10, 10), 3)]:
        torch.manual_seed(SEED + len(models))
        base = ctor()
        with torch.no_grad():
            for k, v in base.state_dict().items():   # BatchNorm affine away from (1, 0) to make it count
                if k.endswith("1.weight") and v.dim() == 1 and name == "cnn":
                    v.copy_(uniform(0.5, 1.5, *v.shape))
                elif k.endswith("1.bias") and v.dim() == 1 and name == "cnn":
                    v.copy_(uniform(-0.3, 0.3, *v.shape))
        x = randn(*xshape)
        y = torch.from_numpy(rng.integers(0, classes, xshape[0])).to(torch.int64)
        initial = sdj(base)
        runs = {}
        for opt_name in ["sgd", "adamw"]:
            m32 = ctor()
            m32.load_state_dict(base.state_dict())
            losses, m32 = train(m32, x, y, opt_name, torch.float32)
            m64 = ctor()
            m64.load_state_dict(base.state_dict())
            losses64, m64 = train(m64, x, y, opt_name, torch.float64)
            # How far float32 PyTorch is from float64 PyTorch, in units of the Swift test's tolerance
            # (|a - b| <= 1e-6 + 1e-5 |b|): an independent float32 implementation should land about as far.
            worst = 0.0
            for (k, a), b in zip(m32.state_dict().items(), m64.state_dict().values()):
                if a.dtype.is_floating_point:
                    a, b = a.double(), b.double()
                    r = ((a - b).abs() / (1e-6 + 1e-5 * b.abs())).max().item()
                    if r > 1:
                        print(f"  {name}/{opt_name}: {k} float32 vs float64 at {r:.1f}x the tolerance", file=sys.stderr)
                    worst = max(worst, r)
            lw = max(abs(a - b) / (1e-6 + 1e-5 * abs(b)) for a, b in zip(losses, losses64))
            runs[opt_name] = {"losses": [f32(v) for v in losses], "final": sdj(m32),
                              "f32_sensitivity": {"weights": round(worst, 4), "losses": round(lw, 4)}}
            print(f"  {name}/{opt_name}: loss {losses[0]:.4f} -> {losses[-1]:.4f}; float32 vs float64 uses "
                  f"{worst:.3f} (weights), {lw:.3f} (losses) of the tolerance", file=sys.stderr)
        models.append({"name": name, "input": tj(x), "labels": tj(y), "initial": initial,
                       "sgd": {"lr": 0.05, "momentum": 0.9}, "adamw": {"lr": 0.01, "weight_decay": 0.01},
                       "runs": runs})
    return {"generator": "scripts/golden/make_nn_golden.py", "torch": torch.__version__, "seed": SEED,
            "models": models}


# ---------------------------------------------------------------------------------------------------------------
# (b) layers: config keys are Ember's argument names; "type" is the Ember class.

layer_cases = []


def L(name, config, module, x, train=True, pre=None, int_input=False, randomize=True, running=False):
    layer_cases.append(dict(name=name, config=config, module=module, x=x, train=train, pre=pre,
                            int_input=int_input, randomize=randomize, running=running))


def conv_cfg(t, i, o, k, stride=1, padding=0, dilation=1, groups=1, bias=True, output_padding=None):
    c = {"type": t, "in": i, "out": o, "kernel": k, "stride": stride, "padding": padding, "dilation": dilation,
         "groups": groups, "bias": bias}
    if output_padding is not None:
        c["outputPadding"] = output_padding
    return c


def define_layers():
    L("linear", {"type": "Linear", "in": 5, "out": 3, "bias": True}, nn.Linear(5, 3), randn(4, 5))
    L("linear_nobias_3d", {"type": "Linear", "in": 4, "out": 6, "bias": False}, nn.Linear(4, 6, bias=False),
      randn(2, 3, 4))
    L("embedding", {"type": "Embedding", "count": 7, "dim": 3}, nn.Embedding(7, 3),
      torch.tensor([[0, 3, 6, 3], [2, 2, 5, 1]]), int_input=True)
    L("flatten", {"type": "Flatten"}, nn.Flatten(), randn(2, 3, 2, 2))
    L("flatten_2_3", {"type": "Flatten", "start": 2, "end": 3}, nn.Flatten(2, 3), randn(2, 3, 2, 2, 2))
    L("dropout_eval", {"type": "Dropout", "p": 0.5}, nn.Dropout(0.5), randn(3, 4), train=False)
    L("dropout_p0_train", {"type": "Dropout", "p": 0.0}, nn.Dropout(0.0), randn(3, 4))
    L("identity", {"type": "Identity"}, nn.Identity(), randn(2, 3))

    L("conv2d", conv_cfg("Conv2d", 2, 3, [3, 3]), nn.Conv2d(2, 3, 3), randn(2, 2, 5, 5))
    L("conv2d_stride2_pad1", conv_cfg("Conv2d", 2, 4, [3, 3], stride=[2, 2], padding=[1, 1]),
      nn.Conv2d(2, 4, 3, stride=2, padding=1), randn(2, 2, 6, 5))
    L("conv2d_groups2_nobias", conv_cfg("Conv2d", 4, 6, [3, 3], padding=[1, 1], groups=2, bias=False),
      nn.Conv2d(4, 6, 3, padding=1, groups=2, bias=False), randn(1, 4, 4, 4))
    L("conv2d_dilation2", conv_cfg("Conv2d", 2, 2, [3, 3], dilation=[2, 2], padding=[2, 2]),
      nn.Conv2d(2, 2, 3, dilation=2, padding=2), randn(1, 2, 6, 6))
    L("conv2d_depthwise_asym", conv_cfg("Conv2d", 3, 3, [2, 3], stride=[1, 2], padding=[1, 0], groups=3),
      nn.Conv2d(3, 3, (2, 3), stride=(1, 2), padding=(1, 0), groups=3), randn(2, 3, 4, 7))
    L("conv1d", {"type": "Conv1d", "in": 2, "out": 3, "kernel": 3, "stride": 1, "padding": 0, "dilation": 1,
                 "groups": 1, "bias": True}, nn.Conv1d(2, 3, 3), randn(2, 2, 7))
    L("conv1d_all", {"type": "Conv1d", "in": 4, "out": 6, "kernel": 3, "stride": 2, "padding": 2, "dilation": 2,
                     "groups": 2, "bias": True}, nn.Conv1d(4, 6, 3, stride=2, padding=2, dilation=2, groups=2),
      randn(2, 4, 9))
    L("conv_transpose2d", conv_cfg("ConvTranspose2d", 2, 3, [3, 3]), nn.ConvTranspose2d(2, 3, 3), randn(2, 2, 3, 3))
    L("conv_transpose2d_s2_p1_op1", conv_cfg("ConvTranspose2d", 2, 2, [3, 3], stride=[2, 2], padding=[1, 1],
                                             output_padding=[1, 1]),
      nn.ConvTranspose2d(2, 2, 3, stride=2, padding=1, output_padding=1), randn(1, 2, 3, 4))
    L("conv_transpose2d_groups2_dil2", conv_cfg("ConvTranspose2d", 4, 2, [2, 2], dilation=[2, 2], groups=2,
                                                bias=False, output_padding=[0, 0]),
      nn.ConvTranspose2d(4, 2, 2, dilation=2, groups=2, bias=False), randn(2, 4, 3, 3))

    L("maxpool2d_k2", {"type": "MaxPool2d", "kernel": [2, 2]}, nn.MaxPool2d(2), randn(2, 2, 4, 6))
    L("maxpool2d_k3_s2_p1", {"type": "MaxPool2d", "kernel": [3, 3], "stride": [2, 2], "padding": [1, 1]},
      nn.MaxPool2d(3, stride=2, padding=1), randn(1, 2, 5, 6))
    L("maxpool2d_k2x3_s1", {"type": "MaxPool2d", "kernel": [2, 3], "stride": [1, 1]},
      nn.MaxPool2d((2, 3), stride=1), randn(1, 1, 4, 5))
    L("avgpool2d_k2", {"type": "AvgPool2d", "kernel": [2, 2]}, nn.AvgPool2d(2), randn(2, 2, 4, 4))
    L("avgpool2d_k3_s2_p1", {"type": "AvgPool2d", "kernel": [3, 3], "stride": [2, 2], "padding": [1, 1],
                             "countIncludePad": True},
      nn.AvgPool2d(3, stride=2, padding=1), randn(1, 2, 5, 6))
    L("avgpool2d_k3_s2_p1_exclude_pad", {"type": "AvgPool2d", "kernel": [3, 3], "stride": [2, 2],
                                         "padding": [1, 1], "countIncludePad": False},
      nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False), randn(1, 2, 5, 6))
    L("adaptive_avgpool2d_3x2", {"type": "AdaptiveAvgPool2d", "output": [3, 2]}, nn.AdaptiveAvgPool2d((3, 2)),
      randn(2, 2, 7, 5))
    L("adaptive_avgpool2d_1x1", {"type": "AdaptiveAvgPool2d", "output": [1, 1]}, nn.AdaptiveAvgPool2d(1),
      randn(2, 3, 3, 4))

    L("batchnorm1d_train", {"type": "BatchNorm1d", "features": 3}, nn.BatchNorm1d(3), randn(5, 3, scale=2.0) + 1)
    L("batchnorm1d_train_3d_momentum", {"type": "BatchNorm1d", "features": 2, "momentum": 0.3, "eps": 1e-3},
      nn.BatchNorm1d(2, momentum=0.3, eps=1e-3), randn(3, 2, 4), running=True, pre=randn(3, 2, 4) * 3)
    L("batchnorm1d_eval", {"type": "BatchNorm1d", "features": 3}, nn.BatchNorm1d(3), randn(4, 3), train=False,
      running=True)
    L("batchnorm2d_train", {"type": "BatchNorm2d", "features": 3}, nn.BatchNorm2d(3), randn(2, 3, 3, 3),
      running=True)
    L("batchnorm2d_train_noaffine", {"type": "BatchNorm2d", "features": 2, "affine": False},
      nn.BatchNorm2d(2, affine=False), randn(3, 2, 2, 2) - 0.5)
    L("batchnorm2d_eval", {"type": "BatchNorm2d", "features": 3}, nn.BatchNorm2d(3), randn(2, 3, 2, 3),
      train=False, running=True)
    L("layernorm_last", {"type": "LayerNorm", "shape": [5]}, nn.LayerNorm(5), randn(3, 5))
    L("layernorm_last2", {"type": "LayerNorm", "shape": [3, 4], "eps": 1e-3}, nn.LayerNorm([3, 4], eps=1e-3),
      randn(2, 3, 4) * 2 + 1)
    L("layernorm_noaffine", {"type": "LayerNorm", "shape": [4], "affine": False},
      nn.LayerNorm(4, elementwise_affine=False), randn(2, 3, 4))
    L("groupnorm_g2", {"type": "GroupNorm", "groups": 2, "channels": 6}, nn.GroupNorm(2, 6), randn(2, 6, 3, 3))
    L("groupnorm_g1_3d", {"type": "GroupNorm", "groups": 1, "channels": 4}, nn.GroupNorm(1, 4), randn(3, 4, 5))
    L("groupnorm_instance", {"type": "GroupNorm", "groups": 3, "channels": 3, "eps": 1e-3},
      nn.GroupNorm(3, 3, eps=1e-3), randn(2, 3, 2, 2))

    for name, cfg, mod in [("relu", {"type": "ReLU"}, nn.ReLU()),
                           ("leaky_relu", {"type": "LeakyReLU", "slope": 0.2}, nn.LeakyReLU(0.2)),
                           ("elu", {"type": "ELU", "alpha": 0.5}, nn.ELU(0.5)),
                           ("gelu", {"type": "GELU", "approximate": False}, nn.GELU()),
                           ("gelu_tanh", {"type": "GELU", "approximate": True}, nn.GELU(approximate="tanh")),
                           ("silu", {"type": "SiLU"}, nn.SiLU()),
                           ("tanh", {"type": "Tanh"}, nn.Tanh()),
                           ("sigmoid", {"type": "Sigmoid"}, nn.Sigmoid()),
                           ("softmax_axis1", {"type": "Softmax", "axis": 1}, nn.Softmax(dim=1))]:
        # keep away from 0 so ReLU-family kinks are not sampled
        x = uniform(0.05, 2.5, 3, 4, 2) * torch.from_numpy(rng.choice([-1.0, 1.0], (3, 4, 2)).astype(np.float32))
        L(name, cfg, mod, x)


def build_layer(c):
    m = c["module"]
    with torch.no_grad():
        if c["randomize"]:
            for k, p in m.named_parameters():
                if k == "weight" and isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d, nn.LayerNorm, nn.GroupNorm)):
                    p.copy_(uniform(0.5, 1.5, *p.shape))
                else:
                    p.copy_(randn(*p.shape, scale=0.5))
        if c["running"] and isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            m.running_mean.copy_(randn(*m.running_mean.shape, scale=0.5))
            m.running_var.copy_(uniform(0.5, 2.0, *m.running_var.shape))
            m.num_batches_tracked.fill_(3)
    m.train(c["train"])
    initial = sdj(m)
    pre_json = None
    if c["pre"] is not None:   # an extra forward first (without grad), so running statistics update twice
        with torch.no_grad():
            m(c["pre"])
        pre_json = tj(c["pre"])
    x = c["x"].clone()
    if not c["int_input"]:
        x.requires_grad_(True)
    out = m(x)
    u = uniform(-1, 1, *out.shape)
    params = dict(m.named_parameters())
    (out * u).sum().backward()
    entry = {"name": c["name"], "config": c["config"], "train": c["train"], "initial": initial, "input": tj(x),
             "output": tj(out), "upstream": tj(u), "after": sdj(m),
             "param_grads": {k: tj(p.grad) for k, p in params.items()}}
    if pre_json is not None:
        entry["pre_input"] = pre_json
    if not c["int_input"]:
        entry["input_grad"] = tj(x.grad)
    return entry


def make_layers():
    define_layers()
    cases = []
    for c in layer_cases:
        cases.append(build_layer(c))
    names = [c["name"] for c in cases]
    assert len(names) == len(set(names))
    return {"generator": "scripts/golden/make_nn_golden.py", "torch": torch.__version__, "seed": SEED,
            "case_names": names, "cases": cases,
            # torch.nn.init.calculate_gain, for Init.gain (the random draws themselves are tested statistically)
            "gains": {"linear": nn.init.calculate_gain("linear"), "sigmoid": nn.init.calculate_gain("sigmoid"),
                      "tanh": nn.init.calculate_gain("tanh"), "relu": nn.init.calculate_gain("relu"),
                      "leaky_relu": nn.init.calculate_gain("leaky_relu"),
                      "leaky_relu_0.2": nn.init.calculate_gain("leaky_relu", 0.2),
                      "selu": nn.init.calculate_gain("selu")}}


# ---------------------------------------------------------------------------------------------------------------
# (c) losses. "fn" is the Ember function; options use Ember's argument names.


def make_losses():
    cases = []

    def add(name, fn, options, inp, target, torch_fn, weight=None, pos_weight=None):
        x = inp.clone().requires_grad_(True)
        out = torch_fn(x)
        u = uniform(0.5, 1.5, *out.shape) if out.dim() > 0 else torch.tensor(1.0)
        (out * u).sum().backward()
        e = {"name": name, "fn": fn, "options": options, "input": tj(inp), "target": tj(target), "output": tj(out),
             "upstream": tj(u), "input_grad": tj(x.grad)}
        if weight is not None:
            e["weight"] = tj(weight)
        if pos_weight is not None:
            e["posWeight"] = tj(pos_weight)
        cases.append(e)

    N, C = 6, 4
    logits = randn(N, C, scale=1.5)
    y = torch.from_numpy(rng.integers(0, C, N)).to(torch.int64)
    y_ign = y.clone()
    y_ign[1] = -100
    y_ign[4] = -100
    y_ign2 = y.clone()
    y_ign2[2] = 1                      # ignore_index = 1 (an actual class) below
    w = uniform(0.2, 2.0, C)
    probs = torch.softmax(randn(N, C), dim=1)
    for red in ["mean", "sum", "none"]:
        add(f"ce_{red}", "crossEntropy", {"reduction": red}, logits, y,
            lambda x, red=red: F.cross_entropy(x, y, reduction=red))
    add("ce_weight_mean", "crossEntropy", {"reduction": "mean"}, logits, y,
        lambda x: F.cross_entropy(x, y, weight=w), weight=w)
    add("ce_weight_none", "crossEntropy", {"reduction": "none"}, logits, y,
        lambda x: F.cross_entropy(x, y, weight=w, reduction="none"), weight=w)
    add("ce_ignore_default_mean", "crossEntropy", {"reduction": "mean"}, logits, y_ign,
        lambda x: F.cross_entropy(x, y_ign))
    add("ce_ignore_default_none", "crossEntropy", {"reduction": "none"}, logits, y_ign,
        lambda x: F.cross_entropy(x, y_ign, reduction="none"))
    add("ce_ignore_1_weight_sum", "crossEntropy", {"reduction": "sum", "ignoreIndex": 1}, logits, y_ign2,
        lambda x: F.cross_entropy(x, y_ign2, weight=w, ignore_index=1, reduction="sum"), weight=w)
    add("ce_smooth_mean", "crossEntropy", {"reduction": "mean", "labelSmoothing": 0.1}, logits, y,
        lambda x: F.cross_entropy(x, y, label_smoothing=0.1))
    add("ce_smooth_sum", "crossEntropy", {"reduction": "sum", "labelSmoothing": 0.2}, logits, y,
        lambda x: F.cross_entropy(x, y, label_smoothing=0.2, reduction="sum"))
    add("ce_smooth_weight_ignore_mean", "crossEntropy", {"reduction": "mean", "labelSmoothing": 0.15}, logits, y_ign,
        lambda x: F.cross_entropy(x, y_ign, weight=w, label_smoothing=0.15), weight=w)
    add("ce_smooth_weight_ignore_none", "crossEntropy", {"reduction": "none", "labelSmoothing": 0.15}, logits,
        y_ign, lambda x: F.cross_entropy(x, y_ign, weight=w, label_smoothing=0.15, reduction="none"), weight=w)
    add("ce_probs_mean", "crossEntropy", {"reduction": "mean"}, logits, probs,
        lambda x: F.cross_entropy(x, probs))
    add("ce_probs_none", "crossEntropy", {"reduction": "none"}, logits, probs,
        lambda x: F.cross_entropy(x, probs, reduction="none"))
    add("ce_probs_smooth_weight_sum", "crossEntropy", {"reduction": "sum", "labelSmoothing": 0.1}, logits, probs,
        lambda x: F.cross_entropy(x, probs, weight=w, label_smoothing=0.1, reduction="sum"), weight=w)
    add("ce_probs_weight_mean", "crossEntropy", {"reduction": "mean"}, logits, probs,
        lambda x: F.cross_entropy(x, probs, weight=w), weight=w)
    logits_k = randn(2, 3, 4)
    y_k = torch.from_numpy(rng.integers(0, 3, (2, 4))).to(torch.int64)
    y_k[0, 1] = -100
    add("ce_kdim_mean_ignore", "crossEntropy", {"reduction": "mean"}, logits_k, y_k,
        lambda x: F.cross_entropy(x, y_k))
    add("ce_kdim_none", "crossEntropy", {"reduction": "none"}, logits_k, y_k,
        lambda x: F.cross_entropy(x, y_k, reduction="none"))
    add("ce_kdim_smooth_mean", "crossEntropy", {"reduction": "mean", "labelSmoothing": 0.1}, logits_k, y_k,
        lambda x: F.cross_entropy(x, y_k, label_smoothing=0.1))

    logp = torch.log_softmax(randn(N, C), dim=1)
    for red in ["mean", "sum", "none"]:
        add(f"nll_{red}", "nllLoss", {"reduction": red}, logp, y,
            lambda x, red=red: F.nll_loss(x, y, reduction=red))
    add("nll_weight_ignore_mean", "nllLoss", {"reduction": "mean"}, logp, y_ign,
        lambda x: F.nll_loss(x, y_ign, weight=w), weight=w)
    add("nll_weight_ignore1_none", "nllLoss", {"reduction": "none", "ignoreIndex": 1}, logp, y_ign2,
        lambda x: F.nll_loss(x, y_ign2, weight=w, ignore_index=1, reduction="none"), weight=w)
    logp_k = torch.log_softmax(randn(2, 3, 4), dim=1)
    add("nll_kdim_mean", "nllLoss", {"reduction": "mean"}, logp_k, y_k, lambda x: F.nll_loss(x, y_k))

    p = uniform(0.05, 0.95, 3, 4)
    t = torch.from_numpy(rng.integers(0, 2, (3, 4)).astype(np.float32))
    t_soft = uniform(0, 1, 3, 4)
    bw = uniform(0.5, 2.0, 3, 4)
    for red in ["mean", "sum", "none"]:
        add(f"bce_{red}", "binaryCrossEntropy", {"reduction": red}, p, t,
            lambda x, red=red: F.binary_cross_entropy(x, t, reduction=red))
    add("bce_weight_soft_mean", "binaryCrossEntropy", {"reduction": "mean"}, p, t_soft,
        lambda x: F.binary_cross_entropy(x, t_soft, weight=bw), weight=bw)

    z = randn(3, 4, scale=2.0)
    z[0, 0], z[1, 1], z[2, 2] = 30.0, -30.0, 0.0     # saturated and zero logits: the stable form must hold
    pw = uniform(0.5, 3.0, 4)
    for red in ["mean", "sum", "none"]:
        add(f"bcel_{red}", "binaryCrossEntropyWithLogits", {"reduction": red}, z, t,
            lambda x, red=red: F.binary_cross_entropy_with_logits(x, t, reduction=red))
    add("bcel_posweight_mean", "binaryCrossEntropyWithLogits", {"reduction": "mean"}, z, t,
        lambda x: F.binary_cross_entropy_with_logits(x, t, pos_weight=pw), pos_weight=pw)
    add("bcel_posweight_weight_soft_none", "binaryCrossEntropyWithLogits", {"reduction": "none"}, z, t_soft,
        lambda x: F.binary_cross_entropy_with_logits(x, t_soft, weight=bw, pos_weight=pw, reduction="none"),
        weight=bw, pos_weight=pw)

    a = randn(3, 5)
    b = a + randn(3, 5, scale=1.2)
    b[0, 0] = a[0, 0] + 0.3           # make sure both sides of beta/delta are hit
    b[0, 1] = a[0, 1] - 2.5
    for red in ["mean", "sum", "none"]:
        add(f"mse_{red}", "mseLoss", {"reduction": red}, a, b, lambda x, red=red: F.mse_loss(x, b, reduction=red))
        add(f"l1_{red}", "l1Loss", {"reduction": red}, a, b, lambda x, red=red: F.l1_loss(x, b, reduction=red))
    add("smooth_l1_beta1_mean", "smoothL1Loss", {"reduction": "mean", "beta": 1.0}, a, b,
        lambda x: F.smooth_l1_loss(x, b))
    add("smooth_l1_beta0.5_none", "smoothL1Loss", {"reduction": "none", "beta": 0.5}, a, b,
        lambda x: F.smooth_l1_loss(x, b, beta=0.5, reduction="none"))
    add("smooth_l1_beta2_sum", "smoothL1Loss", {"reduction": "sum", "beta": 2.0}, a, b,
        lambda x: F.smooth_l1_loss(x, b, beta=2.0, reduction="sum"))
    add("smooth_l1_beta0_mean", "smoothL1Loss", {"reduction": "mean", "beta": 0.0}, a, b,
        lambda x: F.smooth_l1_loss(x, b, beta=0.0))
    add("huber_delta1_mean", "huberLoss", {"reduction": "mean", "delta": 1.0}, a, b, lambda x: F.huber_loss(x, b))
    add("huber_delta0.3_sum", "huberLoss", {"reduction": "sum", "delta": 0.3}, a, b,
        lambda x: F.huber_loss(x, b, delta=0.3, reduction="sum"))
    add("huber_delta2_none", "huberLoss", {"reduction": "none", "delta": 2.0}, a, b,
        lambda x: F.huber_loss(x, b, delta=2.0, reduction="none"))

    lq = torch.log_softmax(randn(3, 4), dim=1)
    tp = torch.softmax(randn(3, 4), dim=1)
    tp[1, 2] = 0.0                   # a zero target probability: xlogy gives 0
    tlog = torch.log_softmax(randn(3, 4), dim=1)
    for red in ["mean", "sum", "none", "batchmean"]:
        add(f"kl_{red}", "klDivLoss", {"reduction": red}, lq, tp,
            lambda x, red=red: F.kl_div(x, tp, reduction=red))
    add("kl_logtarget_batchmean", "klDivLoss", {"reduction": "batchmean", "logTarget": True}, lq, tlog,
        lambda x: F.kl_div(x, tlog, reduction="batchmean", log_target=True))
    add("kl_logtarget_none", "klDivLoss", {"reduction": "none", "logTarget": True}, lq, tlog,
        lambda x: F.kl_div(x, tlog, reduction="none", log_target=True))
    names = [c["name"] for c in cases]
    assert len(names) == len(set(names))
    return cases


# ---------------------------------------------------------------------------------------------------------------
# (d) optimizers, (e) schedulers and clipping

OPT_X = randn(6, 3)
OPT_Y = randn(6, 4)
OPT_W1 = randn(3, 4, scale=0.5)
OPT_B = randn(4, scale=0.5)


def opt_loss(w1, b):
    """mean((X w1 + b - Y)^2): a least-squares problem with a bias (gradients O(0.1-1), none near zero)."""
    r = OPT_X @ w1 + b - OPT_Y
    return (r * r).mean()


def make_optim():
    cases = []

    def add(name, opt_type, options, groups=None):
        w1 = OPT_W1.clone().requires_grad_(True)
        b = OPT_B.clone().requires_grad_(True)
        torch_opts = {"SGD": torch.optim.SGD, "Adam": torch.optim.Adam, "AdamW": torch.optim.AdamW,
                      "RMSprop": torch.optim.RMSprop, "Adagrad": torch.optim.Adagrad}
        kw = dict(options)
        rename = {"weightDecay": "weight_decay", "lrDecay": "lr_decay",
                  "initialAccumulatorValue": "initial_accumulator_value"}
        kw = {rename.get(k, k): (tuple(v) if k == "betas" else v) for k, v in kw.items()}
        if groups is None:
            opt = torch_opts[opt_type]([w1, b], **kw)
        else:
            pg = [{"params": [w1], **{rename.get(k, k): v for k, v in groups[0].items()}},
                  {"params": [b], **{rename.get(k, k): v for k, v in groups[1].items()}}]
            opt = torch_opts[opt_type](pg, **kw)
        traj, losses = [], []
        for _ in range(5):
            opt.zero_grad()
            loss = opt_loss(w1, b)
            loss.backward()
            opt.step()
            losses.append(f32(loss.item()))
            traj.append([tj(w1), tj(b)])
        e = {"name": name, "optimizer": opt_type, "options": options, "losses": losses, "trajectory": traj}
        if groups is not None:
            e["groups"] = groups
        cases.append(e)

    add("sgd", "SGD", {"lr": 0.1})
    add("sgd_momentum", "SGD", {"lr": 0.1, "momentum": 0.9})
    add("sgd_momentum_dampening", "SGD", {"lr": 0.1, "momentum": 0.9, "dampening": 0.5})
    add("sgd_nesterov", "SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True})
    add("sgd_momentum_wd", "SGD", {"lr": 0.1, "momentum": 0.8, "weightDecay": 0.1})
    add("sgd_groups", "SGD", {"lr": 0.1, "momentum": 0.9}, groups=[{"lr": 0.05}, {"lr": 0.2, "weightDecay": 0.3}])
    add("adam", "Adam", {"lr": 0.1})
    add("adam_wd_betas_eps", "Adam", {"lr": 0.05, "betas": [0.8, 0.99], "eps": 1e-6, "weightDecay": 0.1})
    add("adam_groups", "Adam", {"lr": 0.1}, groups=[{"lr": 0.02, "weightDecay": 0.5}, {}])
    add("adamw", "AdamW", {"lr": 0.1})
    add("adamw_wd", "AdamW", {"lr": 0.1, "weightDecay": 0.5, "betas": [0.85, 0.995]})
    add("adamw_groups", "AdamW", {"lr": 0.1, "weightDecay": 0.2}, groups=[{"weightDecay": 0.0}, {"lr": 0.03}])
    add("rmsprop", "RMSprop", {"lr": 0.01})
    add("rmsprop_centered", "RMSprop", {"lr": 0.01, "centered": True, "alpha": 0.9})
    add("rmsprop_momentum", "RMSprop", {"lr": 0.01, "momentum": 0.9})
    add("rmsprop_centered_momentum_wd", "RMSprop", {"lr": 0.02, "centered": True, "momentum": 0.5,
                                                    "weightDecay": 0.1, "eps": 1e-6})
    add("adagrad", "Adagrad", {"lr": 0.1})
    add("adagrad_lr_decay", "Adagrad", {"lr": 0.1, "lrDecay": 0.2})
    add("adagrad_init_acc_wd", "Adagrad", {"lr": 0.2, "initialAccumulatorValue": 0.5, "weightDecay": 0.1,
                                           "eps": 1e-8})

    sched = []

    def add_s(name, stype, options, torch_ctor, steps=12, group_lrs=(0.1,), metrics=None, opt_lr=None):
        ps = [torch.zeros(2, requires_grad=True) for _ in group_lrs]
        opt = torch.optim.SGD([{"params": [p], "lr": lr} for p, lr in zip(ps, group_lrs)], lr=group_lrs[0])
        s = torch_ctor(opt)
        lrs = [[g["lr"] for g in opt.param_groups]]
        for i in range(steps):
            opt.step()
            if metrics is None:
                s.step()
            else:
                s.step(metrics[i])
            lrs.append([g["lr"] for g in opt.param_groups])
        e = {"name": name, "scheduler": stype, "options": options, "group_lrs": list(group_lrs), "lrs": lrs}
        if metrics is not None:
            e["metrics"] = metrics
        sched.append(e)

    S = torch.optim.lr_scheduler
    add_s("step_lr", "StepLR", {"stepSize": 3, "gamma": 0.5}, lambda o: S.StepLR(o, 3, gamma=0.5))
    add_s("step_lr_two_groups", "StepLR", {"stepSize": 4, "gamma": 0.1}, lambda o: S.StepLR(o, 4, gamma=0.1),
          group_lrs=(0.1, 0.02))
    add_s("multistep_lr", "MultiStepLR", {"milestones": [2, 5, 9], "gamma": 0.3},
          lambda o: S.MultiStepLR(o, [2, 5, 9], gamma=0.3))
    add_s("exponential_lr", "ExponentialLR", {"gamma": 0.8}, lambda o: S.ExponentialLR(o, 0.8))
    add_s("cosine_annealing_lr", "CosineAnnealingLR", {"tMax": 10, "etaMin": 0.001},
          lambda o: S.CosineAnnealingLR(o, 10, eta_min=0.001))
    add_s("linear_lr", "LinearLR", {"startFactor": 0.25, "endFactor": 1.0, "totalIters": 4},
          lambda o: S.LinearLR(o, start_factor=0.25, end_factor=1.0, total_iters=4))
    add_s("linear_lr_decay", "LinearLR", {"startFactor": 1.0, "endFactor": 0.1, "totalIters": 8},
          lambda o: S.LinearLR(o, start_factor=1.0, end_factor=0.1, total_iters=8))
    add_s("one_cycle_lr", "OneCycleLR", {"maxLR": 0.5, "totalSteps": 13, "pctStart": 0.3},
          lambda o: S.OneCycleLR(o, max_lr=0.5, total_steps=13, pct_start=0.3, cycle_momentum=False))
    add_s("one_cycle_lr_divs", "OneCycleLR", {"maxLR": 1.0, "totalSteps": 13, "pctStart": 0.4, "divFactor": 10,
                                              "finalDivFactor": 100},
          lambda o: S.OneCycleLR(o, max_lr=1.0, total_steps=13, pct_start=0.4, div_factor=10,
                                 final_div_factor=100, cycle_momentum=False))
    metrics = [1.0, 0.9, 0.95, 0.92, 0.91, 0.9, 0.89999, 0.85, 0.86, 0.87, 0.88, 0.84]
    add_s("plateau_min", "ReduceLROnPlateau", {"mode": "min", "factor": 0.5, "patience": 2, "threshold": 1e-4,
                                               "cooldown": 1, "minLR": 0.02},
          lambda o: S.ReduceLROnPlateau(o, mode="min", factor=0.5, patience=2, threshold=1e-4, cooldown=1,
                                        min_lr=0.02), metrics=metrics)
    metrics_max = [0.5, 0.6, 0.6, 0.59, 0.61, 0.7, 0.69, 0.7, 0.7, 0.71, 0.69, 0.68]
    add_s("plateau_max_two_groups", "ReduceLROnPlateau", {"mode": "max", "factor": 0.2, "patience": 1,
                                                          "threshold": 0.01},
          lambda o: S.ReduceLROnPlateau(o, mode="max", factor=0.2, patience=1, threshold=0.01),
          group_lrs=(0.1, 0.05), metrics=metrics_max)

    clip = []

    def add_c(name, fn, value, grads):
        ps = [torch.zeros_like(g, requires_grad=True) for g in grads]
        for p, g in zip(ps, grads):
            p.grad = g.clone()
        e = {"name": name, "fn": fn, "value": value, "grads": [tj(g) for g in grads]}
        if fn == "clipGradNorm":
            total = torch.nn.utils.clip_grad_norm_(ps, max_norm=value)
            e["total_norm"] = f32(total.item())
        else:
            torch.nn.utils.clip_grad_value_(ps, clip_value=value)
        e["clipped"] = [tj(p.grad) for p in ps]
        clip.append(e)

    g = [randn(3, 4), randn(5)]
    add_c("clip_norm_1", "clipGradNorm", 1.0, g)
    add_c("clip_norm_large_noop", "clipGradNorm", 100.0, g)
    add_c("clip_value_0.5", "clipGradValue", 0.5, g)
    return {"generator": "scripts/golden/make_nn_golden.py", "torch": torch.__version__, "seed": SEED,
            "problem": {"X": tj(OPT_X), "Y": tj(OPT_Y), "w1": tj(OPT_W1), "b": tj(OPT_B),
                        "loss": "mean((X @ w1 + b - Y)^2)"},
            "optimizers": cases, "schedulers": sched, "clipping": clip}


def main():
    total = 0
    total += write("nn_training.json", make_training())
    total += write("nn_layers.json", make_layers())
    losses = make_losses()
    total += write("nn_losses.json", {"generator": "scripts/golden/make_nn_golden.py", "torch": torch.__version__,
                                      "seed": SEED, "cases": losses})
    total += write("nn_optim.json", make_optim())
    print(f"total {total / 1024:.0f} KiB", file=sys.stderr)


if __name__ == "__main__":
    main()
