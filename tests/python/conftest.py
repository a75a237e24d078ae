"""Loads the boosthead TorchScript plugin for the Python tests.

The plugin is looked up in $BOOSTHEAD_BUILD_DIR (default: <repo>/build).
"""

import os
from pathlib import Path

import pytest
import torch

REPO_ROOT = Path(__file__).resolve().parents[2]


def load_plugin():
    """Loads libboosthead_torch.so into this process and returns its path."""
    build_dir = Path(os.environ.get("BOOSTHEAD_BUILD_DIR", REPO_ROOT / "build"))
    path = build_dir / "libboosthead_torch.so"
    if not path.exists():
        raise FileNotFoundError(
            f"{path} not found; build the boosthead_torch target or set BOOSTHEAD_BUILD_DIR")
    torch.ops.load_library(str(path))
    return path


@pytest.fixture(scope="session", autouse=True)
def plugin():
    return load_plugin()
