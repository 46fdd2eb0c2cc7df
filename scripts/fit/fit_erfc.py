#!/usr/bin/env python3
"""Fits the coefficients of Ember's erfc approximation (CEmberKernels/kernels_impl.h, vnormcdf, used by GELU).

Form: erfc(z) ~= t * exp(-z^2 + Q(t)), t = 1 / (1 + z/2), z >= 0, Q a polynomial of degree 9 in t. On z in [0, inf)
t runs over (0, 1]; Q(t) = log(erfc(z) / t) + z^2 is smooth there (as z -> inf, erfc(z) ~ exp(-z^2) / (z sqrt(pi))
and Q tends to log(1 / (2 sqrt(pi)))), so a polynomial fits it closely. The fit: least squares in a Chebyshev basis on t in [t(9.3), 1] (below, erfc is under
1e-38 and Phi rounds to 0 or 1 in float32), then a few rounds of Lawson-style reweighting towards minimax of the
relative error of erfc; coefficients printed in float32, highest degree first (Horner order), with the worst
relative error of erfc in float64 arithmetic for the float32 coefficients.

Run: /path/to/venv-with-numpy-scipy/bin/python scripts/fit/fit_erfc.py
"""
import numpy as np
from scipy.special import erfc

DEG = 9
z = np.concatenate([np.linspace(0, 4, 40001), np.linspace(4, 9.3, 20001)[1:]])
t = 1 / (1 + z / 2)
q = np.log(erfc(z) / t) + z * z
lo, hi = t.min(), 1.0
u = (2 * t - (lo + hi)) / (hi - lo)            # t mapped to [-1, 1]
V = np.polynomial.chebyshev.chebvander(u, DEG)
w = np.ones_like(u)
for _ in range(30):
    c, *_ = np.linalg.lstsq(V * w[:, None], q * w, rcond=None)
    err = V @ c - q                            # absolute error of Q = relative error of erfc (to first order)
    w = w * np.sqrt(np.abs(err) / np.abs(err).max() + 1e-3)
# Chebyshev in u -> power series in t
cheb = np.polynomial.Chebyshev(c, domain=[lo, hi])
power = cheb.convert(kind=np.polynomial.Polynomial).coef   # ascending powers of t
coef32 = power.astype(np.float32)
def approx(zz):
    tt = 1 / (1 + zz / 2)
    p = np.zeros_like(tt)
    for a in coef32[::-1]:
        p = p * tt + np.float64(a)
    return tt * np.exp(-zz * zz + p)
zz = np.linspace(0, 9.3, 400001)
rel = np.abs(approx(zz) / erfc(zz) - 1)
print("horner (highest degree first):", ", ".join(f"{float(a):.9g}f" for a in coef32[::-1]))
print(f"worst relative error of erfc on [0, 9.3] with float32 coefficients, float64 arithmetic: {rel.max():.3e}")
