#!/usr/bin/env python3
"""Golden fixtures for EmberData's tests (Tests/EmberDataTests/Fixtures).

Setup (once):
    python3 -m venv /work/.venv-sk && /work/.venv-sk/bin/pip install scikit-learn==1.9.1 numpy
Run from the repository root:
    /work/.venv-sk/bin/python scripts/golden/make_data_golden.py

Writes:
  npy/*.npy, npy/*.npz   arrays saved by NumPy itself (np.save / np.savez / np.savez_compressed), with their
                         expected contents in npy/expected.json, for the .npy/.npz readers.
  prep/golden.json       scikit-learn 1.9.1 results for the preparation steps (imputers, scalers, encoders) and
                         the deterministic parts of the splitters (fold membership, split sizes, class counts).
                         NaN is written as null.
"""
import json
import os

import numpy as np

ROOT = os.path.join(os.path.dirname(__file__), "..", "..", "Tests", "EmberDataTests", "Fixtures")


def write_npy():
    out = os.path.join(ROOT, "npy")
    os.makedirs(out, exist_ok=True)
    arrays = {
        "f4_2x3": np.arange(6, dtype="<f4").reshape(2, 3) / 4,
        "f8_fortran_3x2": np.asfortranarray(np.array([[1.5, -2.0], [3.25, 4.0], [5.0, -6.5]], dtype="<f8")),
        "i8_1d": np.array([-3, 0, 7, 2**40], dtype="<i8"),
        "u1_2x2": np.array([[0, 255], [17, 128]], dtype="|u1"),
        "b1_3": np.array([True, False, True]),
        "f2_4": np.array([0.5, -1.0, 65504.0, 6e-8], dtype="<f2"),
        "i4_big_endian": np.array([1, -2, 300000], dtype=">i4"),
        "i2_2x2": np.array([[-32768, 1], [2, 32767]], dtype="<i2"),
        "u4_2": np.array([0, 4000000000], dtype="<u4"),
        "f4_scalar": np.array(3.5, dtype="<f4"),
        "f4_empty_0x3": np.zeros((0, 3), dtype="<f4"),
        "f8_3d_fortran": np.asfortranarray(np.arange(24, dtype="<f8").reshape(2, 3, 4)),
    }
    expected = {}
    for name, a in arrays.items():
        np.save(os.path.join(out, name + ".npy"), a)
        expected[name] = {
            "shape": list(a.shape),
            "values": [float(v) if a.dtype.kind == "f" else int(v) for v in np.ascontiguousarray(a).reshape(-1)],
        }
    np.savez(os.path.join(out, "stored.npz"), a=arrays["f4_2x3"], b=arrays["i8_1d"])
    np.savez_compressed(os.path.join(out, "compressed.npz"), x=arrays["f8_fortran_3x2"], y=arrays["u1_2x2"],
                        big=np.linspace(0, 1, 1000, dtype="<f4"))
    with open(os.path.join(out, "expected.json"), "w") as f:
        json.dump(expected, f, sort_keys=True)
        f.write("\n")


def nan_to_none(v):
    if isinstance(v, (list, tuple)):
        return [nan_to_none(x) for x in v]
    if isinstance(v, np.ndarray):
        return nan_to_none(v.tolist())
    if isinstance(v, (float, np.floating)) and np.isnan(v):
        return None
    if isinstance(v, np.floating):
        return float(v)
    if isinstance(v, np.integer):
        return int(v)
    return v


def write_prep():
    from sklearn.datasets import load_wine
    from sklearn.impute import SimpleImputer
    from sklearn.model_selection import KFold, StratifiedKFold, StratifiedShuffleSplit, train_test_split
    from sklearn.preprocessing import MinMaxScaler, OneHotEncoder, OrdinalEncoder, RobustScaler, StandardScaler

    out = os.path.join(ROOT, "prep")
    os.makedirs(out, exist_ok=True)
    wine = load_wine()
    x = wine.data[:, :5].copy()
    x = np.column_stack([x, np.round(wine.data[:, 5]), np.full(len(x), 7.0)])  # a discrete and a constant column
    rng = np.random.default_rng(0)
    x[rng.random(x.shape) < 0.1] = np.nan                                      # ~10% missing
    x[:, 6] = np.where(np.isnan(x[:, 6]), np.nan, 7.0)
    train, test = x[:120], x[120:]
    g = {"train": nan_to_none(train), "test": nan_to_none(test)}

    # Imputers: an all-missing column is added so keep_empty_features matters.
    empty_train = np.column_stack([train, np.full(len(train), np.nan)])
    empty_test = np.column_stack([test, np.full(len(test), np.nan)])
    g["imputer_train"], g["imputer_test"] = nan_to_none(empty_train), nan_to_none(empty_test)
    for name, kwargs in {"mean": {}, "median": {"strategy": "median"}, "most_frequent": {"strategy": "most_frequent"},
                         "constant": {"strategy": "constant", "fill_value": -1.5}}.items():
        imp = SimpleImputer(keep_empty_features=True, **kwargs).fit(empty_train)
        g["imputer_" + name] = {"statistics": nan_to_none(imp.statistics_), "test": nan_to_none(imp.transform(empty_test))}

    s = StandardScaler().fit(train)
    g["standard"] = {"mean": nan_to_none(s.mean_), "scale": nan_to_none(s.scale_), "test": nan_to_none(s.transform(test))}
    m = MinMaxScaler(feature_range=(-1, 2)).fit(train)
    g["minmax"] = {"min": nan_to_none(m.data_min_), "max": nan_to_none(m.data_max_), "scale": nan_to_none(m.scale_),
                   "test": nan_to_none(m.transform(test))}
    for name, q in {"robust": (25.0, 75.0), "robust_10_90": (10.0, 90.0)}.items():
        r = RobustScaler(quantile_range=q).fit(train)
        g[name] = {"center": nan_to_none(r.center_), "scale": nan_to_none(r.scale_), "test": nan_to_none(r.transform(test))}

    # Missing categories are np.nan (scikit-learn treats None as an ordinary category, NaN as missing).
    nan = np.nan
    cat_train = np.array([["red", "S", "b"], ["blue", "M", "a"], ["red", nan, "a"], ["Green", "L", "c"],
                          ["blue", "S", "b"], ["éclair", "M", "a"]], dtype=object)
    cat_test = np.array([["blue", "L", "a"], ["purple", "S", "c"], ["red", nan, "z"]], dtype=object)
    g["cat_train"], g["cat_test"] = nan_to_none(cat_train.tolist()), nan_to_none(cat_test.tolist())
    oh = OneHotEncoder(handle_unknown="ignore", sparse_output=False).fit(cat_train)
    g["onehot"] = {"categories": [[None if not isinstance(c, str) else c for c in cats] for cats in oh.categories_],
                   "names": [str(n) for n in oh.get_feature_names_out()], "test": oh.transform(cat_test).tolist()}
    od = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1).fit(cat_train)
    g["ordinal"] = {"categories": [[c for c in cats if isinstance(c, str)] for cats in od.categories_],
                    "test": nan_to_none(od.transform(cat_test))}

    g["kfold_23_5"] = [test_idx.tolist() for _, test_idx in KFold(5).split(np.zeros(23))]
    labels = [2, 0, 1, 1, 0, 2, 2, 1, 0, 0, 1, 2, 2, 2, 1, 0, 3, 3, 1, 1, 2, 0, 3]
    g["skfold_labels"] = labels
    g["skfold_4"] = [test_idx.tolist() for _, test_idx in StratifiedKFold(4).split(np.zeros(len(labels)), labels)]
    g["wine_labels"] = wine.target.tolist()
    g["skfold_wine_3"] = [test_idx.tolist() for _, test_idx in StratifiedKFold(3).split(wine.data, wine.target)]

    sizes = []
    for n, frac in [(10, 0.25), (178, 0.25), (150, 0.2), (7, 0.5), (1000, 0.333)]:
        tr, te = train_test_split(np.arange(n), test_size=frac, random_state=0)
        sizes.append({"n": n, "test_fraction": frac, "train": len(tr), "test": len(te)})
    g["split_sizes"] = sizes
    strat = []
    synthetic = [0] * 7 + [1] * 13 + [2] * 5
    for name, y, frac in [("wine", wine.target, 0.25), ("synthetic", np.array(synthetic), 0.3)]:
        tr, te = next(StratifiedShuffleSplit(1, test_size=frac, random_state=0).split(np.zeros(len(y)), y))
        strat.append({"name": name, "labels": y.tolist(), "test_fraction": frac,
                      "train_counts": np.bincount(y[tr]).tolist(), "test_counts": np.bincount(y[te]).tolist()})
    g["stratified_counts"] = strat

    with open(os.path.join(out, "golden.json"), "w") as f:
        json.dump(g, f, allow_nan=False)
        f.write("\n")


if __name__ == "__main__":
    write_npy()
    write_prep()
    print("wrote", os.path.abspath(ROOT))
