#!/usr/bin/env bash
# Installs every Debian package boosthead needs (only those missing) and builds it into build/.
# Idempotent: a second run installs nothing and rebuilds only what changed.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  build-essential cmake ninja-build ccache pkg-config clang libclang-rt-14-dev
  libtorch-dev libopenblas0-pthread
  libfmt-dev libgtest-dev libgmock-dev libcli11-dev nlohmann-json3-dev zlib1g-dev
  python3-torch python3-sklearn python3-pytest python3-matplotlib python3-numpy
  dataset-fashion-mnist
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}" >&2
  sudo_cmd=()
  if [[ $(id -u) -ne 0 ]]; then sudo_cmd=(sudo); fi
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -q
  "${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# Paths below the checkout are hashed relative to it, so clones in other folders share ccache.
export CCACHE_BASEDIR="$PWD"
build_type=${BOOSTHEAD_BUILD_TYPE:-Release}
build_dir=${BOOSTHEAD_BUILD_DIR:-build}
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE="$build_type" ${BOOSTHEAD_CMAKE_ARGS:-} >/dev/null
cmake --build "$build_dir" -j "$(nproc)"
echo "setup: built into $build_dir" >&2
