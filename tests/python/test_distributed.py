"""Data-parallel fits from Python: processes that called torch.distributed.init_process_group
(Gloo, loopback) fit the estimators on their own rows and get the one-process model."""

import os
import socket

import numpy as np
import pandas as pd
import pytest
import torch
import torch.multiprocessing as mp

from conftest import REPO_ROOT

# Settings whose fit does not magnify the last-bit differences of another order of additions
# (docs/DISTRIBUTED.md).
PARAMS = dict(solver="lbfgs", max_iter=15, stages=12, subsample=0.7, seed=3, dtype="float64")


def _vehicle():
    frame = pd.read_csv(REPO_ROOT / "data" / "Vehicle.csv")
    # A categorical column whose levels are split between the shares.
    frame["size"] = np.where(frame["Comp"] > frame["Comp"].median(), "large", "small")
    frame = frame.sort_values("Comp", kind="stable").reset_index(drop=True)
    return frame.drop(columns=["Class"]), frame["Class"]


def _boston():
    frame = pd.read_csv(REPO_ROOT / "data" / "BostonHousing.csv")
    frame["chas"] = frame["chas"].astype(str)
    return frame.drop(columns=["medv"]), frame["medv"]


def _fit(kind, X, y):
    import boosthead

    cls = boosthead.GBNNClassifier if kind == "classifier" else boosthead.GBNNRegressor
    return cls(**PARAMS).fit(X, y)


def _outputs(est, X):
    return est.predict_proba(X) if hasattr(est, "predict_proba") else est.predict(X)


def _worker(rank, size, port, kind, queue):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.distributed.init_process_group("gloo", rank=rank, world_size=size)
    try:
        X, y = _vehicle() if kind == "classifier" else _boston()
        bounds = np.linspace(0, len(X), size + 1).astype(int)
        rows = slice(bounds[rank], bounds[rank + 1])
        est = _fit(kind, X.iloc[rows], y.iloc[rows])
        queue.put((rank, _outputs(est, X), [str(c) for c in getattr(est, "classes_", [])],
                   [c.levels for c in est.columns_]))
    finally:
        torch.distributed.destroy_process_group()


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("kind", ["classifier", "regressor"])
def test_processes_with_shares_of_the_rows_give_the_one_process_model(kind):
    X, y = _vehicle() if kind == "classifier" else _boston()
    one = _fit(kind, X, y)
    expected = _outputs(one, X)
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    port = _free_port()
    procs = [ctx.Process(target=_worker, args=(r, 2, port, kind, queue)) for r in range(2)]
    for p in procs:
        p.start()
    results = sorted(queue.get(timeout=240) for _ in procs)
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    for rank, outputs, classes, levels in results:
        assert np.abs(outputs - expected).max() <= 1e-6, f"rank {rank}"
        if kind == "classifier":
            # Sorted by Comp, the shares see different classes' mixes and one level of "size"
            # each; all processes still use all classes and levels.
            assert classes == [str(c) for c in one.classes_]
        assert levels == [c.levels for c in one.columns_]
