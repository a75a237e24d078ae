#!/usr/bin/env bash
# Runs clang-tidy (the checks in .clang-tidy) over the library's, the plugin's and the CLI's
# sources as the build compiles them; fails on any finding. Needs a configured build folder
# (scripts/setup.sh makes one) and clang-tidy (installed by scripts/setup.sh).
#
# Usage: scripts/check_tidy.sh [BUILD_DIR]   (default: build)
# Environment: JOBS [2] files at a time; ONLY a regular expression the paths must match.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${1:-${BOOSTHEAD_BUILD_DIR:-$root/build}}"
[[ -f "$build/compile_commands.json" ]] || {
  echo "check_tidy: no $build/compile_commands.json (configure with scripts/setup.sh)" >&2
  exit 1
}
command -v clang-tidy >/dev/null || { echo "check_tidy: no clang-tidy (scripts/setup.sh installs it)" >&2; exit 1; }
db="$(mktemp -d)"
trap 'rm -rf "$db"' EXIT
# The build's commands without GCC's precompiled header, which clang cannot read.
python3 - "$build/compile_commands.json" "$db/compile_commands.json" "$root" "${ONLY:-}" <<'PY'
import json, re, sys
src, dst, root, only = sys.argv[1:]
out = []
for e in json.load(open(src)):
    f = e["file"]
    if not f.startswith(root + "/src/") or not f.endswith(".cpp") or not re.search(only, f):
        continue
    cmd = re.sub(r"-include \S+cmake_pch\.hxx|-Winvalid-pch|-x c\+\+-header", "", e["command"])
    out.append(dict(e, command=cmd))
json.dump(out, open(dst, "w"))
print(f"check_tidy: {len(out)} files", file=sys.stderr)
PY
python3 -c "import json,sys; [print(e['file']) for e in json.load(open(sys.argv[1]))]" \
  "$db/compile_commands.json" |
  xargs -P "${JOBS:-2}" -n 1 clang-tidy -p "$db" --quiet 2>&1 |
  grep -v "warnings generated\|Suppressed .* warnings\|Use -header-filter\|^$" |
  tee "$db/findings" || true
if grep -q "error:\|warning:" "$db/findings"; then
  echo "check_tidy: findings above" >&2
  exit 1
fi
echo "check_tidy: clean"
