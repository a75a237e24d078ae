"""Tests of the image pipeline: `boosthead fit --backbone` on IDX files, then the pipeline file
in PyTorch alone against `boosthead predict` / `eval`.

The command-line tool is looked up in $BOOSTHEAD_BUILD_DIR (default: <repo>/build).
"""

import csv
import gzip
import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import cli_path

REPO_ROOT = Path(__file__).resolve().parents[2]
CLASSES = ["ant", "bee", "cat"]
STAGES = 5


def write_idx(path, array):
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim])
    header += b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.tobytes())


def as_input(images):
    """What boosthead's IDX reader makes of uint8 images: float32 N x 1 x H x W in [0, 1]."""
    return torch.from_numpy(images.astype(np.float32) / 255.0).unsqueeze(1)


class TinyBackbone(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.features = torch.nn.Sequential(
            torch.nn.Flatten(), torch.nn.Linear(36, 8), torch.nn.Tanh())
        self.classifier = torch.nn.Linear(8, 3)

    def forward(self, x):
        return self.classifier(self.features(x))


def run_cli(*args, check=True):
    proc = subprocess.run([str(cli_path()), *map(str, args)], capture_output=True, text=True,
                          timeout=120)
    if check and proc.returncode != 0:
        raise AssertionError(f"boosthead {' '.join(map(str, args))} failed:\n{proc.stderr}")
    return proc


def read_predictions(path):
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    probs = np.array([[float(r["prob_" + c]) for c in CLASSES] for r in rows])
    return probs, [r["prediction"] for r in rows]


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    d = tmp_path_factory.mktemp("pipeline")
    torch.manual_seed(0)
    net = TinyBackbone().eval()
    backbone = torch.jit.script(net)
    backbone.save(str(d / "backbone.pt"))

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(300, 6, 6), dtype=np.uint8)
    with torch.no_grad():
        labels = net(as_input(images)).argmax(1).numpy().astype(np.uint8)
    write_idx(d / "train-images.idx.gz", images[:240])
    write_idx(d / "train-labels.idx.gz", labels[:240])
    write_idx(d / "test-images.idx.gz", images[240:])
    write_idx(d / "test-labels.idx.gz", labels[240:])

    run_cli("fit", "--backbone", d / "backbone.pt", "--feature-module", "features",
            "--images", d / "train-images.idx.gz", "--labels", d / "train-labels.idx.gz",
            "--class-names", ",".join(CLASSES), "--out", d / "pipeline.pt",
            "--stages", STAGES, "--units", 3, "--max-iter", 50, "--threads", 1,
            "--batch-size", 64, "--feature-cache", d / "features.cache",
            "--report", d / "fit.json", "--quiet")
    run_cli("predict", "--model", d / "pipeline.pt", "--images", d / "test-images.idx.gz",
            "--out", d / "predictions.csv")
    run_cli("predict", "--model", d / "pipeline.pt", "--images", d / "test-images.idx.gz",
            "--stages", 2, "--out", d / "predictions2.csv")
    return {"dir": d, "net": net, "images": images[240:], "labels": labels[240:]}


def test_python_matches_boosthead_predict(fitted):
    d = fitted["dir"]
    model = torch.jit.load(str(d / "pipeline.pt"))
    assert model.format == "boosthead-pipeline"
    assert list(model.class_names) == CLASSES
    assert model.task == "classification"
    assert model.stages == STAGES
    assert model.units_per_stage == 3
    with torch.no_grad():
        probs = model(as_input(fitted["images"])).double().numpy()
    cpp, predicted = read_predictions(d / "predictions.csv")
    assert cpp.shape == (60, 3)
    assert np.abs(cpp - probs).max() <= 1e-6
    assert predicted == [CLASSES[k] for k in probs.argmax(1)]
    assert np.allclose(probs.sum(1), 1.0, atol=1e-5)


def test_forward_stages_truncates_after_load(fitted):
    d = fitted["dir"]
    model = torch.jit.load(str(d / "pipeline.pt"))
    x = as_input(fitted["images"])
    with torch.no_grad():
        two = model.forward_stages(x, 2).double().numpy()
        full = model.forward_stages(x, STAGES)
        zero = model.forward_stages(x, 0)
        assert torch.equal(full, model(x))
        cpp2, _ = read_predictions(d / "predictions2.csv")
        assert np.abs(cpp2 - two).max() <= 1e-6
        assert np.abs(two - full.double().numpy()).max() > 1e-4  # the stages do something
        # No stage: the initial scores F0, the same for every row.
        f0 = torch.softmax(model.initial_score, 0)
        assert torch.allclose(zero, f0.expand_as(zero), atol=1e-6)
        with pytest.raises(torch.jit.Error):
            model.forward_stages(x, STAGES + 1)


def test_backbone_inside_is_frozen_original(fitted):
    d = fitted["dir"]
    model = torch.jit.load(str(d / "pipeline.pt"))
    original = torch.jit.load(str(d / "backbone.pt"))
    inside = dict(model.backbone.named_parameters())
    for name, p in original.named_parameters():
        assert torch.equal(inside[name], p), name
    x = as_input(fitted["images"])
    with torch.no_grad():
        assert torch.allclose(model.features(x), fitted["net"].features(x), atol=1e-6)


def test_eval_and_cache(fitted):
    d = fitted["dir"]
    run_cli("eval", "--model", d / "pipeline.pt", "--images", d / "test-images.idx.gz",
            "--labels", d / "test-labels.idx.gz", "--report", d / "eval.json")
    value = json.loads((d / "eval.json").read_text())["value"]
    model = torch.jit.load(str(d / "pipeline.pt"))
    with torch.no_grad():
        predicted = model(as_input(fitted["images"])).argmax(1).numpy()
    assert value == pytest.approx(float(np.mean(predicted == fitted["labels"])))
    assert value > 0.5  # three classes; chance is about 1/3

    report = json.loads((d / "fit.json").read_text())
    assert report["features_from_cache"] is False
    assert report["features"] == 8
    # A second fit on the same images reads the features back and gives the same model.
    run_cli("fit", "--backbone", d / "backbone.pt", "--feature-module", "features",
            "--images", d / "train-images.idx.gz", "--labels", d / "train-labels.idx.gz",
            "--class-names", ",".join(CLASSES), "--out", d / "again.pt",
            "--stages", STAGES, "--units", 3, "--max-iter", 50, "--threads", 1,
            "--batch-size", 64, "--feature-cache", d / "features.cache",
            "--report", d / "again.json", "--quiet")
    assert json.loads((d / "again.json").read_text())["features_from_cache"] is True
    again = torch.jit.load(str(d / "again.pt"))
    assert torch.equal(again.hidden_weight, model.hidden_weight)


def test_file_kind_errors(fitted):
    d = fitted["dir"]
    proc = run_cli("predict", "--model", d / "pipeline.pt", "--data", REPO_ROOT / "data" / "Glass.csv",
                   check=False)
    assert proc.returncode == 1
    assert "boosthead-pipeline" in proc.stderr
    proc = run_cli("fit", "--backbone", d / "backbone.pt", "--feature-module", "featurez",
                   "--images", d / "train-images.idx.gz", "--labels", d / "train-labels.idx.gz",
                   "--out", d / "bad.pt", "--quiet", check=False)
    assert proc.returncode == 1
    assert "featurez" in proc.stderr and "features, classifier" in proc.stderr
    assert not (d / "bad.pt").exists()
