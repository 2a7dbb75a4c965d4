"""On a core install (no extras) every optional library missing is one line naming the pip extra (issue 12, item 3).

A real virtual environment is built from this checkout with only the core dependencies from pyproject.toml
(pip against the configured index, about half a minute), and the CLI is run in it as a user would.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
RUN = REPO / "tests" / "fixtures" / "run_format_1"
OPTIONAL = ("torch", "transformers", "aiohttp", "matplotlib", "trl", "starlette", "uvicorn", "vllm", "wandb")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def core_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    venv = tmp_path_factory.mktemp("core") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    python = venv / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "-q", "-c", str(REPO / "constraints" / "cpu.txt"),
                    "-e", str(REPO)], check=True, timeout=900, capture_output=True)
    present = subprocess.run([str(python), "-c", "import importlib.util as u, sys; "
                              f"print([m for m in {OPTIONAL!r} if u.find_spec(m)])"],
                             check=True, capture_output=True, text=True).stdout.strip()
    assert present == "[]", f"the core install has optional packages: {present}"
    return venv


def _mmlw(venv: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update({"HF_HUB_OFFLINE": "1", "OPENAI_API_KEY": "sk-test-not-a-key", "COLUMNS": "200"})
    return subprocess.run([str(venv / "bin" / "mmlw"), *args], capture_output=True, text=True, timeout=300,
                          env=env, cwd=cwd)


@pytest.mark.parametrize(
    ("args", "extra"),
    [
        (["eval", "--model", "openai", "--model-args", "model=gpt-4o-mini,base_url=http://127.0.0.1:9/v1",
          "--data", "mini", "--limit", "1", "--output", "runs"], "api"),
        (["eval", "--model", "tiny-random-qwen2.5-vl", "--data", "mini", "--limit", "1", "--output", "runs"], "hf"),
        (["plot", str(RUN), "--kind", "ruler", "--output", "ruler.png"], "plots"),
        (["leaderboard", str(RUN), "--format", "html", "--output", "board.html"], "plots"),
        (["eval", "--model", "scripted", "--data", "mini", "--limit", "1", "--output", "runs", "--wandb",
          "project=x"], "wandb"),
    ],
    ids=["openai", "hf", "plot", "leaderboard-html", "wandb"],
)
def test_missing_extra_is_one_line(core_venv: Path, tmp_path: Path, args: list[str], extra: str) -> None:
    proc = _mmlw(core_venv, *args, cwd=tmp_path)
    assert proc.returncode == 2, proc
    assert "Traceback" not in proc.stdout + proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and last.endswith(f"pip install 'mmlongbench-write[{extra}]'"), proc.stderr
    assert not any(line.startswith("error") for line in proc.stderr.strip().splitlines()[:-1])


def test_core_commands_work_without_extras(core_venv: Path, tmp_path: Path) -> None:
    board = _mmlw(core_venv, "leaderboard", str(RUN), cwd=tmp_path)
    assert board.returncode == 0 and "run_format_1" in board.stdout, board
    version = _mmlw(core_venv, "--version", cwd=tmp_path)
    assert version.returncode == 0 and version.stdout.startswith("mmlw "), version
