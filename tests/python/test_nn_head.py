"""boosthead.nn: a boosted head on a frozen backbone, returned as one scriptable module."""

import io

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from boosthead.nn import BackboneWithHead, BoostedHead, extract_features, fit_head


def problem(n=300, seed=0):
    torch.manual_seed(seed)
    backbone = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 12))
    images = torch.randn(n, 1, 8, 8)
    with torch.no_grad():
        f = backbone(images)
    labels = (f[:, 0] > f[:, 1]).long() + (f[:, 2] > 0.5).long()  # three classes
    return backbone, images, labels


def test_fit_head_returns_one_scriptable_module_that_predicts_as_the_estimator():
    backbone, images, labels = problem()
    loader = DataLoader(TensorDataset(images, labels), batch_size=64)
    model, est = fit_head(backbone, loader, stages=25, units_per_stage=4, activation="relu",
                          return_estimator=True)
    assert isinstance(model, BackboneWithHead) and model.head.num_stages() == 25
    features, _ = extract_features(backbone, images, labels)
    with torch.no_grad():
        out = model(images)
    np.testing.assert_allclose(out.numpy(), est.predict_proba(features), atol=1e-5)
    assert (out.argmax(1) == labels).float().mean() > 0.85
    scripted = torch.jit.script(model)
    buffer = io.BytesIO()
    torch.jit.save(scripted, buffer)
    buffer.seek(0)
    loaded = torch.jit.load(buffer)
    torch.testing.assert_close(loaded(images), out)
    # Anytime: the head's first stages alone.
    torch.testing.assert_close(
        loaded.head.scores(features, 5).double(),
        torch.from_numpy(list(est.staged_decision_function(features))[4]),
        atol=1e-5, rtol=1e-5)
    # The backbone's weights are untouched.
    assert all(not p.requires_grad for p in model.head.parameters())


def test_a_torchscript_backbone_and_tensors_in_regression():
    backbone, images, labels = problem(seed=1)
    scripted = torch.jit.script(backbone)
    target = labels.double() * 2.5 - 1.0
    model = fit_head(scripted, images, target, task="regression", stages=20, units_per_stage=4,
                     batch_size=50)
    with torch.no_grad():
        pred = model(images)
    assert pred.shape == (300, 1)
    assert torch.corrcoef(torch.stack([pred[:, 0].double(), target]))[0, 1] > 0.8
    torch.jit.script(model)


def test_eval_data_drives_early_stopping():
    backbone, images, labels = problem(seed=2)
    flipped = torch.where(torch.rand(300) < 0.3, (labels + 1) % 3, labels)
    model, est = fit_head(backbone, images[:200], flipped[:200], eval_data=(images[200:],
                          flipped[200:]), stages=200, units_per_stage=8, shrinkage=1.0,
                          patience=4, return_estimator=True)
    assert est.stop_reason_ == "early_stopping" and model.head.num_stages() == est.best_stages_


def test_bad_arguments_are_value_errors():
    backbone, images, labels = problem()
    with pytest.raises(ValueError, match="task must be"):
        fit_head(backbone, images, labels, task="ranking")
    with pytest.raises(ValueError, match="give targets"):
        fit_head(backbone, images)
    with pytest.raises(ValueError, match="pair"):
        fit_head(backbone, [images])
    with pytest.raises(ValueError, match="no data"):
        fit_head(backbone, [])
    with pytest.raises(ValueError, match="asked for 99 stages"):
        model = fit_head(backbone, images, labels, stages=3)
        model.head.scores(torch.zeros(2, 12), 99)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_on_cuda_the_module_and_the_fit_stay_on_the_gpu():
    backbone, images, labels = problem()
    model = fit_head(backbone.cuda(), images, labels, stages=10)
    assert model.head.hidden.weight.is_cuda
    assert model(images.cuda()).is_cuda


def test_the_fashion_mnist_example_runs(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    data = Path("/usr/share/datasets/fashion-mnist")
    if not (data / "t10k-images-idx3-ubyte.gz").exists():
        pytest.skip("Fashion-MNIST is not installed (Debian package dataset-fashion-mnist)")
    example = Path(__file__).resolve().parents[2] / "examples" / "fashion_mnist" / "python_head.py"
    out = subprocess.run(
        [sys.executable, str(example), "--backbone", str(tmp_path / "none.pt"), "--train-rows",
         "3000", "--test-rows", "500", "--stages", "3", "--units", "8", "--device", "cpu",
         "--out", str(tmp_path / "model.pt")],
        check=True, capture_output=True, text=True).stdout
    assert "same outputs: True" in out and (tmp_path / "model.pt").exists()
    acc = float(out.split("test accuracy ")[1].split()[0])
    assert acc > 0.6, out
