#!/usr/bin/env python3
"""Golden Fréchet distances (FID's formula) from numpy and scipy, for EmberMetrics' frechetDistance.

Writes Tests/EmberMetricsTests/Fixtures/frechet_golden.json, read by Tests/EmberMetricsTests/FrechetDistanceTests.swift.

Regenerate
----------
    /work/.venv-torch/bin/python scripts/golden/make_frechet_golden.py      # numpy, scipy

Each case holds two feature sets a [N, D] and b [M, D] (float64) and the distance computed as pytorch-fid does:
    mu = features.mean(0); sigma = np.cov(features, rowvar=False)
    covmean = scipy.linalg.sqrtm(sigma1 @ sigma2); (real part)
    fd = |mu1 - mu2|^2 + tr(sigma1) + tr(sigma2) - 2 tr(covmean)
and the means and covariances. Cases: correlated Gaussians with different means and covariances; identical sets
(distance 0); shifted copies (distance = |shift|^2); and rank-deficient covariances (N < D), where sqrtm is
least accurate: there the reference uses sqrtm of the symmetric form sqrt(S1) S2 sqrt(S1), which has the same
trace, computed with scipy.linalg.sqrtm in both steps.

Format: {"generator", "numpy", "scipy", "seed", "cases": [{name, a: {shape, data}, b: {shape, data}, mean_a,
cov_a, mean_b, cov_b, fd, reference_spread}]} -- float64 values written with Python's repr.
"""

import json
import os

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


def case(name, a, b, symmetric=False):
    fd, mu1, s1, mu2, s2 = fid(a, b, symmetric)
    # How far scipy's two equivalent formulas (sqrtm of S1 S2, and of sqrt(S1) S2 sqrt(S1)) disagree: the reference's
    # own uncertainty, large only for singular covariances (square roots of ~0 eigenvalues amplify rounding).
    spread = abs(fid(a, b, False)[0] - fid(a, b, True)[0])
    return {"name": name, "reference_spread": spread, "a": tensor_json(a), "b": tensor_json(b), "mean_a": [float(v) for v in mu1],
            "cov_a": [float(v) for v in s1.reshape(-1)], "mean_b": [float(v) for v in mu2],
            "cov_b": [float(v) for v in s2.reshape(-1)], "fd": fd}


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
           "seed": SEED, "cases": cases}
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "Tests", "EmberMetricsTests", "Fixtures",
                        "frechet_golden.json")
    with open(path, "w") as fh:
        json.dump(out, fh)
        fh.write("\n")
    print("wrote", os.path.normpath(path), [(k["name"], k["fd"]) for k in cases])


if __name__ == "__main__":
    main()
