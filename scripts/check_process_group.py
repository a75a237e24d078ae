#!/usr/bin/env python3
"""A fit through a torch.distributed process group of one process gives the fit without one:
NCCL on the GPU when there is one (the path of Trainer.set_process_group and the estimators
under torch.distributed), else Gloo. Part of scripts/device_check.sh; prints one line."""

import os
import socket
import sys

import torch
import torch.distributed as dist

import boosthead  # noqa: F401  (registers torch.classes.boosthead)


def main():
    cuda = torch.cuda.is_available()
    backend, device = ("nccl", "cuda") if cuda else ("gloo", "cpu")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), LOCAL_RANK="0")
    dist.init_process_group(backend, rank=0, world_size=1)
    torch.manual_seed(0)
    x = torch.randn(5000, 16, dtype=torch.float64, device=device)
    y = (x[:, :3].sum(1) > 0).long() + (x[:, 3] > 1).long()
    options = {"stages": 20, "seed": 3, "solver": "lbfgs", "max_iter": 15}
    alone = torch.classes.boosthead.Trainer(options)
    alone.fit(x, y)
    grouped = torch.classes.boosthead.Trainer(options)
    grouped.set_process_group(dist.group.WORLD.group_name)
    grouped.fit(x, y)
    diff = (alone.predict_proba(x) - grouped.predict_proba(x)).abs().max().item()
    dist.destroy_process_group()
    print(f"process group of 1 ({backend}, data on {device}): {grouped.num_stages()} stages, "
          f"largest probability difference from the fit without a group {diff:.3g}")
    sys.exit(0 if diff <= 1e-6 and grouped.num_stages() == 20 else 1)


if __name__ == "__main__":
    main()
