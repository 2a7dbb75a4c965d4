"""Every usage error of every command is one line and exit 2 (issue 12, item 1).

The walk reads the command tree from the real app, so a new command is covered without editing this file,
and a typer/click upgrade that changes the exception classes fails here instead of printing tracebacks.
A few cases run ``python -m mmlongbench_write`` in a real subprocess, the way users meet them.
"""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import pytest
import typer
from cli_helpers import run_cli

from mmlongbench_write.cli import build_app


def _walk(cmd: Any, path: tuple[str, ...]) -> list[tuple[tuple[str, ...], Any]]:
    """(path, command) of every command and group below ``cmd``, groups included."""
    out = [(path, cmd)]
    for name, sub in sorted((getattr(cmd, "commands", None) or {}).items()):
        out.extend(_walk(sub, (*path, name)))
    return out


TREE = _walk(typer.main.get_command(build_app()), ())
LEAVES = [(p, c) for p, c in TREE if not getattr(c, "commands", None)]
GROUPS = [(p, c) for p, c in TREE if getattr(c, "commands", None)]


def _annotation(param: Any) -> Any:
    """The declared Python type of a parameter (typer >= 0.2x) or click's ParamType (older typer)."""
    descriptor = getattr(param, "type_descriptor", None)
    return descriptor.annotation if descriptor is not None else getattr(param, "type", None)


def _numeric_option(cmd: Any) -> str | None:
    for param in cmd.params:
        ann = _annotation(param)
        numeric = ann in (int, float) or type(ann).__name__ in ("IntParamType", "FloatParamType")
        if numeric and param.param_type_name == "option" and param.opts:
            return str(param.opts[0])
    return None


def _long_options(cmd: Any) -> list[str]:
    return [o for p in cmd.params for o in p.opts if o.startswith("--")]


def _ids(items: list[tuple[tuple[str, ...], Any]]) -> list[str]:
    return [" ".join(p) or "mmlw" for p, _ in items]


def _assert_one_usage_line(code: int, out: str, err: str, path: tuple[str, ...]) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, (code, out, err)
    assert "Traceback" not in out + err
    assert len(lines) == 1, err
    assert lines[0].startswith(" ".join(("mmlw", *path)) + ":"), lines[0]
    return lines[0]


def test_the_walk_sees_the_whole_tree() -> None:
    names = {" ".join(p) for p, _ in TREE}
    assert {"eval", "plot", "train sft", "data agentwrite", "annotate serve", "merge"} <= names
    assert len(LEAVES) >= 20 and len(GROUPS) >= 4


@pytest.mark.parametrize(("path", "cmd"), LEAVES, ids=_ids(LEAVES))
def test_unknown_option(path: tuple[str, ...], cmd: Any, capsys: pytest.CaptureFixture[str]) -> None:
    line = _assert_one_usage_line(*run_cli([*path, "--no-such-flag-zq"], capsys), path)
    assert "no such option --no-such-flag-zq" in line


WITH_OPTIONS = [(p, c) for p, c in LEAVES if _long_options(c)]


@pytest.mark.parametrize(("path", "cmd"), WITH_OPTIONS, ids=_ids(WITH_OPTIONS))
def test_option_typo_suggests_the_option(path: tuple[str, ...], cmd: Any, capsys: pytest.CaptureFixture[str]) -> None:
    option = max(_long_options(cmd), key=len)
    line = _assert_one_usage_line(*run_cli([*path, option[:-1]], capsys), path)
    assert f"(did you mean {option}?)" in line


NUMERIC = [(p, c) for p, c in LEAVES if _numeric_option(c)]


@pytest.mark.parametrize(("path", "cmd"), NUMERIC, ids=_ids(NUMERIC))
def test_bad_value_for_a_typed_option(path: tuple[str, ...], cmd: Any, capsys: pytest.CaptureFixture[str]) -> None:
    option = _numeric_option(cmd)
    assert option is not None
    line = _assert_one_usage_line(*run_cli([*path, option, "not-a-number"], capsys), path)
    assert f"invalid value for {option}" in line


REQUIRED = [(p, c) for p, c in LEAVES if any(param.required for param in c.params)]


@pytest.mark.parametrize(("path", "cmd"), REQUIRED, ids=_ids(REQUIRED))
def test_missing_required_parameter(path: tuple[str, ...], cmd: Any, capsys: pytest.CaptureFixture[str]) -> None:
    line = _assert_one_usage_line(*run_cli(list(path), capsys), path)
    assert ": missing " in line


@pytest.mark.parametrize(("path", "cmd"), GROUPS, ids=_ids(GROUPS))
def test_unknown_and_misspelt_subcommand(path: tuple[str, ...], cmd: Any, capsys: pytest.CaptureFixture[str]) -> None:
    line = _assert_one_usage_line(*run_cli([*path, "frobnicate"], capsys), path)
    assert "no such command 'frobnicate'" in line
    name = max(cmd.commands, key=len)
    i = next(k for k in range(1, len(name) - 1) if name[k] != name[k + 1])
    typo = name[:i] + name[i + 1] + name[i] + name[i + 2 :]  # two different neighbours swapped
    line = _assert_one_usage_line(*run_cli([*path, typo], capsys), path)
    assert f"(did you mean {name}?)" in line


@pytest.mark.parametrize(("path", "cmd"), GROUPS, ids=_ids(GROUPS))
def test_a_group_alone_prints_its_help(path: tuple[str, ...], cmd: Any, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(list(path), capsys)
    assert code in (0, 2) and "Traceback" not in out + err
    assert "Usage:" in out + err and all(name in out + err for name in cmd.commands)


def _mmlw(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "COLUMNS": "100"}
    return subprocess.run(
        [sys.executable, "-m", "mmlongbench_write", *args], capture_output=True, text=True, timeout=120, env=env
    )


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["eval", "--modle", "hf"], "mmlw eval: no such option --modle (did you mean --model?)"),
        (["eval", "--limit", "abc"], "mmlw eval: invalid value for --limit:"),
        (["frobnicate"], "mmlw: no such command 'frobnicate'"),
        (["leaderbord", "runs"], "mmlw: no such command 'leaderbord' (did you mean leaderboard?)"),
        (["plot", "runs/demo", "--output", "x.png"], "mmlw plot: missing option --kind"),
    ],
)
def test_real_process_usage_errors(args: list[str], expected: str) -> None:
    proc = _mmlw(*args)
    assert proc.returncode == 2, proc
    assert "Traceback" not in proc.stdout + proc.stderr
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()]
    assert proc.stderr.startswith(expected), proc.stderr


def test_real_process_no_arguments_prints_help() -> None:
    proc = _mmlw()
    assert proc.returncode in (0, 2) and "Traceback" not in proc.stdout + proc.stderr
    assert "Usage:" in proc.stdout + proc.stderr and "leaderboard" in proc.stdout + proc.stderr


def test_real_process_version() -> None:
    from mmlongbench_write import __version__

    proc = _mmlw("--version")
    assert proc.returncode == 0 and proc.stdout.strip() == f"mmlw {__version__}", proc
