#!/usr/bin/env bash
# Fails, listing the files, when clang-format (style: .clang-format) would change any C++ or CUDA
# source tracked by git. Fix with: git ls-files '*.cpp' '*.h' '*.cu' | xargs clang-format -i
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t files < <(git ls-files '*.cpp' '*.h' '*.cu')
bad=()
for f in "${files[@]}"; do
  if ! clang-format --style=file --dry-run --Werror "$f" >/dev/null 2>&1; then bad+=("$f"); fi
done
if ((${#bad[@]})); then
  echo "check_format: ${#bad[@]} of ${#files[@]} files are not formatted (.clang-format):" >&2
  printf '  %s\n' "${bad[@]}" >&2
  echo "fix with: git ls-files '*.cpp' '*.h' '*.cu' | xargs clang-format -i" >&2
  exit 1
fi
echo "check_format: ${#files[@]} files formatted" >&2
