#!/usr/bin/env python3
"""PyTorch golden values for EmberNN's transfer-learning tools: LoRA adapters and discriminative learning rates.

Writes Tests/EmberNNTests/Fixtures/nn_transfer.json, read by Tests/EmberNNTests/TransferTests.swift.

LoRA is written out here from its definition (Hu et al. 2021): a Linear layer W, b gains A [r, in] and B [out, r];
the output is x W^T + b + (alpha / r) x A^T B^T; W and b are frozen. PyTorch's autograd and optimizers then give
the reference trajectory. (PEFT computes the same thing; it is not needed to state the definition.)

Cases
-----
lora:  MLP Linear(6, 5) - Tanh - Linear(5, 3); adapters rank 2, alpha 4 on both layers (A from the fixture, B zero);
       6 Adam(lr 0.02) steps of MSE on fixed data. Records the initial state dict, A's, inputs, targets, the loss per
       step, the final A/B, and the merged weights W + (alpha/r) B A.
groups: the same MLP without adapters, first layer's bias frozen, parameter groups {"0.weight": lr 0.1},
       {"2.*": lr 0.01} under SGD(momentum 0.9, default lr 0.5 unused), 4 steps; the final state dict.

Regenerate
----------
    /work/.venv-torch/bin/python scripts/golden/make_transfer_golden.py
    OPENBLAS_NUM_THREADS=1 swift test --filter TransferTests
"""
import json
import os
import sys

import numpy as np
import torch

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "Tests", "EmberNNTests", "Fixtures",
                   "nn_transfer.json")
torch.set_num_threads(1)
rng = np.random.default_rng(20261130)


def f32(v):
    return float(np.format_float_positional(np.float32(v), unique=True, trim="-"))


def tj(t):
    t = t.detach().to(torch.float32)
    return {"shape": list(t.shape), "data": [f32(v) for v in t.reshape(-1).numpy()]}


def randn(*shape, scale=1.0):
    return torch.from_numpy((rng.standard_normal(shape) * scale).astype(np.float32))


def mlp():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.Tanh(), torch.nn.Linear(5, 3))


def lora_case():
    model = mlp()
    init = {k: tj(v) for k, v in model.state_dict().items()}
    r, alpha = 2, 4.0
    scale = alpha / r
    for p in model.parameters():
        p.requires_grad_(False)
    layers = [model[0], model[2]]
    As = [randn(r, l.in_features, scale=0.5).requires_grad_() for l in layers]
    Bs = [torch.zeros(l.out_features, r, requires_grad=True) for l in layers]
    A0 = [tj(a) for a in As]
    x, y = randn(8, 6), randn(8, 3)

    def forward(x):
        h = x
        for i, (l, a, b) in enumerate(zip(layers, As, Bs)):
            h = torch.nn.functional.linear(h, l.weight, l.bias) + scale * (h @ a.T @ b.T)
            if i == 0:
                h = torch.tanh(h)
        return h

    opt = torch.optim.Adam(As + Bs, lr=0.02)
    losses = []
    for _ in range(6):
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(forward(x), y)
        loss.backward()
        opt.step()
        losses.append(f32(loss.item()))
    merged = {f"{i}.weight": tj(l.weight + scale * Bs[j] @ As[j]) for j, (i, l) in enumerate(zip([0, 2], layers))}
    with torch.no_grad():
        out = forward(x)
    return {"rank": r, "alpha": alpha, "initial": init, "A0": A0,
            "x": tj(x), "y": tj(y), "losses": losses,
            "A": [tj(a) for a in As], "B": [tj(b) for b in Bs], "merged": merged, "output": tj(out)}


def groups_case():
    model = mlp()
    init = {k: tj(v) for k, v in model.state_dict().items()}
    model[0].bias.requires_grad_(False)
    opt = torch.optim.SGD([{"params": [model[0].weight], "lr": 0.1},
                           {"params": [model[2].weight, model[2].bias], "lr": 0.01}], lr=0.5, momentum=0.9)
    x, y = randn(8, 6), randn(8, 3)
    losses = []
    for _ in range(4):
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        opt.step()
        losses.append(f32(loss.item()))
    return {"initial": init, "x": tj(x), "y": tj(y), "losses": losses,
            "final": {k: tj(v) for k, v in model.state_dict().items()}}


def main():
    lora = lora_case()
    doc = {"torch": torch.__version__, "lora": lora, "groups": groups_case()}
    with open(OUT, "w") as f:
        f.write(json.dumps(doc, separators=(",", ":")) + "\n")
    print(f"wrote {OUT}", file=sys.stderr)


if __name__ == "__main__":
    main()
