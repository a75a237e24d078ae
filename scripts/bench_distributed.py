#!/usr/bin/env python3
"""Data-parallel fit against one process on the same cores: `boosthead fit` on one large
synthetic CSV with 1 process x T threads and with P processes (torchrun) x T/P threads each,
and the bytes the processes exchange per stage and per solver iteration.

Usage: .venv/bin/python scripts/bench_distributed.py [--rows 200000] [--features 64]
       [--classes 10] [--stages 10] [--processes 2] [--threads 2] [--out docs/bench/distributed.json]
The one-process and the P-process models are compared (max probability difference), and the
measured latency of one small allreduce is printed for the model in docs/DISTRIBUTED.md."""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def make_data(path, rows, features, classes, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((rows, features)).astype(np.float32)
    w = rng.standard_normal((features, classes)).astype(np.float32)
    labels = np.argmax(np.tanh(x @ w) + 0.5 * rng.standard_normal((rows, classes)), axis=1)
    header = ",".join([f"x{i}" for i in range(features)] + ["label"])
    with open(path, "w") as f:
        f.write(header + "\n")
        np.savetxt(f, np.column_stack([x, labels]), fmt=["%.5g"] * features + ["%d"],
                   delimiter=",")


def allreduce_latency(processes, reps=500):
    """Seconds per allreduce of 64 doubles between `processes` Gloo processes on this machine."""
    code = f"""
import os, time, torch, torch.distributed as dist
dist.init_process_group("gloo")
t = torch.ones(64, dtype=torch.float64)
for _ in range(20): dist.all_reduce(t)
start = time.perf_counter()
for _ in range({reps}): dist.all_reduce(t)
if dist.get_rank() == 0: print((time.perf_counter() - start) / {reps})
"""
    for attempt in range(3):
        out = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                              "--nproc-per-node", str(processes), "--no-python", sys.executable,
                              "-c", code], capture_output=True, text=True)
        if out.returncode == 0:
            return float(out.stdout.strip().splitlines()[-1])
        print(f"allreduce timing failed (try {attempt + 1}):\n{out.stderr[-2000:]}",
              file=sys.stderr)
    return float("nan")


def fit(binary, data, out, report, stages, threads, processes, seed):
    args = [str(binary), "fit", "--data", str(data), "--target", "label", "--out", str(out),
            "--report", str(report), "--stages", str(stages), "--threads", str(threads),
            "--dtype", "float64", "--seed", str(seed), "--quiet"]
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    if processes > 1:
        args = [sys.executable, "-m", "torch.distributed.run", "--standalone",
                "--nproc-per-node", str(processes), "--no-python"] + args
    start = time.perf_counter()
    subprocess.run(args, check=True, env=env, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    return json.loads(Path(report).read_text()), wall


def probabilities(binary, model, data, out):
    subprocess.run([str(binary), "predict", "--model", str(model), "--data", str(data), "--out",
                    str(out)], check=True)
    return np.loadtxt(out, delimiter=",", skiprows=1, dtype=str)[:, 1:].astype(float)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--binary", default=str(ROOT / "build" / "boosthead"))
    p.add_argument("--rows", type=int, default=200000)
    p.add_argument("--features", type=int, default=64)
    p.add_argument("--classes", type=int, default=10)
    p.add_argument("--stages", type=int, default=10)
    p.add_argument("--processes", type=int, default=2)
    p.add_argument("--threads", type=int, default=2, help="threads in all (split among processes)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="write the figures as JSON here")
    a = p.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        data = tmp / "data.csv"
        make_data(data, a.rows, a.features, a.classes, a.seed)
        one, one_wall = fit(a.binary, data, tmp / "one.bh", tmp / "one.json", a.stages,
                            a.threads, 1, a.seed)
        many, many_wall = fit(a.binary, data, tmp / "many.bh", tmp / "many.json", a.stages,
                              max(1, a.threads // a.processes), a.processes, a.seed)
        sample = tmp / "sample.csv"
        with open(data) as src, open(sample, "w") as dst:
            for i, line in enumerate(src):
                if i > 5000:
                    break
                dst.write(line)
        diff = np.abs(probabilities(a.binary, tmp / "one.bh", sample, tmp / "p1.csv") -
                      probabilities(a.binary, tmp / "many.bh", sample, tmp / "p2.csv")).max()
        latency = allreduce_latency(a.processes)

    pr = many["processes"]
    iterations = sum(h["solver_iterations"] for h in many["history"])
    result = {
        "rows": a.rows, "features": a.features, "classes": a.classes, "stages": a.stages,
        "units_per_stage": many["units_per_stage"],
        "one_process": {"threads": a.threads, "fit_seconds": one["fit_seconds"],
                        "wall_seconds": one_wall, "train_accuracy": one["train_metric"]},
        "processes": {"count": a.processes, "threads_each": max(1, a.threads // a.processes),
                      "fit_seconds": many["fit_seconds"], "wall_seconds": many_wall,
                      "seconds_in_collectives": pr["seconds_in_collectives"],
                      "train_accuracy": many["train_metric"]},
        "reductions_per_stage": pr["reductions_per_stage"],
        "bytes_per_stage": pr["bytes_per_stage"],
        "bytes_per_solver_iteration": pr["bytes_per_solver_iteration"],
        "solver_iterations_per_stage": iterations / max(1, len(many["history"])),
        "allreduce_latency_seconds": latency,
        "max_probability_difference": float(diff),
    }
    o, m = result["one_process"], result["processes"]
    print(f"{a.rows} rows x {a.features} features, {a.classes} classes, {a.stages} stages of "
          f"{result['units_per_stage']} units, float64")
    print(f"  1 process  x {o['threads']} threads: fit {o['fit_seconds']:.2f} s "
          f"(train accuracy {o['train_accuracy']:.4f})")
    print(f"  {m['count']} processes x {m['threads_each']} thread(s): fit {m['fit_seconds']:.2f} s"
          f", of which {m['seconds_in_collectives']:.2f} s in collectives (waiting included) "
          f"(train accuracy {m['train_accuracy']:.4f})")
    print(f"  speed-up {o['fit_seconds'] / m['fit_seconds']:.2f}x; per stage "
          f"{result['reductions_per_stage']:.1f} reductions, {result['bytes_per_stage'] / 1e3:.1f} kB"
          f"; per solver iteration {result['bytes_per_solver_iteration'] / 1e3:.2f} kB")
    print(f"  one allreduce of 64 doubles between {a.processes} Gloo processes here: "
          f"{latency * 1e6:.0f} us")
    print(f"  largest probability difference (first 5000 rows): {diff:.3g}")
    if a.out:
        Path(a.out).parent.mkdir(parents=True, exist_ok=True)
        Path(a.out).write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
