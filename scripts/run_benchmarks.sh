#!/usr/bin/env bash
# Runs `boosthead bench` on every CSV in data/ and plots the results into docs/bench/.
#
# Usage: scripts/run_benchmarks.sh [BOOSTHEAD_BINARY]
#   BOOSTHEAD_BINARY  default: build/boosthead
# Environment (defaults in brackets):
#   FOLDS [3]  REPEATS [1]  SEED [0]  THREADS [1]  OUT_DIR [docs/bench]
#   EXTRA_ARGS  further options passed to every bench run (e.g. "--stages 100")
# Every method uses its defaults: gbnn 200 stages of 1 sigmoid unit (eta 1, subsample 0.5,
# lbfgs stage solver), the baselines the same 200-unit network with early stopping on 10 % of
# each training fold (patience 10 epochs, at most 200 epochs). One thread keeps the timings
# comparable on a shared 2-core machine; the whole run takes a few minutes there.
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
  reports+=("$out/$name.json")
done

"$root/.venv/bin/python" "$root/scripts/plot_bench.py" "${reports[@]}" --out-dir "$out" \
  --summary "$out/summary.md"
