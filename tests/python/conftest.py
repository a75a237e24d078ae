"""The Python tests run against the installed boosthead package (scripts/setup.sh installs it
into .venv with `pip install --no-build-isolation .`), never against the source tree: importing
it loads the compiled plugin from site-packages, which registers torch.classes.boosthead.

The command-line tests find the `boosthead` executable in $BOOSTHEAD_BUILD_DIR (default
<repo>/build).
"""

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


def import_installed_package():
    import boosthead

    location = Path(boosthead.__file__).resolve()
    if REPO_ROOT / "python" in location.parents:
        raise ImportError(
            f"boosthead was imported from the source tree ({location}); install it with "
            "`pip install --no-build-isolation .` and run the tests from the environment"
        )
    return boosthead


@pytest.fixture(scope="session", autouse=True)
def plugin():
    return import_installed_package()


def cli_path():
    """The `boosthead` command-line tool of the build ($BOOSTHEAD_BUILD_DIR, default build/)."""
    build_dir = Path(os.environ.get("BOOSTHEAD_BUILD_DIR", REPO_ROOT / "build"))
    if not build_dir.is_absolute():
        build_dir = REPO_ROOT / build_dir
    path = build_dir / "boosthead"
    if not path.exists():
        raise FileNotFoundError(f"{path} not found; build it or set BOOSTHEAD_BUILD_DIR")
    return path


@pytest.fixture(scope="session")
def cli():
    return cli_path()
