"""scikit-learn estimators over the boosting trainer: GBNNClassifier and GBNNRegressor."""

import os
import tempfile

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data

from . import _distributed, _tabular
from ._library import DEFAULTS, OPTION_TYPES, Trainer
from ._progress import run_fit

# Stages per call when iterating over staged outputs: bounded memory, few calls.
_STAGE_BLOCK = 16


def _to_float64(trainer, device):
    trainer.to(device, "float64")
    # The output bias was summed stage by stage in the training dtype; truncating to the full
    # length sums it again in float64, as staged and truncated outputs do, so that they agree.
    trainer.truncate(trainer.num_stages())


def _require_y(est, y):
    if y is None:
        raise ValueError(
            f"{type(est).__name__} requires y to be passed, but the target y is None"
        )


class _GBNNBase(BaseEstimator):
    # The estimator's kind fixes the loss and the class count, so those two options are not
    # parameters; every other option of the trainer is, with the library's default. `preset`
    # names the starting point (the library's trainer_preset): a parameter left at the default
    # preset's value takes the named preset's instead.
    def __init__(
        self,
        preset="default",
        stages=DEFAULTS["stages"],
        units_per_stage=DEFAULTS["units_per_stage"],
        shrinkage=DEFAULTS["shrinkage"],
        subsample=DEFAULTS["subsample"],
        max_iter=DEFAULTS["max_iter"],
        activation=DEFAULTS["activation"],
        solver=DEFAULTS["solver"],
        standardize_targets=DEFAULTS["standardize_targets"],
        l2=DEFAULTS["l2"],
        valid_fraction=DEFAULTS["valid_fraction"],
        patience=DEFAULTS["patience"],
        keep_best=DEFAULTS["keep_best"],
        seed=DEFAULTS["seed"],
        device=DEFAULTS["device"],
        dtype=DEFAULTS["dtype"],
        checkpoint=DEFAULTS["checkpoint"],
        resume=DEFAULTS["resume"],
        unknown_levels="zeros",
        verbose=0,
        callback=None,
    ):
        self.preset = preset
        self.stages = stages
        self.units_per_stage = units_per_stage
        self.shrinkage = shrinkage
        self.subsample = subsample
        self.max_iter = max_iter
        self.activation = activation
        self.solver = solver
        self.standardize_targets = standardize_targets
        self.l2 = l2
        self.valid_fraction = valid_fraction
        self.patience = patience
        self.keep_best = keep_best
        self.seed = seed
        self.device = device
        self.dtype = dtype
        self.checkpoint = checkpoint
        self.resume = resume
        self.unknown_levels = unknown_levels
        self.verbose = verbose
        self.callback = callback

    # ----- fitting -----

    def _trainer_options(self):
        options = {name: getattr(self, name) for name in DEFAULTS if hasattr(self, name)}
        for name, value in options.items():
            kind = OPTION_TYPES[name]
            if kind == "float":
                options[name] = float(value)
            elif kind == "int":
                if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
                    raise ValueError(f"{name} must be an int, got {value!r}")
                options[name] = int(value)
            elif kind == "bool":
                options[name] = bool(value)
            elif kind in ("device", "dtype") and value is not None:
                options[name] = str(value).replace("torch.", "")
        if not isinstance(self.preset, str):
            raise ValueError(f"preset must be a preset name, got {self.preset!r}")
        if self.preset != "default":
            # What was changed from the default preset goes on top of the named one.
            options = {k: v for k, v in options.items() if v != DEFAULTS[k] or
                       type(v) is not type(DEFAULTS[k])}
            options["preset"] = self.preset
        return options

    def _fit(self, X, y, eval_set):
        x = self._encode(X, reset=True)
        y_train = self._encode_targets(y, reset=True)
        if len(y_train) != x.shape[0]:
            raise ValueError(
                f"X has {x.shape[0]} rows but y has {len(y_train)}; they must match"
            )
        x_valid = y_valid = None
        if eval_set is not None:
            if not (isinstance(eval_set, (tuple, list)) and len(eval_set) == 2):
                raise ValueError("eval_set must be a pair (X_valid, y_valid)")
            x_valid = self._encode(eval_set[0], reset=False)
            y_valid = self._encode_targets(eval_set[1], reset=False)
            if len(y_valid) != x_valid.shape[0]:
                raise ValueError(
                    f"eval_set has {x_valid.shape[0]} rows of X but {len(y_valid)} of y"
                )
        options = self._trainer_options()
        options.update(self._task_options())
        trainer = Trainer(options)
        group = _distributed.default_group()
        if group is not None:
            trainer.set_process_group(group.group_name)
        summary = run_fit(
            trainer,
            x,
            y_train,
            x_valid,
            y_valid,
            verbose=self.verbose,
            callback=self.callback,
            metric=self._metric_name,
        )
        self._set_fitted(trainer, summary)
        return self

    def _set_fitted(self, trainer, summary):
        # Predictions are computed in float64, so that they do not depend on how many rows are
        # scored together (float32 products round differently for different batch sizes); the
        # float32 weights convert exactly.
        device = str(trainer.tensors()["hidden_weight"].device)
        _to_float64(trainer, device)
        self.trainer_ = trainer
        self.n_stages_ = int(trainer.num_stages())
        self.stages_trained_ = int(summary["stages_trained"])
        self.best_stages_ = int(summary["best_stages"])
        self.stop_reason_ = summary["stop_reason"]
        self.fit_seconds_ = float(summary["fit_seconds"])
        self.loss_ = summary["loss"]
        self.n_iter_ = self.stages_trained_
        self.history_ = [dict(r) for r in trainer.history()]
        self.device_ = device

    # ----- input -----

    def _encode(self, X, reset):
        """X as the trainer takes it: an encoded, unstandardised float64 tensor."""
        if reset:
            for attr in ("feature_names_in_", "columns_", "target_name_"):
                self.__dict__.pop(attr, None)
        if _tabular.is_dataframe(X):
            validate_data(self, X, reset=reset, skip_check_array=True)
            if X.shape[0] == 0:
                raise ValueError(
                    f"Found array with 0 sample(s) (shape={X.shape}) while a minimum of 1 is "
                    f"required by {type(self).__name__}."
                )
            if X.shape[1] == 0:
                raise ValueError("X has no columns (0 feature(s))")
            if reset:
                self.columns_ = _tabular.fit_columns(X)
                group = _distributed.default_group()
                if group is not None:
                    self.columns_ = _distributed.merge_columns(self.columns_, X, group)
            elif not hasattr(self, "feature_names_in_"):
                return self._encode(X.to_numpy(), reset)
            unknown = "error" if reset else self.unknown_levels
            return _tabular.encode_frame(X, self.columns_, unknown).to(self._input_device())
        if not reset:
            self._check_numeric()
        if isinstance(X, torch.Tensor):
            width = None if reset else self.n_features_in_
            x = _tabular.check_tensor(X, width, type(self).__name__)
            if reset:
                self.n_features_in_ = x.shape[1]
                self.columns_ = _tabular.numeric_columns(x.shape[1])
            return x if reset else x.to(self._input_device())
        x = validate_data(self, X, reset=reset, dtype=np.float64, ensure_min_samples=1)
        if reset:
            self.columns_ = _tabular.numeric_columns(x.shape[1])
        if not x.flags.writeable or not x.flags.c_contiguous:
            x = np.array(x, order="C")  # torch wants a writable, contiguous buffer
        x = torch.from_numpy(x)
        return x if reset else x.to(self._input_device())

    def _check_numeric(self):
        categorical = [c.name for c in self.columns_ if c.categorical]
        if categorical:
            raise ValueError(
                f"{type(self).__name__} was fitted on a DataFrame with categorical column(s) "
                f"{', '.join(categorical)}; pass a DataFrame with those columns"
            )

    def _input_device(self):
        return getattr(self, "device_", "cpu")

    def _encoded_feature_names(self):
        return [name for c in self.columns_ for name in c.encoded_names()]

    # ----- prediction -----

    def _prepared(self, X):
        check_is_fitted(self, "trainer_")
        return self._encode(X, reset=False)

    def _staged(self, X, kind):
        x = self._prepared(X)
        stages = self.n_stages_
        for first in range(0, stages, _STAGE_BLOCK):
            block = self.trainer_.staged(x, kind, first, min(_STAGE_BLOCK, stages - first))
            for out in block:
                yield out.cpu().numpy()

    # ----- model files and pickling -----

    def to_torchscript(self, path):
        """Writes the command line's model file: ``torch.jit.load(path)`` runs it without
        boosthead, and ``boosthead load``/``eval``/``predict`` read it."""
        check_is_fitted(self, "trainer_")
        self.trainer_.save_model(
            os.fspath(path),
            self._task,
            getattr(self, "target_name_", "target"),
            self._encoded_feature_names(),
            self._output_names(),
            [c.name for c in self.columns_],
            [c.categorical for c in self.columns_],
            [list(c.levels) for c in self.columns_],
        )
        return path

    def __getstate__(self):
        state = dict(super().__getstate__())  # object's is the live __dict__
        trainer = state.pop("trainer_", None)
        if trainer is not None:
            # The model file is the one serialised form of a fitted head.
            with tempfile.TemporaryDirectory() as tmp:
                path = os.path.join(tmp, "model.pt")
                self.to_torchscript(path)
                with open(path, "rb") as f:
                    state["_model_file"] = f.read()
        return state

    def __setstate__(self, state):
        model = state.pop("_model_file", None)
        super().__setstate__(state)
        if model is not None:
            with tempfile.TemporaryDirectory() as tmp:
                path = os.path.join(tmp, "model.pt")
                with open(path, "wb") as f:
                    f.write(model)
                device = self.device_ if torch.cuda.is_available() else "cpu"
                trainer = Trainer(self._trainer_options() | self._task_options())
                trainer.load_model(path, device)
            _to_float64(trainer, device)
            self.trainer_ = trainer
            self.device_ = device

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = False
        return tags


class GBNNClassifier(ClassifierMixin, _GBNNBase):
    """Gradient-boosted neural network classifier (GBNN).

    Each stage fits ``units_per_stage`` hidden units to the loss's pseudo-residuals on a
    subsample and adds them, scaled by ``shrinkage`` and a Newton step, to one fused two-layer
    network. Parameters are the trainer's options, with the library's defaults (docs/PYTHON.md).
    """

    _task = "classification"
    _metric_name = "accuracy"

    def fit(self, X, y, eval_set=None):
        """Fits on X (numpy, pandas or torch) and labels y of any type; ``eval_set=(X, y)`` is a
        validation set for ``patience`` and ``keep_best``."""
        return self._fit(X, y, eval_set)

    def _task_options(self):
        return {"loss": "auto", "num_classes": len(self.classes_)}

    def _encode_targets(self, y, reset):
        _require_y(self, y)
        name = getattr(y, "name", None)
        if isinstance(y, torch.Tensor):
            y = y.detach().cpu().numpy()
        y = column_or_1d(y, warn=True)
        if reset:
            check_classification_targets(y)
            classes, labels = np.unique(y, return_inverse=True)
            group = _distributed.default_group()
            if group is not None:
                # Every process numbers the classes of all processes alike.
                classes = _distributed.union_classes(classes, group)
                labels = np.searchsorted(classes, y)
            if len(classes) < 2:
                raise ValueError(
                    f"{type(self).__name__} needs at least two classes in y, got one class: "
                    f"{classes[0]!r}"
                )
            self.classes_ = classes
            if isinstance(name, str):
                self.target_name_ = name
            return torch.from_numpy(labels.astype(np.int64))
        labels = np.searchsorted(self.classes_, y)
        labels = np.minimum(labels, len(self.classes_) - 1)
        unknown = self.classes_[labels] != y
        if unknown.any():
            raise ValueError(f"y holds labels not seen in training: {sorted(set(y[unknown]))[:5]}")
        return torch.from_numpy(labels.astype(np.int64))

    def _output_names(self):
        return [str(c) for c in self.classes_]

    def decision_function(self, X):
        """Raw scores: shape (n,) for two classes (the positive class's log-odds), else (n, K)."""
        x = self._prepared(X)
        f = self.trainer_.scores(x).cpu().numpy()
        return f.ravel() if f.shape[1] == 1 else f

    def predict_proba(self, X):
        """Class probabilities, (n, K) in the order of ``classes_``."""
        x = self._prepared(X)
        return self.trainer_.predict_proba(x).cpu().numpy()

    def predict(self, X):
        """Class labels."""
        x = self._prepared(X)
        return self.classes_[self.trainer_.predict(x).cpu().numpy()]

    def staged_predict(self, X):
        """Labels after each stage (anytime inference)."""
        for labels in self._staged(X, "predict"):
            yield self.classes_[labels]

    def staged_predict_proba(self, X):
        """Probabilities after each stage."""
        for proba in self._staged(X, "proba"):
            yield proba.astype(np.float64)

    def staged_decision_function(self, X):
        """Raw scores after each stage."""
        for f in self._staged(X, "scores"):
            f = f.astype(np.float64)
            yield f.ravel() if f.shape[1] == 1 else f


class GBNNRegressor(RegressorMixin, _GBNNBase):
    """Gradient-boosted neural network regressor (GBNN), single or multiple outputs.

    Parameters are the trainer's options, with the library's defaults (docs/PYTHON.md).
    """

    _task = "regression"
    _metric_name = "rmse"

    def fit(self, X, y, eval_set=None):
        """Fits on X (numpy, pandas or torch) and targets y, shape (n,) or (n, k);
        ``eval_set=(X, y)`` is a validation set for ``patience`` and ``keep_best``."""
        return self._fit(X, y, eval_set)

    def _task_options(self):
        return {"loss": "squared", "num_classes": 0}

    def _encode_targets(self, y, reset):
        _require_y(self, y)
        if isinstance(y, torch.Tensor):
            y = y.detach().cpu().numpy()
        if hasattr(y, "name") and isinstance(y.name, str) and reset:
            self.target_name_ = y.name
        y = np.asarray(y, dtype=np.float64)
        if y.ndim not in (1, 2) or y.size == 0:
            raise ValueError(f"y must have shape (n,) or (n, k), got {y.shape}")
        if not np.isfinite(y).all():
            raise ValueError("Input y contains NaN or infinity")
        if reset:
            self.n_outputs_ = 1 if y.ndim == 1 else y.shape[1]
            self._y_2d = y.ndim == 2
        elif (1 if y.ndim == 1 else y.shape[1]) != self.n_outputs_:
            raise ValueError(f"y has {y.shape} but the model has {self.n_outputs_} output(s)")
        return torch.from_numpy(np.array(y, order="C"))

    def _output_names(self):
        target = getattr(self, "target_name_", "target")
        if self.n_outputs_ == 1:
            return [target]
        return [f"{target}{i}" for i in range(self.n_outputs_)]

    def _shape(self, f):
        f = f.astype(np.float64)
        return f if self._y_2d else f.ravel()

    def predict(self, X):
        """Predicted values, shape (n,) or (n, k) as y was."""
        x = self._prepared(X)
        return self._shape(self.trainer_.scores(x).cpu().numpy())

    def staged_predict(self, X):
        """Predictions after each stage (anytime inference)."""
        for f in self._staged(X, "scores"):
            yield self._shape(f)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags
