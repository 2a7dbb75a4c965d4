"""`pip install .` (not editable) gives a working package: folder mapping and package data included."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent

CHECK = """
import mmlongbench_write, mmlongbench_write.tasks, mmlongbench_write.judges, mmlongbench_write.model_adapters
import mmlongbench_write.leaderboard
assert mmlongbench_write.__file__.startswith(TARGET), mmlongbench_write.__file__
from mmlongbench_write.data import load_samples
assert len(load_samples("mini").samples) == 12
from mmlongbench_write.judges.model_judge import builtin_template
assert "$INST$" in builtin_template()
from mmlongbench_write.leaderboard.reported import load_reported
assert len(load_reported()) == 13
from mmlongbench_write.registry import models, tasks, judges
assert {"hf", "vllm", "openai", "anthropic", "longwriter-v-7b"} <= set(models.names())
assert {"ppt_script", "ruler", "custom"} <= set(tasks.names()) and "quality" in judges.names()
from importlib import resources
configs = resources.files("mmlongbench_write.training").joinpath("accelerate_configs")
assert {"zero2.yaml", "zero3.yaml", "zero3-offload.yaml", "fsdp.yaml"} <= {p.name for p in configs.iterdir()}
import mmlongbench_write.annotate.server as studio
assert studio.STATIC.is_dir() and str(studio.STATIC).startswith(TARGET), studio.STATIC
assert {"index.html", "app.js", "diff.js", "style.css", "favicon.svg"} <= {p.name for p in studio.STATIC.iterdir()}
print("OK")
"""


def test_non_editable_install_has_everything(tmp_path: Path) -> None:
    target = tmp_path / "site"
    build = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-compile", "--no-build-isolation",
         "--target", str(target), str(ROOT)],
        capture_output=True, text=True, timeout=300,
    )
    assert build.returncode == 0, build.stderr[-3000:]
    env = {**os.environ, "PYTHONPATH": str(target)}
    code = CHECK.replace("TARGET", repr(str(target)))
    check = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=tmp_path,
                           env=env)
    assert check.returncode == 0 and "OK" in check.stdout, check.stderr[-3000:]
