"""Loads the compiled part of the package into the running PyTorch."""

import ctypes
import os

import torch

from . import _build_info

_LIB = os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib")


def _load():
    # The plugin is C++ linked against LibTorch: it works only in the torch it was built with.
    running = torch.__version__.split("+")[0]
    built = _build_info.torch_version.split("+")[0]
    if built and running != built:
        raise ImportError(
            f"boosthead was built against torch {built} but torch {running} is installed; "
            "reinstall boosthead with `pip install --no-build-isolation .` in this environment"
        )
    # The library first, under its soname, so that the plugin's dependency on it is met by the
    # copy in this folder whatever the loader's search path.
    ctypes.CDLL(os.path.join(_LIB, "libboosthead.so.0"), mode=ctypes.RTLD_GLOBAL)
    torch.ops.load_library(os.path.join(_LIB, "libboosthead_torch.so"))


_load()

Trainer = torch.classes.boosthead.Trainer

#: Every training option with its default, as the C++ library (and so the CLI) defines them.
DEFAULTS = dict(Trainer({}).options())

#: Every training option's type: "bool", "int", "float", "str", "device" or "dtype".
OPTION_TYPES = dict(torch.ops.boosthead.option_types())
