#!/usr/bin/env python3
"""Runs boosthead and the scikit-learn reference (scripts/reference_gbnn.py) side by side.

Both sides get exactly the same cross-validation folds and the same options (T, J, eta,
subsample, max_iter, activation, l2). For each fold the training and test rows are written as
CSV files, byte for byte as in the original file, so boosthead reads them as a user would (R's
quoting included). The reference fits in this process; boosthead fits through its command-line
tool (`boosthead fit`, then `boosthead eval`), and its fit time is the trainer's own
`fit_seconds` from the fit report, the same span the reference times (the boosting loop only).

    .venv/bin/python scripts/compare_reference.py --data data/Satellite.csv --target classes

Prints one line per fold and a summary with the speed ratio (reference time / boosthead time).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import KFold, StratifiedKFold
from threadpoolctl import threadpool_limits

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reference_gbnn as ref  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True)
    p.add_argument("--target", required=True)
    p.add_argument("--task", choices=["classification", "regression"])
    p.add_argument("--folds", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--stages", type=int, default=200)
    p.add_argument("--units", type=int, default=1)
    p.add_argument("--shrinkage", type=float, default=0.1)
    p.add_argument("--subsample", type=float, default=0.5)
    p.add_argument("--max-iter", type=int, default=200)
    p.add_argument("--activation", default="sigmoid")
    p.add_argument("--l2", type=float, default=1e-4)
    p.add_argument("--solver", default="lbfgs",
                   help="boosthead stage solver (default lbfgs, the reference's method)")
    p.add_argument("--threads", type=int, default=os.cpu_count(),
                   help="threads for both sides (boosthead's --threads, the reference's BLAS)")
    p.add_argument("--boosthead", default=os.path.join(
        os.environ.get("BOOSTHEAD_BUILD_DIR", os.path.join(ROOT, "build")), "boosthead"))
    p.add_argument("--json", help="write the per-fold figures here")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    with open(args.data, newline="") as f:
        lines = f.read().splitlines()
    header, rows = ref.read_csv(args.data)
    if len(lines) != len(rows) + 1:
        raise SystemExit("error: rows span several lines; this script splits files by line")
    features = [c for c in header if c != args.target]
    cells = [r[header.index(args.target)].strip() for r in rows]
    task = args.task or ("classification"
                         if any(ref.parse_number(c) is None for c in cells)
                         or all(l.split(",")[header.index(args.target)].startswith('"')
                                for l in lines[1:]) else "regression")
    if task == "classification":
        classes = ref.class_sort_key(sorted(set(cells)))
        labels = np.array([classes.index(c) for c in cells])
        if len(classes) == 2:
            y_all, loss = labels.astype(np.float64)[:, None], ref.BinaryLogistic()
        else:
            y_all, loss = np.eye(len(classes))[labels], ref.Multinomial()
        splits = StratifiedKFold(args.folds, shuffle=True, random_state=args.seed).split(
            np.zeros(len(rows)), labels)
    else:
        y_all = np.array([float(c) for c in cells])[:, None]
        loss = ref.SquaredLoss()
        splits = KFold(args.folds, shuffle=True, random_state=args.seed).split(np.zeros(len(rows)))
    metric = "accuracy" if task == "classification" else "rmse"

    # The paper's algorithm on both sides: targets as given, as the reference takes them.
    common = ["--standardize-targets", "false", "--stages", str(args.stages),
              "--units", str(args.units), "--shrinkage", str(args.shrinkage),
              "--subsample", str(args.subsample), "--max-iter", str(args.max_iter),
              "--activation", args.activation, "--l2", str(args.l2), "--seed", str(args.seed),
              "--threads", str(args.threads), "--task", task]
    if args.solver:
        common += ["--solver", args.solver]
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for fold, (tr, te) in enumerate(splits, start=1):
            train_csv, test_csv = os.path.join(tmp, "train.csv"), os.path.join(tmp, "test.csv")
            for path, idx in ((train_csv, tr), (test_csv, te)):
                with open(path, "w") as f:
                    f.write("\n".join([lines[0]] + [lines[i + 1] for i in idx]) + "\n")

            encoder = ref.FeatureEncoder(header, features, [rows[i] for i in tr])
            x_tr, x_te = encoder.transform([rows[i] for i in tr]), encoder.transform([rows[i] for i in te])
            model = ref.GBNN(loss, args.stages, args.units, args.shrinkage, args.subsample,
                             args.max_iter, args.activation, args.l2,
                             np.random.RandomState(args.seed + fold - 1))
            # The reference's BLAS gets the same number of threads as boosthead.
            with threadpool_limits(limits=args.threads):
                start = time.perf_counter()
                model.fit(x_tr, y_all[tr])
                ref_seconds = time.perf_counter() - start
            f_te = model.decision(x_te)
            if task == "classification":
                ref_value = float(np.mean(np.argmax(loss.probabilities(f_te), 1) == labels[te]))
            else:
                ref_value = float(np.sqrt(np.mean((y_all[te] - f_te) ** 2)))

            model_path, fit_json, eval_json = (os.path.join(tmp, n) for n in
                                               ("m.pt", "fit.json", "eval.json"))
            subprocess.run([args.boosthead, "fit", "--data", train_csv, "--target", args.target,
                            "--out", model_path, "--report", fit_json, "--quiet"] + common,
                           check=True)
            subprocess.run([args.boosthead, "eval", "--model", model_path, "--data", test_csv,
                            "--target", args.target, "--report", eval_json],
                           check=True, stdout=subprocess.DEVNULL)
            with open(fit_json) as f:
                bh_seconds = json.load(f)["fit_seconds"]
            with open(eval_json) as f:
                bh_value = json.load(f)["value"]
            results.append({"fold": fold, "reference": {metric: ref_value, "fit_seconds": ref_seconds},
                            "boosthead": {metric: bh_value, "fit_seconds": bh_seconds}})
            print(f"fold {fold}/{args.folds}: reference {metric} {ref_value:.4f} in {ref_seconds:7.2f} s"
                  f" | boosthead {metric} {bh_value:.4f} in {bh_seconds:6.3f} s"
                  f" | {ref_seconds / bh_seconds:6.1f}x faster", flush=True)

    rv = np.array([r["reference"][metric] for r in results])
    bv = np.array([r["boosthead"][metric] for r in results])
    rt = sum(r["reference"]["fit_seconds"] for r in results)
    bt = sum(r["boosthead"]["fit_seconds"] for r in results)
    print(f"{os.path.basename(args.data)} (T={args.stages} J={args.units} eta={args.shrinkage:g} "
          f"subsample={args.subsample:g} max_iter={args.max_iter}, {args.folds} folds): "
          f"reference {metric} {rv.mean():.4f} +- {rv.std(ddof=1):.4f}, boosthead {metric} "
          f"{bv.mean():.4f} +- {bv.std(ddof=1):.4f}; fit time reference {rt:.2f} s, boosthead "
          f"{bt:.3f} s: {rt / bt:.1f}x faster")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"data": args.data, "task": task, "metric": metric, "folds": results,
                       "reference_mean": float(rv.mean()), "boosthead_mean": float(bv.mean()),
                       "reference_seconds": rt, "boosthead_seconds": bt, "speedup": rt / bt,
                       "options": vars(args)}, f, indent=2)


if __name__ == "__main__":
    main()
