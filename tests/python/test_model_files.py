"""The estimators against the command line: same fit, same model files, in both directions."""

import pickle
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

import boosthead
from boosthead import GBNNClassifier, GBNNRegressor

pd = pytest.importorskip("pandas")
DATA = Path(__file__).resolve().parents[2] / "data"


def run(cli, *args):
    return subprocess.run([str(cli), *map(str, args)], check=True, capture_output=True, text=True)


def read_frame(name, categorical, target):
    """A CSV as pandas reads it, with R's quoted factor columns as text (pandas cannot see the
    quotes) and floats parsed exactly as the command line parses them."""
    frame = pd.read_csv(DATA / name, dtype={c: str for c in categorical},
                        float_precision="round_trip")
    return frame.drop(columns=target), frame[target]


CASES = {
    # string labels, two factor columns
    "classification": ("Ionosphere.csv", ["V1", "V2"], "Class", GBNNClassifier),
    # four factor columns
    "regression": ("Servo.csv", ["Motor", "Screw", "Pgain", "Vgain"], "Class", GBNNRegressor),
}


@pytest.mark.parametrize("case", CASES)
def test_a_pandas_fit_is_the_cli_fit(case, cli, tmp_path):
    name, categorical, target, Estimator = CASES[case]
    model, pred = tmp_path / "cli.pt", tmp_path / "pred.csv"
    run(cli, "fit", "--data", DATA / name, "--target", target, "--out", model, "--stages", 40,
        "--units", 2, "--seed", 3, "--valid-fraction", 0.2, "--quiet")
    run(cli, "predict", "--model", model, "--data", DATA / name, "--out", pred)
    X, y = read_frame(name, categorical, target)
    est = Estimator(stages=40, units_per_stage=2, seed=3, valid_fraction=0.2).fit(X, y)

    scripted = torch.jit.load(str(model))
    assert [c.name for c in est.columns_] == list(scripted.input_columns)
    assert {c.name: c.levels for c in est.columns_ if c.categorical} == dict(
        scripted.categorical_levels)
    assert est.n_stages_ == scripted.stages
    cli_out = pd.read_csv(pred)
    if case == "classification":
        assert list(est.classes_) == list(scripted.class_names)
        np.testing.assert_array_equal(est.predict(X), cli_out["prediction"])
        probs = cli_out[[f"prob_{c}" for c in est.classes_]].to_numpy()
        np.testing.assert_allclose(est.predict_proba(X), probs, atol=2e-6)
        cli_acc = float(run(cli, "eval", "--model", model, "--data", DATA / name).stdout.split()[1])
        assert est.score(X, y) == pytest.approx(cli_acc, abs=1e-4)
    else:
        np.testing.assert_allclose(est.predict(X), cli_out["prediction"], rtol=1e-5, atol=1e-4)


def mixed_frame(n=240, seed=0):
    rng = np.random.default_rng(seed)
    colour = rng.choice(["red", "green", "blue"], n)
    size = rng.normal(size=n)
    label = np.where(size + (colour == "red") * 2.0 > 0.5, "keep", "drop")
    return pd.DataFrame({"colour": colour, "size": size}), pd.Series(label, name="fate")


def test_to_torchscript_keeps_names_and_the_cli_reads_it(cli, tmp_path):
    X, y = mixed_frame()
    est = GBNNClassifier(stages=30, units_per_stage=2).fit(X, y)
    path = tmp_path / "py.pt"
    est.to_torchscript(path)
    m = torch.jit.load(str(path))
    assert list(m.feature_names) == ["colour=blue", "colour=green", "colour=red", "size"]
    assert list(m.class_names) == ["drop", "keep"] and m.target == "fate"
    assert list(m.input_columns) == ["colour", "size"] and m.task == "classification"
    encoded = torch.tensor(pd.get_dummies(X["colour"]).assign(size=X["size"]).to_numpy(float))
    np.testing.assert_allclose(m(encoded).numpy(), est.predict_proba(X), atol=1e-6)
    data = tmp_path / "data.csv"
    X.assign(fate=y).to_csv(data, index=False)
    acc = float(run(cli, "eval", "--model", path, "--data", data).stdout.split()[1])
    assert acc == pytest.approx(est.score(X, y), abs=1e-4)


def test_load_reads_a_cli_model_as_an_estimator(cli, tmp_path):
    model = tmp_path / "glass.pt"
    # Glass's quoted classes "1".."7" come back as ints.
    run(cli, "fit", "--data", DATA / "Glass.csv", "--target", "Type", "--out", model,
        "--stages", 20, "--quiet")
    est = boosthead.load(model)
    assert isinstance(est, GBNNClassifier) and list(est.classes_) == [1, 2, 3, 5, 6, 7]
    frame = pd.read_csv(DATA / "Glass.csv", float_precision="round_trip")
    X = frame.drop(columns="Type")
    assert list(est.feature_names_in_) == list(X.columns) and est.n_stages_ == 20
    pred = tmp_path / "pred.csv"
    run(cli, "predict", "--model", model, "--data", DATA / "Glass.csv", "--out", pred)
    np.testing.assert_array_equal(est.predict(X), pd.read_csv(pred)["prediction"])
    # A loaded estimator pickles, and its staged outputs end at its predictions.
    back = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(back.predict(X), est.predict(X))
    assert np.array_equal(list(est.staged_predict(X))[-1], est.predict(X))


def test_load_round_trips_a_python_model(tmp_path):
    X, y = mixed_frame(seed=1)
    reg = GBNNRegressor(stages=15).fit(X, y.eq("keep").astype(float).rename("score"))
    back = boosthead.load(reg.to_torchscript(tmp_path / "reg.pt"))
    assert isinstance(back, GBNNRegressor) and back.target_name_ == "score"
    np.testing.assert_allclose(back.predict(X), reg.predict(X), atol=1e-12)


def test_corrupt_or_missing_model_files_are_value_errors(tmp_path):
    with pytest.raises(ValueError, match="cannot open"):
        boosthead.load(tmp_path / "missing.pt")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(ValueError, match="not a readable TorchScript archive"):
        boosthead.load(bad)


def test_cli_preset_paper_with_an_explicit_option_on_top(cli, tmp_path):
    report = tmp_path / "fit.json"
    run(cli, "fit", "--data", DATA / "Servo.csv", "--target", "Class", "--out", tmp_path / "m.pt",
        "--preset", "paper", "--stages", 7, "--report", report, "--quiet")
    import json
    fit = json.loads(report.read_text())
    options = fit["options"]
    assert options["preset"] == "paper" and options["stages"] == 7  # given
    assert options["units_per_stage"] == 1 and options["activation"] == "sigmoid"  # the preset's
    assert options["standardize_targets"] is False and "target_scale" not in fit
    assert fit["stages"] == 7 and fit["units_per_stage"] == 1
    # The same data with the defaults: standardised targets, recorded in the report.
    run(cli, "fit", "--data", DATA / "Servo.csv", "--target", "Class", "--out", tmp_path / "d.pt",
        "--stages", 7, "--report", report, "--quiet")
    fit = json.loads(report.read_text())
    y = pd.read_csv(DATA / "Servo.csv")["Class"]
    assert fit["target_mean"] == pytest.approx(y.mean(), rel=1e-5)
    assert fit["target_scale"] == pytest.approx(y.std(ddof=0), rel=1e-5)
