#!/usr/bin/env bash
# Builds the library, the GoogleTest suite and the command-line tool with AddressSanitizer and
# UndefinedBehaviorSanitizer (-DBOOSTHEAD_SANITIZE=ON, the default compiler: gcc) into build-asan,
# runs the suite, then the CLI's hostile-input and kill-and-resume tests on the sanitized tool.
# The CUDA kernels are left out (nothing CUDA runs here; the CPU code is what is sanitized).
# LibTorch itself is not instrumented and keeps allocations alive until exit, so leak detection
# is off; any ASan or UBSan report fails the run (in the CLI tests, a report is output the tests
# do not expect on stderr, or a crash). Arguments go to boosthead_tests (e.g.
# --gtest_filter=Csv.*), and then the CLI tests are left out.
# Environment: BOOSTHEAD_ASAN_BUILD_DIR (default build-asan), BOOSTHEAD_JOBS (default 2).
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${BOOSTHEAD_ASAN_BUILD_DIR:-build-asan}
jobs=${BOOSTHEAD_JOBS:-2}

start=$(date +%s)
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBOOSTHEAD_SANITIZE=ON \
  -DBOOSTHEAD_CUDA=OFF \
  -DBOOSTHEAD_BUILD_CLI=ON -DBOOSTHEAD_BUILD_EXAMPLES=OFF >/dev/null
cmake --build "$build_dir" -j "$jobs" --target boosthead_tests boosthead_cli
built=$(date +%s)

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:check_initialization_order=1:strict_string_checks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
"$build_dir/boosthead_tests" "$@"
tested=$(date +%s)
if (($# == 0)); then
  export BOOSTHEAD_PYTHON=${BOOSTHEAD_PYTHON:-$PWD/.venv/bin/python}
  bash tests/cli/hostile_input_test.sh "$build_dir/boosthead"
  bash tests/cli/resume_test.sh "$build_dir/boosthead" "$PWD/data"
fi
echo "sanitize: build $((built - start)) s, tests $((tested - built)) s," \
  "CLI tests $(($(date +%s) - tested)) s" >&2
