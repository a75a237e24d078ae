"""Torch-native use for the head case: boost the head of a frozen backbone and get back one
scriptable module (backbone + fused head) that needs nothing but PyTorch to run.

    model = boosthead.nn.fit_head(backbone, train_loader, stages=12, units_per_stage=32)
    torch.jit.script(model).save("model.pt")
"""

from typing import Optional

import torch
from torch import nn

from ._estimators import GBNNClassifier, GBNNRegressor

_LINKS = {"binary_logistic": 0, "multinomial": 1, "squared": 2}


class BoostedHead(nn.Module):
    """The fused boosted head as a plain module: standardise -> Linear(d, T*J) -> activation ->
    Linear(T*J, K), then the loss's link (class probabilities, or values for regression).

    ``forward(x)`` gives probabilities or values, ``scores(x, stages)`` raw scores of the first
    ``stages`` stages (-1: all). Built from a fitted estimator with ``from_estimator``.
    """

    def __init__(self, tensors, activation: str, loss: str, units_per_stage: int, dtype=None):
        super().__init__()
        if activation not in ("sigmoid", "tanh", "relu"):
            raise ValueError(f"unknown activation '{activation}'")
        if loss not in _LINKS:
            raise ValueError(f"unknown loss '{loss}'")
        dtype = dtype or torch.float32

        def buffer(name):
            return tensors[name].detach().to(dtype).clone()

        self.register_buffer("mean", buffer("mean"))
        self.register_buffer("scale", buffer("scale"))
        self.hidden = nn.Linear(*buffer("hidden_weight").shape[::-1])
        self.output = nn.Linear(*buffer("output_weight").shape[::-1])
        with torch.no_grad():
            self.hidden.weight.copy_(buffer("hidden_weight"))
            self.hidden.bias.copy_(buffer("hidden_bias"))
            self.output.weight.copy_(buffer("output_weight"))
            self.output.bias.copy_(buffer("output_bias"))
        self.register_buffer("initial_score", buffer("initial_score"))
        self.register_buffer("stage_output_bias", buffer("stage_output_bias"))
        self.activation = activation
        self.link = _LINKS[loss]
        self.units_per_stage = int(units_per_stage)
        self.requires_grad_(False)

    @classmethod
    def from_estimator(cls, estimator, dtype=None):
        """The head of a fitted GBNNClassifier or GBNNRegressor whose features are all numeric."""
        categorical = [c.name for c in estimator.columns_ if c.categorical]
        if categorical:
            raise ValueError(
                f"the estimator encodes categorical columns ({', '.join(categorical)}); its head "
                "takes encoded features, so export it with to_torchscript instead"
            )
        info = estimator.trainer_.head_info()
        return cls(
            estimator.trainer_.tensors(),
            info["activation"],
            info["loss"],
            int(info["units_per_stage"]),
            dtype,
        )

    def num_stages(self) -> int:
        return self.hidden.weight.shape[0] // self.units_per_stage

    def _activate(self, h: torch.Tensor) -> torch.Tensor:
        if self.activation == "sigmoid":
            return torch.sigmoid(h)
        if self.activation == "tanh":
            return torch.tanh(h)
        return torch.relu(h)

    def scores(self, x: torch.Tensor, stages: int = -1) -> torch.Tensor:
        """Raw scores (N x K) of the first `stages` stages (all when negative)."""
        total = self.num_stages()
        t = total if stages < 0 else stages
        if t > total:
            raise ValueError("asked for " + str(t) + " stages but the head has " + str(total))
        z = (x.to(self.mean.dtype) - self.mean) / self.scale
        units = t * self.units_per_stage
        bias = self.initial_score + self.stage_output_bias[:t].sum(0)
        if units == 0:
            return bias.unsqueeze(0).expand([x.shape[0], bias.shape[0]])
        h = self._activate(
            torch.nn.functional.linear(z, self.hidden.weight[:units], self.hidden.bias[:units])
        )
        return torch.nn.functional.linear(h, self.output.weight[:, :units], bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.scores(x.flatten(1))
        if self.link == 0:
            p = torch.sigmoid(f)
            return torch.cat([1 - p, p], 1)
        if self.link == 1:
            return torch.softmax(f, 1)
        return f


class BackboneWithHead(nn.Module):
    """A frozen backbone followed by a boosted head: ``forward(x)`` gives the head's output on
    the backbone's (flattened) features."""

    def __init__(self, backbone: nn.Module, head: BoostedHead):
        super().__init__()
        self.backbone = backbone
        self.head = head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(x).flatten(1))


def _device_of(module, default):
    if default is not None:
        return torch.device(default)
    for t in list(module.parameters()) + list(module.buffers()):
        return t.device
    return torch.device("cpu")


@torch.no_grad()
def extract_features(backbone, data, targets=None, batch_size=256, device=None):
    """Runs a frozen backbone over `data` once: a DataLoader (or any iterable) of (inputs, targets)
    batches, or an input tensor with `targets`. Returns (features N x d, targets), features on
    the backbone's device."""
    device = _device_of(backbone, device)
    was_training = backbone.training
    backbone.eval()
    try:
        if isinstance(data, torch.Tensor):
            if targets is None:
                raise ValueError("give targets with an input tensor")
            batches = (
                (data[i : i + batch_size], None) for i in range(0, data.shape[0], batch_size)
            )
        else:
            if targets is not None:
                raise ValueError("targets come from the DataLoader's batches; do not pass them")
            batches = iter(data)
        features, labels = [], []
        for batch in batches:
            if not isinstance(batch, (tuple, list)) or len(batch) < 2:
                raise ValueError("each batch must be a pair (inputs, targets)")
            inputs, y = batch[0], batch[1]
            features.append(backbone(inputs.to(device)).flatten(1))
            if y is not None:
                labels.append(torch.as_tensor(y).cpu())
        if not features:
            raise ValueError("no data: the loader gave no batches")
        x = torch.cat(features)
        y = targets if targets is not None else torch.cat(labels)
        return x, torch.as_tensor(y)
    finally:
        backbone.train(was_training)


def fit_head(
    backbone: nn.Module,
    data,
    targets: Optional[torch.Tensor] = None,
    *,
    task: str = "classification",
    eval_data=None,
    batch_size: int = 256,
    device=None,
    return_estimator: bool = False,
    **params,
):
    """Boosts a head on the frozen features of `backbone` (an nn.Module or TorchScript module).

    `data` is a DataLoader of (inputs, targets) batches or an input tensor with `targets`;
    `eval_data` the same for validation (patience, keep_best). The features are computed once,
    on the backbone's device (or `device`), and the boosting runs there. `params` are the
    estimator's (GBNNClassifier or GBNNRegressor by `task`). Returns a BackboneWithHead, which
    torch.jit.script accepts when the backbone is scriptable (and, with return_estimator, the
    fitted estimator too). The output's columns follow the estimator's ``classes_`` (the
    sorted distinct targets).
    """
    if task not in ("classification", "regression"):
        raise ValueError(f"task must be 'classification' or 'regression', got '{task}'")
    x, y = extract_features(backbone, data, targets, batch_size, device)
    eval_set = None
    if eval_data is not None:
        eval_set = extract_features(backbone, *_pair(eval_data), batch_size=batch_size,
                                    device=device)
    est = (GBNNClassifier if task == "classification" else GBNNRegressor)(**params)
    est.fit(x, y, eval_set=eval_set)
    head = BoostedHead.from_estimator(est, dtype=x.dtype).to(x.device)
    model = BackboneWithHead(backbone, head)
    return (model, est) if return_estimator else model


def _pair(eval_data):
    if isinstance(eval_data, (tuple, list)) and len(eval_data) == 2 and isinstance(
        eval_data[0], torch.Tensor
    ):
        return eval_data[0], eval_data[1]
    return eval_data, None
