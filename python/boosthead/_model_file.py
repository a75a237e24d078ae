"""Reading model files (the command line's, or to_torchscript's) back as estimators."""

import os

import numpy as np

from . import _tabular
from ._estimators import GBNNClassifier, GBNNRegressor
from ._library import Trainer


def _labels(names):
    """Class labels from the file's class names: ints or bools when every name is one (a file
    stores names as text), else the text."""
    try:
        return np.array([int(n) for n in names])
    except ValueError:
        pass
    if set(names) <= {"True", "False"}:
        return np.array([n == "True" for n in names])
    return np.array(names, dtype=object)


def load(path, device="cpu"):
    """Reads a boosthead model file as a fitted GBNNClassifier or GBNNRegressor.

    The estimator predicts as the file does, from the same input columns (a DataFrame with the
    file's column names, or a matrix in their order when every column is numeric). Training
    options other than the head's shape are not stored in the file and keep their defaults.
    """
    trainer = Trainer({})
    info = trainer.load_model(os.fspath(path), str(device))
    head = trainer.head_info()
    classification = info["task"] == "classification"
    est = (GBNNClassifier if classification else GBNNRegressor)(
        units_per_stage=int(head["units_per_stage"]), activation=head["activation"]
    )
    est.columns_ = [
        _tabular.Column(name, bool(cat), list(levels))
        for name, cat, levels in zip(info["columns"], info["categorical"], info["levels"])
    ]
    est.n_features_in_ = len(est.columns_)
    names = [c.name for c in est.columns_]
    if names != [c.name for c in _tabular.numeric_columns(len(names))]:
        est.feature_names_in_ = np.array(names, dtype=object)
    est.target_name_ = info["target"]
    if classification:
        est.classes_ = _labels(list(info["class_names"]))
    else:
        est.n_outputs_ = len(info["class_names"])
        est._y_2d = est.n_outputs_ > 1
    summary = trainer.summary()
    est._set_fitted(trainer, summary)
    return est
