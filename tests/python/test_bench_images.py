"""Tests of `boosthead bench --backbone`: the methods compared on a frozen backbone's features of
training and test images (tiny random backbone and IDX files).

Run with: BOOSTHEAD_BUILD_DIR=build /usr/bin/python3 -m pytest -q tests/python/test_bench_images.py
"""

import gzip
import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

REPO_ROOT = Path(__file__).resolve().parents[2]
BUILD_DIR = Path(os.environ.get("BOOSTHEAD_BUILD_DIR", REPO_ROOT / "build"))
if not BUILD_DIR.is_absolute():
    BUILD_DIR = REPO_ROOT / BUILD_DIR
BINARY = BUILD_DIR / "boosthead"
STAGES, UNITS = 4, 2


def run_cli(*args):
    if not BINARY.exists():
        pytest.fail(f"{BINARY} not found; build boosthead_cli or set BOOSTHEAD_BUILD_DIR")
    return subprocess.run([str(BINARY), *map(str, args)], capture_output=True, text=True,
                          timeout=120)


def write_idx(path, array):
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim])
    header += b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.tobytes())


class TinyBackbone(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.features = torch.nn.Sequential(
            torch.nn.Flatten(), torch.nn.Linear(36, 8), torch.nn.Tanh())
        self.classifier = torch.nn.Linear(8, 3)

    def forward(self, x):
        return self.classifier(self.features(x))


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("bench_images")
    torch.manual_seed(0)
    net = TinyBackbone().eval()
    torch.jit.script(net).save(str(d / "backbone.pt"))
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(300, 6, 6), dtype=np.uint8)
    with torch.no_grad():
        x = torch.from_numpy(images.astype(np.float32) / 255.0).unsqueeze(1)
        score = net.features(x).numpy() @ rng.normal(size=8)
    # Three balanced classes, a function of the features: tertiles of a projection.
    labels = np.digitize(score, np.quantile(score, [1 / 3, 2 / 3])).astype(np.uint8)
    write_idx(d / "train-images.gz", images[:240])
    write_idx(d / "train-labels.gz", labels[:240])
    write_idx(d / "test-images.gz", images[240:])
    write_idx(d / "test-labels.gz", labels[240:])
    bad = labels[240:].copy()
    bad[0] = 5  # a class the training labels do not have
    write_idx(d / "bad-labels.gz", bad)
    return d


def bench_args(d, *extra):
    return ["bench", "--backbone", d / "backbone.pt", "--feature-module", "features",
            "--images", d / "train-images.gz", "--labels", d / "train-labels.gz",
            "--test-images", d / "test-images.gz", "--test-labels", d / "test-labels.gz",
            "--stages", STAGES, "--units", UNITS, "--max-iter", 50, "--epochs", 5,
            "--hidden-units", STAGES * UNITS,
            "--batch-size", 32, "--threads", 1, "--quiet", *extra]


@pytest.fixture(scope="module")
def first(files):
    d = files
    proc = run_cli(*bench_args(d, "--feature-cache", d / "train.cache", "--report",
                               d / "bench.json", "--markdown", d / "bench.md"))
    assert proc.returncode == 0, proc.stderr
    return proc.stdout, json.loads((d / "bench.json").read_text())


def test_report_has_every_method_on_the_one_split(first):
    stdout, report = first
    assert report["rows"] == 240 and report["test_rows"] == 60 and report["features"] == 8
    assert report["classes"] == ["0", "1", "2"]
    assert report["feature_module"] == "features"
    assert report["features_from_cache"] is False
    assert report["options"]["baselines"]["hidden_units"] == STAGES * UNITS
    assert [m["method"] for m in report["methods"]] == ["gbnn", "adam", "sgd", "lbfgs"]
    for m in report["methods"]:
        assert len(m["metrics"]) == 1 and m["metric_std"] == 0.0
        # Accuracy on 60 test images: a multiple of 1/60.
        assert m["metrics"][0] * 60 == pytest.approx(round(m["metrics"][0] * 60))
        assert m["fit_seconds"][0] > 0.0
        assert m["method"] in stdout
    runs = {r["method"]: r for r in report["runs"]}
    assert runs["gbnn"]["trained"] == STAGES
    assert 1 <= runs["adam"]["trained"] <= 5
    # Labels are a function of the features: boosting on them beats chance (1/3) clearly.
    assert runs["gbnn"]["metric"] > 0.5
    assert runs["lbfgs"]["metric"] > 0.5


def test_anytime_curve_and_time_to_reach_adam(first):
    _, report = first
    runs = {r["method"]: r for r in report["runs"]}
    gbnn = runs["gbnn"]
    assert report["anytime"]["stages"] == list(range(1, STAGES + 1))
    assert gbnn["anytime"] == report["anytime"]["mean"]
    assert gbnn["anytime"][-1] == pytest.approx(gbnn["metric"])
    reference = report["reference"]
    assert reference["method"] == "adam" and reference["metric"] == runs["adam"]["metric"]
    reached = [t for t, v in enumerate(gbnn["anytime"], 1) if v >= reference["metric"]]
    summary = report["methods"][0]
    if reached:
        assert summary["stages_to_reference"] == reached[0]
        assert summary["seconds_to_reference"] == gbnn["curve"]["seconds"][reached[0] - 1]
    else:
        assert summary["stages_to_reference"] is None


def test_baselines_test_accuracy_per_epoch_and_time_to_reach_adam(first):
    stdout, report = first
    runs = {r["method"]: r for r in report["runs"]}
    reference = report["reference"]["metric"]
    summaries = {m["method"]: m for m in report["methods"]}
    for method in ["adam", "sgd", "lbfgs"]:
        run = runs[method]
        epochs = run["epoch_metrics"]
        assert len(epochs) == run["trained"] == len(run["curve"]["seconds"])
        # The head returned is the kept epoch's network, scored the same way.
        assert epochs[run["kept"] - 1] == run["metric"]
        reached = [e for e, v in enumerate(epochs, 1) if v >= reference]
        summary = summaries[method]
        assert "stages_to_reference" not in summary
        if reached:
            assert summary["epochs_to_reference"] == reached[0]
            assert summary["seconds_to_reference"] == run["curve"]["seconds"][reached[0] - 1]
            assert f"(epoch {reached[0]})" in stdout
        else:
            assert summary["epochs_to_reference"] is None
            assert summary["seconds_to_reference"] is None
    # Adam reaches its own final accuracy, at the latest at the epoch it kept.
    assert 1 <= summaries["adam"]["epochs_to_reference"] <= runs["adam"]["kept"]
    assert "epoch_metrics" not in runs["gbnn"]


def test_markdown_table(first, files):
    md = (files / "bench.md").read_text()
    assert "240 training / 60 test images" in md
    assert "reaches adam's accuracy" in md
    assert "(epoch " in md
    for method in ["gbnn", "adam", "sgd", "lbfgs"]:
        assert f"| {method} |" in md


def test_feature_cache_is_shared_with_fit_and_gives_the_same_results(first, files):
    d = files
    _, report = first
    proc = run_cli(*bench_args(d, "--feature-cache", d / "train.cache", "--report",
                               d / "again.json"))
    assert proc.returncode == 0, proc.stderr
    again = json.loads((d / "again.json").read_text())
    assert again["features_from_cache"] is True
    assert [r["metric"] for r in again["runs"]] == [r["metric"] for r in report["runs"]]
    proc = run_cli("fit", "--backbone", d / "backbone.pt", "--feature-module", "features",
                   "--images", d / "train-images.gz", "--labels", d / "train-labels.gz",
                   "--out", d / "pipeline.pt", "--stages", 2, "--threads", 1, "--quiet",
                   "--feature-cache", d / "train.cache", "--report", d / "fit.json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads((d / "fit.json").read_text())["features_from_cache"] is True


def test_errors(files):
    d = files
    proc = run_cli(*bench_args(d, "--folds", 3))
    assert proc.returncode != 0 and "--folds" in proc.stderr
    args = bench_args(d)
    args[args.index(d / "test-labels.gz")] = d / "bad-labels.gz"
    proc = run_cli(*args, "--methods", "adam")
    assert proc.returncode == 1
    assert "--test-labels" in proc.stderr and "label 5" in proc.stderr
    proc = run_cli("bench", "--backbone", d / "backbone.pt", "--images", d / "train-images.gz",
                   "--labels", d / "train-labels.gz")
    assert proc.returncode != 0 and "--test-images" in proc.stderr
