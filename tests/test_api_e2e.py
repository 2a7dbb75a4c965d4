"""`mmlw eval --model openai` end to end against a loopback server: SIGKILL mid-run, resume, no key trace."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from servers import FakeAPIServer

from mmlongbench_write.data import load_samples

pytestmark = [pytest.mark.api, pytest.mark.slow]

FAKE_KEY = "sk-e2e-FAKE-0123456789abcdef"


def eval_command(server: FakeAPIServer, out: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "mmlongbench_write",
        "eval",
        "--model",
        "openai",
        "--model-args",
        f"model=gpt-e2e,base_url={server.openai_url}",
        "--data",
        "mini",
        "--output",
        str(out),
        "--run-id",
        "e2e",
        "--concurrency",
        "2",
        "--max-retries",
        "1",
        "--cache",
        "off",  # resume must come from the run's journal, not from the response cache
    ]


def journalled_generations(run_dir: Path) -> list[str]:
    """Sample ids with a successful generation in the journal (a torn last line is skipped)."""
    journal = run_dir / "journal.jsonl"
    if not journal.exists():
        return []
    ids = []
    for line in journal.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if record.get("type") == "generation" and not record["generation"].get("error"):
            ids.append(record["sample_id"])
    return ids


def test_sigkill_then_resume_sends_nothing_twice_and_leaves_no_key(tmp_path: Path) -> None:
    samples = load_samples("mini").samples
    env = {**os.environ, "OPENAI_API_KEY": FAKE_KEY, "MMLW_CACHE_DIR": str(tmp_path / "cache")}
    out = tmp_path / "runs"
    logs: list[str] = []
    with FakeAPIServer(delay=0.6, require_key=FAKE_KEY) as server:
        proc = subprocess.Popen(
            eval_command(server, out), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        deadline = time.monotonic() + 90
        while len(journalled_generations(out / "e2e")) < 4:
            assert proc.poll() is None, "eval finished before it could be killed"
            assert time.monotonic() < deadline, "eval made no progress"
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        logs.append(proc.communicate()[0])
        finished_before_kill = set(journalled_generations(out / "e2e"))
        assert 4 <= len(finished_before_kill) < len(samples)

        second = subprocess.run(eval_command(server, out), env=env, capture_output=True, text=True, timeout=180)
        logs.append(second.stdout + second.stderr)
        assert second.returncode == 0, second.stdout + second.stderr

        prompts = server.prompts()
        for sample in samples:
            sent = sum(sample.instruction in prompt for prompt in prompts)
            if sample.id in finished_before_kill:
                assert sent == 1, f"{sample.id} was finished before the kill but requested {sent} times"
            else:
                assert sent >= 1
        assert all(r.header("authorization") == f"Bearer {FAKE_KEY}" for r in server.requests)

    run_dir = out / "e2e"
    assert set(journalled_generations(run_dir)) == {s.id for s in samples}
    rows = [json.loads(line) for line in (run_dir / "samples.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(rows) == len(samples)

    # no trace of the key anywhere: run files, captured output of both runs
    for path in run_dir.rglob("*"):
        if path.is_file():
            assert FAKE_KEY.encode() not in path.read_bytes(), f"key found in {path}"
    for text in logs:
        assert FAKE_KEY not in text
    grep = subprocess.run(["grep", "-r", "-l", FAKE_KEY, str(out)], capture_output=True, text=True)
    assert grep.returncode == 1 and grep.stdout == ""


def test_wrong_key_stops_the_run_at_once(tmp_path: Path) -> None:
    env = {**os.environ, "OPENAI_API_KEY": "sk-wrong-key-000", "MMLW_CACHE_DIR": str(tmp_path / "cache")}
    with FakeAPIServer(require_key=FAKE_KEY) as server:
        command = eval_command(server, tmp_path / "runs")
        command[command.index("--concurrency") + 1] = "1"
        result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
        assert server.count == 1
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "401" in output and "OPENAI_API_KEY" in output and "Traceback" not in output
    assert "sk-wrong-key-000" not in output


def test_caption_llm_mode_through_the_cli(tmp_path: Path) -> None:
    samples = load_samples("mini").samples[:3]
    distinct_images = {img.sha256 for s in samples for img in s.images}
    env = {
        **os.environ,
        "OPENAI_API_KEY": FAKE_KEY,
        "ANTHROPIC_API_KEY": FAKE_KEY,
        "MMLW_CACHE_DIR": str(tmp_path / "cache"),
    }
    with FakeAPIServer(words=30) as server:
        command = [
            sys.executable, "-m", "mmlongbench_write", "eval",
            "--model", "anthropic", "--model-args", f"model=claude-writer,base_url={server.anthropic_url}",
            "--mode", "caption-llm",
            "--captioner", "openai", "--captioner-args", f"model=gpt-captioner,base_url={server.openai_url}",
            "--data", "mini", "--limit", "3", "--output", str(tmp_path / "runs"), "--run-id", "cap",
        ]  # fmt: skip
        result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=180)
        assert result.returncode == 0, result.stdout + result.stderr
        captions = [r for r in server.requests if r.path.endswith("/chat/completions")]
        writes = [r for r in server.requests if r.path.endswith("/messages")]
    assert len(captions) == len(distinct_images)  # each image described once
    assert all(any(p["type"] == "image_url" for p in r.body["messages"][0]["content"]) for r in captions)
    assert len(writes) == 3
    for r in writes:
        assert all(p["type"] == "text" for m in r.body["messages"] for p in m["content"])
        assert "[Image 1]" in r.prompt_text
    assert FAKE_KEY not in result.stdout + result.stderr
