#!/usr/bin/env python3
"""scikit-learn golden values for EmberMetrics.

Writes Tests/EmberMetricsTests/Fixtures/metrics_golden.json, read by Tests/EmberMetricsTests. Every number in it is
what scikit-learn returns (or the warning it emits, or the error it raises) on the inputs stored beside it: the Swift
tests never use Ember's own output as an expected value.

Regenerate
----------
    python3 -m venv /work/.venv-sk && /work/.venv-sk/bin/pip install scikit-learn==1.9.1 numpy
    /work/.venv-sk/bin/python scripts/golden/make_metrics_golden.py
    OPENBLAS_NUM_THREADS=1 swift test --filter EmberMetricsTests

Deterministic: fixed numpy seeds. Scores are rounded to 2 decimals on purpose, so that many of them tie.

Format
------
A "result" is one call's outcome: {"value": ..., "warnings": [{"category", "message"}, ...]} or
{"error": {"type", "message"}, "warnings": [...]}. Non-finite floats are written as the strings "nan", "inf",
"-inf" (JSON has no literal for them). Values are floats, lists or nested lists; the classification report is text.

Sections
--------
label_cases       y_true / y_pred label vectors (multiclass, binary, a class never predicted, a predicted class absent
                  from y_true, single-class inputs, non-contiguous and negative labels, explicit `labels`): accuracy,
                  balanced accuracy (plain and adjusted), confusion matrix (counts, normalize true/pred/all), MCC,
                  Cohen's kappa (unweighted, linear, quadratic), precision/recall/F1/F-beta for every average and
                  every zero_division, precision_recall_fscore_support per class and averaged, classification report.
binary_score_cases  binary y_true with tied scores: roc_curve (with and without drop_intermediate), roc_auc_score,
                  precision_recall_curve, average_precision_score, log_loss on probabilities, top-k accuracy; single-
                  class y_true; labels {2, 3} (pos_label errors); the same scores quantized into 10 bins.
multiclass_score_cases  multiclass y_true with probability rows (ties included): roc_auc_score one-vs-rest (macro,
                  weighted, micro, per class), average_precision_score (macro, weighted, micro), log_loss, top-k for
                  k = 1..C, with and without `labels`, a class absent from y_true, rows that are not probabilities.
regression_cases  MSE, RMSE, MAE, MAPE, R2, explained variance (uniform average and raw values for 2-output cases),
                  including a constant target, a perfect fit, a single sample and zeros in y_true.
calibration_cases sklearn.calibration.calibration_curve (uniform strategy) with probabilities on bin edges.
kfold             sklearn.model_selection.KFold(n_splits, shuffle=False) test indices.
"""

import json
import math
import os
import warnings

import numpy as np
import sklearn
from sklearn import metrics as M
from sklearn.calibration import calibration_curve
from sklearn.model_selection import KFold

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "Tests", "EmberMetricsTests", "Fixtures", "metrics_golden.json")


def clean(v):
    """numpy values -> JSON-safe Python values (non-finite floats as strings)."""
    if isinstance(v, np.ndarray):
        return [clean(x) for x in v.tolist()]
    if isinstance(v, (list, tuple)):
        return [clean(x) for x in v]
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        f = float(v)
        if math.isnan(f):
            return "nan"
        if math.isinf(f):
            return "inf" if f > 0 else "-inf"
        return f
    if v is None or isinstance(v, (int, str, bool)):
        return v
    raise TypeError(f"cannot serialize {type(v)}")


def call(fn, *args, **kwargs):
    """Runs one scikit-learn call and records its value, warnings and error."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            value = fn(*args, **kwargs)
            out = {"value": clean(value)}
        except ValueError as e:
            out = {"error": {"type": type(e).__name__, "message": str(e)}}
    out["warnings"] = [{"category": w.category.__name__, "message": str(w.message)} for w in caught]
    return out


ZERO_DIVISIONS = ["warn", 0.0, 1.0, np.nan]


def zd_name(z):
    return "warn" if z == "warn" else ("nan" if isinstance(z, float) and math.isnan(z) else str(int(z)))


def label_case(name, y_true, y_pred, labels=None):
    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    kw = {} if labels is None else {"labels": labels}
    case = {"name": name, "y_true": y_true.tolist(), "y_pred": y_pred.tolist(), "labels": labels}
    case["accuracy"] = call(M.accuracy_score, y_true, y_pred)
    case["balanced_accuracy"] = call(M.balanced_accuracy_score, y_true, y_pred)
    case["balanced_accuracy_adjusted"] = call(M.balanced_accuracy_score, y_true, y_pred, adjusted=True)
    case["confusion"] = {str(n): call(M.confusion_matrix, y_true, y_pred, normalize=n, **kw)
                         for n in [None, "true", "pred", "all"]}
    case["mcc"] = call(M.matthews_corrcoef, y_true, y_pred)
    case["kappa"] = {str(w): call(M.cohen_kappa_score, y_true, y_pred, weights=w, **kw)
                     for w in [None, "linear", "quadratic"]}
    prf = []
    for avg in ["binary", "micro", "macro", "weighted", None]:
        for z in ZERO_DIVISIONS:
            entry = {"average": str(avg), "zero_division": zd_name(z)}
            common = dict(average=avg, zero_division=z, **kw)
            if avg is not None:
                entry["precision"] = call(M.precision_score, y_true, y_pred, **common)
                entry["recall"] = call(M.recall_score, y_true, y_pred, **common)
                entry["f1"] = call(M.f1_score, y_true, y_pred, **common)
                entry["fbeta_0.5"] = call(M.fbeta_score, y_true, y_pred, beta=0.5, **common)
                entry["fbeta_2"] = call(M.fbeta_score, y_true, y_pred, beta=2.0, **common)
            entry["prfs"] = call(M.precision_recall_fscore_support, y_true, y_pred, **common)
            prf.append(entry)
    case["prf"] = prf
    case["report"] = {}
    for digits in [2, 4]:
        for z in ["warn", 1.0, np.nan]:
            r = call(M.classification_report, y_true, y_pred, digits=digits, zero_division=z, **kw)
            case["report"][f"{digits}_{zd_name(z)}"] = r
    return case


def binary_score_case(name, y_true, scores, probabilities=True):
    y_true = np.asarray(y_true)
    scores = np.asarray(scores, dtype=np.float64)
    case = {"name": name, "y_true": y_true.tolist(), "scores": scores.tolist()}
    case["roc_curve"] = call(M.roc_curve, y_true, scores)
    case["roc_curve_all"] = call(M.roc_curve, y_true, scores, drop_intermediate=False)
    case["roc_auc"] = call(M.roc_auc_score, y_true, scores)
    case["pr_curve"] = call(M.precision_recall_curve, y_true, scores)
    case["average_precision"] = call(M.average_precision_score, y_true, scores)
    if probabilities:
        case["log_loss"] = call(M.log_loss, y_true, y_proba=scores)
        case["log_loss_labels"] = call(M.log_loss, y_true, y_proba=scores, labels=[0, 1])
    case["top_k"] = {str(k): call(M.top_k_accuracy_score, y_true, scores, k=k) for k in [1, 2]}
    # The histogram (bounded-memory) accumulator quantizes probabilities into bins: floor(p * bins), capped.
    bins = 10
    q = np.minimum(np.floor(scores * bins), bins - 1)
    case["quantized_bins"] = bins
    case["quantized_roc_auc"] = call(M.roc_auc_score, y_true, q)
    case["quantized_average_precision"] = call(M.average_precision_score, y_true, q)
    return case


def multiclass_score_case(name, y_true, probs, labels=None):
    y_true = np.asarray(y_true)
    probs = np.asarray(probs, dtype=np.float64)
    kw = {} if labels is None else {"labels": labels}
    case = {"name": name, "y_true": y_true.tolist(), "probabilities": probs.tolist(), "labels": labels}
    case["roc_auc"] = {str(a): call(M.roc_auc_score, y_true, probs, multi_class="ovr", average=a, **kw)
                       for a in ["macro", "weighted", "micro", None]}
    if labels is None:
        case["average_precision"] = {str(a): call(M.average_precision_score, y_true, probs, average=a)
                                     for a in ["macro", "weighted", "micro", None]}
    case["log_loss"] = call(M.log_loss, y_true, y_proba=probs, **kw)
    k_labels = {} if labels is None else {"labels": labels}
    case["top_k"] = {str(k): call(M.top_k_accuracy_score, y_true, probs, k=k, **k_labels)
                     for k in range(1, probs.shape[1] + 1)}
    return case


def regression_case(name, y_true, y_pred):
    y_true = np.asarray(y_true, dtype=np.float64)
    y_pred = np.asarray(y_pred, dtype=np.float64)
    case = {"name": name, "y_true": y_true.tolist(), "y_pred": y_pred.tolist()}
    fns = {
        "mse": M.mean_squared_error, "rmse": M.root_mean_squared_error, "mae": M.mean_absolute_error,
        "mape": M.mean_absolute_percentage_error, "r2": M.r2_score, "explained_variance": M.explained_variance_score,
    }
    for key, fn in fns.items():
        case[key] = call(fn, y_true, y_pred)
        if y_true.ndim == 2:
            case[key + "_raw"] = call(fn, y_true, y_pred, multioutput="raw_values")
    return case


def main():
    rng = np.random.default_rng(20240605)
    label_cases = []
    yt = rng.integers(0, 4, 40)
    yp = np.where(rng.random(40) < 0.6, yt, rng.integers(0, 4, 40))
    label_cases.append(label_case("multiclass", yt, yp))
    yt = rng.integers(0, 2, 30)
    yp = np.where(rng.random(30) < 0.7, yt, 1 - yt)
    label_cases.append(label_case("binary", yt, yp))
    label_cases.append(label_case("never_predicted", [0, 1, 2, 2, 1, 0, 2, 1, 0, 2], [0, 1, 1, 0, 1, 0, 1, 1, 0, 0]))
    label_cases.append(label_case("absent_in_true", [0, 1, 1, 0, 1, 0, 0, 1], [0, 2, 1, 0, 1, 2, 0, 1]))
    label_cases.append(label_case("single_class_all_zero", [0, 0, 0, 0], [0, 0, 0, 0]))
    label_cases.append(label_case("single_class_all_one", [1, 1, 1], [1, 1, 1]))
    label_cases.append(label_case("single_class_true", [0, 0, 0, 0, 0], [0, 1, 0, 1, 1]))
    label_cases.append(label_case("no_positive_predicted", [0, 1, 1, 0, 1], [0, 0, 0, 0, 0]))
    label_cases.append(label_case("labels_2_3", [2, 3, 3, 2, 3, 2], [2, 3, 2, 2, 3, 3]))
    label_cases.append(label_case("negative_labels", [-1, 1, 1, -1, 1, -1, -1], [-1, 1, -1, -1, 1, 1, -1]))
    label_cases.append(label_case("sparse_labels", [2, 5, 7, 7, 5, 2, 9, 5], [2, 5, 5, 7, 2, 2, 9, 7]))
    label_cases.append(label_case("explicit_labels_superset", [0, 1, 2, 2, 1, 0], [0, 2, 2, 1, 1, 0], labels=[0, 1, 2, 3]))
    label_cases.append(label_case("explicit_labels_subset", [0, 1, 2, 2, 1, 0, 3], [0, 2, 2, 1, 1, 3, 3], labels=[2, 0, 1]))

    binary_cases = []
    yt = rng.integers(0, 2, 24)
    s = np.round(np.clip(0.3 * yt + rng.random(24) * 0.7, 0, 1), 1)  # one decimal: many ties
    binary_cases.append(binary_score_case("ties", yt, s))
    yt = rng.integers(0, 2, 30)
    s = np.round(rng.random(30) * 0.6 + 0.4 * yt, 2)
    binary_cases.append(binary_score_case("random", yt, s))
    binary_cases.append(binary_score_case("all_tied", [0, 1, 1, 0, 1], [0.5, 0.5, 0.5, 0.5, 0.5]))
    binary_cases.append(binary_score_case("perfect", [0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9]))
    binary_cases.append(binary_score_case("single_class_negative", [0, 0, 0, 0], [0.1, 0.4, 0.35, 0.8]))
    binary_cases.append(binary_score_case("single_class_positive", [1, 1, 1], [0.2, 0.6, 0.6]))
    binary_cases.append(binary_score_case("edges", [0, 1, 0, 1, 1, 0], [0.0, 1.0, 0.1, 0.9, 0.0, 1.0]))
    binary_cases.append(binary_score_case("labels_2_3", [2, 3, 3, 2], [0.1, 0.9, 0.4, 0.3]))
    binary_cases.append(binary_score_case("logits", [0, 1, 1, 0, 1], [-2.0, 1.5, 0.0, 0.0, 3.0], probabilities=False))

    multi_cases = []
    n, c = 30, 4
    yt = rng.integers(0, c, n)
    logits = rng.normal(size=(n, c)) + 1.5 * np.eye(c)[yt]
    p = np.exp(logits)
    p /= p.sum(axis=1, keepdims=True)
    multi_cases.append(multiclass_score_case("softmax", yt, p))
    # Probabilities on a coarse grid (ties across rows and inside rows); each row sums to exactly 1.
    grid = [[0.5, 0.25, 0.25], [0.25, 0.5, 0.25], [0.25, 0.25, 0.5], [0.5, 0.5, 0.0], [0.0, 0.5, 0.5],
            [1.0, 0.0, 0.0], [0.25, 0.5, 0.25], [0.5, 0.25, 0.25], [0.0, 0.0, 1.0], [0.25, 0.25, 0.5]]
    multi_cases.append(multiclass_score_case("grid_ties", [0, 1, 2, 1, 2, 0, 0, 1, 2, 2], grid))
    # y_true lacks class 3: without labels sklearn raises; with labels the absent class' AUC is undefined (nan).
    sub = p[yt != 3]
    sub_y = yt[yt != 3]
    assert sorted(set(sub_y.tolist())) == [0, 1, 2]
    multi_cases.append(multiclass_score_case("absent_class", sub_y, sub))
    multi_cases.append(multiclass_score_case("absent_class_labels", sub_y, sub, labels=[0, 1, 2, 3]))
    multi_cases.append(multiclass_score_case("not_probabilities", [0, 1, 2, 1], [[0.5, 0.4, 0.3], [0.1, 0.8, 0.2],
                                                                                  [0.2, 0.2, 0.7], [0.3, 0.3, 0.3]]))

    regression = []
    yt = np.round(rng.normal(3, 2, 20), 3)
    yp = np.round(yt + rng.normal(0, 0.8, 20), 3)
    regression.append(regression_case("random", yt, yp))
    regression.append(regression_case("constant_true", [2.0, 2.0, 2.0, 2.0], [1.5, 2.0, 2.5, 3.0]))
    regression.append(regression_case("constant_perfect", [2.0, 2.0, 2.0], [2.0, 2.0, 2.0]))
    regression.append(regression_case("perfect", [1.0, -2.0, 3.5], [1.0, -2.0, 3.5]))
    regression.append(regression_case("single_sample", [1.5], [2.0]))
    regression.append(regression_case("zeros_in_true", [0.0, 1.0, -2.0, 0.0, 4.0], [0.1, 1.2, -1.0, 0.0, 3.0]))
    yt2 = np.round(rng.normal(0, 1, (8, 2)), 3)
    yp2 = np.round(yt2 + rng.normal(0, 0.5, (8, 2)), 3)
    regression.append(regression_case("two_outputs", yt2, yp2))

    calibration = []
    probs = np.array([0.0, 0.1, 0.2, 0.2, 0.25, 0.4, 0.5, 0.6, 0.6, 0.8, 0.95, 1.0, 0.3, 0.7, 0.45])
    yt = np.array([0, 0, 0, 1, 0, 1, 0, 1, 1, 1, 1, 1, 0, 0, 1])
    for bins in [5, 10]:
        r = call(calibration_curve, yt, probs, n_bins=bins, strategy="uniform")
        calibration.append({"y_true": yt.tolist(), "probabilities": probs.tolist(), "bins": bins, "result": r})

    kfold = []
    for n_samples, k in [(11, 3), (10, 5), (7, 7)]:
        folds = [test.tolist() for _, test in KFold(n_splits=k).split(np.zeros(n_samples))]
        kfold.append({"n": n_samples, "k": k, "test_folds": folds})

    doc = {
        "sklearn_version": sklearn.__version__, "numpy_version": np.__version__,
        "label_cases": label_cases, "binary_score_cases": binary_cases, "multiclass_score_cases": multi_cases,
        "regression_cases": regression, "calibration_cases": calibration, "kfold": kfold,
    }
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        json.dump(doc, f, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {os.path.normpath(OUT)} ({os.path.getsize(OUT)} bytes)")


if __name__ == "__main__":
    main()
