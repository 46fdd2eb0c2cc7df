#!/usr/bin/env python3
"""PyTorch golden values for the WGAN-GP gradient penalty of EmberNN's GAN critic.

Writes Tests/EmberNNTests/Fixtures/nn_gan.json, read by Tests/EmberNNTests/GANTests.swift.

Regenerate
----------
    /work/.venv-torch/bin/python scripts/golden/make_gan_golden.py      # torch==2.13.0, CPU wheel

The critic is GANDiscriminator for GANSpec(channels: 1, height: 8, width: 8, features: 2, loss: .wasserstein):
    conv1 = Conv2d(1, 2, 4, stride 2, padding 1) -> LeakyReLU(0.2) -> conv2 = Conv2d(2, 4, 4, stride 2, padding 1)
    -> LeakyReLU(0.2) -> flatten -> head = Linear(16, 1)
with random float64 weights (state_dict names as Ember's). For real and fake batches [3, 1, 8, 8] and weights alpha [3],
x_hat = alpha real + (1 - alpha) fake, g = d sum(critic(x_hat)) / d x_hat (create_graph=True),
penalty = mean((||g||_2 - 1)^2) over the batch. The fixture holds the weights, real, fake, alpha, the per-example
gradient norms, the penalty and its gradients with respect to every weight.

Format: {"generator", "torch", "seed", "state": {name: tensor}, "real", "fake", "alpha", "norms", "penalty",
"grads": {name: tensor}} -- tensors as {shape, dtype, data}, float64 values written with Python's repr.
"""

import json
import os

import numpy as np
import torch
import torch.nn.functional as F

SEED = 17
rng = np.random.default_rng(SEED)


def tensor_json(t):
    t = t.detach()
    return {"shape": list(t.shape), "dtype": "float64", "data": [float(v) for v in t.reshape(-1).tolist()]}


def main():
    shapes = {"conv1.weight": (2, 1, 4, 4), "conv1.bias": (2,), "conv2.weight": (4, 2, 4, 4), "conv2.bias": (4,),
              "head.weight": (1, 16), "head.bias": (1,)}
    state = {k: torch.tensor(rng.uniform(-0.5, 0.5, s)).requires_grad_(True) for k, s in shapes.items()}
    real = torch.tensor(rng.uniform(-1, 1, (3, 1, 8, 8)))
    fake = torch.tensor(rng.normal(0, 0.6, (3, 1, 8, 8)))
    alpha = torch.tensor(rng.uniform(0, 1, (3,)))

    def critic(x):
        h = F.leaky_relu(F.conv2d(x, state["conv1.weight"], state["conv1.bias"], stride=2, padding=1), 0.2)
        h = F.leaky_relu(F.conv2d(h, state["conv2.weight"], state["conv2.bias"], stride=2, padding=1), 0.2)
        return F.linear(h.reshape(x.shape[0], -1), state["head.weight"], state["head.bias"]).reshape(-1)

    a = alpha.reshape(3, 1, 1, 1)
    x_hat = (a * real + (1 - a) * fake).requires_grad_(True)
    (g,) = torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=True)
    norms = g.reshape(3, -1).norm(2, dim=1)
    penalty = ((norms - 1) ** 2).mean()
    names = list(shapes)
    # The biases only move the LeakyReLU kinks (and head.bias is a constant shift): no gradient reaches them
    # (None in PyTorch, stored as zeros).
    grads = torch.autograd.grad(penalty, [state[k] for k in names], allow_unused=True)
    grads = [gr if gr is not None else torch.zeros_like(state[k]) for gr, k in zip(grads, names)]
    out = {
        "generator": "scripts/golden/make_gan_golden.py", "torch": torch.__version__, "seed": SEED,
        "state": {k: tensor_json(v) for k, v in state.items()},
        "real": tensor_json(real), "fake": tensor_json(fake), "alpha": tensor_json(alpha),
        "norms": tensor_json(norms), "penalty": float(penalty.item()),
        "grads": {k: tensor_json(gr) for k, gr in zip(names, grads)},
    }
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "Tests", "EmberNNTests", "Fixtures", "nn_gan.json")
    with open(path, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    print("wrote", os.path.normpath(path), "penalty", penalty.item())


if __name__ == "__main__":
    main()
