"""Every Python block of docs/PYTHON.md runs, in order, in one namespace (as a reader would
paste them), in a scratch folder that sees the repository's data/."""

import os
import re
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_python_guide_examples_run(tmp_path, capsys):
    text = (REPO_ROOT / "docs" / "PYTHON.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert len(blocks) >= 10
    (tmp_path / "data").symlink_to(REPO_ROOT / "data")
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        namespace = {}
        for i, block in enumerate(blocks):
            exec(compile(block, f"docs/PYTHON.md block {i + 1}", "exec"), namespace)
    finally:
        os.chdir(cwd)
    out = capsys.readouterr().out
    assert "wine accuracy" in out and "early_stopping" in out and "callback" in out
    assert (tmp_path / "servo.pt").exists() and (tmp_path / "backbone_and_head.pt").exists()
