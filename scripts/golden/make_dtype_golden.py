#!/usr/bin/env python3
"""PyTorch golden values for Ember's uint8, float16 and bfloat16 dtypes.

Writes
  Tests/EmberCoreTests/Fixtures/dtype_golden.json   (read by Tests/EmberCoreTests/NarrowDTypeTests.swift)
  Tests/EmberIOTests/Fixtures/hf_half.safetensors   (a small checkpoint in F16, BF16, U8 and I64, written by the
                                                     official safetensors package from torch tensors)
  Tests/EmberIOTests/Fixtures/hf_half_float32.json  (the float32 bit patterns `t.float()` gives for each float tensor)

Regenerate
----------
    python3 -m venv .venv-torch && .venv-torch/bin/pip install torch==2.13.0 numpy
    .venv-torch/bin/python -m pip install --target .venv-golden-st safetensors==0.8.0   # safetensors beside torch
    PYTHONPATH=.venv-golden-st .venv-torch/bin/python scripts/golden/make_dtype_golden.py

Deterministic: a fixed numpy seed, one thread. Every float is stored as its bit pattern (an integer; float64 ones
as 16 hex digits), so the JSON carries NaN payloads, -0 and subnormals exactly.

Format of dtype_golden.json
---------------------------
  f32_to_half   [[f32 bits, f16 bits, bf16 bits]]  torch.tensor(x).to(float16 / bfloat16).view(int16), x float32
  f64_to_half   [[f64 hex, f16 bits, bf16 bits]]   from float64 (PyTorch rounds to float32 first: double rounding)
  to_uint8      {"f32": [[bits, u8]], "f64": [[hex, u8]], "f16": [[bits, u8]], "i64": [[v, u8]], "i32": [[v, u8]]}
  uint8_ops     {"a", "b": [u8], "add", "sub", "mul", "neg", "maximum", "minimum", "lt", "eq", "pow" (a ** (b % 4)),
                 "add_300" (a + 300, a Python int), "mul_neg1" (a * -1), "mul_half" (a * 0.5 as f32 bits), "sum", "cumsum" and their dtypes}
  half_ops      per dtype ("float16", "bfloat16"): {"shape", "a", "b" (bits), "add", "sub", "mul", "div", "maximum",
                 "exp", "tanh", "sum1" (sum over axis 1), "matmul" (a @ b.T), "softmax1", "to_f32", and a with Python
                 numbers: "mul_scalar" (a * 0.1), "add_scalar", "rsub_scalar" (0.3 - a), "div_scalar" (a / 3),
                 "rdiv_scalar" (1.5 / a), "lt_scalar" (a < 0.1, bools)}
                 results as bit patterns of the same dtype
  mixed         [[dtype a, dtype b, result dtype, a bits/values, b bits/values, result (bits for floats)]]
  promote       [[dtype a, dtype b, torch.promote_types(a, b)]] over Ember's eight dtypes

NaN caveat: PyTorch's bit pattern for a NaN depends on which of its kernels ran (bfloat16: 0xFFFF from the AVX2/512
kernels, 0x7FC0 from the scalar one). The tests hold NaN results to being NaN; Ember's own NaN rule (sign and payload
kept, made quiet) is tested separately.
"""
import json
import os
import struct
import sys

import numpy as np
import torch

torch.set_num_threads(1)
rng = np.random.default_rng(20261130)
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")


def f32_bits(x):
    return struct.unpack("<I", struct.pack("<f", x))[0]


def bits_f32(b):
    return struct.unpack("<f", struct.pack("<I", b))[0]


def f64_hex(x):
    return "%016x" % struct.unpack("<Q", struct.pack("<d", x))[0]


def f32_tensor(bits):
    return torch.tensor(np.array(bits, dtype=np.uint32).view(np.int32)).view(torch.float32)


def half_bits(t):
    return [v & 0xFFFF for v in t.contiguous().view(torch.int16).flatten().tolist()]


def float_bits(t):
    return [v & 0xFFFFFFFF for v in t.contiguous().view(torch.int32).flatten().tolist()]


def from_half_bits(bits, dtype, shape=None):
    t = torch.tensor(np.array(bits, dtype=np.uint16).view(np.int16)).view(dtype)
    return t.reshape(shape) if shape else t


# ---- float32 -> float16 / bfloat16 -------------------------------------------------------------------------------
special = [0.0, -0.0, 1.0, -1.0, 65504.0, 65519.99, 65520.0, -65520.0, 65536.0, 1e10, -1e10, 3.4028234663852886e38,
           float("inf"), float("-inf"),
           2.0 ** -24, -(2.0 ** -24), 2.0 ** -25, 2.0 ** -25 * 1.0000001, 1.5 * 2.0 ** -24, 2.5 * 2.0 ** -24,
           3.5 * 2.0 ** -24, 2.0 ** -14, 2.0 ** -14 - 2.0 ** -25, 2.0 ** -14 - 2.0 ** -24, 1023.5 * 2.0 ** -24,
           2.0 ** -26, 1e-45, -1e-45, 1.1754942e-38, 1e-40, 2.0 ** -126, 2.0 ** -133, 2.0 ** -133 * 1.5,
           0.1, 1.0 / 3.0, 2.0 / 3.0, 3.14159265, 1e-3, 6e-5, 6.1e-5, 100000.0, 0.5, 2048.5, 2049.0, 4097.0]
halfway = []
for e in (-13, -5, 0, 3, 10, 15):
    for m in (0, 1, 2, 3, 1022, 1023):
        # float16 halfway points (ties), and one float32 ulp either side
        base = (1 + m / 1024) * 2.0 ** e
        tie = base + 2.0 ** (e - 11)
        halfway += [tie, np.nextafter(np.float32(tie), np.float32(np.inf)).item(),
                    np.nextafter(np.float32(tie), np.float32(-np.inf)).item()]
    for m in (0, 1, 126, 127):
        base = (1 + m / 128) * 2.0 ** e
        tie = base + 2.0 ** (e - 8)      # bfloat16 ties
        halfway += [tie, -tie, np.nextafter(np.float32(tie), np.float32(np.inf)).item()]
bits = [f32_bits(np.float32(x).item()) for x in special + halfway]
bits += [0x7FC00000, 0xFFC00000, 0x7F800001, 0x7FC01234, 0xFFFFFFFF, 0x7FBFFFFF, 0x7F802000]   # NaNs
bits += [0x7F7FFFFF, 0x477FEFFF, 0x477FF000, 0x477FF001, 0x33000000, 0x33000001, 0x387FC000, 0x387FE000,
         0x387FFFFF, 0x00000001, 0x807FFFFF, 0x3F808000, 0x3F818000, 0x3F808001, 0x7F7F8000, 0x7F7F7FFF]
# random float32 bit patterns: all exponents, and the float16 range densely
bits += [int(b) for b in rng.integers(0, 2 ** 32, size=1500, dtype=np.uint64)]
bits += [f32_bits(np.float32(x).item()) for x in rng.uniform(-70000, 70000, size=500)]
bits += [f32_bits(np.float32(x).item()) for x in rng.standard_normal(500) * 2.0 ** rng.integers(-30, 10, size=500)]
x = f32_tensor(bits)
f32_to_half = [[b, h, bf] for b, h, bf in zip(bits, half_bits(x.to(torch.float16)), half_bits(x.to(torch.bfloat16)))]

# ---- float64 -> float16 / bfloat16 (PyTorch rounds to float32 first) ---------------------------------------------
d = [1 + 2.0 ** -11 + 2.0 ** -40, 1 + 2.0 ** -8 + 2.0 ** -40, 1 + 2.0 ** -11 - 2.0 ** -40, -(1 + 2.0 ** -11 + 2.0 ** -40),
     1e300, -1e300, 1e-300, 65519.999999, 65520.0, 0.1, 1.0 / 3.0, float("nan"), float("inf"), -0.0, 2.0 ** -25,
     2.0 ** -25 + 2.0 ** -60]
d += list(rng.standard_normal(200) * 2.0 ** rng.integers(-30, 20, size=200))
xd = torch.tensor(d, dtype=torch.float64)
f64_to_half = [[f64_hex(v), h, bf] for v, h, bf in zip(d, half_bits(xd.to(torch.float16)), half_bits(xd.to(torch.bfloat16)))]

# ---- to uint8 ----------------------------------------------------------------------------------------------------
fvals = [0.0, -0.0, 0.7, 1.5, -1.5, 255.0, 255.9, 256.0, 300.7, -1.0, -255.0, -256.0, -257.5, 1e10, -1e10, 1e20,
         float("inf"), float("-inf"), float("nan"), 2.0 ** 31 + 5, 2.0 ** 32 + 3, 2.0 ** 40 + 7, -(2.0 ** 40) - 7,
         9.3e18, -9.3e18, 127.5, 128.0, -128.0, -0.9]
fvals += list(rng.uniform(-1000, 1000, size=100))
f32b = [f32_bits(np.float32(v).item()) for v in fvals]
to_uint8 = {
    "f32": [[b, u] for b, u in zip(f32b, f32_tensor(f32b).to(torch.uint8).tolist())],
    "f64": [[f64_hex(v), u] for v, u in zip(fvals, torch.tensor(fvals, dtype=torch.float64).to(torch.uint8).tolist())],
}
h16 = half_bits(torch.tensor(fvals, dtype=torch.float32).to(torch.float16))
to_uint8["f16"] = [[b, u] for b, u in zip(h16, from_half_bits(h16, torch.float16).to(torch.uint8).tolist())]
ivals = [0, 1, -1, 255, 256, 257, -256, -257, 1000, -1000, 2 ** 40 + 3, -(2 ** 40) - 3, 2 ** 63 - 1, -(2 ** 63)]
to_uint8["i64"] = [[v, u] for v, u in zip(ivals, torch.tensor(ivals, dtype=torch.int64).to(torch.uint8).tolist())]
ivals32 = [0, 1, -1, 255, 256, 257, -256, 2 ** 31 - 1, -(2 ** 31)]
to_uint8["i32"] = [[v, u] for v, u in zip(ivals32, torch.tensor(ivals32, dtype=torch.int32).to(torch.uint8).tolist())]

# ---- uint8 arithmetic --------------------------------------------------------------------------------------------
a = torch.tensor(list(rng.integers(0, 256, size=30)) + [0, 255, 128, 1], dtype=torch.uint8)
b = torch.tensor(list(rng.integers(0, 256, size=30)) + [255, 255, 128, 0], dtype=torch.uint8)
uint8_ops = {
    "a": a.tolist(), "b": b.tolist(), "add": (a + b).tolist(), "sub": (a - b).tolist(), "mul": (a * b).tolist(),
    "neg": (-a).tolist(), "maximum": torch.maximum(a, b).tolist(), "minimum": torch.minimum(a, b).tolist(),
    "lt": (a < b).tolist(), "eq": (a == b).tolist(), "pow": a.pow(b % 4).tolist(), "add_300": (a + 300).tolist(),
    "mul_neg1": (a * -1).tolist(), "mul_half": float_bits(a * 0.5), "div": float_bits(a / torch.clamp(b, min=1)),
    "sum_dtype": str(a.sum().dtype).replace("torch.", ""), "sum": a.sum().item(), "cumsum": a.cumsum(0).tolist(),
    "cumsum_dtype": str(a.cumsum(0).dtype).replace("torch.", ""),
}
assert (a * 0.5).dtype == torch.float32 and (a + 300).dtype == torch.uint8

# ---- float16 / bfloat16 compute (in float32, rounded once per op) -----------------------------------------------
half_ops = {}
for dt in (torch.float16, torch.bfloat16):
    shape = [4, 8]
    av = torch.tensor(rng.standard_normal(shape) * 3, dtype=torch.float32).to(dt)
    bv = torch.tensor(rng.standard_normal(shape) * 3, dtype=torch.float32).to(dt)
    name = str(dt).replace("torch.", "")
    half_ops[name] = {
        "shape": shape, "a": half_bits(av), "b": half_bits(bv),
        "add": half_bits(av + bv), "sub": half_bits(av - bv), "mul": half_bits(av * bv), "div": half_bits(av / bv),
        "maximum": half_bits(torch.maximum(av, bv)), "exp": half_bits(av.exp()), "tanh": half_bits(av.tanh()),
        "sum1": half_bits(av.sum(1)), "matmul": half_bits(av @ bv.T), "softmax1": half_bits(torch.softmax(av, 1)),
        "mul_scalar": half_bits(av * 0.1), "to_f32": float_bits(av.float()),
        # Python numbers stay float32 in half arithmetic (opmath); comparisons are exact
        "add_scalar": half_bits(av + 0.1), "rsub_scalar": half_bits(0.3 - av), "div_scalar": half_bits(av / 3.0),
        "rdiv_scalar": half_bits(1.5 / av), "lt_scalar": (av < 0.1).flatten().tolist(),
    }

# ---- mixed dtypes --------------------------------------------------------------------------------------------
mixed = []
h = torch.tensor([1.5, -2.25, 1000.0, 0.1], dtype=torch.float16)
bf = torch.tensor([1.5, -2.25, 1000.0, 0.1], dtype=torch.bfloat16)
f = torch.tensor([0.1, 0.2, 0.3, 1e-3], dtype=torch.float32)
u = torch.tensor([1, 2, 200, 255], dtype=torch.uint8)
i = torch.tensor([-1, 2, 70000, 3], dtype=torch.int64)
for (na, ta), (nb, tb) in [(("float16", h), ("bfloat16", bf)), (("float16", h), ("float32", f)),
                           (("bfloat16", bf), ("float32", f)), (("uint8", u), ("float16", h)),
                           (("uint8", u), ("bfloat16", bf)), (("int64", i), ("float16", h)),
                           (("uint8", u), ("float32", f)), (("uint8", u), ("int64", i))]:
    r = ta + tb
    enc = lambda t: half_bits(t) if t.dtype in (torch.float16, torch.bfloat16) else (float_bits(t) if t.dtype == torch.float32 else t.tolist())
    mixed.append([na, nb, str(r.dtype).replace("torch.", ""), enc(ta), enc(tb), enc(r)])

names = ["float32", "float64", "int32", "int64", "bool", "uint8", "float16", "bfloat16"]
tdt = {n: getattr(torch, n) for n in names}
promote = [[x, y, str(torch.promote_types(tdt[x], tdt[y])).replace("torch.", "")] for x in names for y in names]

out = {"generator": "scripts/golden/make_dtype_golden.py", "torch": torch.__version__, "numpy": np.__version__,
       "f32_to_half": f32_to_half, "f64_to_half": f64_to_half, "to_uint8": to_uint8, "uint8_ops": uint8_ops,
       "half_ops": half_ops, "mixed": mixed, "promote": promote}
path = os.path.join(ROOT, "Tests/EmberCoreTests/Fixtures/dtype_golden.json")
with open(path, "w") as fh:
    json.dump(out, fh, separators=(",", ":"))
    fh.write("\n")
print("wrote", path, os.path.getsize(path), "bytes")

# ---- a small Hugging Face style checkpoint ------------------------------------------------------------------------
from safetensors.torch import save_file  # noqa: E402

w = torch.tensor(rng.standard_normal((3, 4)), dtype=torch.float32)
tensors = {
    "encoder.weight": w.to(torch.float16),
    "encoder.bias": torch.tensor([0.1, -65504.0, 1e-7, float("inf")], dtype=torch.float32).to(torch.float16),
    "decoder.weight": (w * 1000).to(torch.bfloat16).T.contiguous(),
    "decoder.bias": torch.tensor([0.1, 3.0e38, -1e-39, 1.0], dtype=torch.float32).to(torch.bfloat16),
    "embeddings.position_ids": torch.arange(4, dtype=torch.int64).reshape(1, 4),
    "image": torch.tensor([[0, 17, 128, 255]], dtype=torch.uint8),
}
st_path = os.path.join(ROOT, "Tests/EmberIOTests/Fixtures/hf_half.safetensors")
os.makedirs(os.path.dirname(st_path), exist_ok=True)
save_file(tensors, st_path, metadata={"format": "pt"})
expected = {k: {"dtype": str(t.dtype).replace("torch.", ""), "shape": list(t.shape), "float32": float_bits(t.float())}
            for k, t in tensors.items() if t.dtype in (torch.float16, torch.bfloat16)}
expected["embeddings.position_ids"] = {"dtype": "int64", "shape": [1, 4], "values": [0, 1, 2, 3]}
expected["image"] = {"dtype": "uint8", "shape": [1, 4], "values": [0, 17, 128, 255]}
jpath = os.path.join(ROOT, "Tests/EmberIOTests/Fixtures/hf_half_float32.json")
with open(jpath, "w") as fh:
    json.dump({"generator": "scripts/golden/make_dtype_golden.py", "torch": torch.__version__, "tensors": expected},
              fh, indent=1, sort_keys=True)
    fh.write("\n")
print("wrote", st_path, os.path.getsize(st_path), "bytes;", jpath, os.path.getsize(jpath), "bytes")
