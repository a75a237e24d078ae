"""Feature input as users bring it (numpy, pandas, torch) to the encoded matrix the trainer takes.

The encoding is the command line's (include/boosthead/data/encoder.h): numeric columns pass
through; every other column is categorical, one 0/1 column per level, levels being the sorted
distinct values seen in training (as text), named ``column=level``. The head standardises the
encoded columns itself, so that a model file written here is one the command line can read.
"""

import warnings
from dataclasses import dataclass, field
from typing import List, Optional

import numpy as np
import torch


@dataclass
class Column:
    """How one input column becomes encoded feature columns."""

    name: str
    categorical: bool = False
    levels: List[str] = field(default_factory=list)

    def encoded_names(self):
        if not self.categorical:
            return [self.name]
        return [f"{self.name}={level}" for level in self.levels]


def is_dataframe(X):
    return hasattr(X, "columns") and hasattr(X, "dtypes") and hasattr(X, "iloc")


def _numeric_dtype(dtype):
    return dtype.kind in "iuf"


def _missing_rows(values):
    """Positions of missing cells (None, NaN, pandas' NA) in a 1-D array of any dtype."""
    if values.dtype.kind == "f":
        return np.flatnonzero(np.isnan(values))
    import pandas as pd

    return np.flatnonzero(pd.isna(values))


def _check_column(name, values, index):
    missing = _missing_rows(values)
    if missing.size:
        rows = ", ".join(str(index[i]) for i in missing[:5])
        raise ValueError(
            f"Input X contains NaN: missing value in column '{name}' at row(s) {rows} "
            f"({missing.size} in all)"
        )


def fit_columns(frame):
    """The encoding of a DataFrame's columns, learnt from its (training) rows."""
    columns = []
    for name in frame.columns:
        series = frame[name]
        values = series.to_numpy()
        _check_column(name, values, frame.index)
        if _numeric_dtype(series.dtype):
            columns.append(Column(str(name)))
            continue
        levels = np.unique(values.astype(str)).tolist()
        columns.append(Column(str(name), True, levels))
    return columns


def encode_frame(frame, columns, unknown_levels="zeros"):
    """An N x D float64 tensor from a DataFrame, by column name. A level not seen in training
    is encoded as no level (all zeros) with one warning per column, as the command line does,
    or is an error with ``unknown_levels="error"``."""
    if unknown_levels not in ("zeros", "error"):
        raise ValueError(f"unknown_levels must be 'zeros' or 'error', got {unknown_levels!r}")
    present = {str(c): c for c in frame.columns}
    missing = [c.name for c in columns if c.name not in present]
    if missing:
        raise ValueError(f"X lacks the column(s) the model needs: {', '.join(missing)}")
    n = len(frame)
    width = sum(len(c.levels) if c.categorical else 1 for c in columns)
    out = np.zeros((n, width), dtype=np.float64)
    offset = 0
    for col in columns:
        values = frame[present[col.name]].to_numpy()
        _check_column(col.name, values, frame.index)
        if not col.categorical:
            try:
                out[:, offset] = values.astype(np.float64)
            except (TypeError, ValueError):
                raise ValueError(
                    f"column '{col.name}' was numeric in training but holds non-numbers"
                ) from None
            if not np.isfinite(out[:, offset]).all():
                raise ValueError(f"Input X contains infinity in column '{col.name}'")
            offset += 1
            continue
        text = values.astype(str)
        pos = np.searchsorted(col.levels, text)
        pos = np.minimum(pos, len(col.levels) - 1)
        known = np.asarray(col.levels, dtype=object)[pos] == text
        if not known.all():
            unseen = sorted(set(text[~known].tolist()))
            message = (
                f"column '{col.name}' holds level(s) not seen in training: "
                f"{', '.join(repr(u) for u in unseen[:5])} ({int((~known).sum())} of {n} rows)"
            )
            if unknown_levels == "error":
                raise ValueError(f"{message}; known levels: {', '.join(col.levels)}")
            warnings.warn(
                f"{message}; they are encoded as no level (unknown_levels='error' refuses them)",
                UserWarning,
                stacklevel=4,
            )
        rows = np.flatnonzero(known)
        out[rows, offset + pos[rows]] = 1.0
        offset += len(col.levels)
    return torch.from_numpy(out)


def numeric_columns(width):
    """The encoding of a plain numeric matrix: columns x0, x1, ... as scikit-learn names them."""
    return [Column(f"x{i}") for i in range(width)]


def check_tensor(X, expected_width: Optional[int], name):
    """A 2-D finite floating tensor from a torch tensor, on its own device."""
    if X.dim() != 2:
        raise ValueError(f"Expected a 2-D tensor for X, got shape {tuple(X.shape)}")
    if X.shape[0] == 0:
        raise ValueError(f"Found array with 0 sample(s) (shape={tuple(X.shape)}) while a minimum of 1 is required by {name}.")
    if X.is_complex() or X.dtype == torch.bool:
        raise ValueError(f"X must be a real tensor, got {X.dtype}")
    x = X.detach().to(torch.float64)
    if not torch.isfinite(x).all():
        raise ValueError("Input X contains NaN or infinity")
    if expected_width is not None and x.shape[1] != expected_width:
        raise ValueError(
            f"X has {x.shape[1]} features, but {name} is expecting {expected_width} features "
            "as input."
        )
    return x
