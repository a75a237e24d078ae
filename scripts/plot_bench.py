#!/usr/bin/env python3
"""Plots the JSON reports of `boosthead bench`.

Usage: .venv/bin/python scripts/plot_bench.py BENCH.json [BENCH.json ...] --out-dir DIR
       [--summary SUMMARY.md]

Writes into DIR (one panel per data set in each figure):
  anytime.png       gbnn test metric against the number of active stages (mean over folds,
                    band of +-1 std), with the baselines' mean test metric as horizontal lines;
  time_to_accuracy.png  test metric against fit seconds: gbnn's anytime curve at the mean time
                    each stage count was reached, every other method (scikit-learn's included) as
                    one point at its mean fit time and mean test metric (log-scaled time);
  loss_vs_time.png  training loss against wall-clock seconds for every method (the first fold
                    of the first repeat in bold, the other folds faint; log-scaled time);
  scores.png        mean test metric per method with +-1 std error bars over folds x repeats
                    (with the scikit-learn references when scripts/bench_reference.py added
                    them).
With --summary, also writes one markdown table with every data set's results.
"""

import argparse
import json
import math
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

COLORS = {"gbnn": "tab:red", "adam": "tab:blue", "sgd": "tab:green", "lbfgs": "tab:purple",
          "sklearn_mlp": "tab:orange", "sklearn_hgb": "tab:brown"}


def color(method):
    return COLORS.get(method, "tab:gray")


def load(paths):
    reports = []
    for path in paths:
        with open(path) as f:
            report = json.load(f)
        for key in ("name", "metric", "methods", "runs"):
            if key not in report:
                sys.exit(f"plot_bench.py: {path} is not a bench report (no '{key}')")
        reports.append(report)
    return reports


def grid(count):
    cols = min(4, count)
    rows = math.ceil(count / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.4 * rows), squeeze=False)
    flat = [ax for row in axes for ax in row]
    for ax in flat[count:]:
        ax.set_visible(False)
    return fig, flat[:count]


def save(fig, path):
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def title(report):
    return f"{report['name']} ({report['metric']})"


def plot_anytime(reports, path):
    with_curve = [r for r in reports if r.get("anytime")]
    if not with_curve:
        return False
    fig, axes = grid(len(with_curve))
    for ax, report in zip(axes, with_curve):
        a = report["anytime"]
        stages, mean, std = a["stages"], a["mean"], a["std"]
        ax.plot(stages, mean, color=color("gbnn"), label="gbnn")
        ax.fill_between(stages, [m - s for m, s in zip(mean, std)],
                        [m + s for m, s in zip(mean, std)], color=color("gbnn"), alpha=0.2)
        for m in report["methods"]:
            if m["method"] != "gbnn":
                ax.axhline(m["metric_mean"], color=color(m["method"]), linestyle="--",
                           linewidth=1, label=m["method"])
        ax.set_title(title(report))
        ax.set_xlabel("active stages")
        ax.set_ylabel(f"test {report['metric']}")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    save(fig, path)
    return True


def plot_time_to_accuracy(reports, path):
    with_curve = [r for r in reports if r.get("anytime")]
    if not with_curve:
        return False
    fig, axes = grid(len(with_curve))
    for ax, report in zip(axes, with_curve):
        gbnn_runs = [r for r in report["runs"] if r["method"] == "gbnn" and r.get("anytime")]
        longest = max(len(r["anytime"]) for r in gbnn_runs)
        seconds, metric = [], []
        for t in range(longest):
            at = [(r["curve"]["seconds"][t], r["anytime"][t]) for r in gbnn_runs
                  if t < len(r["anytime"]) and t < len(r["curve"]["seconds"])]
            if at:
                seconds.append(sum(a for a, _ in at) / len(at))
                metric.append(sum(b for _, b in at) / len(at))
        ax.plot(seconds, metric, color=color("gbnn"), label="gbnn (stages)")
        for m in report["methods"]:
            if m["method"] != "gbnn":
                ax.plot([m["fit_seconds_mean"]], [m["metric_mean"]], marker="o", linestyle="",
                        color=color(m["method"]), label=m["method"])
        ax.set_xscale("log")
        ax.set_title(title(report))
        ax.set_xlabel("fit seconds (mean over folds)")
        ax.set_ylabel(f"test {report['metric']}")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    save(fig, path)
    return True


def plot_loss_vs_time(reports, path):
    fig, axes = grid(len(reports))
    for ax, report in zip(axes, reports):
        seen = set()
        for run in report["runs"]:
            curve = run["curve"]
            if not curve["seconds"]:
                continue
            first = run["repeat"] == 0 and run["fold"] == 0
            ax.plot(curve["seconds"], curve["train_loss"], color=color(run["method"]),
                    linewidth=1.6 if first else 0.7, alpha=1.0 if first else 0.35,
                    label=run["method"] if run["method"] not in seen else None)
            seen.add(run["method"])
        ax.set_xscale("log")
        ax.set_title(report["name"])
        ax.set_xlabel("wall-clock seconds")
        ax.set_ylabel("training loss")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    save(fig, path)


def plot_scores(reports, path):
    fig, axes = grid(len(reports))
    for ax, report in zip(axes, reports):
        methods = report["methods"]
        names = [m["method"] for m in methods]
        means = [m["metric_mean"] for m in methods]
        stds = [m["metric_std"] for m in methods]
        ax.bar(names, means, yerr=stds, capsize=4, color=[color(n) for n in names], alpha=0.8)
        ax.tick_params(axis="x", labelrotation=40, labelsize=7)
        lo = min(m - s for m, s in zip(means, stds))
        hi = max(m + s for m, s in zip(means, stds))
        pad = 0.15 * (hi - lo) if hi > lo else 0.05 * abs(hi) + 1e-3
        ax.set_ylim(max(0.0, lo - pad), hi + pad)
        better = "higher" if report.get("higher_is_better") else "lower"
        ax.set_title(f"{report['name']}")
        ax.set_ylabel(f"test {report['metric']} ({better} is better)")
        ax.grid(axis="y", alpha=0.3)
    save(fig, path)


def write_summary(reports, path):
    methods = []
    for report in reports:
        for m in report["methods"]:
            if m["method"] not in methods:
                methods.append(m["method"])
    lines = ["| data set | metric | " + " | ".join(methods) + " |",
             "|---|---|" + "---:|" * len(methods)]
    for report in reports:
        by_name = {m["method"]: m for m in report["methods"]}
        values = [m["metric_mean"] for m in report["methods"]]
        best = max(values) if report.get("higher_is_better") else min(values)
        cells = []
        for name in methods:
            m = by_name.get(name)
            if m is None:
                cells.append("")
                continue
            cell = f"{m['metric_mean']:.4f} ± {m['metric_std']:.4f}"
            cells.append(f"**{cell}**" if m["metric_mean"] == best else cell)
        lines.append(f"| {report['name']} | {report['metric']} | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append("| data set | " + " | ".join(f"{m} fit s" for m in methods) + " |")
    lines.append("|---|" + "---:|" * len(methods))
    for report in reports:
        by_name = {m["method"]: m for m in report["methods"]}
        cells = [f"{by_name[n]['fit_seconds_mean']:.3f}" if n in by_name else "" for n in methods]
        lines.append(f"| {report['name']} | " + " | ".join(cells) + " |")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("reports", nargs="+", help="JSON reports written by boosthead bench")
    parser.add_argument("--out-dir", required=True, help="folder for the PNG files")
    parser.add_argument("--summary", help="also write a markdown table of all data sets")
    args = parser.parse_args()
    if not os.path.isdir(args.out_dir):
        sys.exit(f"plot_bench.py: --out-dir '{args.out_dir}' is not a folder")
    reports = load(args.reports)
    written = []
    if plot_anytime(reports, os.path.join(args.out_dir, "anytime.png")):
        written.append("anytime.png")
    if plot_time_to_accuracy(reports, os.path.join(args.out_dir, "time_to_accuracy.png")):
        written.append("time_to_accuracy.png")
    plot_loss_vs_time(reports, os.path.join(args.out_dir, "loss_vs_time.png"))
    plot_scores(reports, os.path.join(args.out_dir, "scores.png"))
    written += ["loss_vs_time.png", "scores.png"]
    if args.summary:
        write_summary(reports, args.summary)
        written.append(args.summary)
    print("plot_bench.py: wrote " + ", ".join(os.path.join(args.out_dir, w) if w.endswith(".png")
                                               else w for w in written))


if __name__ == "__main__":
    main()
