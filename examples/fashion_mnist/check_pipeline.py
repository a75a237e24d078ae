#!/usr/bin/env python3
"""Checks that a boosthead image pipeline runs in PyTorch alone and agrees with the C++ tool.

Loads the pipeline with torch.jit.load, runs it on IDX images and compares its class
probabilities with those `boosthead predict --images ... --out CSV` wrote. Exits 1 when the
largest absolute difference exceeds --tol.
"""
import argparse
import csv
import gzip
import sys

import numpy as np
import torch


def read_idx(path):
    with gzip.open(path, "rb") if path.endswith(".gz") else open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load_images(path):
    """Float32 N x 1 x H x W in [0, 1], as boosthead's IDX reader gives them."""
    return torch.from_numpy(read_idx(path).astype(np.float32) / 255.0).unsqueeze(1)


def run(model, images, stages, batch_size):
    outs = []
    with torch.no_grad():
        for i in range(0, len(images), batch_size):
            outs.append(model.forward_stages(images[i:i + batch_size], stages))
    return torch.cat(outs)


def read_predictions(path, class_names):
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    probs = np.array([[float(r["prob_" + c]) for c in class_names] for r in rows])
    labels = [r["prediction"] for r in rows]
    return probs, labels


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True, help="pipeline file written by boosthead fit")
    p.add_argument("--images", required=True)
    p.add_argument("--labels", help="IDX labels, to report the accuracy")
    p.add_argument("--predictions", required=True, help="CSV from boosthead predict")
    p.add_argument("--stages", type=int, default=-1, help="as given to boosthead predict")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--tol", type=float, default=1e-6)
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()

    torch.set_num_threads(a.threads)
    model = torch.jit.load(a.model)
    model.eval()
    assert model.format == "boosthead-pipeline", f"{a.model}: format is {model.format!r}"
    class_names = list(model.class_names)
    stages = model.stages if a.stages < 0 else a.stages
    images = load_images(a.images)
    probs = run(model, images, stages, a.batch_size).double().numpy()
    cpp, cpp_labels = read_predictions(a.predictions, class_names)
    if cpp.shape != probs.shape:
        print(f"shape mismatch: PyTorch {probs.shape}, boosthead predict {cpp.shape}")
        return 1
    diff = float(np.abs(cpp - probs).max())
    same = float(np.mean([class_names[k] == c for k, c in zip(probs.argmax(1), cpp_labels)]))
    line = (f"torch.jit.load vs boosthead predict: {len(probs)} rows, {stages} stages, "
            f"max |dp| {diff:.3g}, same class {same:.4f}")
    if a.labels:
        labels = read_idx(a.labels).astype(np.int64)
        line += f", PyTorch accuracy {float(np.mean(probs.argmax(1) == labels)):.4f}"
    print(line)
    if diff > a.tol:
        print(f"FAIL: probabilities differ by {diff:.3g} > {a.tol:g}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
