"""Data-parallel fits from Python: when torch.distributed is initialised with more than one
process, each process's estimator fits on its own rows, and the processes agree on what
depends on all rows (classes, categorical levels; the library agrees on the rest)."""

import numpy as np
import torch

from . import _tabular


def default_group():
    """torch.distributed's default group when it is initialised with several processes."""
    dist = torch.distributed
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        return dist.group.WORLD
    return None


def _gather(value, group):
    out = [None] * torch.distributed.get_world_size(group)
    torch.distributed.all_gather_object(out, value, group=group)
    return out


def union_classes(classes, group):
    """The sorted union of every process's classes."""
    return np.unique(np.concatenate([np.asarray(c) for c in _gather(list(classes), group)]))


def merge_columns(columns, frame, group):
    """Column encodings over every process's rows: categorical where any process found the
    column categorical, with the union of the levels."""
    everyone = _gather([c.categorical for c in columns], group)
    merged = []
    for i, col in enumerate(columns):
        if any(flags[i] for flags in everyone):
            values = frame.iloc[:, i].to_numpy()
            levels = col.levels if col.categorical else np.unique(values.astype(str)).tolist()
            merged.append(_tabular.Column(col.name, True, levels))
        else:
            merged.append(col)
    levels = _gather([c.levels for c in merged], group)
    for i, col in enumerate(merged):
        if col.categorical:
            col.levels = sorted(set().union(*(lv[i] for lv in levels)))
    return merged
