#!/usr/bin/env bash
# Sets up (packages and build), then runs every test: the C++ suite and the CLI checks via ctest,
# and the Python plugin tests with Debian's python3.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
build_dir=${BOOSTHEAD_BUILD_DIR:-build}
ctest --test-dir "$build_dir" --output-on-failure -j 2
if [[ -d tests/python ]]; then
  BOOSTHEAD_BUILD_DIR="$build_dir" /usr/bin/python3 -m pytest -q tests/python
fi
