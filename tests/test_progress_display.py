"""`mmlw eval`'s progress display: drawn live on a real pseudo-terminal, plain periodic lines in a pipe,
nothing with --quiet; and Ctrl-C (a real SIGINT) says the finished work is saved, exits 130, and resumes.

The model is the loopback OpenAI-compatible server of tests/servers.py; `mmlw` runs as a real subprocess.
"""

from __future__ import annotations

import os
import pty
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

from servers import FakeAPIServer

from mmlongbench_write.runstore import JOURNAL, read_jsonl

MMLW = [sys.executable, "-m", "mmlongbench_write"]
ENV = {**os.environ, "OPENAI_API_KEY": "sk-loopback-0000", "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}


def eval_args(server: FakeAPIServer, output: Path, *extra: str) -> list[str]:
    return [*MMLW, "eval", "--model", "openai", "--model-args", f"model=default,base_url={server.openai_url}",
            "--output", str(output), "--cache", "off", "--concurrency", "1", *extra]


def run_on_pty(args: list[str], timeout: float = 120) -> tuple[int, str]:
    """Run ``args`` with stdout and stderr on a fresh pseudo-terminal; ``(exit code, everything it drew)``."""
    master, slave = pty.openpty()
    env = {**ENV, "TERM": "xterm-256color", "COLUMNS": "160", "LINES": "40"}
    env.pop("NO_COLOR", None)
    proc = subprocess.Popen(args, stdin=slave, stdout=slave, stderr=slave, env=env, close_fds=True)
    os.close(slave)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.5)
        if ready:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        elif proc.poll() is not None:
            break
    os.close(master)
    return proc.wait(timeout=30), b"".join(chunks).decode("utf-8", "replace")


def test_the_live_display_is_drawn_on_a_terminal(tmp_path: Path) -> None:
    with FakeAPIServer(delay=0.3) as server:
        code, screen = run_on_pty(eval_args(server, tmp_path / "runs", "--limit", "3"))
    assert code == 0, screen[-3000:]
    assert "\x1b[" in screen, "no terminal control sequences: the display was not live"
    assert "━" in screen, "no progress bar was drawn"
    assert "generating" in screen and "3/3" in screen and "judging (length)" in screen
    assert "0 failed" in screen and "cached" in screen and "tok" in screen
    assert "run summary" in screen and "status" in screen and "complete" in screen


def test_a_pipe_gets_plain_lines_for_generation_and_judging(tmp_path: Path) -> None:
    with FakeAPIServer(delay=0.05) as server:
        result = subprocess.run(eval_args(server, tmp_path / "runs", "--limit", "3"), env=ENV,
                                capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "\x1b[" not in result.stderr + result.stdout
    lines = result.stderr.splitlines()
    assert any(line.strip().startswith("generating: 3/3") and "0 failed" in line for line in lines), result.stderr
    assert any(line.strip().startswith("judging (length): 3/3") for line in lines), result.stderr
    summary = dict(line.split(None, 1) for line in result.stdout.splitlines() if line.startswith("status"))
    assert summary == {"status": "complete"}


def test_quiet_shows_no_progress_but_keeps_the_summary(tmp_path: Path) -> None:
    with FakeAPIServer() as server:
        result = subprocess.run(eval_args(server, tmp_path / "runs", "--limit", "3", "--quiet"), env=ENV,
                                capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "generating:" not in result.stderr and "judging (length):" not in result.stderr
    assert "status" in result.stdout and "complete" in result.stdout


def generations(output: Path) -> int:
    journals = list(output.glob(f"*/{JOURNAL}"))
    return sum(1 for r in read_jsonl(journals[0]) if r["type"] == "generation") if journals else 0


def test_ctrl_c_says_the_work_is_saved_exits_130_and_the_same_command_resumes(tmp_path: Path) -> None:
    output = tmp_path / "runs"
    with FakeAPIServer(delay=0.4) as server:
        args = eval_args(server, output)
        proc = subprocess.Popen(args, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None and generations(output) < 2:
            time.sleep(0.05)
        assert proc.poll() is None, f"the run ended before the interrupt: {proc.communicate()[1][-2000:]}"
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=60)
        assert proc.returncode == 130, err[-2000:]
        assert "interrupted: finished work is saved; run the same command again to resume" in err
        assert "Traceback" not in err
        done = generations(output)
        assert 2 <= done < 12, "the interrupt must land mid-run"

        resumed = subprocess.run(args, env=ENV, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert f"{done} already generated" in resumed.stderr
    assert generations(output) == 12


def test_captioning_is_a_phase_of_its_own_in_a_pipe(tmp_path: Path) -> None:
    """--mode caption-llm: the captioner's pass over the distinct images shows as 'captioning' N/N."""
    from mmlongbench_write.data import load_samples

    images = {img.sha256 for s in load_samples("mini").samples for img in s.images}
    proc = subprocess.run([*MMLW, "eval", "--model", "scripted", "--mode", "caption-llm", "--captioner", "scripted",
                           "--output", str(tmp_path), "--cache", "off"], capture_output=True, text=True, env=ENV,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    lines = [line.strip() for line in proc.stderr.splitlines() if line.strip().startswith("captioning:")]
    assert lines and lines[-1].startswith(f"captioning: {len(images)}/{len(images)} ")
    assert "0 failed" in lines[-1]
