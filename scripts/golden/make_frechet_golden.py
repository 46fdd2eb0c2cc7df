#!/usr/bin/env python3
"""Golden Fréchet distances (FID's formula) from numpy and scipy, for EmberMetrics' frechetDistance.

Writes Tests/EmberMetricsTests/Fixtures/frechet_golden.json, read by Tests/EmberMetricsTests/FrechetDistanceTests.swift.

Regenerate
----------
    /work/.venv-torch/bin/python scripts/golden/make_frechet_golden.py      # numpy, scipy, mpmath

Each case holds two feature sets a [N, D] and b [M, D] (float64) and the distance computed as pytorch-fid does:
    mu = features.mean(0); sigma = np.cov(features, rowvar=False)
    covmean = scipy.linalg.sqrtm(sigma1 @ sigma2); (real part)
    fd = |mu1 - mu2|^2 + tr(sigma1) + tr(sigma2) - 2 tr(covmean)
and the means and covariances. Cases: correlated Gaussians with different means and covariances; identical sets
(distance 0); shifted copies (distance = |shift|^2); and rank-deficient covariances (N < D), where sqrtm is
least accurate: there the reference uses sqrtm of the symmetric form sqrt(S1) S2 sqrt(S1), which has the same
trace, computed with scipy.linalg.sqrtm in both steps.

`fd_exact` is the same distance computed from the same float64 data in 50-digit arithmetic (mpmath: means,
covariances and symmetric eigendecompositions): the value itself, not one float64 computation of it. scipy's
`fd` is as close to it as float64 rounding lets sqrtm get: ~1e-13 for the well-conditioned cases, but for the
rank-deficient one the square roots of eigenvalues that are exactly zero (rounded to +-1e-15) put it ~1e-7 off,
and another float64 computation (another BLAS, CPU or summation order) lands elsewhere within that noise.

Format: {"generator", "numpy", "scipy", "mpmath", "seed", "cases": [{name, a: {shape, data}, b: {shape, data},
mean_a, cov_a, mean_b, cov_b, fd, fd_exact, reference_spread}]} -- float64 values written with Python's repr.
"""

import json
import os

import mpmath
import numpy as np
import scipy
import scipy.linalg

SEED = 23
rng = np.random.default_rng(SEED)


def tensor_json(x):
    return {"shape": list(x.shape), "data": [float(v) for v in x.reshape(-1)]}


def fid(a, b, symmetric=False):
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    if symmetric:
        r = scipy.linalg.sqrtm(s1).real
        covmean = scipy.linalg.sqrtm(r @ s2 @ r)
    else:
        covmean = scipy.linalg.sqrtm(s1.dot(s2))
    covmean = covmean.real
    diff = mu1 - mu2
    return float(diff.dot(diff) + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean)), mu1, s1, mu2, s2


def fid_exact(a, b):
    """FID's formula from a and b in 50-digit arithmetic, through sqrt(S1) S2 sqrt(S1) (same trace as S1 S2)."""
    with mpmath.workdps(50):
        def stats(x):
            n, d = x.shape
            rows = [[mpmath.mpf(float(v)) for v in row] for row in x]
            mu = [mpmath.fsum(rows[i][j] for i in range(n)) / n for j in range(d)]
            s = mpmath.matrix(d, d)
            for p in range(d):
                for q in range(p, d):
                    s[p, q] = s[q, p] = mpmath.fsum((rows[i][p] - mu[p]) * (rows[i][q] - mu[q]) for i in range(n)) / (n - 1)
            return mu, s
        (mu1, s1), (mu2, s2) = stats(a), stats(b)
        d = len(mu1)
        e, q = mpmath.eigsy(s1)
        r = q * mpmath.diag([mpmath.sqrt(max(v, 0)) for v in e]) * q.T
        m = r * s2 * r
        e2, _ = mpmath.eigsy((m + m.T) / 2)
        fd = (mpmath.fsum((mu1[j] - mu2[j]) ** 2 for j in range(d)) + mpmath.fsum(s1[i, i] + s2[i, i] for i in range(d))
              - 2 * mpmath.fsum(mpmath.sqrt(max(v, 0)) for v in e2))
        return float(fd)


def case(name, a, b, symmetric=False):
    fd, mu1, s1, mu2, s2 = fid(a, b, symmetric)
    # How far scipy's two equivalent formulas (sqrtm of S1 S2, and of sqrt(S1) S2 sqrt(S1)) disagree: the reference's
    # own uncertainty, large only for singular covariances (square roots of ~0 eigenvalues amplify rounding).
    spread = abs(fid(a, b, False)[0] - fid(a, b, True)[0])
    return {"name": name, "reference_spread": spread, "a": tensor_json(a), "b": tensor_json(b), "mean_a": [float(v) for v in mu1],
            "cov_a": [float(v) for v in s1.reshape(-1)], "mean_b": [float(v) for v in mu2],
            "cov_b": [float(v) for v in s2.reshape(-1)], "fd": fd, "fd_exact": fid_exact(a, b)}


def main():
    d = 6
    mix1, mix2 = rng.normal(0, 1, (d, d)), rng.normal(0, 0.7, (d, d))
    a = rng.normal(0, 1, (300, d)) @ mix1 + rng.normal(0, 1, d)
    b = rng.normal(0, 1, (250, d)) @ mix2 + rng.normal(0.5, 1, d)
    cases = [case("gaussians_6d", a, b)]
    c = rng.normal(0, 1, (120, 16)) @ rng.normal(0, 1, (16, 16))
    cases.append(case("identical_16d", c, c.copy()))
    shift = rng.normal(0, 1, 16)
    cases.append(case("shifted_16d", c, c + shift))
    e, f = rng.normal(0, 1, (8, 12)), rng.normal(0.3, 1.2, (10, 12))
    cases.append(case("rank_deficient_12d", e, f, symmetric=True))
    out = {"generator": "scripts/golden/make_frechet_golden.py", "numpy": np.__version__, "scipy": scipy.__version__,
           "mpmath": mpmath.__version__, "seed": SEED, "cases": cases}
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "Tests", "EmberMetricsTests", "Fixtures",
                        "frechet_golden.json")
    with open(path, "w") as fh:
        json.dump(out, fh)
        fh.write("\n")
    print("wrote", os.path.normpath(path), [(k["name"], k["fd"], k["fd_exact"]) for k in cases])


if __name__ == "__main__":
    main()
