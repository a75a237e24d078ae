#!/usr/bin/env bash
# A fit killed with SIGKILL at random moments and then resumed from its checkpoint ends with the
# same model as an uninterrupted fit (probabilities within 1e-6 on every row).
#   resume_test.sh BOOSTHEAD_BINARY DATA_DIR
set -u
bh=$1
data=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0
failed=0
check() {
  if eval "$2"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAILED: $1" >&2; fi
}

# The paper's preset pins the stage solver and its 200 iterations per stage, so that the fit
# lasts long enough for the kills below to land mid-fit whatever the defaults become.
common=(--data "$data/Vehicle.csv" --target Class --preset paper --stages 300 --units 2 --seed 7
        --quiet --threads 1 --valid-fraction 0.2)
"$bh" fit "${common[@]}" --out "$tmp/full.pt" >/dev/null || { echo "uninterrupted fit failed" >&2; exit 1; }

# Each round waits until the running fit has saved a stage of its own, then kills it a random
# fraction of a second later, so the kills land mid-fit however fast or slow the machine is. A
# kill counts only when the fit was still running (exit status 137).
kills=0
for round in 1 2 3 4; do
  stamp="$tmp/round$round"
  touch "$stamp"
  sleep 0.05
  "$bh" fit "${common[@]}" --out "$tmp/round.pt" --checkpoint "$tmp/fit.ckpt" --resume \
    >/dev/null 2>&1 &
  pid=$!
  for _ in $(seq 3000); do
    if [ "$tmp/fit.ckpt" -nt "$stamp" ] || ! kill -0 "$pid" 2>/dev/null; then break; fi
    sleep 0.02
  done
  sleep "0.0$((RANDOM % 10))"
  kill -9 "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  status=$?
  if [ "$status" -eq 137 ]; then
    kills=$((kills + 1))
    check "a killed fit leaves no model file (round $round)" "[ ! -e '$tmp/round.pt' ]"
  fi
  rm -f "$tmp/round.pt"
done
check "at least two fits were killed mid-way ($kills)" "[ $kills -ge 2 ]"
check "a checkpoint was left by the killed fits" "[ -s '$tmp/fit.ckpt' ]"

# What a fit killed while writing its model would leave: the next fit to that path clears it.
echo partial > "$tmp/resumed.pt.tmp.424242"
"$bh" fit "${common[@]}" --out "$tmp/resumed.pt" --checkpoint "$tmp/fit.ckpt" --resume \
  --report "$tmp/report.json" >/dev/null
check "the resumed fit succeeds" "[ $? -eq 0 ]"
resumed=$(sed -n 's/.*"stages_resumed": *\([0-9]*\).*/\1/p' "$tmp/report.json")
echo "resumed after $kills kills from stage ${resumed:-?}" >&2
check "the resumed fit started from saved stages" "[ '${resumed:-0}' -gt 0 ]"
check "no temporary files are left" "[ -z \"\$(ls '$tmp' | grep '\\.tmp\\.')\" ]"

"$bh" predict --model "$tmp/full.pt" --data "$data/Vehicle.csv" --out "$tmp/full.csv"
"$bh" predict --model "$tmp/resumed.pt" --data "$data/Vehicle.csv" --out "$tmp/resumed.csv"
worst=$(paste -d, "$tmp/full.csv" "$tmp/resumed.csv" | awk -F, 'NR > 1 {
  n = NF / 2
  if ($1 != $(n + 1)) bad = 1
  for (i = 2; i <= n; i++) { d = $i - $(i + n); if (d < 0) d = -d; if (d > m) m = d }
} END { if (bad) print "labels-differ"; else printf "%.3g", m }')
echo "largest probability difference: $worst" >&2
check "resumed model equals the uninterrupted one (max diff $worst)" \
  "[ '$worst' != labels-differ ] && awk 'BEGIN { exit !($worst <= 1e-6) }'"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
