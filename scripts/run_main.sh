#!/usr/bin/env bash
# The main job, end to end on Fashion-MNIST: a small CNN is trained briefly and frozen, a boosted
# head is fitted on its `features` and exported with the backbone as one TorchScript pipeline,
# which is scored on the 10,000 test images and checked in PyTorch alone (torch.jit.load); then
# `boosthead bench` compares the boosted head with 100-unit heads trained by Adam, SGD and L-BFGS
# on the same frozen features, scikit-learn's MLP and HistGradientBoosting are scored on those
# features too (scripts/bench_reference.py), and a table of the results is printed.
#
# Run after scripts/setup.sh (which builds build/). Outputs go to build/fashion_mnist/ (the CNN is
# trained only when build/fashion_mnist/backbone.pt is missing; delete it to retrain).
# Environment: BOOSTHEAD_BUILD_DIR (default <repo>/build), OUT_DIR, FASHION_MNIST_DIR, THREADS,
# the CNN's CNN_EPOCHS, CNN_LR, CNN_SUBSET, the boosted head's STAGES, UNITS, SUBSAMPLE, MAX_ITER,
# SHRINKAGE, ACTIVATION (of every head), SOLVER (default: the library's defaults), the baselines'
# EPOCHS, HIDDEN_UNITS, LBFGS_ITERATIONS, and REFERENCE=0 to skip scikit-learn.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
build_dir=${BOOSTHEAD_BUILD_DIR:-$repo/build}
[[ $build_dir == /* ]] || build_dir=$repo/$build_dir
data=${FASHION_MNIST_DIR:-/usr/share/datasets/fashion-mnist}
out=${OUT_DIR:-$build_dir/fashion_mnist}
# One thread: on a 2-core machine shared with other work, a second OpenMP thread made the many
# small tensor operations of these fits several times slower (docs/BENCHMARKS_HISTORY.md).
threads=${THREADS:-1}
py=$repo/.venv/bin/python  # the pinned torch (scripts/setup.sh)

# One epoch of the CNN; the boosted head with the library's defaults; baselines of 100 units for
# at most 50 epochs. No validation split for any head: each trains on all 60,000 images.
export BOOSTHEAD_BUILD_DIR=$build_dir OUT_DIR=$out FASHION_MNIST_DIR=$data THREADS=$threads
export CNN_EPOCHS=${CNN_EPOCHS:-1} CNN_LR=${CNN_LR:-2e-3} CNN_SUBSET=${CNN_SUBSET:-0}
export STAGES=${STAGES:-} UNITS=${UNITS:-} SUBSAMPLE=${SUBSAMPLE:-} MAX_ITER=${MAX_ITER:-}
export SHRINKAGE=${SHRINKAGE:-} ACTIVATION=${ACTIVATION:-} SOLVER=${SOLVER:-}
epochs=${EPOCHS:-50}
hidden_units=${HIDDEN_UNITS:-100}
lbfgs_iterations=${LBFGS_ITERATIONS:-10}
reference=${REFERENCE:-1}

for f in train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz t10k-images-idx3-ubyte.gz \
         t10k-labels-idx1-ubyte.gz; do
  if [[ ! -f $data/$f ]]; then
    echo "run_main.sh: $data/$f not found; run scripts/setup.sh (package dataset-fashion-mnist)" \
         "or set FASHION_MNIST_DIR" >&2
    exit 1
  fi
done

start=$(date +%s.%N)
# Steps 1-4: CNN backbone, boosthead fit, eval and predict, the torch.jit.load check.
"$repo/examples/fashion_mnist/run.sh"
pipeline_done=$(date +%s.%N)

# Step 5: every method on the same frozen features; the training features come from the cache
# the fit wrote.
echo "== boosthead bench: gbnn, adam, sgd, lbfgs on the frozen features" >&2
"$build_dir/boosthead" bench --backbone "$out/backbone.pt" --feature-module features \
  --images "$data/train-images-idx3-ubyte.gz" --labels "$data/train-labels-idx1-ubyte.gz" \
  --test-images "$data/t10k-images-idx3-ubyte.gz" --test-labels "$data/t10k-labels-idx1-ubyte.gz" \
  --feature-cache "$out/train_features.cache" --test-feature-cache "$out/test_features.cache" \
  --methods gbnn,adam,sgd,lbfgs ${STAGES:+--stages "$STAGES"} ${UNITS:+--units "$UNITS"} \
  ${SUBSAMPLE:+--subsample "$SUBSAMPLE"} ${MAX_ITER:+--max-iter "$MAX_ITER"} \
  ${SHRINKAGE:+--shrinkage "$SHRINKAGE"} ${ACTIVATION:+--activation "$ACTIVATION"} \
  ${SOLVER:+--solver "$SOLVER"} --epochs "$epochs" --hidden-units "$hidden_units" \
  --lbfgs-iterations "$lbfgs_iterations" --threads "$threads" --report "$out/bench.json" \
  --markdown "$out/bench.md" >/dev/null
if [[ $reference == 1 ]]; then
  echo "== scikit-learn's MLP and HistGradientBoosting on the same features" >&2
  "$py" "$repo/scripts/bench_reference.py" "$out/bench.json"
fi
done_at=$(date +%s.%N)

"$py" - "$out" "$start" "$pipeline_done" "$done_at" <<'PY'
import json, sys
out, start, pipeline_done, done_at = sys.argv[1], *map(float, sys.argv[2:])
bench = json.load(open(f"{out}/bench.json"))
fit = json.load(open(f"{out}/fit.json"))
ev = json.load(open(f"{out}/eval.json"))
cnn = json.load(open(f"{out}/cnn_metrics.json"))
g = bench["options"]["gbnn"]
b = bench["options"]["baselines"]
ref = bench.get("reference") or {}
print()
print(f"Fashion-MNIST: heads on the frozen features ({bench['features']}) of a small CNN; "
      f"{bench['rows']} training / {bench['test_rows']} test images, "
      f"{bench['threads']} thread{'s' if bench['threads'] > 1 else ''}")
units = g['units_per_stage'] or f"{fit['units_per_stage']} (auto)"
print(f"gbnn ({g['preset']} preset): {g['stages']} stages x {units} units, subsample "
      f"{g['subsample']}, shrinkage {g['shrinkage']}, {g['activation']}, {g['max_iter']} "
      f"{g['solver']} iterations per stage; baselines: {b['hidden_units']} {b['activation']} "
      f"units, at most {b['epochs']} epochs, batch {b['batch_size']}, "
      f"{b['lbfgs_iterations']} L-BFGS iterations per epoch; scikit-learn: defaults")
print()
print(f"{'method':<34} {'test accuracy':>13} {'fit seconds':>11}")
print(f"{'CNN with its own dense head':<34} {cnn['test_accuracy']:>13.4f} "
      f"{cnn['train_seconds']:>11.1f}  CNN training, {cnn['epochs']} "
      f"epoch{'s' if cnn['epochs'] > 1 else ''}")
print(f"{'gbnn pipeline (fit, eval)':<34} {ev['value']:>13.4f} {fit['fit_seconds']:>11.1f}")
for m in bench["methods"]:
    unit = "stage" if m["method"] == "gbnn" else "epoch"
    if m.get("reference"):
        print(f"{m['method']:<34} {m['metric_mean']:>13.4f} {m['fit_seconds_mean']:>11.1f}")
        continue
    notes = [] if m["method"] == "gbnn" else [f"{m['trained_mean']:.0f} epochs"]
    # The first stage or epoch whose test accuracy reaches the Adam head's final one.
    if f"{unit}s_to_reference" in m:
        at = m[f"{unit}s_to_reference"]
        notes.append("does not reach adam's accuracy" if at is None else
                     f"reaches adam's {ref['metric']:.4f} at {unit} {at}, "
                     f"{m['seconds_to_reference']:.1f} s")
    print(f"{'bench ' + m['method']:<34} {m['metric_mean']:>13.4f} {m['fit_seconds_mean']:>11.1f}"
          + (f"  {'; '.join(notes)}" if notes else ""))
print()
print(f"feature extraction: {fit['extract_seconds']:.1f} s for the training images "
      f"({'cache' if fit['features_from_cache'] else 'backbone'}); "
      f"pipeline steps {pipeline_done - start:.0f} s, bench {done_at - pipeline_done:.0f} s, "
      f"total {done_at - start:.0f} s")
print(f"outputs in {out}: pipeline.pt, fit.json, eval.json, bench.json, bench.md")
PY
