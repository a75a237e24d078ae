#!/usr/bin/env bash
# Installs everything boosthead needs and builds it into build/. Idempotent: a second run
# installs nothing and rebuilds only what changed.
#  1. Debian packages: compilers, CMake, the C++ libraries, the Fashion-MNIST data (apt-get,
#     as root or through sudo; only those missing).
#  2. .venv/ at the repository root with the torch pinned in python/requirements.txt and what
#     the tests need (python/requirements-test.txt). Wheels are downloaded once into a cache
#     outside the repository (BOOSTHEAD_WHEEL_CACHE, default ~/.cache/boosthead/wheels) and
#     installed from there; torch's Linux wheel is a CUDA build of about 2.6 GB with its
#     libraries.
#  3. CMake takes LibTorch from that torch (cmake/FindTorchFromPython.cmake) and builds with
#     Ninja; the CUDA kernels are compiled when nvcc is on PATH (BOOSTHEAD_CUDA=AUTO).
#  4. The Python package is installed into .venv (pip install --no-build-isolation .).
# Environment: BOOSTHEAD_BUILD_DIR (build), BOOSTHEAD_BUILD_TYPE (Release), BOOSTHEAD_CMAKE_ARGS,
# BOOSTHEAD_WHEEL_CACHE.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  build-essential cmake ninja-build ccache pkg-config clang clang-format clang-tidy
  libclang-rt-14-dev
  libfmt-dev libgtest-dev libgmock-dev libcli11-dev nlohmann-json3-dev zlib1g-dev libgloo-dev
  # only for examples/bench_lbfgspp.cpp, the comparison with LBFGSpp
  liblbfgspp-dev libeigen3-dev
  python3-venv
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

# The project's Python environment, with Debian's python3 (the same on every Debian 12 machine).
venv=.venv
wheels=${BOOSTHEAD_WHEEL_CACHE:-$HOME/.cache/boosthead/wheels}
requirements=python/requirements-test.txt
stamp=$venv/.requirements
if [[ ! -x $venv/bin/python ]] || ! cmp -s "$stamp" <(cat python/requirements*.txt); then
  [[ -x $venv/bin/python ]] || /usr/bin/python3 -m venv "$venv"
  mkdir -p "$wheels"
  # Only what the cache lacks is downloaded; the install itself reads the cache alone.
  if ! "$venv/bin/pip" install -q --no-index --find-links "$wheels" -r "$requirements" \
    2>/dev/null; then
    echo "setup: downloading the pinned wheels into $wheels" >&2
    "$venv/bin/pip" download -q --dest "$wheels" -r "$requirements"
    "$venv/bin/pip" install -q --no-index --find-links "$wheels" -r "$requirements"
  fi
  cat python/requirements*.txt >"$stamp"
fi
"$venv/bin/python" -c "import torch; print('setup: torch', torch.__version__, '(CUDA', \
torch.version.cuda, ')')" >&2

# Paths below the checkout are hashed relative to it, so clones in other folders share ccache;
# the sloppiness lets ccache serve objects built with the precompiled LibTorch headers.
export CCACHE_BASEDIR="$PWD"
export CCACHE_SLOPPINESS=${CCACHE_SLOPPINESS:-pch_defines,time_macros,include_file_mtime,include_file_ctime}
build_type=${BOOSTHEAD_BUILD_TYPE:-Release}
build_dir=${BOOSTHEAD_BUILD_DIR:-build}
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE="$build_type" \
  -DBOOSTHEAD_PYTHON="$PWD/$venv/bin/python" ${BOOSTHEAD_CMAKE_ARGS:-} >/dev/null
cmake --build "$build_dir" -j "$(nproc)"
echo "setup: built into $build_dir" >&2

# The Python package (pyproject.toml), installed into .venv from this checkout. It is built in
# the same tree with the same settings, so nothing is compiled twice: pip only installs the
# plugin and the library built above.
CMAKE_GENERATOR=Ninja "$venv/bin/pip" install -q --no-build-isolation --no-deps \
  --config-settings=build-dir="$build_dir" --config-settings=cmake.build-type="$build_type" .
"$venv/bin/python" -c "import boosthead; print('setup: boosthead', boosthead.__version__, \
'installed in', boosthead.__file__.rsplit('/', 2)[0])" >&2
