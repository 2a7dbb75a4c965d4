"""Run the ``mmlw`` CLI in-process in a test and capture its exit code and output."""

from __future__ import annotations

import pytest

from mmlongbench_write.cli import main


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """``(exit code, stdout, stderr)`` of ``mmlw ARGS`` run through :func:`main`."""
    try:
        main(args)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err


def summary(out: str) -> dict[str, str]:
    """The end-of-run summary table (plain ``name  value`` lines off a terminal) as a dict."""
    rows = (line.rsplit(None, 1) for line in out.splitlines() if line.strip())
    return {r[0].strip(): r[1] for r in rows if len(r) == 2}
