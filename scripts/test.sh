#!/usr/bin/env bash
# Sets up (packages, .venv with the pinned torch, build), then runs every test: the C++ suite
# and the CLI checks via ctest, and the Python tests with the environment's python. Tests that
# need a GPU skip with their reason when none is visible.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
build_dir=${BOOSTHEAD_BUILD_DIR:-build}
ctest --test-dir "$build_dir" --output-on-failure -j 2
if [[ -d tests/python ]]; then
  BOOSTHEAD_BUILD_DIR="$build_dir" .venv/bin/python -m pytest -q -rs tests/python
fi
