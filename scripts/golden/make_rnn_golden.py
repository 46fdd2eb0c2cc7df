#!/usr/bin/env python3
"""PyTorch golden values for EmberNN's recurrent layers: RNN, LSTM, GRU and their cells, and a small LSTM language
model trained for 10 steps.

Writes Tests/EmberNNTests/Fixtures/nn_rnn.json, read by Tests/EmberNNTests/RecurrentGoldenTests.swift.

Regenerate
----------
    /work/.venv-torch/bin/python scripts/golden/make_rnn_golden.py      # torch==2.13.0 CPU wheel
    OPENBLAS_NUM_THREADS=1 swift test --filter RecurrentGoldenTests

Format (tensors as in make_nn_golden.py: {"shape", "data"} with float32 values, "dtype": "int64" for integers)
------
layers: [{name, kind (RNN | LSTM | GRU), options {input_size, hidden_size, num_layers, nonlinearity, bias,
          batch_first, bidirectional}, state (state_dict in PyTorch's order: "order" + "tensors"), input, h0?, c0?,
          lengths? (per sequence; PyTorch runs them as a packed sequence and pads the output with zeros), output,
          h_n, c_n?, upstream (u_out, u_h, u_c?), grads: {input, h0?, c0?, params {name: grad}}}]
          The loss is sum(output * u_out) + sum(h_n * u_h) (+ sum(c_n * u_c)).
cells:  [{name, kind (RNNCell | LSTMCell | GRUCell), options, state, input, h0?, c0?, h, c?, upstream, grads}]
lm:     a character-level LSTM language model: Embedding(11, 8) -> LSTM(8, 16, batch_first) -> Linear(16, 11), Adam
        (lr 0.01) on next-token cross-entropy, batch 4 x 7 tokens: initial state, tokens, loss per step, final state.
"""

import json
import os

import numpy as np
import torch

torch.manual_seed(0)
torch.set_num_threads(1)
rng = np.random.default_rng(1234)
OUT = os.path.join(os.path.dirname(__file__), "..", "..", "Tests", "EmberNNTests", "Fixtures", "nn_rnn.json")


def f32(x):
    return float(np.float32(x))


def tensor(t):
    t = t.detach()
    if t.dtype in (torch.int64, torch.int32):
        return {"shape": list(t.shape), "data": [int(v) for v in t.reshape(-1).tolist()], "dtype": "int64"}
    return {"shape": list(t.shape), "data": [f32(v) for v in t.reshape(-1).tolist()]}


def state(module):
    sd = module.state_dict()
    return {"order": list(sd.keys()), "tensors": {k: tensor(v) for k, v in sd.items()}}


def randn(*shape, scale=1.0):
    return torch.tensor(rng.normal(size=shape) * scale, dtype=torch.float32)


def gradients(loss, m, x, h0, c0):
    """d loss / d (input, h0?, c0?, every named parameter) as the fixture's "grads" object."""
    leaves = [x] + ([h0] if h0 is not None else []) + ([c0] if c0 is not None else []) + [p for _, p in m.named_parameters()]
    grads = torch.autograd.grad(loss, leaves)
    g = {"input": tensor(grads[0])}
    k = 1
    if h0 is not None:
        g["h0"] = tensor(grads[k]); k += 1
    if c0 is not None:
        g["c0"] = tensor(grads[k]); k += 1
    g["params"] = {n: tensor(gr) for (n, _), gr in zip(m.named_parameters(), grads[k:])}
    return g


def layer_case(name, kind, T=5, B=3, I=4, H=6, num_layers=1, nonlinearity="tanh", bias=True, batch_first=False,
               bidirectional=False, with_state=False, lengths=None):
    opts = dict(input_size=I, hidden_size=H, num_layers=num_layers, bias=bias, batch_first=batch_first,
                bidirectional=bidirectional)
    if kind == "RNN":
        m = torch.nn.RNN(nonlinearity=nonlinearity, **opts)
        opts["nonlinearity"] = nonlinearity
    else:
        m = getattr(torch.nn, kind)(**opts)
    D = 2 if bidirectional else 1
    x = randn(*((B, T, I) if batch_first else (T, B, I))).requires_grad_()
    h0 = randn(num_layers * D, B, H, scale=0.5).requires_grad_() if with_state else None
    c0 = randn(num_layers * D, B, H, scale=0.5).requires_grad_() if (with_state and kind == "LSTM") else None
    hx = (h0, c0) if kind == "LSTM" and with_state else h0
    if lengths is not None:
        packed = torch.nn.utils.rnn.pack_padded_sequence(x, torch.tensor(lengths), batch_first=batch_first,
                                                         enforce_sorted=False)
        out_p, hn = m(packed, hx)
        out, _ = torch.nn.utils.rnn.pad_packed_sequence(out_p, batch_first=batch_first, total_length=T)
    else:
        out, hn = m(x, hx)
    h_n, c_n = (hn if kind == "LSTM" else (hn, None))
    u_out = randn(*out.shape)
    u_h = randn(*h_n.shape)
    loss = (out * u_out).sum() + (h_n * u_h).sum()
    u_c = None
    if c_n is not None:
        u_c = randn(*c_n.shape)
        loss = loss + (c_n * u_c).sum()
    g = gradients(loss, m, x, h0, c0)
    case = {"name": name, "kind": kind, "options": opts, "state": state(m), "input": tensor(x), "output": tensor(out),
            "h_n": tensor(h_n), "upstream": {"out": tensor(u_out), "h": tensor(u_h)}, "grads": g}
    if h0 is not None:
        case["h0"] = tensor(h0)
    if c0 is not None:
        case["c0"] = tensor(c0)
    if c_n is not None:
        case["c_n"] = tensor(c_n)
        case["upstream"]["c"] = tensor(u_c)
    if lengths is not None:
        case["lengths"] = list(lengths)
    return case


def cell_case(name, kind, B=3, I=4, H=5, bias=True, nonlinearity="tanh", with_state=True, unbatched=False):
    opts = dict(input_size=I, hidden_size=H, bias=bias)
    if kind == "RNNCell":
        m = torch.nn.RNNCell(nonlinearity=nonlinearity, **opts)
        opts["nonlinearity"] = nonlinearity
    else:
        m = getattr(torch.nn, kind)(**opts)
    shape = (I,) if unbatched else (B, I)
    sshape = (H,) if unbatched else (B, H)
    x = randn(*shape).requires_grad_()
    h0 = randn(*sshape, scale=0.5).requires_grad_() if with_state else None
    c0 = randn(*sshape, scale=0.5).requires_grad_() if (with_state and kind == "LSTMCell") else None
    if kind == "LSTMCell":
        h, c = m(x, (h0, c0) if with_state else None)
    else:
        h, c = m(x, h0), None
    u_h = randn(*h.shape)
    loss = (h * u_h).sum()
    u_c = None
    if c is not None:
        u_c = randn(*c.shape)
        loss = loss + (c * u_c).sum()
    g = gradients(loss, m, x, h0, c0)
    case = {"name": name, "kind": kind, "options": opts, "state": state(m), "input": tensor(x), "h": tensor(h),
            "upstream": {"h": tensor(u_h)}, "grads": g}
    if h0 is not None:
        case["h0"] = tensor(h0)
    if c0 is not None:
        case["c0"] = tensor(c0)
    if c is not None:
        case["c"] = tensor(c)
        case["upstream"]["c"] = tensor(u_c)
    return case


class CharLM(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = torch.nn.Embedding(11, 8)
        self.lstm = torch.nn.LSTM(8, 16, batch_first=True)
        self.head = torch.nn.Linear(16, 11)

    def forward(self, tokens):
        out, _ = self.lstm(self.embed(tokens))
        return self.head(out)


def lm_case():
    m = CharLM()
    tokens = torch.tensor(rng.integers(0, 11, size=(4, 8)), dtype=torch.int64)
    initial = state(m)
    opt = torch.optim.Adam(m.parameters(), lr=0.01)
    losses = []
    for _ in range(10):
        opt.zero_grad()
        logits = m(tokens[:, :-1])
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, 11), tokens[:, 1:].reshape(-1))
        loss.backward()
        opt.step()
        losses.append(f32(loss.item()))
    return {"initial": initial, "tokens": tensor(tokens), "losses": losses, "final": state(m)}


layers = [
    layer_case("rnn_tanh", "RNN"),
    layer_case("rnn_relu_nobias_state", "RNN", nonlinearity="relu", bias=False, with_state=True),
    layer_case("rnn_2layer_bidir_batchfirst", "RNN", num_layers=2, bidirectional=True, batch_first=True),
    layer_case("lstm", "LSTM"),
    layer_case("lstm_state", "LSTM", with_state=True),
    layer_case("lstm_2layer_bidir_state", "LSTM", num_layers=2, bidirectional=True, with_state=True),
    layer_case("lstm_batchfirst_nobias", "LSTM", batch_first=True, bias=False),
    layer_case("lstm_lengths", "LSTM", lengths=[5, 2, 4]),
    layer_case("lstm_bidir_lengths_batchfirst", "LSTM", bidirectional=True, batch_first=True, lengths=[3, 5, 1],
               with_state=True),
    layer_case("gru", "GRU"),
    layer_case("gru_state_2layer", "GRU", num_layers=2, with_state=True),
    layer_case("gru_bidir_lengths", "GRU", bidirectional=True, lengths=[4, 5, 2]),
]
cells = [
    cell_case("rnn_cell", "RNNCell"),
    cell_case("rnn_cell_relu_nostate", "RNNCell", nonlinearity="relu", with_state=False),
    cell_case("lstm_cell", "LSTMCell"),
    cell_case("lstm_cell_unbatched_nobias", "LSTMCell", bias=False, unbatched=True),
    cell_case("gru_cell", "GRUCell"),
    cell_case("gru_cell_nostate", "GRUCell", with_state=False),
]
data = {"generator": "scripts/golden/make_rnn_golden.py", "torch": torch.__version__, "layers": layers, "cells": cells,
        "lm": lm_case()}
with open(OUT, "w") as f:
    json.dump(data, f, separators=(",", ":"))
print(f"wrote {OUT}: {len(layers)} layer cases, {len(cells)} cell cases, lm losses {data['lm']['losses']}")
