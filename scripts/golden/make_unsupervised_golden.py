#!/usr/bin/env python3
"""scikit-learn golden values for EmberUnsupervised (PCA, k-means) and EmberMetrics' clustering metrics.

Writes Tests/EmberUnsupervisedTests/Fixtures/unsupervised_golden.json, read by Tests/EmberUnsupervisedTests. Every
expected number is what scikit-learn 1.9.1 returns on the inputs stored beside it (or, for the digits cases, on the
digits data set that EmberData ships: the fixture stores its shape and sum so the test can check it reads the same
data). Ember's own output is never an expected value.

Regenerate
----------
    /work/.venv-torch/bin/python scripts/golden/make_unsupervised_golden.py
    OPENBLAS_NUM_THREADS=1 swift test --filter EmberUnsupervisedTests

Deterministic: fixed numpy seeds.

Sections
--------
pca       PCA(svd_solver="full") fits: n_components as a count, as a variance fraction, None, whiten; components_
          (svd_flip convention), explained_variance_(ratio_), singular_values_, mean_, noise_variance_, and
          transform / inverse_transform of the first rows.
kmeans    KMeans(init=<given centres>, n_init=1, algorithm="lloyd") with several max_iter / tol: labels_, inertia_,
          cluster_centers_, n_iter_.
labelings pairs of label vectors: adjusted_rand_score, normalized_mutual_info_score (average_method="arithmetic"),
          including a single cluster, all singletons, permuted names, negative labels and empty input.
silhouette  silhouette_score and silhouette_samples (euclidean) on small point sets, incl. a singleton cluster, and
          the ValueError for a single label.
"""
import json
import os

import numpy as np
import sklearn
from sklearn.cluster import KMeans
from sklearn.datasets import load_digits, make_blobs
from sklearn.decomposition import PCA
from sklearn.metrics import (adjusted_rand_score, normalized_mutual_info_score, silhouette_samples,
                             silhouette_score)

assert sklearn.__version__ == "1.9.1", sklearn.__version__
OUT = os.path.join(os.path.dirname(__file__), "..", "..", "Tests", "EmberUnsupervisedTests", "Fixtures",
                   "unsupervised_golden.json")


def tolist(a):
    return np.asarray(a, dtype=np.float64).tolist()


digits = load_digits().data.astype(np.float64)
rng = np.random.default_rng(17)

# ---- PCA
pca_cases = []


def pca_case(name, X, store_x, **kw):
    p = PCA(svd_solver="full", **kw).fit(X)
    rows = X[:5]
    t = p.transform(rows)
    case = {
        "name": name, "params": {k: v for k, v in kw.items()},
        "n_components_": int(p.n_components_), "components": tolist(p.components_),
        "explained_variance": tolist(p.explained_variance_),
        "explained_variance_ratio": tolist(p.explained_variance_ratio_),
        "singular_values": tolist(p.singular_values_), "mean": tolist(p.mean_),
        "noise_variance": float(p.noise_variance_),
        "transform_first5": tolist(t), "inverse_first5": tolist(p.inverse_transform(t)),
    }
    if store_x:
        case["X"] = tolist(X)
    else:
        case["X"] = "digits"
    pca_cases.append(case)


correlated = rng.normal(size=(40, 6)) @ rng.normal(size=(6, 6)) + rng.normal(size=6) * 3
pca_case("correlated 40x6, all components", correlated, True)
pca_case("correlated 40x6, 3 components", correlated, True, n_components=3)
pca_case("correlated 40x6, whiten", correlated, True, n_components=4, whiten=True)
pca_case("correlated 40x6, 0.9 of the variance", correlated, True, n_components=0.9)
wide = rng.normal(size=(8, 15))
pca_case("wide 8x15 (fewer samples than features), 7 components", wide, True, n_components=7)
pca_case("digits, 10 components", digits, False, n_components=10)
pca_case("digits, 0.8 of the variance, whiten", digits, False, n_components=0.8, whiten=True)

# ---- k-means from given centres (Lloyd)
kmeans_cases = []


def kmeans_case(name, X, init, store_x, **kw):
    km = KMeans(n_clusters=len(init), init=init, n_init=1, algorithm="lloyd", **kw).fit(X)
    kmeans_cases.append({
        "name": name, "X": tolist(X) if store_x else "digits", "init": tolist(init), "params": kw,
        "labels": km.labels_.tolist(), "inertia": float(km.inertia_), "centers": tolist(km.cluster_centers_),
        "n_iter": int(km.n_iter_),
    })


blobs, _ = make_blobs(n_samples=90, centers=4, cluster_std=1.6, random_state=3)
kmeans_case("blobs 90x2, k=4, defaults", blobs, blobs[[0, 1, 2, 3]], True)
kmeans_case("blobs 90x2, k=3, max_iter=2", blobs, blobs[[5, 6, 7]], True, max_iter=2)
kmeans_case("blobs 90x2, k=5, tol=0.5", blobs, blobs[[10, 20, 30, 40, 50]], True, tol=0.5)
# Digits are small integers, so a row is often exactly as far from two integer initial centres; scikit-learn centres
# the data first and breaks such exact ties by rounding. Jittered initial centres make the golden well-posed.
jitter = np.random.default_rng(5).normal(scale=0.01, size=(2, 10, 64))
kmeans_case("digits, k=10 from rows 0..9 (jittered)", digits, digits[:10] + jitter[0], False)
kmeans_case("digits, k=10 from rows 100..109 (jittered), max_iter=5", digits, digits[100:110] + jitter[1], False, max_iter=5)

# ---- label pairs
labelings = []


def labeling(name, a, b):
    labelings.append({"name": name, "true": list(map(int, a)), "pred": list(map(int, b)),
                      "ari": float(adjusted_rand_score(a, b)),
                      "nmi": float(normalized_mutual_info_score(a, b, average_method="arithmetic"))})


r1 = rng.integers(0, 4, size=60)
r2 = rng.integers(0, 3, size=60)
labeling("random 4 vs 3 classes", r1, r2)
labeling("noisy copy", r1, np.where(rng.random(60) < 0.2, rng.integers(0, 4, size=60), r1))
labeling("same partition, permuted names", r1, (r1 + 2) % 4 * 10)
labeling("single cluster both", [0] * 12, [5] * 12)
labeling("single cluster vs 3", [0] * 12, [0, 1, 2] * 4)
labeling("all singletons vs 3", list(range(12)), [0, 1, 2] * 4)
labeling("all singletons both", list(range(12)), list(range(12, 0, -1)))
labeling("negative and sparse labels", [-1, -1, 7, 7, 100, 100, 100, -1], [3, 3, 3, -9, -9, 0, 0, 0])
labeling("two samples", [0, 1], [0, 0])
labeling("one sample", [4], [2])
labeling("empty", [], [])
big_a = rng.integers(0, 10, size=3000)
labeling("3000 samples, 10 vs 12", big_a, np.where(rng.random(3000) < 0.5, big_a, rng.integers(0, 12, size=3000)))

# ---- silhouette
silhouette = []


def sil_case(name, X, labels):
    case = {"name": name, "X": tolist(X), "labels": list(map(int, labels))}
    try:
        case["score"] = float(silhouette_score(X, labels))
        case["samples"] = tolist(silhouette_samples(X, labels))
    except ValueError as e:
        case["error"] = str(e)
    silhouette.append(case)


sb, sl = make_blobs(n_samples=40, centers=3, n_features=3, random_state=5)
sil_case("blobs 40x3, true labels", sb, sl)
sil_case("blobs 40x3, random labels", sb, rng.integers(0, 4, size=40))
sil_case("with a singleton cluster", sb[:10], [0, 0, 0, 1, 1, 1, 1, 2, 0, 1])
sil_case("single label", sb[:6], [3] * 6)
sil_case("all singletons", sb[:5], [0, 1, 2, 3, 4])
sil_case("n-1 labels", sb[:5], [0, 1, 2, 3, 3])

out = {"sklearn_version": sklearn.__version__,
       "digits": {"rows": digits.shape[0], "cols": digits.shape[1], "sum": float(digits.sum())},
       "pca": pca_cases, "kmeans": kmeans_cases, "labelings": labelings, "silhouette": silhouette}
with open(OUT, "w") as f:
    json.dump(out, f, separators=(",", ":"))
print("wrote", os.path.normpath(OUT), os.path.getsize(OUT), "bytes")
