#!/usr/bin/env bash
# Hostile input for the boosthead command line: every data or runtime error must fail with exit
# code 1 (not a signal), one line "boosthead: error: ..." on stderr naming the problem, nothing on
# stdout, and no output file or leftover temporary file; every usage error the same with exit
# code 2 and a second line pointing to --help. Input that is odd but usable (a pandas index
# column, unseen levels, identifier columns) must work and say what was done on stderr.
# Usage: tests/cli/hostile_input_test.sh path/to/boosthead
set -u

cli=${1:?usage: $0 path/to/boosthead}
[[ $cli == /* ]] || cli=$PWD/$cli
python=${BOOSTHEAD_PYTHON:-/usr/bin/python3}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/boosthead_hostile.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work" || exit 1
mkdir out

passed=0
failed=0
skipped=0

fail() {
  echo "FAIL: $1: $2" >&2
  failed=$((failed + 1))
}

# expect_error NAME PATTERN OUTPUT -- COMMAND...
# PATTERN is a fixed string the error line must contain; OUTPUT is the file the command would
# write ("" for none).
expect_error() { expect_failure 1 "$@"; }
# expect_usage NAME PATTERN OUTPUT -- COMMAND...: the same for a usage error (exit 2, a hint).
expect_usage() { expect_failure 2 "$@"; }

expect_failure() {
  local want=$1 name=$2 pattern=$3 output=$4
  shift 5
  "$@" >stdout.txt 2>stderr.txt
  local rc=$? problems=()
  if ((rc != want)); then
    if ((rc > 128)); then
      problems+=("exit code $rc (signal $((rc - 128)))")
    else
      problems+=("exit code $rc, expected $want")
    fi
  fi
  local lines line
  lines=$(wc -l <stderr.txt)
  line=$(head -n 1 stderr.txt)
  if ((want == 2)); then
    if ((lines != 2)); then problems+=("$lines lines on stderr, expected 2"); fi
    if [[ $(tail -n 1 stderr.txt) != "Run 'boosthead"*" --help' for the options." ]]; then
      problems+=("no hint to --help")
    fi
  elif ((lines != 1)); then
    problems+=("$lines lines on stderr, expected 1")
  fi
  if [[ $line != "boosthead: error: "* ]]; then problems+=("stderr is not an error line"); fi
  if [[ $line != *"$pattern"* ]]; then problems+=("error does not mention '$pattern'"); fi
  if [[ -s stdout.txt ]]; then problems+=("stdout is not empty: $(head -c 200 stdout.txt)"); fi
  if [[ -n $output && -e $output ]]; then problems+=("output '$output' was left behind"); fi
  local leftovers
  leftovers=$(find . -name '*.tmp*' | head -n 3)
  if [[ -n $leftovers ]]; then problems+=("temporary files left: $leftovers"); fi
  if ((${#problems[@]} == 0)); then
    passed=$((passed + 1))
  else
    local p
    for p in "${problems[@]}"; do fail "$name" "$p"; done
    echo "  command: $*" >&2
    echo "  stderr: $(head -c 500 stderr.txt)" >&2
  fi
  rm -f stdout.txt stderr.txt
  find . -name '*.tmp*' -exec rm -rf {} + 2>/dev/null
}

skip() {
  echo "skipped: $1 ($2)"
  skipped=$((skipped + 1))
}

# expect_ok NAME PATTERN -- COMMAND...: exit 0, and PATTERN (fixed) on stderr ("" for none).
expect_ok() {
  local name=$1 pattern=$2
  shift 3
  "$@" >stdout.txt 2>stderr.txt
  local rc=$?
  if ((rc == 0)) && [[ -z $pattern || $(cat stderr.txt) == *"$pattern"* ]]; then
    passed=$((passed + 1))
  else
    fail "$name" "exit $rc, stderr lacks '$pattern': $(head -c 500 stderr.txt)"
    echo "  command: $*" >&2
  fi
}

fit() { "$cli" fit --quiet --stages 3 --max-iter 20 "$@"; }

# A valid model to evaluate with, and data it accepts.
printf 'a,b,y\n1,2,x\n3,4,z\n5,6,x\n7,8,z\n1,3,x\n2,5,z\n4,1,x\n6,2,z\n' >good.csv
if ! fit --data good.csv --target y --out model.pt >/dev/null 2>fit.txt || [[ ! -s model.pt ]]; then
  echo "FAIL: setup: cannot fit a model on good.csv: $(cat fit.txt)" >&2
  echo "0 passed, 1 failed"
  exit 1
fi
model=model.pt

# --- CSV input -----------------------------------------------------------------------------
expect_error "missing data file" "cannot open CSV file 'nope.csv'" out/m.pt -- \
  fit --data nope.csv --target y --out out/m.pt
: >empty.csv
expect_error "empty data file" "empty.csv: empty file" out/m.pt -- \
  fit --data empty.csv --target y --out out/m.pt
printf 'a,b,y\n' >header.csv
expect_error "header only" "header.csv: no data rows" out/m.pt -- \
  fit --data header.csv --target y --out out/m.pt
printf 'a,b,y\n1,2,x\n3,4\n5,6,z\n' >ragged.csv
expect_error "ragged rows" "row 2 has 2 fields, expected 3" out/m.pt -- \
  fit --data ragged.csv --target y --out out/m.pt
printf 'a,b,y\n1,"2,x\n3,4,z\n' >quote.csv
expect_error "unterminated quote" "unterminated quoted field starting at line 2" out/m.pt -- \
  fit --data quote.csv --target y --out out/m.pt
expect_error "unknown target column" "unknown column 'nope'" out/m.pt -- \
  fit --data good.csv --target nope --out out/m.pt
expect_error "empty target name" "unknown column ''" out/m.pt -- \
  fit --data good.csv --target "" --out out/m.pt

# --- non-finite numbers ----------------------------------------------------------------------
for cell in NaN Inf -Inf; do
  printf 'a,b,y\n1,2,x\n3,%s,z\n5,6,x\n7,8,z\n' "$cell" >"feature_$cell.csv"
  expect_error "$cell in a feature (fit)" "non-finite value '$cell' in column 'b' at row 2" out/m.pt -- \
    fit --data "feature_$cell.csv" --target y --out out/m.pt
  printf 'a,b,y\n1,2,1.5\n3,4,2\n5,6,%s\n7,8,3\n' "$cell" >"target_$cell.csv"
  expect_error "$cell in a regression target" "non-finite value '$cell' in column 'y' at row 3" \
    out/m.pt -- fit --data "target_$cell.csv" --target y --out out/m.pt
done
printf 'a,b,y\n1,2,x\n3,NaN,z\n' >predict_nan.csv
expect_error "NaN in a feature (predict)" "non-finite value 'NaN' in column 'b' at row 2" out/p.csv -- \
  "$cli" predict --model "$model" --data predict_nan.csv --out out/p.csv
printf 'a,b,y\nInf,2,x\n3,4,z\n' >eval_inf.csv
expect_error "Inf in a feature (eval)" "non-finite value 'Inf' in column 'a' at row 1" out/r.json -- \
  "$cli" eval --model "$model" --data eval_inf.csv --report out/r.json

# --- classes ----------------------------------------------------------------------------------
printf 'a,b,y\n1,2,x\n3,4,x\n5,6,x\n' >single.csv
expect_error "a single class" "has a single class 'x'" out/m.pt -- \
  fit --data single.csv --target y --out out/m.pt
printf 'a,b,y\n1,2,x\n3,4,w\n5,6,z\n' >newclass.csv
expect_error "unknown class at eval" "unknown class 'w' in column 'y' at row 2" out/r.json -- \
  "$cli" eval --model "$model" --data newclass.csv --report out/r.json

# --- text in a numeric column -----------------------------------------------------------------
printf 'a,b,y\n1,2,x\n3,hello,z\n' >text.csv
expect_error "text in a numeric column (predict)" "column 'b' is numeric but row 2 holds 'hello'" \
  out/p.csv -- "$cli" predict --model "$model" --data text.csv --out out/p.csv
expect_error "text in a numeric column (eval)" "column 'b' is numeric but row 2 holds 'hello'" \
  out/r.json -- "$cli" eval --model "$model" --data text.csv --report out/r.json
printf 'a,y\n1,x\n' >fewer.csv
expect_error "a model column missing from the data" \
  "fewer.csv: column 'b' is missing from the file; the model 'model.pt' needs it" out/p.csv -- \
  "$cli" predict --model "$model" --data fewer.csv --out out/p.csv
expect_error "a model column missing from the data (eval)" "column 'b' is missing from the file" \
  out/r.json -- "$cli" eval --model "$model" --data fewer.csv --report out/r.json

# --- row numbers are the file's after --drop-missing -----------------------------------------
printf 'a,b,y\n1,2,x\nNA,4,z\n5,,x\n7,8,z\n1,3,x\n2,oops,z\n' >dropped.csv
"$cli" predict --model "$model" --data dropped.csv --drop-missing --out out/p.csv \
  >stdout.txt 2>stderr.txt
rc=$?
if ((rc == 1)) && grep -q "2 of 6 rows have missing values" stderr.txt &&
  [[ $(tail -n 1 stderr.txt) == *"column 'b' is numeric but row 6 holds 'oops'"* ]] &&
  [[ ! -e out/p.csv ]]; then
  passed=$((passed + 1))
else
  fail "row numbers after --drop-missing" "exit $rc, stderr: $(cat stderr.txt)"
fi
printf 'a,b,y\n1,2,x\nNA,4,z\n5,6,x\n7,8,z\n1,3,x\n2,NaN,z\n' >dropped_nan.csv
"$cli" fit --stages 3 --data dropped_nan.csv --target y --drop-missing --quiet --out out/m.pt \
  >stdout.txt 2>stderr.txt
rc=$?
if ((rc == 1)) && [[ $(tail -n 1 stderr.txt) == *"non-finite value 'NaN' in column 'b' at row 6"* ]] &&
  [[ ! -e out/m.pt ]]; then
  passed=$((passed + 1))
else
  fail "row numbers after --drop-missing (fit)" "exit $rc, stderr: $(cat stderr.txt)"
fi
rm -f stdout.txt stderr.txt

# --- validation split -------------------------------------------------------------------------
printf 'a,b,y\n1,2,x\n3,4,z\n5,6,x\n' >three.csv
expect_error "too few rows for the validation split" "too few rows for a validation split" \
  out/m.pt -- fit --data three.csv --target y --valid-fraction 0.5 --out out/m.pt
expect_usage "validation fraction of 1" "valid_fraction must be in [0, 1), got 1" out/m.pt -- \
  fit --data good.csv --target y --valid-fraction 1 --out out/m.pt

# --- model files ------------------------------------------------------------------------------
expect_error "missing model file" "model file 'none.pt': cannot open it" out/p.csv -- \
  "$cli" predict --model none.pt --data good.csv --out out/p.csv
: >zero.pt
expect_error "empty model file" "model file 'zero.pt': not a readable TorchScript archive (the file is empty)" out/p.csv -- \
  "$cli" predict --model zero.pt --data good.csv --out out/p.csv
size=$(wc -c <"$model")
for keep in 30 $((size / 2)) $((size - 1)); do
  head -c "$keep" "$model" >truncated.pt
  expect_error "model truncated to $keep of $size bytes (predict)" \
    "model file 'truncated.pt': not a readable TorchScript archive" \
    out/p.csv -- "$cli" predict --model truncated.pt --data good.csv --out out/p.csv
done
expect_error "truncated model file (eval)" "model file 'truncated.pt': not a readable" out/r.json -- \
  "$cli" eval --model truncated.pt --data good.csv --report out/r.json
head -c 4096 /dev/urandom >random.pt
expect_error "random bytes as a model" "model file 'random.pt': not a readable" out/p.csv -- \
  "$cli" predict --model random.pt --data good.csv --out out/p.csv
# A local file header signature followed by garbage.
{ printf 'PK\003\004'; head -c 2000 /dev/urandom; } >zipstart.pt
expect_error "zip signature then garbage" "model file 'zipstart.pt': not a readable" out/p.csv -- \
  "$cli" predict --model zipstart.pt --data good.csv --out out/p.csv
# The model with bytes flipped in the middle of its records.
cp "$model" flipped.pt
printf '\377\377\377\377\377\377\377\377' | dd of=flipped.pt bs=1 seek=$((size / 3)) conv=notrunc status=none
expect_error "model with corrupted bytes" "model file 'flipped.pt': not a readable" out/p.csv -- \
  "$cli" predict --model flipped.pt --data good.csv --out out/p.csv
mkdir folder.pt
# Found by fuzz/model_fuzz: a corrupted string length in data.pkl made LibTorch allocate 4 GiB.
regression=$here/../../fuzz/regressions/model_fuzz
if [[ -f $regression/pickle_string_length_4gib.pt ]]; then
  cp "$regression/pickle_string_length_4gib.pt" pickle.pt
  expect_error "model with a corrupted pickle (fuzz regression)" "fails its CRC-32 check" out/p.csv -- \
    "$cli" predict --model pickle.pt --data good.csv --out out/p.csv
else
  skip "model with a corrupted pickle" "fuzz/regressions not found"
fi
expect_error "a folder as the model" "model file 'folder.pt': not a readable TorchScript archive (it is a folder)" out/p.csv -- \
  "$cli" predict --model folder.pt --data good.csv --out out/p.csv

if [[ -x $python ]] && "$python" -c 'import zipfile' 2>/dev/null; then
  "$python" - <<'EOF'
import zipfile
with zipfile.ZipFile("plain.zip", "w") as z:
    z.writestr("hello.txt", "not a model")
with zipfile.ZipFile("dirzip.pt", "w") as z:
    z.writestr("archive/data.pkl", b"\x80\x02garbage")
    z.writestr("archive/version", "3\n")
EOF
  expect_error "a zip that is not TorchScript" "model file 'plain.zip': not a readable TorchScript archive (a zip file but not TorchScript" out/p.csv -- \
    "$cli" predict --model plain.zip --data good.csv --out out/p.csv
  expect_error "a zip without TorchScript's records" "no record 'archive/constants.pkl'" out/p.csv -- \
    "$cli" predict --model dirzip.pt --data good.csv --out out/p.csv
else
  skip "zip files that are not TorchScript" "no $python"
fi

if [[ -x $python ]] && "$python" -c 'import torch' 2>/dev/null; then
  cat >make_modules.py <<'EOF'
import sys
import torch


class Doubler(torch.nn.Module):
    def forward(self, x):
        return x * 2


class Impostor(torch.nn.Module):
    format: str
    stages: str

    def __init__(self):
        super().__init__()
        self.format = "boosthead-model"
        self.stages = "many"

    def forward(self, x):
        return x


torch.jit.script(Doubler()).save(sys.argv[1])
torch.jit.script(Impostor()).save(sys.argv[2])
EOF
  if "$python" make_modules.py other.pt impostor.pt 2>module_err.txt; then
    expect_error "a TorchScript module that is not a boosthead model" "not a boosthead model" \
      out/p.csv -- "$cli" predict --model other.pt --data good.csv --out out/p.csv
    expect_error "a TorchScript module that is not a boosthead model (eval)" \
      "model file 'other.pt'" out/r.json -- \
      "$cli" eval --model other.pt --data good.csv --report out/r.json
    expect_error "a module claiming the boosthead format without its attributes" \
      "model file 'impostor.pt': missing, mistyped or invalid attribute" out/p.csv -- \
      "$cli" predict --model impostor.pt --data good.csv --out out/p.csv
  else
    fail "setup" "cannot script modules with $python: $(tail -n 1 module_err.txt)"
  fi
else
  skip "a TorchScript module that is not a boosthead model" "no torch in $python"
fi

# --- devices ----------------------------------------------------------------------------------
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
  skip "--device cuda without a GPU" "a GPU is present"
else
  # Every command that takes --device: one error naming CUDA, no output file.
  expect_error "fit --device cuda without a GPU" "no CUDA device is available" out/m.pt -- \
    fit --data good.csv --target y --device cuda --out out/m.pt
  expect_error "eval --device cuda without a GPU" "no CUDA device is available" out/r.json -- \
    "$cli" eval --model "$model" --data good.csv --device cuda --report out/r.json
  expect_error "predict --device cuda without a GPU" "no CUDA device is available" out/p.csv -- \
    "$cli" predict --model "$model" --data good.csv --device cuda --out out/p.csv
  expect_error "bench --device cuda without a GPU" "no CUDA device is available" out/b.json -- \
    "$cli" bench --data good.csv --target y --device cuda --folds 2 --report out/b.json
fi
expect_error "an unknown device" "unknown device 'tpu'" out/m.pt -- \
  fit --data good.csv --target y --device tpu --out out/m.pt

# --- outputs ----------------------------------------------------------------------------------
expect_error "output folder does not exist" "folder 'missing' does not exist" missing/m.pt -- \
  fit --data good.csv --target y --out missing/m.pt
expect_error "output is a folder" "is a folder" "" -- \
  fit --data good.csv --target y --out out

# --- usage errors: exit 2, the tool's format, a hint ------------------------------------------
expect_usage "an unknown option" "--stagez" out/m.pt -- \
  fit --data good.csv --target y --stagez 3 --out out/m.pt
expect_usage "a missing required option" "--out is required" "" -- \
  "$cli" fit --data good.csv --target y
expect_usage "a value of the wrong type" "--stages" out/m.pt -- \
  fit --data good.csv --target y --stages many --out out/m.pt
expect_usage "no subcommand" "subcommand" "" -- "$cli"
expect_usage "--patience without a validation set" "--patience 3 needs a validation set" \
  out/m.pt -- fit --data good.csv --target y --patience 3 --out out/m.pt
expect_usage "--subsample 0" "subsample must be in (0, 1], got 0" out/m.pt -- \
  fit --data good.csv --target y --subsample 0 --out out/m.pt
expect_usage "an unknown preset" "--preset: unknown preset 'fast'; known presets: default, paper" \
  out/m.pt -- fit --data good.csv --target y --preset fast --out out/m.pt
expect_usage "--group-timeout 0" "--group-timeout" out/m.pt -- \
  fit --data good.csv --target y --group-timeout 0 --out out/m.pt
expect_error "a torchrun environment with a rank out of range" \
  "environment variable RANK='5' is not an integer in [0, 1]" out/m.pt -- \
  env RANK=5 WORLD_SIZE=2 MASTER_PORT=29999 "$cli" fit --data good.csv --target y --out out/m.pt
expect_error "a torchrun environment without MASTER_PORT" \
  "environment variable MASTER_PORT is not set" out/m.pt -- \
  env RANK=0 WORLD_SIZE=2 MASTER_PORT= "$cli" fit --data good.csv --target y --out out/m.pt
expect_usage "--valid-fraction under torchrun" "--valid-fraction splits one process's rows" \
  out/m.pt -- env RANK=0 WORLD_SIZE=2 MASTER_PORT=29999 "$cli" fit --data good.csv --target y \
  --valid-fraction 0.2 --out out/m.pt
expect_usage "--units -1" "units_per_stage must be at least 1 (or 0 for auto), got -1" out/m.pt -- \
  fit --data good.csv --target y --units -1 --out out/m.pt
for stages in 0 -1 4; do
  expect_usage "eval --stages $stages of a 3-stage model" \
    "--stages must be between 1 and 3 (the model's stage count; leave it out for all), got $stages" \
    out/r.json -- "$cli" eval --model "$model" --data good.csv --stages "$stages" --report out/r.json
done
expect_usage "predict --stages 0" "--stages must be between 1 and 3" out/p.csv -- \
  "$cli" predict --model "$model" --data good.csv --stages 0 --out out/p.csv
expect_usage "an unknown --unknown-levels" "--unknown-levels must be 'zeros' or 'error'" out/p.csv -- \
  "$cli" predict --model "$model" --data good.csv --unknown-levels maybe --out out/p.csv

# --- tabular data as users bring it ----------------------------------------------------------
# Integer labels written bare are classes; many distinct integers are a regression target.
printf 'a,b,y\n1,2,0\n3,4,1\n5,6,2\n7,8,0\n1,3,1\n2,5,2\n4,1,0\n6,2,1\n3,3,2\n' >intlabels.csv
expect_ok "bare integer labels are classes" \
  "boosthead: task: classification: 3 distinct integer values in 9 rows" -- \
  "$cli" fit --stages 2 --data intlabels.csv --target y --out out/int.pt --report out/int.json
if ! grep -q '"task_reason": "classification: 3 distinct' out/int.json; then
  fail "task reason in the report" "$(head -c 300 out/int.json)"
fi
expect_ok "--task regression overrides" "boosthead: task: regression as asked" -- \
  "$cli" fit --stages 2 --data intlabels.csv --target y --task regression --out out/int.pt
rm -f out/int.pt out/int.json
# An identifier column: a warning that names the flag; the flag leaves it out.
printf 'id,a,b,y\n' >ids.csv
for i in $(seq 1 30); do printf '"r%d",%d,%d,%s\n' "$i" $((i % 7)) $((i % 5)) $((i % 2)) >>ids.csv; done
expect_ok "an identifier column is reported" "--ignore-columns id leaves it out" -- \
  fit --data ids.csv --target y --out out/ids.pt
"$cli" fit --quiet --stages 3 --data ids.csv --target y --ignore-columns id --out out/ids.pt \
  >/dev/null 2>stderr.txt
if [[ $? -ne 0 || -s stderr.txt ]]; then
  fail "--ignore-columns leaves it out" "$(cat stderr.txt)"
else
  passed=$((passed + 1))
fi
expect_error "--ignore-columns naming no column" "--ignore-columns: ids.csv has no column 'nope'" \
  out/m.pt -- fit --data ids.csv --target y --ignore-columns nope --out out/m.pt
expect_usage "--ignore-columns naming the target" "--ignore-columns lists the target 'y'" \
  out/m.pt -- fit --data ids.csv --target y --ignore-columns id,y --out out/m.pt
# New identifiers at predict time do not matter once the column is ignored.
printf 'id,a,b,y\n"new",1,2,0\n' >newids.csv
expect_ok "predict ignores an ignored column" "" -- \
  "$cli" predict --model out/ids.pt --data newids.csv --out out/ids.csv
rm -f out/ids.pt out/ids.csv
# Levels not seen in training: zeros and one warning per column by default, or an error.
printf 'a,b,c,y\n1,2,"p",x\n3,4,"q",z\n5,6,"p",x\n7,8,"q",z\n1,3,"p",x\n2,5,"q",z\n' >levels.csv
fit --data levels.csv --target y --out levels.pt >/dev/null 2>&1
printf 'a,b,c,y\n1,2,"p",x\n3,4,"r",z\n5,6,"s",x\n' >unseen.csv
expect_ok "unseen levels are zeros with a warning" \
  "column 'c' holds levels not seen in training in 2 of 3 rows (first: 'r')" -- \
  "$cli" eval --model levels.pt --data unseen.csv
expect_error "--unknown-levels error refuses them" "unknown level 'r' in column 'c' at row 2" \
  out/p.csv -- "$cli" predict --model levels.pt --data unseen.csv --unknown-levels error \
  --out out/p.csv
# pandas' DataFrame.to_csv writes the row index as a first column without a name.
printf ',a,b,y\n0,1,2,x\n1,3,4,z\n2,5,6,x\n3,7,8,z\n' >pandas.csv
expect_ok "a pandas index column is the row index" "read as the row index, not as a feature" -- \
  "$cli" eval --model "$model" --data pandas.csv
# predict --drop-missing keeps one line per input row, in order, with --id-column.
printf 'key,a,b,y\nk1,1,2,x\nk2,NA,4,z\nk3,5,6,x\n' >gaps.csv
expect_ok "predict --drop-missing keeps the rows aligned" "1 of 3 rows have missing values" -- \
  "$cli" predict --model "$model" --data gaps.csv --drop-missing --id-column key --out out/gaps.csv
if [[ $(sed -n 1p out/gaps.csv) != "key,prediction,prob_x,prob_z" ||
  $(sed -n 3p out/gaps.csv) != "k2,,," || $(wc -l <out/gaps.csv) -ne 4 ||
  $(sed -n 4p out/gaps.csv) != k3,* ]]; then
  fail "predict --drop-missing alignment" "$(cat out/gaps.csv)"
fi
rm -f out/gaps.csv
expect_error "--id-column naming no column" "unknown column 'nope'" out/p.csv -- \
  "$cli" predict --model "$model" --data gaps.csv --id-column nope --out out/p.csv
if [[ -x $python ]] && "$python" -c 'import torch' 2>/dev/null; then
  # The model file's forward_columns takes raw columns by name and names what is missing.
  cat >columns.py <<'PY'
import sys, torch
m = torch.jit.load(sys.argv[1])
print(m.forward_columns({"b": torch.tensor([2.0]), "a": torch.tensor([1.0])}, {}).shape)
try:
    m.forward_columns({"a": torch.tensor([1.0])}, {})
except Exception as e:
    print("error:", str(e))
PY
  "$python" columns.py "$model" >columns.txt 2>&1
  if grep -q "torch.Size(\[1, 2\])" columns.txt && grep -q "column 'b' is missing" columns.txt; then
    passed=$((passed + 1))
  else
    fail "forward_columns" "$(head -c 500 columns.txt)"
  fi
fi

# Nothing written by the failed runs, and the model used throughout is untouched.
if [[ -n $(ls -A out) ]]; then fail "output folder" "not empty: $(ls -A out)"; else passed=$((passed + 1)); fi

echo "$passed passed, $failed failed, $skipped skipped"
((failed == 0))
