#!/usr/bin/env bash
# The GPU check, one command for a GPU machine that has PyTorch, nvcc, CMake and Ninja but no
# network and no apt. Run scripts/device_deps.sh first on a machine with apt (it fills the
# ignored folder .device-deps/, which must travel with the working tree), then here:
#   1. builds boosthead against this machine's torch with the CUDA kernels (sm_90 + PTX);
#   2. runs the GPU tests: the GoogleTest CUDA and device-layer tests, the CLI's fit, eval and
#      predict with --device cuda against the CPU on the same data, and, with the Python package
#      installed into a folder of the build, a fit through an NCCL process group of one process
#      (scripts/check_process_group.py) and pytest's CUDA tests when pytest is installed;
#   3. runs examples/bench_device: synthetic 1,000,000 x 256 float32 features, 10 classes,
#      100 stages of 8 units, fit seconds on the GPU against 2 CPU threads, and both accuracies.
# Everything fits in about 8 minutes. Logs and figures go to $OUT (default out/device_check).
# Without a GPU the build and the tests still run (the CUDA ones skip) and the benchmark runs a
# small CPU-only version, which checks this script's CPU half.
# Environment: PYTHON (python3), JOBS (all cores), BENCH_ARGS (replace the benchmark's sizes),
# BUILD_TIMEOUT (330 s).
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-out/device_check}
mkdir -p "$out"
python=${PYTHON:-python3}
jobs=${JOBS:-$(nproc)}
deps=$PWD/.device-deps/root
build=build-device
status=0
start=$(date +%s)
log() { echo "device_check [$(($(date +%s) - start)) s]: $*" | tee -a "$out/summary.txt" >&2; }
step() {  # step NAME TIMEOUT COMMAND...: runs with a time limit, output to $out/NAME.log
  local name=$1 limit=$2
  shift 2
  if timeout "$limit" "$@" >"$out/$name.log" 2>&1; then
    log "$name: ok"
  else
    log "$name: FAILED (exit $?; last lines below, all in $name.log)"
    tail -n 25 "$out/$name.log" >&2
    status=1
  fi
}

if [[ ! -d $deps ]]; then
  echo "device_check: $deps is missing; run scripts/device_deps.sh where apt works" >&2
  exit 1
fi
export LD_LIBRARY_PATH=$deps/usr/lib/x86_64-linux-gnu:$deps/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
gpu=$("$python" -c "import torch; print(torch.cuda.get_device_name(0) if torch.cuda.is_available() else '')" 2>/dev/null)
log "torch $("$python" -c 'import torch; print(torch.__version__, "CUDA", torch.version.cuda)'), \
nvcc $(nvcc --version 2>/dev/null | sed -n 's/.*release \([0-9.]*\).*/\1/p'), GPU: ${gpu:-none}"
nvidia-smi -L >>"$out/summary.txt" 2>&1 || true

# 1. Build.
cuda=ON
command -v nvcc >/dev/null 2>&1 || cuda=AUTO
step configure 120 cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DBOOSTHEAD_PYTHON="$(command -v "$python")" -DBOOSTHEAD_CUDA=$cuda \
  -DCMAKE_PREFIX_PATH="$deps/usr" -DCMAKE_INCLUDE_PATH="$deps/usr/include"
step build "${BUILD_TIMEOUT:-330}" cmake --build "$build" -j "$jobs" --target boosthead_tests boosthead_cli \
  boosthead_torch bench_device
if [[ $status -ne 0 ]]; then
  log "stopping: the build failed"
  exit 1
fi
step cuda_objects 30 "$python" scripts/check_cuda_objects.py --machine-code 90 --ptx 90 \
  "$build/libboosthead.so"
tee -a "$out/summary.txt" <"$out/cuda_objects.log" >&2

# 2. GPU tests (each compares the GPU with the CPU on the same data).
step gtest_device 120 "$build/boosthead_tests" \
  --gtest_filter='Cuda.*:DeviceLayer.*:Trainer.TrainsOnTheInputDeviceAndDtype'
grep -E "SKIPPED|Skipped|PASSED|FAILED" "$out/gtest_device.log" | tail -n 8 | tee -a "$out/summary.txt" >&2
cli_check() {
  local cli=$build/boosthead dev=cpu
  [[ -n $gpu ]] && dev=cuda
  "$cli" fit --data data/Vehicle.csv --target Class --stages 30 --units 4 --device "$dev" \
    --quiet --out "$out/vehicle_$dev.pt" --report "$out/fit_$dev.json" &&
    "$cli" fit --data data/Vehicle.csv --target Class --stages 30 --units 4 --device cpu \
      --quiet --out "$out/vehicle_cpu_ref.pt" &&
    for model in "$out/vehicle_$dev.pt" "$out/vehicle_cpu_ref.pt"; do
      for d in cpu $dev; do
        echo "eval $(basename "$model") on $d: $("$cli" eval --model "$model" \
          --data data/Vehicle.csv --target Class --device "$d")"
      done
    done &&
    "$cli" predict --model "$out/vehicle_$dev.pt" --data data/Vehicle.csv --device "$dev" \
      --out "$out/predictions_$dev.csv"
}
export -f cli_check
export build out gpu
step cli_device 180 bash -c cli_check
grep "^eval" "$out/cli_device.log" | tee -a "$out/summary.txt" >&2
# The Python package, built in the same tree (pip compiles nothing more) into a folder of its
# own, and pytest's CUDA cases against it (the estimators' only where scikit-learn is present).
pkg=$PWD/$build/python-package
step package 180 env CMAKE_GENERATOR=Ninja "$python" -m pip install -q --no-build-isolation \
  --no-deps --no-index --target "$pkg" --config-settings=build-dir="$build" .
# A data-parallel fit's reductions through NCCL (a group of one process on the GPU; Gloo without).
step process_group 120 env PYTHONPATH="$pkg" "$python" scripts/check_process_group.py
tail -n 1 "$out/process_group.log" | tee -a "$out/summary.txt" >&2
if "$python" -c "import pytest" 2>/dev/null; then
  tests=(tests/python/test_plugin.py)
  if "$python" -c "import sklearn" 2>/dev/null; then
    tests+=(tests/python/test_estimators.py tests/python/test_nn_head.py)
  fi
  step pytest_device 180 env PYTHONPATH="$pkg" BOOSTHEAD_BUILD_DIR="$build" "$python" -m pytest \
    -q -rs "${tests[@]}" -k "cuda or device"
  tail -n 3 "$out/pytest_device.log" | tee -a "$out/summary.txt" >&2
else
  log "pytest_device: skipped (no pytest in $python)"
fi

# 3. Benchmark.
if [[ -n $gpu ]]; then
  bench_args=${BENCH_ARGS:-}
else
  bench_args=${BENCH_ARGS:---devices cpu --rows 20000 --features 32 --stages 4 --cpu-stages 2}
fi
# shellcheck disable=SC2086
step bench_device 330 "$build/bench_device" $bench_args --out "$out/bench_device.json"
grep -v "^$" "$out/bench_device.log" | tee -a "$out/summary.txt" >&2
log "done, exit $status; figures in $out"
exit "$status"
