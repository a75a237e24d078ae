#!/usr/bin/env python3
"""Reference GBNN on scikit-learn, for comparing against boosthead.

This is a re-implementation, written for this project, of the gradient-boosted neural network
(GBNN) of Emami & Martinez-Munoz, "Sequential Training of Neural Networks with Gradient
Boosting". It exists only as a comparison reference: run it next to the boosthead CLI on the same
CSV, folds and options to compare accuracy and training time. It is not part of the library and
is not used by its build or tests.

Algorithm, per cross-validation fold:

* Features: columns where every non-missing cell is a number are numeric; all other columns are
  one-hot encoded from the levels seen in the training part (sorted). A test level not seen in
  training encodes as all zeros, with a warning. Then every encoded column is standardised with
  the training part's mean and standard deviation (ddof 0); a constant column gets std 1.
* Scores F start at F0: squared loss -> mean(y) (per output); binary logistic -> log(p/(1-p));
  multinomial (K > 2 classes, one-hot Y) -> log class priors.
* For t = 1..T: pseudo-residuals r = -dL/dF (y - F, y - sigmoid(F) or Y - softmax(F)); draw a
  subsample of int(subsample * N) rows without replacement; fit a one-hidden-layer
  MLPRegressor (J units, L-BFGS, max_iter, tol 0, alpha = l2) to r on it; predict h on all
  training rows; take the Newton step
      squared:     rho = sum(r h) / sum(h h)
      binary:      rho = sum(r h) / sum(p (1 - p) h^2)
      multinomial: rho = sum(r h) / sum_i h_i^T (diag(p_i) - p_i p_i^T) h_i
  (rho = 0 when the denominator is 0) and update F += eta * rho * h.
* Test scores start at F0 and add the same eta * rho * stage(X_test) for every stage.

Randomness: fold k (1-based) uses numpy.random.RandomState(seed + k - 1) for both the subsamples
and the networks' initial weights (MLPRegressor gets the RandomState itself). The folds come from
StratifiedKFold (classification) or KFold (regression) with shuffle=True, random_state=seed.

Metrics: accuracy (argmax of class probability) for classification, RMSE for regression. The
training loss after every stage is recorded too (squared: 0.5 * mean over rows of sum_k
(y - F)^2; logistic and multinomial: mean negative log-likelihood). "fit seconds" times the
boosting loop only, not loading, encoding or predicting the test part. The reported std across
folds is the sample standard deviation (ddof 1).

Run it with Debian's Python (it needs numpy and scikit-learn, python3-sklearn), for example:

    .venv/bin/python scripts/reference_gbnn.py --data data/Vehicle.csv --target Class \\
        --stages 200 --units 1 --json vehicle_ref.json

CSV files are read as R's write.csv writes them: a header row, "NA" or empty cells for missing
values, and possibly a leading row-name column with an empty header, which is dropped.
"""

import argparse
import csv
import json
import math
import sys
import time
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import KFold, StratifiedKFold
from sklearn.neural_network import MLPRegressor

SKLEARN_ACTIVATION = {"sigmoid": "logistic", "tanh": "tanh", "relu": "relu"}


# --------------------------------------------------------------------------------------------
# Reading and encoding data
# --------------------------------------------------------------------------------------------

def is_missing(cell):
    """True for the cells R writes for a missing value: empty or NA."""
    stripped = cell.strip()
    return stripped == "" or stripped == "NA"


def parse_number(cell):
    """The cell as a float, or None if it is not a number (Python's '1_000' form is refused)."""
    if "_" in cell:
        return None
    try:
        return float(cell)
    except ValueError:
        return None


def read_csv(path):
    """Reads a CSV into (column names, rows of text cells). Drops a leading column named ''."""
    with open(path, newline="") as handle:
        rows = list(csv.reader(handle))
    if not rows:
        raise ValueError(f"{path}: empty file")
    header, body = rows[0], rows[1:]
    body = [row for row in body if row]  # a trailing blank line is not a row
    for line, row in enumerate(body, start=2):
        if len(row) != len(header):
            raise ValueError(f"{path}: line {line} has {len(row)} cells, header has {len(header)}")
    if header and header[0] == "":
        header = header[1:]
        body = [row[1:] for row in body]
    return header, body


def column(rows, index):
    return [row[index] for row in rows]


def handle_missing(header, rows, used, drop):
    """Drops rows with a missing cell in a used column, or raises naming the first one."""
    indices = [header.index(name) for name in used]
    kept = []
    for number, row in enumerate(rows, start=1):
        bad = next((header[i] for i in indices if is_missing(row[i])), None)
        if bad is None:
            kept.append(row)
        elif not drop:
            raise ValueError(f"missing value (NA) in column '{bad}' at row {number} "
                             "(use --drop-missing to drop such rows)")
    return kept


class FeatureEncoder:
    """Numeric columns pass through, text columns are one-hot; all are then standardised."""

    def __init__(self, header, features, rows):
        self.columns = []  # (index, name, levels or None)
        for name in features:
            index = header.index(name)
            cells = column(rows, index)
            if all(parse_number(c) is not None for c in cells):
                self.columns.append((index, name, None))
            else:
                self.columns.append((index, name, sorted(set(c.strip() for c in cells))))
        raw = self._encode(rows)
        self.mean = raw.mean(axis=0)
        std = raw.std(axis=0)
        std[std == 0] = 1.0
        self.std = std

    def _encode(self, rows):
        parts = []
        for index, name, levels in self.columns:
            cells = column(rows, index)
            if levels is None:
                values = []
                for number, cell in enumerate(cells, start=1):
                    value = parse_number(cell)
                    if value is None or not math.isfinite(value):
                        raise ValueError(f"column '{name}' row {number}: '{cell}' is not a "
                                         "finite number")
                    values.append(value)
                parts.append(np.asarray(values, dtype=np.float64)[:, None])
            else:
                position = {level: k for k, level in enumerate(levels)}
                block = np.zeros((len(cells), len(levels)))
                unseen = set()
                for row, cell in enumerate(cells):
                    k = position.get(cell.strip())
                    if k is None:
                        unseen.add(cell.strip())
                    else:
                        block[row, k] = 1.0
                if unseen:
                    print(f"warning: column '{name}': levels {sorted(unseen)} not seen in "
                          "training, encoded as all zeros", file=sys.stderr)
                parts.append(block)
        return np.hstack(parts) if parts else np.zeros((len(rows), 0))

    def transform(self, rows):
        return (self._encode(rows) - self.mean) / self.std

    def names(self):
        out = []
        for _, name, levels in self.columns:
            out.extend([name] if levels is None else [f"{name}={lv}" for lv in levels])
        return out


def class_sort_key(labels):
    """Class names sorted by value when all are numbers, else as text."""
    if all(parse_number(label) is not None for label in labels):
        return sorted(labels, key=lambda label: (parse_number(label), label))
    return sorted(labels)


# --------------------------------------------------------------------------------------------
# Losses
# --------------------------------------------------------------------------------------------

def sigmoid(f):
    return 0.5 * (1.0 + np.tanh(0.5 * f))


def softmax(f):
    z = f - f.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def logsumexp(f):
    m = f.max(axis=1, keepdims=True)
    return (m + np.log(np.exp(f - m).sum(axis=1, keepdims=True)))[:, 0]


class SquaredLoss:
    """0.5 * sum_k (y - F)^2 per row; y is N x K."""

    def initial(self, y):
        return y.mean(axis=0)

    def residual(self, y, f):
        return y - f

    def newton_denominator(self, f, h):
        return float(np.sum(h * h))

    def mean_loss(self, y, f):
        return float(0.5 * np.mean(np.sum((y - f) ** 2, axis=1)))


class BinaryLogistic:
    """Negative log-likelihood of y in {0, 1} with P(y = 1) = sigmoid(F); N x 1."""

    def initial(self, y):
        p = float(np.clip(y.mean(), 1e-12, 1 - 1e-12))
        return np.array([math.log(p / (1 - p))])

    def residual(self, y, f):
        return y - sigmoid(f)

    def newton_denominator(self, f, h):
        p = sigmoid(f)
        return float(np.sum(p * (1 - p) * h * h))

    def mean_loss(self, y, f):
        return float(np.mean(np.logaddexp(0.0, f) - y * f))

    def probabilities(self, f):
        p = sigmoid(f[:, 0])
        return np.column_stack([1 - p, p])


class Multinomial:
    """Negative log-likelihood with P(class k) = softmax(F)_k; Y one-hot N x K."""

    def initial(self, y):
        return np.log(np.clip(y.mean(axis=0), 1e-12, None))

    def residual(self, y, f):
        return y - softmax(f)

    def newton_denominator(self, f, h):
        p = softmax(f)
        return float(np.sum(p * h * h) - np.sum(np.sum(p * h, axis=1) ** 2))

    def mean_loss(self, y, f):
        return float(np.mean(logsumexp(f) - np.sum(y * f, axis=1)))

    def probabilities(self, f):
        return softmax(f)


# --------------------------------------------------------------------------------------------
# GBNN
# --------------------------------------------------------------------------------------------

class GBNN:
    """Gradient boosting of one-hidden-layer networks with Newton line search."""

    def __init__(self, loss, stages, units, shrinkage, subsample, max_iter, activation, l2, rng):
        self.loss = loss
        self.stages = stages
        self.units = units
        self.shrinkage = shrinkage
        self.subsample = subsample
        self.max_iter = max_iter
        self.activation = SKLEARN_ACTIVATION[activation]
        self.l2 = l2
        self.rng = rng

    def fit(self, x, y):
        """Boosts on x (N x D) and y (N x K); returns the mean training loss after each stage."""
        n, k = y.shape
        m = int(self.subsample * n)
        if m < 1:
            raise ValueError(f"subsample {self.subsample} of {n} rows leaves no rows")
        self.f0 = self.loss.initial(y)
        self.members = []  # (fitted MLPRegressor, eta * rho)
        f = np.tile(self.f0, (n, 1))
        history = []
        for _ in range(self.stages):
            r = self.loss.residual(y, f)
            rows = self.rng.choice(n, size=m, replace=False)
            stage = MLPRegressor(hidden_layer_sizes=(self.units,), activation=self.activation,
                                 solver="lbfgs", max_iter=self.max_iter, tol=0.0, alpha=self.l2,
                                 random_state=self.rng)
            target = r[rows, 0] if k == 1 else r[rows]
            stage.fit(x[rows], target)
            h = stage.predict(x).reshape(n, k)
            denominator = self.loss.newton_denominator(f, h)
            rho = float(np.sum(r * h)) / denominator if denominator != 0 else 0.0
            if not math.isfinite(rho):
                rho = 0.0
            step = self.shrinkage * rho
            f = f + step * h
            self.members.append((stage, step))
            history.append(self.loss.mean_loss(y, f))
        return history

    def decision(self, x):
        """Scores F (N x K) for new rows."""
        n, k = x.shape[0], len(self.f0)
        f = np.tile(self.f0, (n, 1))
        for stage, step in self.members:
            f = f + step * stage.predict(x).reshape(n, k)
        return f


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------

def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description="Reference GBNN (Emami & Martinez-Munoz) on scikit-learn, cross-validated.")
    parser.add_argument("--data", required=True, help="CSV file (as written by R's write.csv)")
    parser.add_argument("--target", required=True, help="target column")
    parser.add_argument("--task", choices=["classification", "regression"],
                        help="default: classification if any target cell is not a number")
    parser.add_argument("--stages", type=int, default=200, help="boosting stages T (200)")
    parser.add_argument("--units", type=int, default=1, help="hidden units per stage J (1)")
    parser.add_argument("--shrinkage", type=float, default=0.1, help="learning rate eta (1.0)")
    parser.add_argument("--subsample", type=float, default=0.5,
                        help="fraction of training rows per stage, drawn without replacement (0.5)")
    parser.add_argument("--max-iter", type=int, default=200, help="L-BFGS iterations per stage")
    parser.add_argument("--activation", choices=sorted(SKLEARN_ACTIVATION), default="sigmoid")
    parser.add_argument("--l2", type=float, default=1e-4, help="MLPRegressor alpha (1e-4)")
    parser.add_argument("--folds", type=int, default=3, help="cross-validation folds (3)")
    parser.add_argument("--seed", type=int, default=0, help="seed for folds and boosting (0)")
    parser.add_argument("--json", help="write the results to this JSON file")
    parser.add_argument("--drop-missing", action="store_true",
                        help="drop rows with NA in a used column instead of failing")
    args = parser.parse_args(argv)
    if args.stages < 1 or args.units < 1 or args.max_iter < 1:
        parser.error("--stages, --units and --max-iter must be at least 1")
    if not 0.0 < args.subsample <= 1.0:
        parser.error("--subsample must be in (0, 1]")
    if args.folds < 2:
        parser.error("--folds must be at least 2")
    return args


def main(argv=None):
    args = parse_args(argv)
    warnings.filterwarnings("ignore", category=ConvergenceWarning)

    header, rows = read_csv(args.data)
    if args.target not in header:
        raise SystemExit(f"error: no column '{args.target}' in {args.data}; columns: "
                         + ", ".join(header))
    features = [name for name in header if name != args.target]
    total_rows = len(rows)
    try:
        rows = handle_missing(header, rows, features + [args.target], args.drop_missing)
    except ValueError as error:
        raise SystemExit(f"error: {args.data}: {error}")

    target_cells = [c.strip() for c in column(rows, header.index(args.target))]
    task = args.task or ("classification" if any(parse_number(c) is None for c in target_cells)
                         else "regression")
    if task == "classification":
        classes = class_sort_key(sorted(set(target_cells)))
        if len(classes) < 2:
            raise SystemExit("error: classification needs at least two classes")
        label_of = {name: k for k, name in enumerate(classes)}
        labels = np.array([label_of[c] for c in target_cells])
        if len(classes) == 2:
            y_all = labels.astype(np.float64)[:, None]
            loss = BinaryLogistic()
        else:
            y_all = np.eye(len(classes))[labels]
            loss = Multinomial()
        splitter = StratifiedKFold(n_splits=args.folds, shuffle=True, random_state=args.seed)
        splits = splitter.split(np.zeros(len(rows)), labels)
        metric = "accuracy"
    else:
        classes = None
        values = [parse_number(c) for c in target_cells]
        bad = next((i for i, v in enumerate(values) if v is None or not math.isfinite(v)), None)
        if bad is not None:
            raise SystemExit(f"error: target '{args.target}' row {bad + 1}: "
                             f"'{target_cells[bad]}' is not a finite number")
        y_all = np.asarray(values, dtype=np.float64)[:, None]
        loss = SquaredLoss()
        splitter = KFold(n_splits=args.folds, shuffle=True, random_state=args.seed)
        splits = splitter.split(np.zeros(len(rows)))
        metric = "rmse"

    folds = []
    for fold, (train_idx, test_idx) in enumerate(splits, start=1):
        train_rows = [rows[i] for i in train_idx]
        test_rows = [rows[i] for i in test_idx]
        encoder = FeatureEncoder(header, features, train_rows)
        x_train, x_test = encoder.transform(train_rows), encoder.transform(test_rows)
        y_train, y_test = y_all[train_idx], y_all[test_idx]

        model = GBNN(loss, args.stages, args.units, args.shrinkage, args.subsample,
                     args.max_iter, args.activation, args.l2,
                     np.random.RandomState(args.seed + fold - 1))
        start = time.perf_counter()
        history = model.fit(x_train, y_train)
        fit_seconds = time.perf_counter() - start

        f_test = model.decision(x_test)
        if task == "classification":
            predicted = np.argmax(loss.probabilities(f_test), axis=1)
            value = float(np.mean(predicted == labels[test_idx]))
        else:
            value = float(np.sqrt(np.mean((y_test - f_test) ** 2)))
        print(f"fold {fold}/{args.folds}: {metric} {value:.4f}  fit {fit_seconds:.2f} s  "
              f"(T={args.stages} J={args.units} eta={args.shrinkage:g})", flush=True)
        folds.append({"fold": fold, "value": value, "fit_seconds": fit_seconds,
                      "train_rows": len(train_idx), "test_rows": len(test_idx),
                      "train_loss": history})

    values = np.array([f["value"] for f in folds])
    times = np.array([f["fit_seconds"] for f in folds])
    mean, std = float(values.mean()), float(values.std(ddof=1))
    print(f"mean {metric} {mean:.4f} +- {std:.4f}, mean fit {times.mean():.2f} s")

    if args.json:
        result = {
            "data": args.data,
            "task": task,
            "metric": metric,
            "folds": folds,
            "mean": mean,
            "std": std,
            "mean_fit_seconds": float(times.mean()),
            "rows": len(rows),
            "dropped_rows": total_rows - len(rows),
            "classes": classes,
            "encoded_features": FeatureEncoder(header, features, rows).names(),
            "options": {
                "target": args.target, "stages": args.stages, "units": args.units,
                "shrinkage": args.shrinkage, "subsample": args.subsample,
                "max_iter": args.max_iter, "activation": args.activation, "l2": args.l2,
                "folds": args.folds, "seed": args.seed, "drop_missing": args.drop_missing,
                "implementation": "scikit-learn MLPRegressor (lbfgs)",
            },
        }
        with open(args.json, "w") as handle:
            json.dump(result, handle, indent=2)
            handle.write("\n")


if __name__ == "__main__":
    main()
