"""Tests of `boosthead bench` and scripts/plot_bench.py on the bundled data sets.

Run with: BOOSTHEAD_BUILD_DIR=build /usr/bin/python3 -m pytest -q tests/python/test_bench_cli.py
"""

import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
BUILD_DIR = Path(os.environ.get("BOOSTHEAD_BUILD_DIR", REPO_ROOT / "build"))
BINARY = BUILD_DIR / "boosthead"
QUICK = ["--stages", "8", "--epochs", "4", "--hidden-units", "8", "--threads", "1", "--quiet"]


def bench(*args):
    if not BINARY.exists():
        pytest.fail(f"{BINARY} not found; build boosthead_cli or set BOOSTHEAD_BUILD_DIR")
    return subprocess.run([str(BINARY), "bench", *args], capture_output=True, text=True,
                          timeout=600)


@pytest.fixture(scope="module")
def glass(tmp_path_factory):
    out = tmp_path_factory.mktemp("glass")
    proc = bench("--data", str(REPO_ROOT / "data/Glass.csv"), "--target", "Type", "--folds", "2",
                 "--repeats", "2", "--report", str(out / "glass.json"), "--markdown",
                 str(out / "glass.md"), *QUICK)
    assert proc.returncode == 0, proc.stderr
    return out, proc.stdout, json.loads((out / "glass.json").read_text())


def test_report_summarises_every_method_over_folds_and_repeats(glass):
    _, stdout, report = glass
    assert report["task"] == "classification"  # Type was quoted by R
    assert report["metric"] == "accuracy" and report["higher_is_better"]
    assert report["rows"] == 214 and report["folds"] == 2 and report["repeats"] == 2
    assert report["options"]["baselines"]["hidden_units"] == 8
    assert [m["method"] for m in report["methods"]] == ["gbnn", "adam", "sgd", "lbfgs"]
    for m in report["methods"]:
        assert len(m["metrics"]) == 4 and len(m["fit_seconds"]) == 4
        assert all(0.0 <= v <= 1.0 for v in m["metrics"])
        assert m["metric_mean"] == pytest.approx(statistics.mean(m["metrics"]))
        assert m["metric_std"] == pytest.approx(statistics.stdev(m["metrics"]))
        runs = [r for r in report["runs"] if r["method"] == m["method"]]
        assert sorted((r["repeat"], r["fold"]) for r in runs) == [(0, 0), (0, 1), (1, 0), (1, 1)]
        assert [r["metric"] for r in runs] == m["metrics"]
        assert m["method"] in stdout


def test_gbnn_anytime_curve_ends_at_the_full_model(glass):
    _, _, report = glass
    anytime = report["anytime"]
    assert anytime["stages"] == list(range(1, 9))
    assert anytime["runs"] == [4] * 8
    gbnn = next(m for m in report["methods"] if m["method"] == "gbnn")
    assert anytime["mean"][-1] == pytest.approx(gbnn["metric_mean"])
    for run in report["runs"]:
        curve = run["curve"]
        assert len(curve["seconds"]) == len(curve["train_loss"]) == run["trained"] > 0
        assert curve["seconds"] == sorted(curve["seconds"])
        if run["method"] == "gbnn":
            assert run["anytime"][-1] == pytest.approx(run["metric"])
            # Boosting never accepts a stage that raises the training loss.
            assert all(b <= a + 1e-6 for a, b in zip(curve["train_loss"], curve["train_loss"][1:]))
        else:
            assert curve["valid_loss"] == []  # no validation rule by default, as for gbnn


def test_every_method_follows_the_same_validation_rule(tmp_path):
    proc = bench("--data", str(REPO_ROOT / "data/Glass.csv"), "--target", "Type", "--folds", "2",
                 "--valid-fraction", "0.2", "--patience", "2", "--report",
                 str(tmp_path / "r.json"), *QUICK)
    assert proc.returncode == 0, proc.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    gbnn, baselines = report["options"]["gbnn"], report["options"]["baselines"]
    assert gbnn["valid_fraction"] == baselines["valid_fraction"] == 0.2
    assert gbnn["patience"] == baselines["patience"] == 2
    assert gbnn["activation"] == baselines["activation"] == "relu"
    for run in report["runs"]:
        assert len(run["curve"]["valid_loss"]) == run["trained"] > 0


def test_markdown_table_has_a_row_per_method(glass):
    out, _, report = glass
    md = (out / "glass.md").read_text()
    for m in report["methods"]:
        assert f"| {m['method']} | {m['metric_mean']:.4f} |" in md


def test_regression_with_categorical_features(tmp_path):
    proc = bench("--data", str(REPO_ROOT / "data/Servo.csv"), "--target", "Class", "--methods",
                 "lbfgs,gbnn", "--report", str(tmp_path / "servo.json"), *QUICK)
    assert proc.returncode == 0, proc.stderr
    report = json.loads((tmp_path / "servo.json").read_text())
    assert report["task"] == "regression" and report["metric"] == "rmse"
    assert not report["higher_is_better"]
    assert [m["method"] for m in report["methods"]] == ["lbfgs", "gbnn"]
    assert report["encoded_features"] > 4  # the letter columns are one-hot encoded
    assert all(m["metric_mean"] > 0 for m in report["methods"])


def test_unknown_method_is_an_error_listing_the_known_ones():
    proc = bench("--data", str(REPO_ROOT / "data/Glass.csv"), "--target", "Type", "--methods",
                 "gbnn,rmsprop", *QUICK)
    assert proc.returncode == 1
    assert "rmsprop" in proc.stderr
    for name in ("gbnn", "adam", "sgd", "lbfgs"):
        assert name in proc.stderr


def test_plot_script_writes_the_figures(glass, tmp_path):
    out, _, _ = glass
    proc = subprocess.run([sys.executable, str(REPO_ROOT / "scripts/plot_bench.py"),
                           str(out / "glass.json"), "--out-dir", str(tmp_path), "--summary",
                           str(tmp_path / "summary.md")], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    for name in ("anytime.png", "loss_vs_time.png", "scores.png"):
        data = (tmp_path / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
    assert "| Glass | accuracy |" in (tmp_path / "summary.md").read_text()
