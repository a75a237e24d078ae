#!/usr/bin/env bash
# The Fashion-MNIST deep experiment: a small CNN is trained briefly (train_backbone.py), its
# dense head is replaced by a boosted head fitted on the frozen `features` of the 60,000 training
# images, the exported pipeline is scored on the 10,000 test images, and PyTorch alone
# (torch.jit.load) must reproduce the tool's test probabilities within 1e-6.
#
# Environment: BOOSTHEAD_BUILD_DIR (default <repo>/build), OUT_DIR (default
# $BOOSTHEAD_BUILD_DIR/fashion_mnist), FASHION_MNIST_DIR, THREADS (2), the CNN's CNN_EPOCHS (2),
# CNN_LR (1e-3) and CNN_SUBSET (0: all training images), and the head's STAGES, UNITS, SUBSAMPLE,
# MAX_ITER, SHRINKAGE, ACTIVATION, SOLVER (default: the trainer's). Delete $OUT_DIR/backbone.pt
# to retrain the CNN.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
build_dir=${BOOSTHEAD_BUILD_DIR:-$repo/build}
[[ $build_dir == /* ]] || build_dir=$repo/$build_dir
cli=$build_dir/boosthead
data=${FASHION_MNIST_DIR:-/usr/share/datasets/fashion-mnist}
out=${OUT_DIR:-$build_dir/fashion_mnist}
threads=${THREADS:-2}
py=${BOOSTHEAD_PYTHON:-$repo/.venv/bin/python}  # with the pinned torch (scripts/setup.sh)

if [[ ! -x $cli ]]; then
  echo "run.sh: $cli not found; build the boosthead_cli target or set BOOSTHEAD_BUILD_DIR" >&2
  exit 1
fi
mkdir -p "$out"
if [[ ! -f $out/backbone.pt ]]; then
  echo "== training the CNN backbone" >&2
  "$py" "$here/train_backbone.py" --data-dir "$data" --out "$out/backbone.pt" \
    --metrics "$out/cnn_metrics.json" --threads "$threads" --epochs "${CNN_EPOCHS:-2}" \
    --lr "${CNN_LR:-1e-3}" --train-subset "${CNN_SUBSET:-0}"
fi

echo "== boosthead fit on the frozen features" >&2
"$cli" fit --backbone "$out/backbone.pt" --feature-module features \
  --images "$data/train-images-idx3-ubyte.gz" --labels "$data/train-labels-idx1-ubyte.gz" \
  --out "$out/pipeline.pt" --report "$out/fit.json" --feature-cache "$out/train_features.cache" \
  ${STAGES:+--stages "$STAGES"} ${UNITS:+--units "$UNITS"} ${SUBSAMPLE:+--subsample "$SUBSAMPLE"} \
  ${MAX_ITER:+--max-iter "$MAX_ITER"} ${SHRINKAGE:+--shrinkage "$SHRINKAGE"} \
  ${ACTIVATION:+--activation "$ACTIVATION"} ${SOLVER:+--solver "$SOLVER"} --threads "$threads"

echo "== boosthead eval on the test images" >&2
"$cli" eval --model "$out/pipeline.pt" --images "$data/t10k-images-idx3-ubyte.gz" \
  --labels "$data/t10k-labels-idx1-ubyte.gz" --report "$out/eval.json"
"$cli" predict --model "$out/pipeline.pt" --images "$data/t10k-images-idx3-ubyte.gz" \
  --out "$out/test_predictions.csv"

echo "== the pipeline in PyTorch alone" >&2
"$py" "$here/check_pipeline.py" --model "$out/pipeline.pt" \
  --images "$data/t10k-images-idx3-ubyte.gz" --labels "$data/t10k-labels-idx1-ubyte.gz" \
  --predictions "$out/test_predictions.csv" --tol 1e-6 --threads "$threads"

"$py" - "$out" <<'PY'
import json, sys
out = sys.argv[1]
fit = json.load(open(f"{out}/fit.json"))
ev = json.load(open(f"{out}/eval.json"))
try:
    cnn = json.load(open(f"{out}/cnn_metrics.json"))["test_accuracy"]
except FileNotFoundError:
    cnn = None
summary = {
    "cnn_dense_head_test_accuracy": cnn,
    "boosted_head_test_accuracy": ev["value"],
    "boosted_head_train_accuracy": fit.get("train_metric"),
    "stages": fit["stages"], "units_per_stage": fit["units_per_stage"],
    "features": fit["features"], "threads": fit["threads"],
    "features_from_cache": fit["features_from_cache"],
    "extract_seconds": round(fit["extract_seconds"], 2),
    "head_fit_seconds": round(fit["fit_seconds"], 2),
}
json.dump(summary, open(f"{out}/summary.json", "w"), indent=2)
print(json.dumps(summary, indent=2))
PY
