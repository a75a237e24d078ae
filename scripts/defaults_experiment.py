"""Chooses boosthead's default training options by an experiment that never sees a test row.

Every data set (the eight bundled ones and four bundled with scikit-learn) is split 70/30 (seed 0,
stratified for classes). The candidates are compared by 3-fold cross-validation inside the 70 %
alone; scikit-learn's MLP and HistGradientBoosting (their defaults) run on the same inner folds
as references. The printed markdown tables are what docs/DEFAULTS.md shows. With --test, the
candidates (and the references) are fitted once on the 70 % and scored on the 30 %: that table is
reported, never used to choose.

Usage: .venv/bin/python scripts/defaults_experiment.py --round N [--repeats R] [--test]
       [--sets a,b] [--out F.json];  --list shows every candidate.
One thread for every method (OMP/BLAS and torch), so the fit times compare work, not cores.
"""

import argparse
import json
import math
import os
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402
from sklearn.compose import ColumnTransformer  # noqa: E402
from sklearn.ensemble import (  # noqa: E402
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
)
from sklearn.model_selection import KFold, StratifiedKFold, train_test_split  # noqa: E402
from sklearn.neural_network import MLPClassifier, MLPRegressor  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import OneHotEncoder, StandardScaler  # noqa: E402

import boosthead  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# name: (target, task)
SETS = {
    "BostonHousing": ("medv", "regression"),
    "Glass": ("Type", "classification"),
    "Ionosphere": ("Class", "classification"),
    "PimaIndiansDiabetes": ("diabetes", "classification"),
    "Satellite": ("classes", "classification"),
    "Servo": ("Class", "regression"),
    "Sonar": ("Class", "classification"),
    "Vehicle": ("Class", "classification"),
}

# Development sets bundled with scikit-learn (no download): more classes and more regression
# than the eight above, so that the choice does not fit those eight alone.
SKLEARN_SETS = {
    "digits": "classification",
    "wine": "classification",
    "breast_cancer": "classification",
    "diabetes": "regression",
}

PAPER = dict(stages=200, units_per_stage=1, shrinkage=0.1, subsample=0.5, max_iter=200,
             activation="sigmoid", solver="lbfgs", l2=1e-4, valid_fraction=0.0, patience=0,
             standardize_targets=False)

RULES = {
    "K": lambda n, d, k: k,
    "2K": lambda n, d, k: 2 * k,
    "3K": lambda n, d, k: 3 * k,
    "4K": lambda n, d, k: 4 * k,
    "8K": lambda n, d, k: min(64, max(8, 8 * k)),
    "2K+2": lambda n, d, k: 2 * k + 2,
    "max(4,2K)": lambda n, d, k: max(4, 2 * k),
}

# The candidates of each round (docs/DEFAULTS.md). A candidate is the estimator's parameters;
# "units_rule" sets units_per_stage from (rows, features, outputs), outputs being 1 for
# regression and two classes, K for K classes. Each round started from what the one before
# found.
ROUNDS = {}


def _round(number, name, **params):
    ROUNDS.setdefault(number, {})[name] = params


# Round 1: wide relu stages (the setting that wins on many classes) with validation early
# stopping to keep them from over-fitting the small sets.
_round(1, "paper", **PAPER)
_round(1, "wide", **dict(PAPER, units_per_stage=32, shrinkage=0.5, stages=100,
                         activation="relu", solver="varpro"))
ES = dict(PAPER, activation="relu", solver="varpro", valid_fraction=0.1, patience=10,
          stages=500, standardize_targets=True)
for j in (8, 16, 32):
    for eta in (0.1, 0.3, 0.5):
        _round(1, f"relu J{j} eta{eta} es", **dict(ES, units_per_stage=j, shrinkage=eta))
for rname in ("2K", "4K", "8K"):
    for eta in (0.2, 0.5):
        for it in (30, 200):
            _round(1, f"relu J={rname} eta{eta} iter{it} es", **dict(
                ES, units_rule=RULES[rname], shrinkage=eta, max_iter=it))
J16 = dict(ES, units_per_stage=16, shrinkage=0.3)
_round(1, "relu J16 eta0.3 l2 1e-2 es", **dict(J16, l2=1e-2))
_round(1, "relu J16 eta0.3 iter50 es", **dict(J16, max_iter=50))
_round(1, "relu J16 eta0.3 patience20 es", **dict(J16, patience=20))
_round(1, "relu J16 eta0.3 valid0.2 es", **dict(J16, valid_fraction=0.2))
_round(1, "tanh J16 eta0.3 es", **dict(J16, activation="tanh"))

# Round 2: the paper's weak stages, made as wide as the head has outputs.
_round(2, "paper", **PAPER)
_round(2, "paper std_y", **dict(PAPER, standardize_targets=True))
STD = dict(PAPER, standardize_targets=True)
for rname in ("K", "2K", "4K"):
    rule = RULES[rname]
    _round(2, f"sigmoid lbfgs J={rname}", **dict(STD, units_rule=rule))
    _round(2, f"sigmoid lbfgs J={rname} eta0.2", **dict(STD, units_rule=rule, shrinkage=0.2))
    _round(2, f"sigmoid varpro J={rname}", **dict(STD, units_rule=rule, solver="varpro"))
    _round(2, f"relu lbfgs J={rname}", **dict(STD, units_rule=rule, activation="relu"))
    _round(2, f"tanh lbfgs J={rname}", **dict(STD, units_rule=rule, activation="tanh"))
_round(2, "sigmoid lbfgs J=2K iter50", **dict(STD, units_rule=RULES["2K"], max_iter=50))
_round(2, "sigmoid lbfgs J=2K T400", **dict(STD, units_rule=RULES["2K"], stages=400))
_round(2, "sigmoid lbfgs J=2K sub1", **dict(STD, units_rule=RULES["2K"], subsample=1.0))
_round(2, "sigmoid lbfgs J=2K es", **dict(STD, units_rule=RULES["2K"], stages=400,
                                          valid_fraction=0.1, patience=20))

# Round 3: relu stages, fewer solver iterations per stage (cheaper and more regularised).
for rname in ("2K", "4K"):
    for solver in ("lbfgs", "varpro"):
        for it in (25, 50, 100):
            for eta in (0.1, 0.2):
                _round(3, f"relu {solver} J={rname} iter{it} eta{eta}", **dict(
                    STD, units_rule=RULES[rname], activation="relu", solver=solver,
                    max_iter=it, shrinkage=eta))

# Round 4: one change at a time to the best of round 3 (units_per_stage 0: the library's
# automatic width, 2 per output).
BASE = dict(STD, activation="relu", solver="varpro", units_per_stage=0, max_iter=25,
            shrinkage=0.2)
_round(4, "base", **BASE)
for label, change in [("eta0.3", dict(shrinkage=0.3)), ("sub0.8", dict(subsample=0.8)),
                      ("l2 1e-3", dict(l2=1e-3)), ("l2 1e-2", dict(l2=1e-2)),
                      ("iter15", dict(max_iter=15)), ("J=3K", dict(units_rule=RULES["3K"])),
                      ("T300", dict(stages=300)), ("lbfgs", dict(solver="lbfgs"))]:
    _round(4, f"base {label}", **dict(BASE, **change))

# Round 5: the finalists, on three repeats of the inner cross-validation.
_round(5, "base", **BASE)
for label, change in [("J=2K+2", dict(units_rule=RULES["2K+2"])),
                      ("J=4 binary", dict(units_rule=RULES["max(4,2K)"])),
                      ("l2 1e-3", dict(l2=1e-3)), ("sub0.8", dict(subsample=0.8))]:
    _round(5, f"base {label}", **dict(BASE, **change))

# Round 6: the library's defaults (round 5's best, "base sub0.8"; no parameters, so the
# estimators take them from the compiled library) and the paper's settings, scored on the
# held-out 30 % with --test.
_round(6, "paper", **PAPER)
_round(6, "defaults")

CANDIDATES = {name: params for r in ROUNDS.values() for name, params in r.items()}


def load(name):
    if name in SKLEARN_SETS:
        import sklearn.datasets as ds
        bunch = getattr(ds, f"load_{name}")(as_frame=True)
        task = SKLEARN_SETS[name]
        y = bunch.target.to_numpy()
        y = y.astype(str) if task == "classification" else y.astype(float)
        return bunch.data, y, task
    target, task = SETS[name]
    frame = pd.read_csv(os.path.join(ROOT, "data", f"{name}.csv"))
    y = frame.pop(target)
    if task == "classification":
        y = y.astype(str)
    else:
        y = y.astype(float)
    return frame, y.to_numpy(), task


def outer_split(x, y, task):
    strat = y if task == "classification" else None
    return train_test_split(np.arange(len(y)), test_size=0.3, random_state=0, stratify=strat)


def inner_folds(y, task, repeats=1):
    cls = StratifiedKFold if task == "classification" else KFold
    return [f for r in range(repeats)
            for f in cls(n_splits=3, shuffle=True, random_state=r).split(np.zeros(len(y)), y)]


def preprocess(frame):
    cat = [c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])]
    num = [c for c in frame.columns if c not in cat]
    return ColumnTransformer([("num", StandardScaler(), num),
                              ("cat", OneHotEncoder(handle_unknown="ignore",
                                                    sparse_output=False), cat)])


def make_model(method, task, params):
    if method == "mlp":
        cls = MLPClassifier if task == "classification" else MLPRegressor
        return make_pipeline(preprocess(params["frame"]), cls(random_state=0))
    if method == "hgb":
        cls = (HistGradientBoostingClassifier if task == "classification"
               else HistGradientBoostingRegressor)
        return make_pipeline(preprocess(params["frame"]), cls(random_state=0))
    raise ValueError(method)


def score(task, y_true, y_pred):
    if task == "classification":
        return float(np.mean(y_true == y_pred))
    return float(math.sqrt(np.mean((y_true - y_pred) ** 2)))


def fit_predict(method, task, x_tr, y_tr, x_te):
    """Returns (predictions, fit seconds)."""
    if method in ("mlp", "hgb"):
        model = make_model(method, task, {"frame": x_tr})
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t0 = time.perf_counter()
            model.fit(x_tr, y_tr)
            secs = time.perf_counter() - t0
        return model.predict(x_te), secs
    opts = dict(CANDIDATES[method])
    rule = opts.pop("units_rule", None)
    if rule is not None:
        k_out = len(np.unique(y_tr)) if task == "classification" else 1
        k_out = 1 if k_out == 2 else k_out
        opts["units_per_stage"] = rule(len(y_tr), x_tr.shape[1], k_out)
    if task == "classification":
        est = boosthead.GBNNClassifier(**opts)
        t0 = time.perf_counter()
        est.fit(x_tr, y_tr)
        return est.predict(x_te), time.perf_counter() - t0
    est = boosthead.GBNNRegressor(**opts)
    t0 = time.perf_counter()
    est.fit(x_tr, y_tr)
    return est.predict(x_te), time.perf_counter() - t0


def run(methods, sets, test, repeats=1):
    rows = []
    for name in sets:
        frame, y, task = load(name)
        tr, te = outer_split(frame, y, task)
        for method in methods:
            if test:
                pred, secs = fit_predict(method, task, frame.iloc[tr], y[tr], frame.iloc[te])
                s = score(task, y[te], pred)
            else:
                scores, secs = [], 0.0
                for a, b in inner_folds(y[tr], task, repeats):
                    ia, ib = tr[a], tr[b]
                    pred, t = fit_predict(method, task, frame.iloc[ia], y[ia], frame.iloc[ib])
                    scores.append(score(task, y[ib], pred))
                    secs += t
                s = float(np.mean(scores))
            rows.append(dict(set=name, task=task, method=method, score=s, seconds=secs))
            print(f"{name:20s} {method:34s} {s:8.4f} {secs:7.2f}s", file=sys.stderr, flush=True)
    return rows


def error(task, s):
    return 1.0 - s if task == "classification" else s


def summarise(rows):
    """Markdown: per candidate, the mean log error ratio to the MLP, sets beaten/within 1 % of
    HistGB, and total fit seconds against the MLP's."""
    by = {(r["set"], r["method"]): r for r in rows}
    sets = sorted({r["set"] for r in rows})
    methods = [m for m in dict.fromkeys(r["method"] for r in rows) if m not in ("mlp", "hgb")]
    out = ["| candidate | mean log(err / MLP err) | sets >= MLP | sets within 1 % of HGB "
           "| fit s | MLP fit s |", "|---|---:|---:|---:|---:|---:|"]
    mlp_secs = sum(by[(s, "mlp")]["seconds"] for s in sets if (s, "mlp") in by)
    for m in methods:
        logs, beat, near, secs = [], 0, 0, 0.0
        for s in sets:
            r = by[(s, m)]
            task = r["task"]
            e = error(task, r["score"])
            secs += r["seconds"]
            if (s, "mlp") in by:
                em = error(task, by[(s, "mlp")]["score"])
                logs.append(math.log(max(e, 1e-9) / max(em, 1e-9)))
                beat += e <= em + 1e-12
            if (s, "hgb") in by:
                eh = error(task, by[(s, "hgb")]["score"])
                # Within 1 %: accuracy at most 0.01 below, RMSE at most 1 % above.
                near += (e <= eh + 0.01) if task == "classification" else (e <= eh * 1.01)
        out.append(f"| {m} | {np.mean(logs):+.4f} | {beat}/{len(sets)} | {near}/{len(sets)} "
                   f"| {secs:.2f} | {mlp_secs:.2f} |")
    return "\n".join(out)


def per_set_table(rows, methods):
    by = {(r["set"], r["method"]): r for r in rows}
    sets = sorted({r["set"] for r in rows})
    head = "| set | metric | " + " | ".join(methods) + " |"
    out = [head, "|---|---|" + "---:|" * len(methods)]
    for s in sets:
        task = next(r["task"] for r in rows if r["set"] == s)
        cells = []
        for m in methods:
            r = by.get((s, m))
            cells.append("" if r is None else f"{r['score']:.4f} ({r['seconds']:.2f} s)")
        out.append(f"| {s} | {'accuracy' if task == 'classification' else 'rmse'} | "
                   + " | ".join(cells) + " |")
    return "\n".join(out)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--round", type=int, choices=sorted(ROUNDS),
                   help="the candidates of one round of docs/DEFAULTS.md")
    p.add_argument("--candidates", help="comma-separated candidate names")
    p.add_argument("--sets", help="comma-separated data sets (default: all)")
    p.add_argument("--test", action="store_true", help="score on the held-out 30 %% instead")
    p.add_argument("--out", help="write the rows as JSON")
    p.add_argument("--repeats", type=int, default=1,
                   help="repeats of the inner 3-fold cross-validation (seeds 0..R-1)")
    p.add_argument("--list", action="store_true", help="list the candidates and exit")
    a = p.parse_args()
    if a.list:
        for k, v in CANDIDATES.items():
            print(k, v)
        return
    torch.set_num_threads(1)
    if a.candidates:
        cands = a.candidates.split(",")
    elif a.round:
        cands = list(ROUNDS[a.round])
    else:
        p.error("give --round or --candidates")
    unknown = [c for c in cands if c not in CANDIDATES]
    if unknown:
        p.error(f"unknown candidates {unknown}; --list shows them")
    sets = a.sets.split(",") if a.sets else list(SETS) + list(SKLEARN_SETS)
    rows = run(cands + ["mlp", "hgb"], sets, a.test, a.repeats)
    if a.out:
        with open(a.out, "w") as f:
            json.dump(rows, f, indent=1)
    print(summarise(rows))
    print()
    print(per_set_table(rows, cands + ["mlp", "hgb"]))


if __name__ == "__main__":
    main()
