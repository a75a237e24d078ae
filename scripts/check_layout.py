#!/usr/bin/env python3
"""Checks the shape of the C++ sources: no file over 600 lines, and no circle between files.

A file and its header are one unit (src/head.cpp with include/boosthead/head.h, src/stage/
evaluator.cpp with src/stage/evaluator.h); a unit depends on the units whose headers it
includes. A circle of units (a.cpp includes b.h and b.cpp includes a.h) means calls go both ways
between them: the pair is one concept split in two, or a third one is hiding in both.

Exit status 1 with the offending files or circles listed; 0 when clean.
"""

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAX_LINES = 600
INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]', re.M)


def sources():
    out = subprocess.run(["git", "ls-files", "src", "include", "tests", "examples", "fuzz"],
                         cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    return [ROOT / p for p in out if p.endswith((".cpp", ".h", ".cu", ".cuh"))]


def unit(path):
    rel = path.relative_to(ROOT).as_posix()
    for prefix in ("include/boosthead/", "src/"):
        if rel.startswith(prefix):
            rel = rel[len(prefix):]
            break
    return rel.rsplit(".", 1)[0]


def resolve(path, kind, name):
    if kind == "<":
        if not name.startswith("boosthead/"):
            return None
        target = ROOT / "include" / name
    else:
        target = (path.parent / name).resolve()
        if not target.exists():
            target = ROOT / "src" / name
    return target if target.exists() else None


def circles(graph):
    """Strongly connected components of more than one unit (Tarjan, iterative)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []
    counter = 0
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, edges = work[-1]
            for nxt in edges:
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(graph.get(nxt, ())))))
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        top = stack.pop()
                        on_stack.discard(top)
                        component.append(top)
                        if top == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
    return found


def main():
    problems = []
    graph = {}
    for path in sources():
        text = path.read_text()
        lines = text.count("\n")
        rel = path.relative_to(ROOT).as_posix()
        if lines > MAX_LINES:
            problems.append(f"{rel}: {lines} lines (at most {MAX_LINES})")
        me = unit(path)
        deps = graph.setdefault(me, set())
        for kind, name in INCLUDE.findall(text):
            target = resolve(path, kind, name)
            if target is not None and unit(target) != me:
                deps.add(unit(target))
    for component in circles(graph):
        problems.append("circle between " + ", ".join(component))
    for p in problems:
        print(f"check_layout: {p}", file=sys.stderr)
    if problems:
        return 1
    print(f"check_layout: {len(graph)} units, none over {MAX_LINES} lines, no circle")
    return 0


if __name__ == "__main__":
    sys.exit(main())
