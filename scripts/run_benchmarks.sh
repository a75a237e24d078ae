#!/usr/bin/env bash
# Runs `boosthead bench` on every CSV in data/, scores scikit-learn's MLP and HistGradientBoosting
# on the same folds (scripts/bench_reference.py), and plots the results into docs/bench/.
#
# Usage: scripts/run_benchmarks.sh [BOOSTHEAD_BINARY]
#   BOOSTHEAD_BINARY  default: build/boosthead
# Environment (defaults in brackets):
#   FOLDS [3]  REPEATS [1]  SEED [0]  THREADS [1]  OUT_DIR [docs/bench]
#   EXTRA_ARGS  further options passed to every bench run (e.g. "--stages 100")
# Every method uses its defaults: gbnn the library's (include/boosthead/trainer.h), the baselines
# 100 relu units trained for at most 200 epochs (Adam 1e-3 and SGD with Nesterov momentum on
# mini-batches of 200, full-batch L-BFGS), the same validation rule as gbnn (none by default),
# scikit-learn its own. One thread keeps the timings comparable on a shared 2-core machine.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="${1:-$root/build/boosthead}"
folds="${FOLDS:-3}"
repeats="${REPEATS:-1}"
seed="${SEED:-0}"
threads="${THREADS:-1}"
out="${OUT_DIR:-$root/docs/bench}"
read -r -a extra <<< "${EXTRA_ARGS:-}"

if [[ ! -x "$bin" ]]; then
  echo "run_benchmarks.sh: no boosthead binary at '$bin' (build it, or pass its path)" >&2
  exit 1
fi
mkdir -p "$out"

# Target column of each bundled data set (R mlbench names). Glass's Type was written quoted by
# R, so it is detected as classification; Servo's Class and BostonHousing's medv are numbers.
target_of() {
  case "$1" in
    BostonHousing) echo medv ;;
    Glass) echo Type ;;
    PimaIndiansDiabetes) echo diabetes ;;
    Satellite) echo classes ;;
    *) echo Class ;;
  esac
}

reports=()
for csv in "$root"/data/*.csv; do
  name="$(basename "$csv" .csv)"
  target="$(target_of "$name")"
  echo "== $name (target $target)" >&2
  "$bin" bench --data "$csv" --target "$target" --folds "$folds" --repeats "$repeats" \
    --seed "$seed" --threads "$threads" --drop-missing \
    --report "$out/$name.json" --markdown "$out/$name.md" "${extra[@]}"
  "$root/.venv/bin/python" "$root/scripts/bench_reference.py" "$out/$name.json"
  reports+=("$out/$name.json")
done

"$root/.venv/bin/python" "$root/scripts/plot_bench.py" "${reports[@]}" --out-dir "$out" \
  --summary "$out/summary.md"
