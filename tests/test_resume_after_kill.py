"""SIGKILL `mmlw eval` half way; the same command finishes the run with nothing done twice or lost."""

from __future__ import annotations

import collections
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mmlongbench_write.runstore import JOURNAL, load_run, read_jsonl

pytestmark = pytest.mark.slow

MMLW = [sys.executable, "-m", "mmlongbench_write"]


def eval_command(output: Path) -> list[str]:
    return MMLW + [
        "eval", "--model", "tiny-random-qwen2.5-vl", "--data", "mini", "--output", str(output),
        "--batch-size", "1", "--cache", "off", "--gen-kwargs", "min_new_tokens=48,max_new_tokens=48",
    ]


def generation_ids(journal: Path) -> list[str]:
    if not journal.exists():
        return []
    return [r["sample_id"] for r in read_jsonl(journal) if r["type"] == "generation"]


def test_sigkill_then_resume(tmp_path: Path) -> None:
    output = tmp_path / "runs"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(eval_command(output), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 240
    journal: Path | None = None
    while time.monotonic() < deadline and proc.poll() is None:
        journals = list(output.glob(f"*/{JOURNAL}"))
        if journals and len(generation_ids(journals[0])) >= 4:
            journal = journals[0]
            break
        time.sleep(0.05)
    assert journal is not None, f"eval never got going: {proc.communicate()[0].decode()[-2000:]}"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done_before = generation_ids(journal)
    assert 4 <= len(done_before) < 12, "the kill must land half way"

    resumed = subprocess.run(eval_command(output), env=env, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert f"{len(done_before)} already generated" in resumed.stderr

    ids = generation_ids(journal)
    counts = collections.Counter(ids)
    assert len(counts) == 12 and set(counts.values()) == {1}, "each sample generated exactly once"
    assert ids[: len(done_before)] == done_before, "records written before the kill are kept as they were"
    judgements = [r for r in read_jsonl(journal) if r["type"] == "judgement"]
    assert sorted(collections.Counter(r["sample_id"] for r in judgements).values()) == [1] * 12
    for line in journal.read_text(encoding="utf-8").splitlines():
        json.loads(line)  # no torn or merged lines
    run = load_run(journal.parent)
    assert run.run["status"] == "complete" and len(run.samples) == 12
    assert all(r["length_score"] is not None for r in run.samples)


def test_torn_last_line_is_cut_on_resume(tmp_path: Path) -> None:
    """A crash in the middle of writing a record leaves half a line; reopening repairs it."""
    from mmlongbench_write.config import EvalConfig
    from mmlongbench_write.runner import evaluate

    cfg = EvalConfig(model="scripted", output=str(tmp_path), cache="off")
    run_dir = evaluate(cfg, progress=None).run_dir
    journal = run_dir / JOURNAL
    lines = journal.read_text(encoding="utf-8").splitlines(keepends=True)
    gens = [i for i, line in enumerate(lines) if '"type": "generation"' in line]
    # keep 5 generations, then half of the 6th (as if killed mid-write)
    keep = lines[: gens[5]]
    journal.write_text("".join(keep) + lines[gens[5]][:40], encoding="utf-8")
    outcome = evaluate(cfg, progress=None)
    assert outcome.generated == 7
    counts = collections.Counter(generation_ids(journal))
    assert len(counts) == 12 and set(counts.values()) == {1}
