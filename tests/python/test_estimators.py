"""The scikit-learn estimators GBNNClassifier and GBNNRegressor of the installed package."""

import pickle

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.datasets import load_wine, make_classification, make_regression
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV, cross_val_score, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer
from sklearn.utils.estimator_checks import parametrize_with_checks

import boosthead
from boosthead import GBNNClassifier, GBNNRegressor

pd = pytest.importorskip("pandas")


# scikit-learn's own estimator suite, one test per check, with no exemption.
@parametrize_with_checks([GBNNClassifier(), GBNNRegressor()])
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)


def small(**params):
    return dict(dict(stages=30, units_per_stage=2), **params)


def test_defaults_are_the_librarys():
    params = GBNNClassifier().get_params()
    for name, value in boosthead.DEFAULTS.items():
        if name in ("loss", "num_classes"):
            assert name not in params
        else:
            assert params[name] == value, name
    assert params["verbose"] == 0 and params["callback"] is None


def test_version_matches_the_project():
    text = (pytest.importorskip("pathlib").Path(__file__).parents[2] / "CMakeLists.txt").read_text()
    assert f"project(boosthead VERSION {boosthead.__version__} " in text


def test_wine_is_learnt_with_standardisation_inside_the_model():
    X, y = load_wine(return_X_y=True)
    a, b, c, d = train_test_split(X, y, random_state=0, stratify=y)
    assert GBNNClassifier().fit(a, c).score(b, d) >= 0.95


@pytest.mark.parametrize("labels", [["no", "yes"], [3, 7], [False, True], ["a", "b", "c"]])
def test_classes_of_any_label_type(labels):
    X, y = make_classification(200, 5, n_informative=3, n_classes=len(labels), random_state=0)
    y = np.asarray(labels, dtype=object if isinstance(labels[0], str) else None)[y]
    est = GBNNClassifier(**small()).fit(X, y)
    assert list(est.classes_) == sorted(labels)
    pred = est.predict(X)
    assert set(pred) <= set(labels) and (pred == y).mean() > 0.8
    proba = est.predict_proba(X)
    assert proba.shape == (200, len(labels)) and np.allclose(proba.sum(1), 1)
    assert np.array_equal(est.classes_[proba.argmax(1)], pred)


def test_staged_outputs_end_at_the_final_model():
    X, y = make_classification(300, 6, n_informative=4, n_classes=3, random_state=1)
    est = GBNNClassifier(**small(stages=20)).fit(X, y)
    probas = list(est.staged_predict_proba(X))
    labels = list(est.staged_predict(X))
    assert len(probas) == len(labels) == est.n_stages_ == 20
    np.testing.assert_allclose(probas[-1], est.predict_proba(X), atol=1e-12)
    assert np.array_equal(labels[-1], est.predict(X))
    # Anytime inference gets better with stages on the training data.
    assert (labels[0] == y).mean() < (labels[-1] == y).mean()
    reg = GBNNRegressor(**small(stages=12)).fit(X, y.astype(float))
    staged = list(reg.staged_predict(X))
    assert len(staged) == 12
    np.testing.assert_allclose(staged[-1], reg.predict(X), atol=1e-12)


def test_regressor_single_and_multi_output():
    X, y = make_regression(300, 5, n_targets=2, noise=0.1, random_state=0)
    est = GBNNRegressor(**small(stages=60)).fit(X, y)
    assert est.predict(X).shape == (300, 2) and est.score(X, y) > 0.9
    one = GBNNRegressor(**small(stages=60)).fit(X, y[:, 0])
    assert one.predict(X).shape == (300,)


def test_pipeline_grid_search_and_cross_validation():
    X, y = make_classification(240, 6, n_informative=4, random_state=2)
    pipe = make_pipeline(FunctionTransformer(), GBNNClassifier(**small()))
    scores = cross_val_score(pipe, X, y, cv=3)
    assert scores.shape == (3,) and scores.mean() > 0.8
    grid = GridSearchCV(GBNNClassifier(**small()), {"units_per_stage": [1, 3]}, cv=3).fit(X, y)
    assert grid.best_params_["units_per_stage"] in (1, 3)
    assert grid.best_estimator_.n_stages_ == 30


def test_clone_and_pickle_keep_the_model():
    X, y = make_classification(200, 5, random_state=3)
    est = GBNNClassifier(**small(), activation="relu").fit(X, y)
    copy = clone(est)
    assert copy.get_params() == est.get_params() and not hasattr(copy, "trainer_")
    back = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(back.predict_proba(X), est.predict_proba(X))
    assert back.n_stages_ == est.n_stages_ and back.history_ == est.history_


def test_eval_set_with_patience_keeps_the_best_stage_count():
    X, y = make_classification(400, 8, n_informative=3, flip_y=0.2, random_state=4)
    est = GBNNClassifier(stages=150, units_per_stage=8, shrinkage=1.0, patience=5)
    est.fit(X[:300], y[:300], eval_set=(X[300:], y[300:]))
    assert est.stop_reason_ == "early_stopping"
    losses = [r["valid_loss"] for r in est.history_]
    assert est.best_stages_ == int(np.argmin(losses)) + 1 == est.n_stages_


def test_verbose_prints_progress_and_callback_can_stop(capsys):
    X, y = make_classification(300, 5, random_state=5)
    seen = []

    def stop_at_seven(record):
        seen.append(record["stage"])
        return record["stage"] < 7

    est = GBNNClassifier(stages=50, verbose=2, callback=stop_at_seven).fit(X, y)
    assert est.stop_reason_ == "callback" and est.n_stages_ == 7 and seen == list(range(1, 8))
    out = capsys.readouterr().out
    assert "stage 1/50  train loss" in out and "stages/s" in out and "stopped: callback" in out


def test_callback_errors_reach_the_caller():
    X, y = make_classification(100, 4, random_state=6)

    def broken(record):
        raise KeyError("from the callback")

    with pytest.raises(KeyError, match="from the callback"):
        GBNNClassifier(stages=20, callback=broken).fit(X, y)


@pytest.mark.parametrize(
    "make_x, message",
    [
        (lambda X: X[:, :3], "X has 3 features, but GBNNClassifier is expecting 5"),
        (lambda X: np.where(X > 1, np.nan, X), "NaN"),
        (lambda X: torch.from_numpy(X[:, :4]), "X has 4 features"),
    ],
)
def test_bad_prediction_input_is_a_value_error_naming_it(make_x, message):
    X, y = make_classification(100, 5, random_state=7)
    est = GBNNClassifier(stages=5).fit(X, y)
    with pytest.raises(ValueError, match=message):
        est.predict(make_x(X))


def test_unfitted_and_bad_targets():
    X, y = make_classification(100, 5, random_state=8)
    with pytest.raises(NotFittedError):
        GBNNRegressor().predict(X)
    with pytest.raises(ValueError, match="at least two classes"):
        GBNNClassifier().fit(X, np.zeros(100))
    with pytest.raises(ValueError, match="Unknown label type"):
        GBNNClassifier().fit(X, np.linspace(0, 1, 100))
    with pytest.raises(ValueError, match="100 rows but y has 99"):
        GBNNClassifier().fit(X, y[:99])
    est = GBNNClassifier(stages=5).fit(X, y)
    with pytest.raises(ValueError, match="not seen in training"):
        GBNNClassifier(stages=5).fit(X, y, eval_set=(X, y + 5))
    with pytest.raises(ValueError, match="stages must be an int"):
        GBNNClassifier(stages=2.5).fit(X, y)
    with pytest.raises(ValueError, match="activation"):
        GBNNClassifier(activation="swish").fit(X, y)
    assert est.n_stages_ == 5


def frame():
    rng = np.random.default_rng(0)
    n = 300
    colour = rng.choice(["red", "green", "blue"], n)
    size = rng.normal(size=n)
    grade = pd.Categorical(rng.choice(["low", "high"], n))
    score = size + (colour == "red") * 2.0 - (grade == "high") * 1.5
    label = np.where(score > 0.5, "keep", "drop")
    return pd.DataFrame({"colour": colour, "size": size, "grade": grade}), pd.Series(label, name="fate")


def test_pandas_categorical_columns_are_one_hot_encoded_as_the_cli_does():
    X, y = frame()
    est = GBNNClassifier(**small(stages=60)).fit(X, y)
    assert list(est.feature_names_in_) == ["colour", "size", "grade"] and est.n_features_in_ == 3
    assert [(c.name, c.categorical, c.levels) for c in est.columns_] == [
        ("colour", True, ["blue", "green", "red"]),
        ("size", False, []),
        ("grade", True, ["high", "low"]),
    ]
    assert est.score(X, y) > 0.95
    # Columns are checked by name, as scikit-learn does.
    with pytest.raises(ValueError, match="same order"):
        est.predict(X[["grade", "size", "colour"]])
    with pytest.warns(UserWarning, match="not seen in training: 'purple'"):
        purple = est.predict_proba(X.assign(colour="purple"))
    assert purple.shape == (300, 2)
    with pytest.raises(ValueError, match="not seen in training: 'purple'"):
        est.set_params(unknown_levels="error").predict(X.assign(colour="purple"))
    with pytest.raises(ValueError, match="missing value in column 'size' at row"):
        est.predict(X.assign(size=np.where(X["size"] > 1, np.nan, X["size"])))
    with pytest.raises(ValueError, match="categorical column"):
        est.predict(X.to_numpy())


def test_checkpoint_and_resume_give_the_same_model(tmp_path):
    X, y = make_classification(200, 5, random_state=10)
    checkpoint = tmp_path / "fit.ckpt"
    first = GBNNClassifier(stages=15, checkpoint=str(checkpoint)).fit(X, y)
    assert checkpoint.exists()
    again = GBNNClassifier(stages=15, checkpoint=str(checkpoint), resume=True).fit(X, y)
    np.testing.assert_array_equal(again.predict_proba(X), first.predict_proba(X))


def test_patience_without_validation_is_refused():
    X, y = make_classification(100, 5, random_state=11)
    with pytest.raises(ValueError, match="patience 3 needs a validation set"):
        GBNNClassifier(patience=3).fit(X, y)
    GBNNClassifier(stages=5, patience=3, valid_fraction=0.2).fit(X, y)


def test_torch_tensors_in_and_on_cuda_when_available():
    X, y = make_classification(200, 5, random_state=9)
    xt, yt = torch.from_numpy(X).float(), torch.from_numpy(y)
    est = GBNNClassifier(**small()).fit(xt, yt)
    np.testing.assert_array_equal(est.predict(xt), est.predict(X))
    assert est.device_ == "cpu"
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device: the CUDA half of this test needs one")
    gpu = GBNNClassifier(**small()).fit(xt.cuda(), yt.cuda())
    assert gpu.device_.startswith("cuda")
    np.testing.assert_allclose(gpu.predict_proba(xt.cuda()), gpu.predict_proba(X), atol=1e-12)
    assert (gpu.predict(X) == est.predict(X)).mean() > 0.97


def test_preset_paper_and_explicit_parameters_on_top():
    X, y = make_classification(150, 5, n_informative=3, n_classes=3, random_state=0)
    est = GBNNClassifier(preset="paper", stages=4).fit(X, y)
    info = est.trainer_.head_info()
    assert est.n_stages_ == 4  # given
    assert info["units_per_stage"] == 1 and info["activation"] == "sigmoid"  # the preset's
    # The default width is a number per output: three classes, three times two classes'.
    three = GBNNClassifier(stages=2).fit(X, y).trainer_.head_info()["units_per_stage"]
    two = GBNNClassifier(stages=2).fit(X, y % 2).trainer_.head_info()["units_per_stage"]
    assert boosthead.DEFAULTS["units_per_stage"] == 0 and three == 3 * two
    with pytest.raises(ValueError, match="unknown preset 'fast'; known presets: default, paper"):
        GBNNClassifier(preset="fast").fit(X, y)


def test_regression_does_not_depend_on_the_targets_units():
    X, y = make_regression(200, 4, noise=5.0, random_state=0)
    # Few solver iterations: long runs amplify the last-bit differences of the two scalings.
    params = dict(stages=10, max_iter=5, dtype="float64")
    small_units = GBNNRegressor(**params).fit(X, y / 1000.0)
    large_units = GBNNRegressor(**params).fit(X, y * 1000.0 + 5.0)
    np.testing.assert_allclose(large_units.predict(X), small_units.predict(X) * 1e6 + 5.0,
                               rtol=1e-7, atol=1e-6 * np.abs(y * 1000.0).max())
    raw = GBNNRegressor(standardize_targets=False, **params).fit(X, y * 1000.0 + 5.0)
    assert np.abs(raw.predict(X) - large_units.predict(X)).max() > 1e-3 * np.abs(y * 1000).max()
