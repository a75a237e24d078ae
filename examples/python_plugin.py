#!/usr/bin/env python3
"""Trains a boosted head from Python through the low-level TorchScript class.

Reads data/Vehicle.csv, standardises it, fits torch.classes.boosthead.Trainer (registered by
`import boosthead`), compares it with an Adam-trained head of the same width, exports the
boosted head and reloads it with torch.jit.load. The estimators (GBNNClassifier) do all of this
in two lines; this is the layer underneath, also usable from TorchScript.

    .venv/bin/python examples/python_plugin.py
"""

import csv
import os
import tempfile
import time
from pathlib import Path

import torch

import boosthead  # noqa: F401  (registers torch.classes.boosthead)

REPO_ROOT = Path(__file__).resolve().parents[1]
STAGES, UNITS = 100, 2
SEED = 0


def read_vehicle():
    """Features (N x 18, float64) and int64 labels; classes in sorted order."""
    with open(REPO_ROOT / "data" / "Vehicle.csv", newline="") as f:
        rows = list(csv.reader(f))
    header, rows = rows[0], rows[1:]
    target = header.index("Class")
    classes = sorted({r[target] for r in rows})
    x = torch.tensor([[float(v) for i, v in enumerate(r) if i != target] for r in rows],
                     dtype=torch.float64)
    y = torch.tensor([classes.index(r[target]) for r in rows], dtype=torch.long)
    return x, y, classes


def stratified_split(y, test_fraction, generator):
    train, test = [], []
    for c in y.unique():
        idx = (y == c).nonzero().squeeze(1)
        idx = idx[torch.randperm(len(idx), generator=generator)]
        take = round(test_fraction * len(idx))
        test.append(idx[:take])
        train.append(idx[take:])
    return torch.cat(train).sort().values, torch.cat(test).sort().values


def accuracy(pred, y):
    return (pred == y).double().mean().item()


def adam_head(x, y, width, num_classes, epochs=2000, lr=0.01):
    """Linear(d, width) -> sigmoid -> Linear(width, K), full-batch Adam on cross-entropy."""
    torch.manual_seed(SEED)
    head = torch.nn.Sequential(torch.nn.Linear(x.size(1), width), torch.nn.Sigmoid(),
                               torch.nn.Linear(width, num_classes))
    opt = torch.optim.Adam(head.parameters(), lr=lr, weight_decay=1e-4)
    for _ in range(epochs):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(head(x), y)
        loss.backward()
        opt.step()
    return head


def main():
    x, y, classes = read_vehicle()
    train, test = stratified_split(y, 0.2, torch.Generator().manual_seed(SEED))
    mean, std = x[train].mean(0), x[train].std(0, unbiased=False)
    x = ((x - mean) / std).float()
    x_train, y_train, x_test, y_test = x[train], y[train], x[test], y[test]
    print(f"Vehicle: {len(train)} training rows, {len(test)} test rows, {x.size(1)} features, "
          f"classes {classes}")

    trainer = torch.classes.boosthead.Trainer(
        {"stages": STAGES, "units_per_stage": UNITS, "seed": SEED})
    start = time.perf_counter()
    summary = trainer.fit(x_train, y_train)
    boost_seconds = time.perf_counter() - start
    boost_acc = accuracy(trainer.predict(x_test), y_test)
    history = trainer.history()
    print(f"boosted head: {summary['stages_trained']} stages x {UNITS} units, "
          f"final train loss {history[-1]['train_loss']:.4f}, train accuracy "
          f"{history[-1]['train_metric']:.4f}")
    for t in (10, 25, 50, STAGES):
        print(f"  first {t:3d} stages: test accuracy "
              f"{accuracy(trainer.predict(x_test, t), y_test):.4f}")

    start = time.perf_counter()
    head = adam_head(x_train, y_train, STAGES * UNITS, len(classes))
    adam_seconds = time.perf_counter() - start
    with torch.no_grad():
        adam_acc = accuracy(head(x_test).argmax(1), y_test)

    print(f"{'method':<28}{'test accuracy':>14}{'seconds':>10}")
    print(f"{'boosthead (plugin)':<28}{boost_acc:>14.4f}{boost_seconds:>10.2f}")
    print(f"{'Adam, same width, 2000 ep.':<28}{adam_acc:>14.4f}{adam_seconds:>10.2f}")

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "vehicle_head.pt")
        trainer.export(path)
        model = torch.jit.load(path)
        reloaded = model(x_test)
        diff = (reloaded - trainer.predict_proba(x_test)).abs().max().item()
        print(f"exported to a TorchScript file and reloaded with torch.jit.load: "
              f"{model.stages} stages, test accuracy {accuracy(reloaded.argmax(1), y_test):.4f}, "
              f"max |difference| from the trainer's probabilities {diff:.2e}")


if __name__ == "__main__":
    main()
