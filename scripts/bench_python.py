#!/usr/bin/env python3
"""The Python package against the command line on the bundled UCI sets, side by side.

For each set, one stratified 70/30 split (seed 0) is written as CSV files; `boosthead fit` and
`GBNNClassifier`/`GBNNRegressor` (from a pandas frame of the same files, R's quoted columns as
text) fit with the same options and seed, and each scores the test rows. Printed per set: the test
metric of both (they should agree: same model), the wall time of the estimator's fit, the C++
fit time inside it, and the wall time of the `boosthead fit` process (reading the CSV included).

    .venv/bin/python scripts/bench_python.py [--stages 200] [--threads 1] [--markdown FILE]
"""

import argparse
import csv
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

import boosthead

REPO = Path(__file__).resolve().parents[1]
SETS = {
    "BostonHousing": "medv",
    "Glass": "Type",
    "Ionosphere": "Class",
    "PimaIndiansDiabetes": "diabetes",
    "Satellite": "classes",
    "Servo": "Class",
    "Sonar": "Class",
    "Vehicle": "Class",
}
REGRESSION = {"BostonHousing", "Servo"}


def read_rows(path):
    """Header and rows, quoted cells as str and bare ones as float (R's convention)."""
    with open(path, newline="") as f:
        header = next(csv.reader(f))
        rows = list(csv.reader(f, quoting=csv.QUOTE_NONNUMERIC))
    return header, rows


def split(rows, target_index, regression, seed=0):
    rng = np.random.default_rng(seed)
    if regression:
        groups = {0: list(range(len(rows)))}
    else:
        groups = {}
        for i, r in enumerate(rows):
            groups.setdefault(r[target_index], []).append(i)
    train, test = [], []
    for idx in groups.values():
        idx = rng.permutation(idx)
        take = round(0.3 * len(idx))
        test += idx[:take].tolist()
        train += idx[take:].tolist()
    return sorted(train), sorted(test)


def write(path, header, rows):
    with open(path, "w", newline="") as f:
        f.write(",".join(f'"{h}"' for h in header) + "\n")
        w = csv.writer(f, quoting=csv.QUOTE_NONNUMERIC, lineterminator="\n")
        w.writerows([[int(v) if isinstance(v, float) and v.is_integer() else v for v in r]
                      for r in rows])


def frame(header, rows):
    df = pd.DataFrame(rows, columns=header)
    for c in df.columns:
        if df[c].map(lambda v: isinstance(v, str)).any():
            df[c] = df[c].astype(str)
    return df


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--stages", type=int, default=boosthead.DEFAULTS["stages"])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--cli", default=str(REPO / "build" / "boosthead"))
    p.add_argument("--markdown", default="")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    lines = [
        f"boosthead {boosthead.__version__}, torch {torch.__version__}, {a.threads} thread(s), "
        f"{a.stages} stages, other options the defaults; 70/30 split, seed 0",
        "",
        "| set | metric | CLI | Python | Python fit (s) | C++ fit inside (s) | CLI process (s) |",
        "|---|---|---|---|---|---|---|",
    ]
    print("\n".join(lines[:1]))
    with tempfile.TemporaryDirectory() as tmp:
        for name, target in SETS.items():
            header, rows = read_rows(REPO / "data" / f"{name}.csv")
            ti = header.index(target)
            regression = name in REGRESSION
            train, test = split(rows, ti, regression)
            train_csv, test_csv = os.path.join(tmp, "train.csv"), os.path.join(tmp, "test.csv")
            write(train_csv, header, [rows[i] for i in train])
            write(test_csv, header, [rows[i] for i in test])
            model, report = os.path.join(tmp, "m.pt"), os.path.join(tmp, "fit.json")
            start = time.perf_counter()
            subprocess.run([a.cli, "fit", "--data", train_csv, "--target", target, "--out", model,
                            "--stages", str(a.stages), "--threads", str(a.threads), "--quiet",
                            "--report", report, "--task",
                            "regression" if regression else "classification"],
                           check=True, capture_output=True)
            cli_seconds = time.perf_counter() - start
            ev = subprocess.run([a.cli, "eval", "--model", model, "--data", test_csv], check=True,
                                capture_output=True, text=True).stdout.split()
            cli_metric = float(ev[1])

            tr = frame(header, [rows[i] for i in train])
            te = frame(header, [rows[i] for i in test])
            Est = boosthead.GBNNRegressor if regression else boosthead.GBNNClassifier
            y_train = tr[target].astype(float) if regression else tr[target]
            est = Est(stages=a.stages)
            start = time.perf_counter()
            est.fit(tr.drop(columns=target), y_train)
            py_seconds = time.perf_counter() - start
            pred = est.predict(te.drop(columns=target))
            if regression:
                metric = "rmse"
                py_metric = float(np.sqrt(np.mean((pred - te[target].astype(float)) ** 2)))
            else:
                metric = "accuracy"
                py_metric = float(np.mean(pred == te[target].to_numpy()))
            inner = est.fit_seconds_
            assert json.load(open(report))["stages"] == est.n_stages_
            line = (f"| {name} | {metric} | {cli_metric:.4f} | {py_metric:.4f} | {py_seconds:.3f} "
                    f"| {inner:.3f} | {cli_seconds:.3f} |")
            print(line, flush=True)
            lines.append(line)
    if a.markdown:
        Path(a.markdown).write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
