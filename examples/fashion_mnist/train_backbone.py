#!/usr/bin/env python3
"""Trains a small CNN on Fashion-MNIST and exports it as a TorchScript backbone.

The network has two parts: `features` (two conv blocks and a dense layer, 128 features) and
`classifier` (the dense head, 128 -> 10). boosthead replaces the classifier by a boosted head
fitted on the frozen `features`. Inputs are float32 N x 1 x 28 x 28 in [0, 1], as boosthead's
IDX reader produces them. The CNN's own test accuracy (with its trained dense head) is written
to a JSON file for comparison.
"""
import argparse
import gzip
import json
import os
import time

import numpy as np
import torch
from torch import nn


def read_idx(path):
    with gzip.open(path, "rb") if path.endswith(".gz") else open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    assert data[2] == 0x08, f"{path}: expected uint8 IDX data"
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load_images(path):
    x = read_idx(path).astype(np.float32) / 255.0
    return torch.from_numpy(x).unsqueeze(1)


def load_labels(path):
    return torch.from_numpy(read_idx(path).astype(np.int64))


class Net(nn.Module):
    def __init__(self, width=128):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(32 * 7 * 7, width), nn.ReLU())
        self.classifier = nn.Linear(width, 10)

    def forward(self, x):
        return self.classifier(self.features(x))


def accuracy(net, x, y, batch=1000):
    net.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(x), batch):
            correct += (net(x[i:i + batch]).argmax(1) == y[i:i + batch]).sum().item()
    return correct / len(x)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", default="/usr/share/datasets/fashion-mnist")
    p.add_argument("--out", default="backbone.pt")
    p.add_argument("--metrics", default="cnn_metrics.json")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--train-subset", type=int, default=0,
                   help="train on this many training images drawn at random (0: all 60,000)")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()

    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    d = a.data_dir
    x_train = load_images(os.path.join(d, "train-images-idx3-ubyte.gz"))
    y_train = load_labels(os.path.join(d, "train-labels-idx1-ubyte.gz"))
    x_test = load_images(os.path.join(d, "t10k-images-idx3-ubyte.gz"))
    y_test = load_labels(os.path.join(d, "t10k-labels-idx1-ubyte.gz"))
    if 0 < a.train_subset < len(x_train):
        keep = torch.randperm(len(x_train))[:a.train_subset]
        x_train, y_train = x_train[keep], y_train[keep]

    net = Net()
    opt = torch.optim.Adam(net.parameters(), lr=a.lr)
    loss_fn = nn.CrossEntropyLoss()
    start = time.time()
    for epoch in range(a.epochs):
        net.train()
        order = torch.randperm(len(x_train))
        total = 0.0
        for i in range(0, len(order), a.batch_size):
            idx = order[i:i + a.batch_size]
            opt.zero_grad()
            loss = loss_fn(net(x_train[idx]), y_train[idx])
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        print(f"epoch {epoch + 1}/{a.epochs}: train loss {total / len(order):.4f}, "
              f"{time.time() - start:.1f} s", flush=True)
    train_seconds = time.time() - start

    net.eval()
    test_acc = accuracy(net, x_test, y_test)
    print(f"CNN with its dense head: test accuracy {test_acc:.4f}", flush=True)
    scripted = torch.jit.script(net)
    scripted.save(a.out)
    with open(a.metrics, "w") as f:
        json.dump({"test_accuracy": test_acc, "epochs": a.epochs, "train_images": len(x_train),
                   "train_seconds": train_seconds,
                   "threads": a.threads, "features": net.classifier.in_features,
                   "torch": torch.__version__}, f, indent=2)
        f.write("\n")
    print(f"wrote {a.out} and {a.metrics}")


if __name__ == "__main__":
    main()
