#!/usr/bin/env python3
"""Scores scikit-learn's MLP and HistGradientBoosting, with their defaults, on the very folds of a
`boosthead bench` report, and adds them to the report as reference methods.

Usage: .venv/bin/python scripts/bench_reference.py BENCH.json [BENCH.json ...]

A CSV report names its file, target and task, and holds the fold of every row for every repeat
(`fold_of_row`). Per fold, as bench does: categorical columns (the ones R quoted) are one-hot
encoded with the training fold's levels, every encoded column is standardised with the training
fold's statistics, and the metric is test accuracy or RMSE. An image report (bench --backbone)
must have been run with --feature-cache and --test-feature-cache: the frozen features are read
from those files and standardised with the training images' statistics, as bench does. One
thread (OMP and BLAS), as bench runs with --threads 1. The methods are added as "sklearn_mlp" and "sklearn_hgb" with
"reference": true; their per-fold results go to "reference_runs".
"""

import argparse
import csv
import json
import os
import sys
import time
import warnings

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import sklearn  # noqa: E402
from sklearn.ensemble import (  # noqa: E402
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
)
from sklearn.neural_network import MLPClassifier, MLPRegressor  # noqa: E402


def read_columns(path):
    """Columns of a CSV file as lists: floats for unquoted numbers, str for quoted fields (R's
    factors), None for NA or empty cells."""
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    header, body = rows[0], rows[1:]
    with open(path, newline="") as f:
        raw = f.read().splitlines()[1:]
    columns = {name: [] for name in header}
    quoted = {name: True for name in header}
    for line, row in zip(raw, body):
        fields = next(csv.reader([line], quoting=csv.QUOTE_NONE))
        for name, value, text in zip(header, row, fields):
            if value in ("", "NA"):
                columns[name].append(None)
                continue
            quoted[name] = quoted[name] and text.startswith('"')
            columns[name].append(value)
    for name in header:
        if not quoted[name]:
            try:
                columns[name] = [None if v is None else float(v) for v in columns[name]]
            except ValueError:
                pass  # text: categorical
    if header and header[0] == "":
        del columns[""]  # a row index (pandas, R's row.names)
    return columns


def encode(columns, features, train, test):
    """One-hot (training levels) plus numbers, standardised with the training rows."""
    parts_train, parts_test = [], []
    for name in features:
        values = columns[name]
        if all(v is None or isinstance(v, float) for v in values):
            col = np.array([np.nan if v is None else v for v in values], dtype=float)
            parts_train.append(col[train, None])
            parts_test.append(col[test, None])
            continue
        levels = sorted({values[i] for i in train if values[i] is not None})
        for level in levels:
            col = np.array([v == level for v in values], dtype=float)
            parts_train.append(col[train, None])
            parts_test.append(col[test, None])
    x_train, x_test = np.hstack(parts_train), np.hstack(parts_test)
    mean, std = x_train.mean(0), x_train.std(0)
    std[std == 0] = 1.0
    return (x_train - mean) / std, (x_test - mean) / std


def read_idx_labels(path):
    import gzip
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    count = int.from_bytes(data[4:8], "big")
    return np.frombuffer(data, dtype=np.uint8, offset=8, count=count).astype(np.int64)


def image_split(report, path):
    """(0, 0, x_train, y_train, x_test, y_test): an image report's one train/test split."""
    import torch
    for key in ("feature_cache", "test_feature_cache"):
        if not report.get(key):
            sys.exit(f"bench_reference.py: {path} was run without --{key.replace('_', '-')}; "
                     "the reference needs the features it wrote")
    x_train = torch.jit.load(report["feature_cache"]).features.double().numpy()
    x_test = torch.jit.load(report["test_feature_cache"]).features.double().numpy()
    mean, std = x_train.mean(0), x_train.std(0)
    std[std == 0] = 1.0
    return (0, 0, (x_train - mean) / std, read_idx_labels(report["labels"]),
            (x_test - mean) / std, read_idx_labels(report["test_labels"]))


def score(classification, y_true, y_pred):
    if classification:
        return float(np.mean(y_true == y_pred))
    return float(np.sqrt(np.mean((np.asarray(y_true, float) - y_pred) ** 2)))


def make(method, classification, seed):
    if method == "sklearn_mlp":
        return (MLPClassifier if classification else MLPRegressor)(random_state=seed)
    cls = HistGradientBoostingClassifier if classification else HistGradientBoostingRegressor
    return cls(random_state=seed)


def add_references(path):
    with open(path) as f:
        report = json.load(f)
    if "backbone" in report:
        splits = [image_split(report, path)]
        classification = True
    else:
        splits, classification = csv_splits(report, path)
    runs, methods = [], []
    for method in ("sklearn_mlp", "sklearn_hgb"):
        metrics, seconds = [], []
        for rep, fold, x_train, y_train, x_test, y_test in splits:
            model = make(method, classification, report.get("seed", 0) + rep)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # MLP's ConvergenceWarning at max_iter
                start = time.perf_counter()
                model.fit(x_train, y_train)
                seconds.append(time.perf_counter() - start)
            metrics.append(score(classification, y_test, model.predict(x_test)))
            runs.append({"method": method, "repeat": rep, "fold": fold,
                         "metric": metrics[-1], "fit_seconds": seconds[-1]})
        methods.append({"method": method, "reference": True,
                        "metric_mean": float(np.mean(metrics)),
                        "metric_std": float(np.std(metrics, ddof=1)) if len(metrics) > 1 else 0.0,
                        "metrics": metrics, "fit_seconds": seconds,
                        "fit_seconds_mean": float(np.mean(seconds))})
    report["methods"] = [m for m in report["methods"] if not m.get("reference")] + methods
    report["reference_runs"] = runs
    report["reference_versions"] = {"scikit-learn": sklearn.__version__}
    with open(path + ".tmp", "w") as f:
        json.dump(report, f)
    os.replace(path + ".tmp", path)
    return report["name"], methods


def csv_splits(report, path):
    """(repeat, fold, x_train, y_train, x_test, y_test) of every fold of a CSV report."""
    for key in ("data", "target", "task", "fold_of_row"):
        if key not in report:
            sys.exit(f"bench_reference.py: {path} has no '{key}' (not a bench report?)")
    columns = read_columns(report["data"])
    target = report["target"]
    features = [c for c in columns if c != target]
    rows = [i for i in range(len(columns[target]))
            if all(columns[c][i] is not None for c in columns)] if report.get("drop_missing") \
        else list(range(len(columns[target])))
    columns = {c: [v[i] for i in rows] for c, v in columns.items()}
    classification = report["task"] == "classification"
    y = np.array(columns[target], dtype=object if classification else float)
    if classification:
        y = np.array([str(v) if not isinstance(v, float) else f"{v:g}" for v in y])
    splits = []
    for rep, folds in enumerate(report["fold_of_row"]):
        folds = np.asarray(folds)
        if len(folds) != len(y):
            sys.exit(f"bench_reference.py: {path}: {len(folds)} folds for {len(y)} rows")
        for fold in range(int(folds.max()) + 1):
            train, test = np.flatnonzero(folds != fold), np.flatnonzero(folds == fold)
            x_train, x_test = encode(columns, features, train, test)
            splits.append((rep, fold, x_train, y[train], x_test, y[test]))
    return splits, classification


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("reports", nargs="+", help="JSON reports written by boosthead bench")
    for path in parser.parse_args().reports:
        name, methods = add_references(path)
        print(f"bench_reference.py: {name}: " + ", ".join(
            f"{m['method']} {m['metric_mean']:.4f} ({m['fit_seconds_mean']:.3f} s)"
            for m in methods), file=sys.stderr)


if __name__ == "__main__":
    main()
