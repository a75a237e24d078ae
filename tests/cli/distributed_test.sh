#!/usr/bin/env bash
# Data-parallel fits on loopback with Gloo: torchrun's processes give the one-process model, and
# a process that dies or hangs makes the others fail with an error naming it, and no model file.
#   distributed_test.sh BOOSTHEAD_BINARY DATA_DIR PYTHON
set -u
bh=$1
data=$2
python=$3
tmp=$(mktemp -d)
pids=()
trap 'kill -9 "${pids[@]}" 2>/dev/null; rm -rf "$tmp"' EXIT
passed=0
failed=0
check() {
  if eval "$2"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAILED: $1" >&2; fi
}
export OMP_NUM_THREADS=1
torchrun() { "$python" -m torch.distributed.run --standalone --nproc-per-node "$@"; }
free_port() { "$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
# Largest absolute difference between the probability columns of two predict outputs.
worst() {
  paste -d, "$1" "$2" | awk -F, 'NR > 1 {
    n = NF / 2
    if ($1 != $(n + 1)) bad = 1
    for (i = 2; i <= n; i++) { d = $i - $(i + n); if (d < 0) d = -d; if (d > m) m = d }
  } END { if (bad) print "labels-differ"; else printf "%.3g", m }'
}
same_model() {  # name, model, reference model
  "$bh" predict --model "$2" --data "$data/Vehicle.csv" --out "$tmp/a.csv" &&
    "$bh" predict --model "$3" --data "$data/Vehicle.csv" --out "$tmp/b.csv" || return 1
  local w
  w=$(worst "$tmp/a.csv" "$tmp/b.csv")
  echo "$1: largest probability difference $w" >&2
  [ "$w" != labels-differ ] && awk "BEGIN { exit !($w <= 1e-6) }"
}

# Settings whose fit does not magnify the last-bit differences that another order of float64
# additions makes (docs/DISTRIBUTED.md): L-BFGS, 15 iterations per stage.
base=(fit --target Class --dtype float64 --seed 3 --quiet --threads 1 --solver lbfgs --max-iter 15
      --subsample 0.7)
fit=("${base[@]}" --stages 15)
"$bh" "${fit[@]}" --data "$data/Vehicle.csv" --out "$tmp/one.bh" || { echo "one-process fit failed" >&2; exit 1; }

# 1. Shares of one file, on 2 and 3 processes.
for n in 2 3; do
  torchrun "$n" --no-python "$bh" "${fit[@]}" --data "$data/Vehicle.csv" --out "$tmp/n$n.bh" \
    --report "$tmp/n$n.json" >"$tmp/n$n.log" 2>&1
  check "torchrun with $n processes succeeds" "[ $? -eq 0 ]"
  check "$n processes give the one-process model" "same_model '$n processes' '$tmp/n$n.bh' '$tmp/one.bh'"
  check "the report records $n processes and the bytes reduced" \
    "grep -q '\"size\": $n' '$tmp/n$n.json' && grep -q '\"bytes_per_stage\"' '$tmp/n$n.json'"
done

# 2. One file per process ({rank}), split at other rows than the byte ranges.
head -n 301 "$data/Vehicle.csv" >"$tmp/part-0.csv"
{ head -n 1 "$data/Vehicle.csv"; tail -n +302 "$data/Vehicle.csv"; } >"$tmp/part-1.csv"
torchrun 2 --no-python "$bh" "${fit[@]}" --data "$tmp/part-{rank}.csv" --out "$tmp/parts.bh" \
  >"$tmp/parts.log" 2>&1
check "a file per process ({rank}) fits" "[ $? -eq 0 ]"
check "a file per process gives the one-process model" "same_model 'part-{rank}' '$tmp/parts.bh' '$tmp/one.bh'"

# 3. Resuming on another number of processes: 2 processes stop (killed), 3 finish.
long=("${base[@]}" --stages 60 --checkpoint "$tmp/fit.ckpt" --resume)
"$bh" "${base[@]}" --stages 60 --data "$data/Vehicle.csv" --out "$tmp/one60.bh"
torchrun 2 --no-python "$bh" "${long[@]}" --data "$data/Vehicle.csv" --out "$tmp/r.bh" \
  >/dev/null 2>&1 &
tr=$!
pids+=("$tr")
for _ in $(seq 3000); do [ -s "$tmp/fit.ckpt" ] && break; sleep 0.02; done
kill -9 "$tr" $(pgrep -f -- "--checkpoint $tmp/fit.ckpt") 2>/dev/null
wait "$tr" 2>/dev/null
check "the killed group left a checkpoint and no model" "[ -s '$tmp/fit.ckpt' ] && [ ! -e '$tmp/r.bh' ]"
torchrun 3 --no-python "$bh" "${long[@]}" --data "$data/Vehicle.csv" --out "$tmp/r.bh" \
  --report "$tmp/r.json" >/dev/null 2>&1
check "3 processes resume the checkpoint of 2" "grep -q '\"stages_resumed\": [1-9]' '$tmp/r.json'"
check "the resumed model is the one-process model" "same_model resumed '$tmp/r.bh' '$tmp/one60.bh'"

# 4. Bad data in one process's share: every process fails, naming it.
sed '500s/^[^,]*,/NA,/' "$data/Vehicle.csv" >"$tmp/bad.csv"
torchrun 2 --no-python "$bh" "${fit[@]}" --data "$tmp/bad.csv" --out "$tmp/bad.bh" >"$tmp/bad.log" 2>&1
check "bad data in one share fails the fit" "[ $? -ne 0 ] && [ ! -e '$tmp/bad.bh' ]"
check "the error names the process and the row" \
  "grep -q 'process 1 of 2' '$tmp/bad.log' && grep -q 'row 499' '$tmp/bad.log'"

# 5. A process that dies (SIGKILL) or hangs (SIGSTOP): the other stops in time, naming it. The
# processes are started by hand, as on nodes whose launcher does not end the group itself.
slow=(fit --target Class --quiet --threads 1 --data "$data/Vehicle.csv" --stages 2000)
for fault in KILL STOP; do
  port=$(free_port)
  out="$tmp/fault$fault.bh"
  env RANK=0 WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT="$port" \
    "$bh" "${slow[@]}" --out "$out" --group-timeout 10 >"$tmp/rank0.log" 2>&1 &
  p0=$!
  env RANK=1 WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT="$port" \
    "$bh" "${slow[@]}" --out "$out" --group-timeout 10 >/dev/null 2>&1 &
  p1=$!
  pids+=("$p0" "$p1")
  sleep 3
  kill -"$fault" "$p1"
  start=$(date +%s)
  wait "$p0"
  status=$?
  took=$(($(date +%s) - start))
  kill -9 "$p1" 2>/dev/null
  echo "SIG$fault of rank 1: rank 0 exited with $status after ${took} s: $(cat "$tmp/rank0.log")" >&2
  check "SIG$fault of rank 1: rank 0 fails" "[ $status -ne 0 ] && [ ! -e '$out' ]"
  check "SIG$fault of rank 1: within the timeout and the survey (${took} s)" "[ $took -le 20 ]"
  check "SIG$fault of rank 1: the error names rank 1" \
    "grep -q '^boosthead: error: lost rank 1 of 2' '$tmp/rank0.log'"
done

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
