#!/usr/bin/env python3
"""PyTorch's names for a nested model: the reference for EmberNN's parameter discovery and naming.

Writes Tests/EmberNNTests/Fixtures/nn_module_tree.json, read by Tests/EmberNNTests/ModuleTreeGoldenTests.swift.

The model holds every kind of container a model family needs: a ModuleList of blocks (each with a sub-Module whose
parameters are registered directly, one block without its optional bias), a Sequential inside each block, a
ModuleDict of heads (inserted out of alphabetical order, to pin insertion order), a buffer, an integer buffer, an
own parameter registered after the children, a plain (unregistered) tensor attribute, and a tied weight (the "lm"
head's weight is the embedding's).

Regenerate
----------
    /work/.venv-torch/bin/python scripts/golden/make_module_tree_golden.py

Format
------
{"state_dict": [[name, shape], ...] in state_dict() order,
 "named_parameters": [[name, shape], ...] in named_parameters() order (each tensor once),
 "named_buffers": [[name, shape], ...],
 "named_modules": [name, ...] in named_modules() order (the root is ""),
 "named_children": [name, ...]}
"""
import json
import os

import torch
import torch.nn as nn

D = 4


class Attention(nn.Module):
    def __init__(self, bias: bool):
        super().__init__()
        self.in_proj_weight = nn.Parameter(torch.zeros(3 * D, D))
        if bias:
            self.in_proj_bias = nn.Parameter(torch.zeros(3 * D))
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = nn.Linear(D, D)


class Block(nn.Module):
    def __init__(self, bias: bool):
        super().__init__()
        self.norm = nn.LayerNorm(D)
        self.attn = Attention(bias)
        self.mlp = nn.Sequential(nn.Linear(D, 2 * D), nn.ReLU(), nn.Dropout(0.1), nn.Linear(2 * D, D))


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(10, D)
        self.register_buffer("pos", torch.zeros(5, D))
        self.blocks = nn.ModuleList([Block(bias=i != 1) for i in range(3)])
        self.heads = nn.ModuleDict({"cls": nn.Linear(D, 3), "lm": nn.Linear(D, 10, bias=False), "aux": nn.BatchNorm1d(D)})
        self.heads["lm"].weight = self.embed.weight  # tied
        self.scale = nn.Parameter(torch.ones(1))  # an own parameter registered after the children
        self.register_buffer("steps", torch.zeros((), dtype=torch.int64))
        self.lengths = torch.tensor([1, 2, 3])  # a plain attribute: neither parameter nor buffer


def main():
    net = Net()
    out = {
        "state_dict": [[k, list(v.shape)] for k, v in net.state_dict().items()],
        "named_parameters": [[k, list(v.shape)] for k, v in net.named_parameters()],
        "named_buffers": [[k, list(v.shape)] for k, v in net.named_buffers()],
        "named_modules": [k for k, _ in net.named_modules()],
        "named_children": [k for k, _ in net.named_children()],
        "torch_version": torch.__version__,
    }
    path = os.path.join(os.path.dirname(__file__), "..", "..", "Tests", "EmberNNTests", "Fixtures", "nn_module_tree.json")
    with open(path, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
