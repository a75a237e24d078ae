#!/usr/bin/env python3
"""Boosts the head of a frozen CNN on Fashion-MNIST from Python and exports backbone + head as
one TorchScript module.

The backbone is the `features` part of the small CNN of train_backbone.py: read from --backbone
(a TorchScript file such as the one scripts/run_main.sh writes), or trained here for
--cnn-epochs when that file is missing. boosthead.nn.fit_head computes its features once, boosts
a head on them (on CUDA when --device cuda, else on the CPU) and returns one module, which is
scripted, saved, reloaded and checked against the in-memory one. The CNN's own dense head is
scored beside it.

    .venv/bin/python examples/fashion_mnist/python_head.py [--device cuda]
"""

import argparse
import os
import sys
import tempfile
import time

import torch
from torch.utils.data import DataLoader, TensorDataset

import boosthead
from boosthead.nn import fit_head

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from train_backbone import Net, accuracy, load_images, load_labels  # noqa: E402


def train_cnn(x, y, epochs, seed):
    torch.manual_seed(seed)
    net = Net()
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    for _ in range(epochs):
        net.train()
        order = torch.randperm(len(x))
        for i in range(0, len(order), 128):
            idx = order[i : i + 128]
            opt.zero_grad()
            torch.nn.functional.cross_entropy(net(x[idx]), y[idx]).backward()
            opt.step()
    return torch.jit.script(net.eval())


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    repo = os.path.dirname(os.path.dirname(here))
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", default="/usr/share/datasets/fashion-mnist")
    p.add_argument("--backbone", default=os.path.join(repo, "build", "fashion_mnist", "backbone.pt"))
    p.add_argument("--cnn-epochs", type=int, default=1, help="when the backbone file is missing")
    p.add_argument("--train-rows", type=int, default=0, help="use the first N training images (0: all)")
    p.add_argument("--test-rows", type=int, default=0, help="use the first N test images (0: all)")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--stages", type=int, default=12)
    p.add_argument("--units", type=int, default=32)
    p.add_argument("--out", default="", help="where to save the scripted model (default: a temp file)")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()

    d = a.data_dir
    x_train = load_images(os.path.join(d, "train-images-idx3-ubyte.gz"))
    y_train = load_labels(os.path.join(d, "train-labels-idx1-ubyte.gz"))
    x_test = load_images(os.path.join(d, "t10k-images-idx3-ubyte.gz"))
    y_test = load_labels(os.path.join(d, "t10k-labels-idx1-ubyte.gz"))
    if a.train_rows:
        x_train, y_train = x_train[: a.train_rows], y_train[: a.train_rows]
    if a.test_rows:
        x_test, y_test = x_test[: a.test_rows], y_test[: a.test_rows]

    if os.path.exists(a.backbone):
        cnn = torch.jit.load(a.backbone)
        print(f"backbone: {a.backbone}")
    else:
        start = time.perf_counter()
        cnn = train_cnn(x_train, y_train, a.cnn_epochs, a.seed)
        print(f"backbone: CNN trained here, {a.cnn_epochs} epoch(s), "
              f"{time.perf_counter() - start:.1f} s")
    device = torch.device(a.device)
    cnn = cnn.to(device).eval()
    cnn_acc = accuracy(cnn.cpu(), x_test, y_test)
    cnn = cnn.to(device)

    loader = DataLoader(TensorDataset(x_train, y_train), batch_size=1000)
    start = time.perf_counter()
    model, est = fit_head(
        cnn.features, loader, stages=a.stages, units_per_stage=a.units, activation="relu",
        solver="varpro", subsample=0.2, max_iter=80, shrinkage=0.5, seed=a.seed,
        return_estimator=True,
    )
    fit_seconds = time.perf_counter() - start
    with torch.no_grad():
        proba = torch.cat([model(x_test[i : i + 1000].to(device)) for i in range(0, len(x_test), 1000)])
    boost_acc = (proba.argmax(1).cpu() == y_test).double().mean().item()

    out = a.out or os.path.join(tempfile.mkdtemp(), "fashion_mnist_boosted.pt")
    torch.jit.script(model).save(out)
    loaded = torch.jit.load(out, map_location=device)
    with torch.no_grad():
        same = torch.allclose(loaded(x_test[:500].to(device)), proba[:500], atol=1e-5)
    print(f"boosthead {boosthead.__version__} on {device}: {len(x_train)} training images, "
          f"{len(x_test)} test images")
    print(f"boosted head: {est.n_stages_} stages x {a.units} relu units, features + fit "
          f"{fit_seconds:.1f} s, test accuracy {boost_acc:.4f}")
    print(f"CNN's own dense head: test accuracy {cnn_acc:.4f}")
    print(f"scripted model {out}: reloaded, same outputs: {same}")
    if not same:
        sys.exit("the reloaded model's outputs differ")


if __name__ == "__main__":
    main()
