"""Tests of the TorchScript custom class torch.classes.boosthead.Trainer.

The class is registered by `import boosthead` (the installed package; see conftest.py).
"""

import io

import pytest
import torch

DEFAULTS = {
    "stages": 200,
    "units_per_stage": 0,
    "shrinkage": 0.2,
    "subsample": 0.8,
    "max_iter": 25,
    "activation": "relu",
    "loss": "auto",
    "solver": "varpro",
    "standardize_targets": True,
    "l2": 1e-4,
    "valid_fraction": 0.0,
    "patience": 0,
    "keep_best": True,
    "num_classes": 0,
    "seed": 0,
    "device": None,
    "dtype": None,
    "checkpoint": "",
    "resume": False,
}


def Trainer(options=None):
    return torch.classes.boosthead.Trainer(dict(options or {}))


def classification(n=600, d=5, k=3, seed=0):
    """Labels from the argmax of k smooth nonlinear scores."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g)
    w = torch.randn(d, k, generator=g)
    y = (torch.tanh(x @ w) + 0.3 * torch.sin(2 * x[:, :1])).argmax(1)
    return x, y


def regression(n=400, d=4, seed=1):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g)
    return x, torch.sin(x[:, 0]) + 0.5 * x[:, 1] * x[:, 2]


class Holder(torch.nn.Module):
    """A module with a Trainer attribute, for scripting and saving."""

    def __init__(self, trainer):
        super().__init__()
        self.trainer = trainer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.trainer.predict_proba(x)


@pytest.fixture(scope="module")
def fitted():
    x, y = classification()
    t = Trainer({"stages": 30, "units_per_stage": 2, "seed": 1})
    summary = t.fit(x[:500], y[:500])
    return t, summary, x, y


def test_default_options():
    assert Trainer().options() == DEFAULTS


def test_options_round_trip():
    opts = {"stages": 7, "units_per_stage": 3, "shrinkage": 0.5, "subsample": 0.8, "max_iter": 50,
            "activation": "tanh", "loss": "multinomial", "solver": "lbfgs",
            "standardize_targets": False, "l2": 0.01,
            "valid_fraction": 0.25, "patience": 4, "keep_best": False, "num_classes": 5,
            "seed": 42, "device": "cpu", "dtype": "float64", "checkpoint": "", "resume": False}
    got = Trainer(opts).options()
    assert got == opts
    assert Trainer(got).options() == opts


def test_preset_is_the_starting_point_and_other_keys_win():
    paper = Trainer({"preset": "paper"}).options()
    assert paper == dict(DEFAULTS, stages=200, units_per_stage=1, shrinkage=0.1, max_iter=200,
                         subsample=0.5,
                         activation="sigmoid", solver="lbfgs", standardize_targets=False)
    # Wherever the key stands in the dict.
    assert Trainer({"stages": 9, "preset": "paper"}).options() == dict(paper, stages=9)
    with pytest.raises(ValueError, match="unknown preset 'x'; known presets: default, paper"):
        Trainer({"preset": "x"})


def test_int_accepted_for_float_option():
    assert Trainer({"shrinkage": 1, "l2": 0}).options()["shrinkage"] == 1.0


def test_dtype_object_accepted():
    assert Trainer({"dtype": torch.float64}).options()["dtype"] == "float64"


def test_unknown_option_is_value_error_naming_it():
    with pytest.raises(ValueError) as err:
        Trainer({"stage": 3})
    msg = str(err.value)
    assert "'stage'" in msg
    for name in DEFAULTS:
        assert name in msg


@pytest.mark.parametrize("key,value,expected", [
    ("stages", "10", "an int"),
    ("stages", 2.5, "an int"),
    ("keep_best", 1, "a bool"),
    ("activation", 3, "a str"),
    ("shrinkage", "big", "a float"),
])
def test_wrong_type_is_type_error_naming_key_and_type(key, value, expected):
    with pytest.raises(TypeError) as err:
        Trainer({key: value})
    assert f"option '{key}' must be {expected}" in str(err.value)


@pytest.mark.parametrize("opts,needle", [
    ({"activation": "swish"}, "swish"),
    ({"loss": "hinge"}, "hinge"),
    ({"solver": "newton"}, "newton"),
    ({"seed": -1}, "seed"),
    ({"device": "gpu7"}, "gpu7"),
    ({"dtype": "int8"}, "int8"),
])
def test_bad_option_values_are_value_errors(opts, needle):
    with pytest.raises(ValueError, match=needle):
        Trainer(opts)


def test_library_argument_errors_keep_their_message():
    x, y = classification(n=50)
    with pytest.raises(ValueError) as err:
        Trainer({"stages": 0}).fit(x, y)
    assert str(err.value) == "stages must be at least 1, got 0"


@pytest.mark.parametrize("x,y,needle", [
    (torch.randn(10), torch.zeros(10, dtype=torch.long), "2-D"),
    (torch.randn(10, 3), torch.zeros(9, dtype=torch.long), "9 rows but the features have 10"),
    (torch.randn(0, 3), torch.zeros(0, dtype=torch.long), "no rows"),
])
def test_bad_fit_shapes_are_value_errors(x, y, needle):
    with pytest.raises(ValueError, match=needle):
        Trainer({"stages": 2}).fit(x, y)


def test_bad_predict_inputs_are_value_errors(fitted):
    t, _, x, _ = fitted
    with pytest.raises(ValueError, match="expected 5 feature columns, got 4"):
        t.predict(x[:, :4])
    with pytest.raises(ValueError, match="2-D"):
        t.predict_proba(x[0])
    with pytest.raises(ValueError, match=r"in \[0, 30\], got 31"):
        t.predict(x, 31)


def test_unfitted_trainer_refuses_to_predict():
    t = Trainer()
    assert t.num_stages() == 0
    with pytest.raises(ValueError, match="not been fitted"):
        t.predict(torch.randn(3, 2))


def test_fit_predict_reaches_clear_accuracy(fitted):
    t, summary, x, y = fitted
    assert summary["stages_trained"] == 30
    assert summary["loss"] == "multinomial"
    assert summary["stop_reason"] == "completed"
    test_x, test_y = x[500:], y[500:]
    accuracy = (t.predict(test_x) == test_y).double().mean().item()
    # The majority class holds 44% of the held-out rows; a working booster gets above 85%.
    assert accuracy > 0.85, accuracy
    proba = t.predict_proba(test_x)
    assert proba.shape == (100, 3)
    assert torch.allclose(proba.sum(1), torch.ones(100), atol=1e-5)
    assert torch.equal(proba.argmax(1), t.predict(test_x))


def test_regression_fit():
    x, y = regression()
    t = Trainer({"stages": 40, "units_per_stage": 2, "seed": 3})
    assert t.fit(x[:300], y[:300])["loss"] == "squared"
    pred = t.predict(x[300:])
    assert pred.shape == (100, 1)
    rmse = (pred[:, 0] - y[300:]).pow(2).mean().sqrt().item()
    assert rmse < 0.5 * y[300:].std().item(), rmse


def test_history_has_one_record_per_stage(fitted):
    t, _, _, _ = fitted
    h = t.history()
    assert [r["stage"] for r in h] == list(range(1, 31))
    assert set(h[0]) == {"stage", "train_loss", "valid_loss", "train_metric", "valid_metric",
                         "rho", "solver_iterations", "seconds"}
    losses = [r["train_loss"] for r in h]
    assert all(b <= a for a, b in zip(losses, losses[1:]))
    assert all(r["valid_loss"] is None for r in h)
    seconds = [r["seconds"] for r in h]
    assert seconds == sorted(seconds) and seconds[0] > 0


def test_fit_with_validation_keeps_best_stage_count():
    x, y = classification(n=400, seed=5)
    t = Trainer({"stages": 25, "units_per_stage": 2, "patience": 5})
    summary = t.fit_with_validation(x[:300], y[:300], x[300:], y[300:])
    h = t.history()
    assert len(h) == summary["stages_trained"]
    valid = [r["valid_loss"] for r in h]
    assert all(isinstance(v, float) for v in valid)
    best = min(range(len(valid)), key=valid.__getitem__) + 1
    assert summary["best_stages"] == best
    assert t.num_stages() == best


def test_truncation_matches_anytime_prediction():
    x, y = classification(n=300)
    t = Trainer({"stages": 12, "seed": 2})
    t.fit(x, y)
    early = t.predict_proba(x, stages=5)
    assert not torch.allclose(early, t.predict_proba(x))
    t.truncate(5)
    assert t.num_stages() == 5
    assert torch.allclose(t.predict_proba(x), early, atol=1e-6)
    with pytest.raises(ValueError, match="cannot truncate a head of 5 stages to 6"):
        t.truncate(6)


def test_export_then_jit_load_gives_same_predictions(fitted, tmp_path):
    t, _, x, _ = fitted
    path = tmp_path / "head.pt"
    t.export(str(path))
    m = torch.jit.load(str(path))
    assert m.format == "boosthead-model"
    assert m.stages == 30 and m.task == "classification"
    assert list(m.feature_names) == [f"f{i}" for i in range(5)]
    assert torch.allclose(m(x), t.predict_proba(x), atol=1e-6, rtol=0)
    assert torch.allclose(m.forward_stages(x, 4), t.predict_proba(x, 4), atol=1e-6, rtol=0)
    assert torch.allclose(m.scores(x, 30), t.scores(x), atol=1e-6, rtol=0)


def test_export_regression_head(tmp_path):
    x, y = regression()
    t = Trainer({"stages": 5})
    t.fit(x, y)
    t.export(str(tmp_path / "reg.pt"))
    m = torch.jit.load(str(tmp_path / "reg.pt"))
    assert m.task == "regression"
    assert torch.allclose(m(x), t.predict(x), atol=1e-6, rtol=0)


def test_scripted_module_holding_a_trainer_saves_and_loads(fitted, tmp_path):
    t, _, x, _ = fitted
    scripted = torch.jit.script(Holder(t))
    path = tmp_path / "holder.pt"
    scripted.save(str(path))
    loaded = torch.jit.load(str(path))
    assert torch.equal(loaded(x), t.predict_proba(x))
    inner = loaded.trainer
    assert torch.equal(inner.predict(x), t.predict(x))
    assert inner.options() == t.options()
    assert inner.history() == t.history()
    assert inner.num_stages() == 30
    # The reloaded trainer can be truncated independently of the original.
    inner.truncate(3)
    assert inner.num_stages() == 3 and t.num_stages() == 30


def test_unfitted_trainer_pickles():
    scripted = torch.jit.script(Holder(Trainer({"stages": 9, "activation": "relu"})))
    buffer = io.BytesIO()
    torch.jit.save(scripted, buffer)
    buffer.seek(0)
    loaded = torch.jit.load(buffer)
    assert loaded.trainer.options()["stages"] == 9
    assert loaded.trainer.options()["activation"] == "relu"
    assert loaded.trainer.num_stages() == 0


@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_tensors_stay_on_the_given_device(device):
    if device == "cuda" and not torch.cuda.is_available():
        pytest.skip("CUDA is not available")
    x, y = classification(n=200)
    x, y = x.to(device), y.to(device)
    t = Trainer({"stages": 4})
    t.fit(x, y)
    assert t.predict(x).device.type == device
    assert t.predict_proba(x).device.type == device
    other = "cpu" if device == "cuda" else "meta"
    with pytest.raises(ValueError, match="but the head is on"):
        t.predict(torch.zeros(2, 5, device=other))


@pytest.mark.parametrize("solver", ["lbfgs", "varpro"])
def test_a_cuda_fit_predicts_as_the_cpu_fit(solver):
    if not torch.cuda.is_available():
        pytest.skip("CUDA is not available")
    x, y = classification(n=600)
    probs = {}
    for device in ("cpu", "cuda"):
        t = Trainer({"stages": 12, "units_per_stage": 3, "solver": solver, "seed": 4})
        t.fit(x.double().to(device), y.to(device))
        probs[device] = t.predict_proba(x.double().to(device)).cpu()
    assert (probs["cpu"] - probs["cuda"]).abs().max().item() < 1e-6


def test_float64_features_give_float64_outputs():
    x, y = regression(n=100)
    t = Trainer({"stages": 3})
    t.fit(x.double(), y.double())
    assert t.predict(x.double()).dtype == torch.float64
