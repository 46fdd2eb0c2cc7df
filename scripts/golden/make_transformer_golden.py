#!/usr/bin/env python3
"""PyTorch golden values for EmberNN's attention layers: MultiheadAttention, TransformerEncoderLayer,
TransformerDecoderLayer, TransformerEncoder, the sinusoidal and rotary position encodings, and 10 AdamW steps of a
tiny GPT (untied and tied).

Writes Tests/EmberNNTests/Fixtures/nn_transformer.json, read by Tests/EmberNNTests/TransformerGoldenTests.swift.

Regenerate
----------
    /work/.venv-torch/bin/python scripts/golden/make_transformer_golden.py      # torch==2.13.0 CPU wheel
    OPENBLAS_NUM_THREADS=1 swift test --filter TransformerGoldenTests

Modules run in training mode with dropout 0 (PyTorch's inference fast paths, which turn padded positions into zeros
through nested tensors, stay off).

Format (tensors {"shape", "data"} with float32 values; "dtype": "bool" or "int64" for masks and tokens)
------
mha:      [{name, options {embed_dim, num_heads, batch_first, bias}, state, query, key?, value? (absent: self-attention,
            key = value = query), attn_mask?, key_padding_mask?, is_causal, output, upstream, grads {query, key?,
            value?, params}}]. The loss is sum(output * upstream).
encoder_layers, decoder_layers, encoders: [{name, options, state, src | tgt + memory, masks..., output, upstream,
            grads {input, memory?, params}}]
positional: {sinusoidal {d_model, max_len, table}, rotary {dim, base, offset, x, output}}
gpt:      [{name, config, initial (state), tokens [B, T+1], lr, weight_decay, losses, final (state)}]
"""

import json
import math
import os

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.manual_seed(0)
torch.set_num_threads(1)
rng = np.random.default_rng(2024)
OUT = os.path.join(os.path.dirname(__file__), "..", "..", "Tests", "EmberNNTests", "Fixtures", "nn_transformer.json")


def tensor(t):
    t = t.detach()
    if t.dtype == torch.bool:
        return {"shape": list(t.shape), "data": [bool(v) for v in t.reshape(-1).tolist()], "dtype": "bool"}
    if t.dtype in (torch.int64, torch.int32):
        return {"shape": list(t.shape), "data": [int(v) for v in t.reshape(-1).tolist()], "dtype": "int64"}
    # 9 significant digits: exactly the float32 value, in fewer characters than a double's repr
    return {"shape": list(t.shape), "data": [float(f"{np.float32(v):.9g}") for v in t.reshape(-1).tolist()]}


def state(module):
    sd = module.state_dict()
    return {"order": list(sd.keys()), "tensors": {k: tensor(v) for k, v in sd.items()}}


def randn(*shape, scale=1.0):
    return torch.tensor(rng.normal(size=shape) * scale, dtype=torch.float32)


def randomize(module, scale=0.3):
    """Non-trivial values for every parameter (biases and LayerNorm affine included)."""
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(randn(*p.shape, scale=scale))


def param_grads(module, grads):
    return {n: tensor(g) for (n, _), g in zip(module.named_parameters(), grads)}


def causal_bool(L, S):
    # nn.MultiheadAttention / Transformer bool masks: True = NOT allowed
    return torch.ones(L, S, dtype=torch.bool).triu(1)


def mha_case(name, E=8, H=2, L=5, S=5, N=3, batch_first=False, self_attn=True, attn_mask=None, kpm=None,
             is_causal=False, bias=True):
    m = nn.MultiheadAttention(E, H, dropout=0.0, bias=bias, batch_first=batch_first)
    randomize(m)
    m.train()
    shape_q = (N, L, E) if batch_first else (L, N, E)
    shape_k = (N, S, E) if batch_first else (S, N, E)
    q = randn(*shape_q).requires_grad_()
    if self_attn:
        k = v = q
    else:
        k = randn(*shape_k).requires_grad_()
        v = randn(*shape_k).requires_grad_()
    out, _ = m(q, k, v, key_padding_mask=kpm, attn_mask=attn_mask, need_weights=False, is_causal=is_causal)
    u = randn(*out.shape)
    leaves = [q] + ([] if self_attn else [k, v]) + list(m.parameters())
    grads = torch.autograd.grad((out * u).sum(), leaves)
    c = {"name": name, "options": dict(embed_dim=E, num_heads=H, batch_first=batch_first, bias=bias),
         "state": state(m), "query": tensor(q), "is_causal": is_causal, "output": tensor(out), "upstream": tensor(u)}
    g = {"query": tensor(grads[0])}
    k0 = 1
    if not self_attn:
        c["key"], c["value"] = tensor(k), tensor(v)
        g["key"], g["value"] = tensor(grads[1]), tensor(grads[2])
        k0 = 3
    g["params"] = param_grads(m, grads[k0:])
    c["grads"] = g
    if attn_mask is not None:
        c["attn_mask"] = tensor(attn_mask)
    if kpm is not None:
        c["key_padding_mask"] = tensor(kpm)
    return c


def padding_mask(N, S):
    # sequence n has its last n keys padded (True = ignore)
    m = torch.zeros(N, S, dtype=torch.bool)
    for n in range(N):
        if n:
            m[n, S - n:] = True
    return m


def layer_grads(module, out, inputs):
    u = randn(*out.shape)
    grads = torch.autograd.grad((out * u).sum(), inputs + list(module.parameters()))
    return u, grads


def encoder_layer_case(name, d=8, nhead=2, ff=16, T=6, N=3, norm_first=False, activation="relu", batch_first=True,
                       src_mask=None, kpm=None, is_causal=False):
    m = nn.TransformerEncoderLayer(d, nhead, dim_feedforward=ff, dropout=0.0, activation=activation,
                                   batch_first=batch_first, norm_first=norm_first)
    randomize(m)
    m.train()
    x = randn(*((N, T, d) if batch_first else (T, N, d))).requires_grad_()
    out = m(x, src_mask=src_mask, src_key_padding_mask=kpm, is_causal=is_causal)
    u, grads = layer_grads(m, out, [x])
    c = {"name": name, "options": dict(d_model=d, nhead=nhead, dim_feedforward=ff, norm_first=norm_first,
                                       activation=activation, batch_first=batch_first),
         "state": state(m), "src": tensor(x), "is_causal": is_causal, "output": tensor(out), "upstream": tensor(u),
         "grads": {"input": tensor(grads[0]), "params": param_grads(m, grads[1:])}}
    if src_mask is not None:
        c["src_mask"] = tensor(src_mask)
    if kpm is not None:
        c["src_key_padding_mask"] = tensor(kpm)
    return c


def decoder_layer_case(name, d=8, nhead=2, ff=16, T=5, S=7, N=2, norm_first=False, activation="relu"):
    m = nn.TransformerDecoderLayer(d, nhead, dim_feedforward=ff, dropout=0.0, activation=activation,
                                   batch_first=True, norm_first=norm_first)
    randomize(m)
    m.train()
    tgt = randn(N, T, d).requires_grad_()
    mem = randn(N, S, d).requires_grad_()
    tmask = causal_bool(T, T)
    mkpm = padding_mask(N, S)
    out = m(tgt, mem, tgt_mask=tmask, memory_key_padding_mask=mkpm)
    u, grads = layer_grads(m, out, [tgt, mem])
    return {"name": name, "options": dict(d_model=d, nhead=nhead, dim_feedforward=ff, norm_first=norm_first,
                                          activation=activation, batch_first=True),
            "state": state(m), "tgt": tensor(tgt), "memory": tensor(mem), "tgt_mask": tensor(tmask),
            "memory_key_padding_mask": tensor(mkpm), "output": tensor(out), "upstream": tensor(u),
            "grads": {"input": tensor(grads[0]), "memory": tensor(grads[1]), "params": param_grads(m, grads[2:])}}


def encoder_case(name, d=8, nhead=2, ff=16, T=6, N=2, layers=2, norm_first=True):
    layer = nn.TransformerEncoderLayer(d, nhead, dim_feedforward=ff, dropout=0.0, activation="gelu",
                                       batch_first=True, norm_first=norm_first)
    m = nn.TransformerEncoder(layer, layers, norm=nn.LayerNorm(d), enable_nested_tensor=False)
    randomize(m)
    m.train()
    x = randn(N, T, d).requires_grad_()
    kpm = padding_mask(N, T)
    out = m(x, mask=causal_bool(T, T), src_key_padding_mask=kpm)
    u, grads = layer_grads(m, out, [x])
    return {"name": name, "options": dict(d_model=d, nhead=nhead, dim_feedforward=ff, num_layers=layers,
                                          norm_first=norm_first, activation="gelu", batch_first=True),
            "state": state(m), "src": tensor(x), "src_mask": tensor(causal_bool(T, T)),
            "src_key_padding_mask": tensor(kpm), "output": tensor(out), "upstream": tensor(u),
            "grads": {"input": tensor(grads[0]), "params": param_grads(m, grads[1:])}}


def positional():
    d, max_len = 10, 12
    # the PyTorch tutorial's PositionalEncoding table
    position = torch.arange(max_len, dtype=torch.float64).unsqueeze(1)
    div_term = torch.exp(torch.arange(0, d, 2, dtype=torch.float64) * (-math.log(10000.0) / d))
    pe = torch.zeros(max_len, d, dtype=torch.float64)
    pe[:, 0::2] = torch.sin(position * div_term)
    pe[:, 1::2] = torch.cos(position * div_term)
    # rotary, "rotate half" layout (GPT-NeoX / Llama), computed from its definition
    dim, base, offset = 8, 10000.0, 3
    x = randn(2, 3, 5, dim)
    inv_freq = 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.float64) / dim))
    t = torch.arange(offset, offset + 5, dtype=torch.float64)
    freqs = torch.outer(t, inv_freq)
    emb = torch.cat([freqs, freqs], dim=-1)
    x1, x2 = x[..., : dim // 2], x[..., dim // 2:]
    rot = torch.cat([-x2, x1], dim=-1)
    out = x.double() * emb.cos() + rot.double() * emb.sin()
    return {"sinusoidal": {"d_model": d, "max_len": max_len, "table": tensor(pe.float())},
            "rotary": {"dim": dim, "base": base, "offset": offset, "x": tensor(x), "output": tensor(out.float())}}


def make_gpt(V, T, D, NH, NL, tie):
    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln1 = nn.LayerNorm(D)
            self.qkv = nn.Linear(D, 3 * D)
            self.proj = nn.Linear(D, D)
            self.ln2 = nn.LayerNorm(D)
            self.fc = nn.Linear(D, 4 * D)
            self.fc2 = nn.Linear(4 * D, D)

        def forward(self, x):
            Bn, Tn, _ = x.shape
            q, k, v = self.qkv(self.ln1(x)).split(D, dim=2)
            q = q.view(Bn, Tn, NH, D // NH).transpose(1, 2)
            k = k.view(Bn, Tn, NH, D // NH).transpose(1, 2)
            v = v.view(Bn, Tn, NH, D // NH).transpose(1, 2)
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            y = y.transpose(1, 2).contiguous().view(Bn, Tn, D)
            x = x + self.proj(y)
            return x + self.fc2(F.gelu(self.fc(self.ln2(x))))

    class GPT(nn.Module):
        def __init__(self):
            super().__init__()
            self.wte = nn.Embedding(V, D)
            self.wpe = nn.Embedding(T, D)
            self.blocks = nn.Sequential(*[Block() for _ in range(NL)])
            self.lnf = nn.LayerNorm(D)
            self.head = nn.Linear(D, V, bias=False)
            if tie:
                self.head.weight = self.wte.weight

        def forward(self, idx):
            pos = torch.arange(idx.shape[1])
            x = self.wte(idx) + self.wpe(pos)
            return self.head(self.lnf(self.blocks(x)))

    return GPT()


def gpt_case(name, tie):
    V, T, D, NH, NL, B = 11, 9, 16, 2, 2, 3
    m = make_gpt(V, T, D, NH, NL, tie)
    initial = state(m)
    tokens = torch.tensor(rng.integers(0, V, size=(B, T + 1)), dtype=torch.int64)
    lr, wd = 3e-3, 0.01
    opt = torch.optim.AdamW(m.parameters(), lr=lr, weight_decay=wd)
    losses = []
    for _ in range(10):
        opt.zero_grad(set_to_none=True)
        logits = m(tokens[:, :T])
        loss = F.cross_entropy(logits.reshape(-1, V), tokens[:, 1:].reshape(-1))
        loss.backward()
        opt.step()
        losses.append(float(loss))
    return {"name": name, "config": dict(vocab_size=V, context=T, d_model=D, heads=NH, layers=NL, tie_weights=tie),
            "initial": initial, "tokens": tensor(tokens), "lr": lr, "weight_decay": wd, "losses": losses,
            "final": state(m)}


def main():
    L, N = 5, 3
    float_mask = randn(N * 2, L, 7, scale=1.0)
    float_mask[:, :, 0] = 0.0
    out = {
        "mha": [
            mha_case("self_plain"),
            mha_case("self_masks", attn_mask=torch.tensor(rng.random((5, 5)) < 0.3) & ~torch.eye(5, dtype=torch.bool),
                     kpm=padding_mask(3, 5)),
            mha_case("self_causal_batch_first", batch_first=True, attn_mask=causal_bool(5, 5), is_causal=True),
            mha_case("cross_float_mask", L=L, S=7, self_attn=False, attn_mask=float_mask, kpm=padding_mask(N, 7)),
            mha_case("cross_no_bias_batch_first", L=4, S=6, N=2, self_attn=False, batch_first=True, bias=False),
        ],
        "encoder_layers": [
            encoder_layer_case("post_norm_relu", kpm=padding_mask(3, 6)),
            encoder_layer_case("pre_norm_gelu_causal", norm_first=True, activation="gelu", src_mask=causal_bool(6, 6),
                               is_causal=True),
            encoder_layer_case("post_norm_seq_first", batch_first=False, src_mask=causal_bool(6, 6),
                               kpm=padding_mask(3, 6)),
        ],
        "decoder_layers": [
            decoder_layer_case("post_norm"),
            decoder_layer_case("pre_norm_gelu", norm_first=True, activation="gelu"),
        ],
        "encoders": [encoder_case("two_layers_pre_norm")],
        "positional": positional(),
        "gpt": [gpt_case("untied", False), gpt_case("tied", True)],
    }
    with open(OUT, "w") as f:
        json.dump(out, f)
    print("wrote", OUT, os.path.getsize(OUT), "bytes")


if __name__ == "__main__":
    main()
