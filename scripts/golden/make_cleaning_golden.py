#!/usr/bin/env python3
"""Golden fixture for EmberData's cleaning and feature steps (Tests/EmberDataTests/Fixtures/prep/cleaning_golden.json).

Setup (once):
    python3 -m venv /work/.venv-sk && /work/.venv-sk/bin/pip install scikit-learn==1.9.1 numpy
Run from the repository root:
    /work/.venv-sk/bin/python scripts/golden/make_cleaning_golden.py

Contents:
  poly       scikit-learn 1.9.1 PolynomialFeatures: output names and transformed test rows for several
             (degree, interaction_only, include_bias) settings.
  kbins      scikit-learn 1.9.1 KBinsDiscretizer: bin_edges_, n_bins_ and transformed test rows for the uniform and
             quantile strategies (quantile with the 1.9 default quantile_method, recorded in kbins_default_method,
             and with "linear"), ordinal and onehot-dense encodings. Fitted on all rows (n < subsample).
  outliers   NumPy formulas for the outlier bounds on a table with NaN: IQR fences
             q1 - k*(q3 - q1), q3 + k*(q3 - q1) with q1, q3 = np.nanpercentile(col, [25, 75]) (linear method), and
             z-score limits np.nanmean(col) -/+ t*np.nanstd(col); the rows kept by removal (no value outside its
             column's bounds; NaN never an outlier), the clipped test table and the clip counts per column.
  missing    missing fraction per column (np.isnan(x).mean(axis=0)), the columns dropped for some thresholds
             (fraction > threshold), and the rows without NaN (in all columns, and in columns 0-3).
Non-finite numbers are written as the strings "NaN", "Infinity", "-Infinity" (as PreparationJSON reads them).
"""
import json
import os
import warnings

import numpy as np

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "Tests", "EmberDataTests", "Fixtures", "prep")


def plain(v):
    """NumPy values as JSON-ready Python values, non-finite floats as strings."""
    if isinstance(v, np.ndarray):
        return plain(v.tolist())
    if isinstance(v, (list, tuple)):
        return [plain(x) for x in v]
    if isinstance(v, (float, np.floating)):
        v = float(v)
        if np.isnan(v):
            return "NaN"
        if np.isinf(v):
            return "Infinity" if v > 0 else "-Infinity"
        return v
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, np.bool_):
        return bool(v)
    return v


def poly_cases(g, train, test):
    from sklearn.preprocessing import PolynomialFeatures

    cases = []
    settings = [(2, False, True), (2, True, False), (3, False, False), (3, True, True), (1, False, True),
                (0, False, True), (4, False, True), (5, True, True)]
    for degree, interaction, bias in settings:
        p = PolynomialFeatures(degree=degree, interaction_only=interaction, include_bias=bias).fit(train)
        cases.append({"degree": degree, "interaction_only": interaction, "include_bias": bias,
                      "names": [str(n) for n in p.get_feature_names_out()],
                      "names_abc": [str(n) for n in p.get_feature_names_out(["a", "b", "c"])],
                      "test": plain(p.transform(test))})
    g["poly_train"], g["poly_test"], g["poly"] = plain(train), plain(test), cases
    # One feature, degree 3.
    p1 = PolynomialFeatures(degree=3).fit(train[:, :1])
    g["poly_one"] = {"names": [str(n) for n in p1.get_feature_names_out()], "test": plain(p1.transform(test[:, :1]))}


def kbins_cases(g, train, test):
    from sklearn.preprocessing import KBinsDiscretizer

    g["kbins_default_method"] = KBinsDiscretizer().get_params()["quantile_method"]
    g["kbins_default_strategy"] = KBinsDiscretizer().get_params()["strategy"]
    cases = []
    settings = [("uniform", 3, None, "ordinal"), ("uniform", 5, None, "ordinal"), ("quantile", 3, None, "ordinal"),
                ("quantile", 4, None, "ordinal"), ("quantile", 7, None, "ordinal"), ("quantile", 4, "linear", "ordinal"),
                ("quantile", 7, "linear", "ordinal"), ("quantile", 4, None, "onehot-dense"),
                ("uniform", 3, None, "onehot-dense")]
    for strategy, n_bins, method, encode in settings:
        kwargs = {"n_bins": n_bins, "strategy": strategy, "encode": encode}
        if method is not None:
            kwargs["quantile_method"] = method
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")        # constant feature / narrow bins removed
            k = KBinsDiscretizer(**kwargs).fit(train)
        cases.append({"strategy": strategy, "n_bins": n_bins, "method": k.get_params()["quantile_method"],
                      "encode": encode, "edges": [plain(e) for e in k.bin_edges_], "n_bins_": plain(k.n_bins_),
                      "test": plain(k.transform(test))})
    g["kbins_train"], g["kbins_test"], g["kbins"] = plain(train), plain(test), cases


def outlier_cases(g, x, test):
    g["outlier_train"], g["outlier_test"] = plain(x), plain(test)
    cases = []
    for kind, param in [("iqr", 1.5), ("iqr", 3.0), ("iqr", 0.0), ("zscore", 3.0), ("zscore", 2.0), ("zscore", 1.0)]:
        if kind == "iqr":
            q1, q3 = np.nanpercentile(x, [25, 75], axis=0)
            iqr = q3 - q1
            lo, hi = q1 - param * iqr, q3 + param * iqr
        else:
            mean, std = np.nanmean(x, axis=0), np.nanstd(x, axis=0)
            lo, hi = mean - param * std, mean + param * std
        with np.errstate(invalid="ignore"):
            outside = (x < lo) | (x > hi)                        # NaN compares False: never an outlier
            test_outside = (test < lo) | (test > hi)
        kept = np.where(~outside.any(axis=1))[0]
        removed = np.where(outside.any(axis=1))[0]
        cases.append({"kind": kind, "param": param, "lower": plain(lo), "upper": plain(hi),
                      "kept": plain(kept), "removed": plain(removed),
                      "rows_per_column": plain(outside[removed].sum(axis=0)),
                      "clipped_test": plain(np.clip(test, lo, hi)),          # np.clip keeps NaN
                      "clipped_per_column": plain(test_outside.sum(axis=0))})
    g["outliers"] = cases


def missing_cases(g, x):
    frac = np.isnan(x).mean(axis=0)
    g["missing_train"] = plain(x)
    g["missing"] = {"fractions": plain(frac),
                    "dropped": {str(t): plain(np.where(frac > t)[0]) for t in [0.0, 0.1, 0.25, 0.5, 1.0]},
                    "complete_rows": plain(np.where(~np.isnan(x).any(axis=1))[0]),
                    "complete_rows_0_to_3": plain(np.where(~np.isnan(x[:, :4]).any(axis=1))[0])}


def main():
    from sklearn.datasets import load_wine

    os.makedirs(OUT, exist_ok=True)
    wine = load_wine().data
    g = {}

    # Polynomial features: three standardized-ish wine columns (negative and positive values).
    cols = wine[:, [0, 1, 9]]
    z = (cols - cols[:40].mean(axis=0)) / cols[:40].std(axis=0)
    poly_cases(g, z[:12], z[12:20])

    # Binning: continuous columns, a discrete one with many ties (narrow quantile bins get merged away), a
    # two-valued one, and a constant one; test rows reach past the training range.
    train = np.column_stack([wine[:60, 0], wine[:60, 4], np.round(wine[:60, 5]), (wine[:60, 12] > 800) * 1.0,
                             np.full(60, 2.5), wine[:60, 9]])
    test = np.column_stack([wine[60:80, 0], wine[60:80, 4], np.round(wine[60:80, 5]), (wine[60:80, 12] > 800) * 1.0,
                            np.linspace(0, 5, 20), wine[60:80, 9]])
    test[0] = train.min(axis=0) - 1
    test[1] = train.max(axis=0) + 1
    test[2] = train.min(axis=0)
    test[3] = train.max(axis=0)
    kbins_cases(g, train, test)

    # Outliers: four wine columns with injected outliers and ~8% missing values.
    rng = np.random.default_rng(1)
    x = wine[:50, [0, 3, 4, 9]].copy()
    x[5, 0], x[17, 1], x[17, 2], x[33, 3], x[41, 2] = 20.0, 60.0, 300.0, -5.0, 40.0
    x[rng.random(x.shape) < 0.08] = np.nan
    x[5, 0], x[17, 2] = 20.0, 300.0                     # keep the big ones present
    t = wine[50:70, [0, 3, 4, 9]].copy()
    t[0] = [30.0, -100.0, 1000.0, 0.0]
    t[1, 2] = np.nan
    outlier_cases(g, x, t)

    # Missing values: columns with 0, 10, 25, 50, 100 percent missing.
    m = wine[:20, :5].copy()
    m[[3], 1] = np.nan                                    # 5%
    m[[0, 4], 1] = np.nan                                 # now 15%
    m[[1, 2, 5, 6, 7], 2] = np.nan                        # 25%
    m[::2, 3] = np.nan                                    # 50%
    m[:, 4] = np.nan                                      # 100%
    missing_cases(g, m)

    with open(os.path.join(OUT, "cleaning_golden.json"), "w") as f:
        json.dump(g, f, allow_nan=False)
        f.write("\n")
    print("wrote", os.path.abspath(os.path.join(OUT, "cleaning_golden.json")))


if __name__ == "__main__":
    main()
