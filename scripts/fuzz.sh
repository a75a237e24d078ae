#!/usr/bin/env bash
# Builds the libFuzzer targets in fuzz/ with clang, AddressSanitizer and UndefinedBehaviorSanitizer
# into build-fuzz (the library and the targets only), replays the inputs that once failed
# (fuzz/regressions/<target>/), then fuzzes each target for FUZZ_SECONDS (default 60) from its
# seeds in fuzz/corpus/<target>/. The growing corpus is kept in build-fuzz/corpus/<target>/ and
# failing inputs are written to build-fuzz/artifacts/. Exits 1 on any finding.
# Arguments: the targets to run (default: csv_fuzz idx_fuzz model_fuzz).
# Needs the Debian packages clang and libclang-rt-14-dev (libFuzzer's runtime).
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${BOOSTHEAD_FUZZ_BUILD_DIR:-build-fuzz}
seconds=${FUZZ_SECONDS:-60}
jobs=${BOOSTHEAD_JOBS:-2}
targets=("$@")
if ((${#targets[@]} == 0)); then targets=(csv_fuzz idx_fuzz model_fuzz); fi

if ! command -v clang++ >/dev/null 2>&1; then
  echo "fuzz: clang++ not found (Debian packages clang and libclang-rt-14-dev)" >&2
  exit 1
fi

CC=clang CXX=clang++ cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DBOOSTHEAD_FUZZ=ON -DBOOSTHEAD_CUDA=OFF -DBOOSTHEAD_BUILD_TESTS=OFF -DBOOSTHEAD_BUILD_CLI=OFF \
  -DBOOSTHEAD_BUILD_EXAMPLES=OFF >/dev/null
cmake --build "$build_dir" -j "$jobs" --target "${targets[@]}"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
mkdir -p "$build_dir/artifacts" "$build_dir/logs"
failed=0
for target in "${targets[@]}"; do
  bin=$build_dir/fuzz/$target
  log=$build_dir/logs/$target.log
  case $target in
    model_fuzz) max_len=16384 ;;  # the seed models are about 7 KB
    *) max_len=4096 ;;
  esac
  regressions=(fuzz/regressions/"$target"/*)
  if [[ -e ${regressions[0]} ]] && ! "$bin" "${regressions[@]}" >"$log" 2>&1; then
    echo "fuzz: $target fails on a known input again; see $log" >&2
    tail -n 30 "$log" >&2
    failed=1
    continue
  fi
  corpus=$build_dir/corpus/$target
  mkdir -p "$corpus"
  if "$bin" "$corpus" "fuzz/corpus/$target" -max_total_time="$seconds" -max_len="$max_len" \
    -timeout=25 -rss_limit_mb=2560 -print_final_stats=1 \
    -artifact_prefix="$build_dir/artifacts/$target-" >"$log" 2>&1; then
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
    echo "fuzz: $target: ${runs:-?} inputs in ${seconds} s (${rate:-?}/s), corpus $(ls "$corpus" | wc -l) files, no finding"
  else
    echo "fuzz: $target found a failing input; see $log and $build_dir/artifacts/" >&2
    grep -m 5 -E "ERROR|invariant|SUMMARY|Test unit written" "$log" >&2 || tail -n 30 "$log" >&2
    failed=1
  fi
done
exit "$failed"
