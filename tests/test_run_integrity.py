"""Run integrity (issue 9): no stale answers after a data edit, one writer per run, a budget that
remembers, endings that cannot be half-written, exit codes a CI can trust."""

from __future__ import annotations

import collections
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mmlongbench_write.config import EvalConfig
from mmlongbench_write.errors import EXIT_INCOMPLETE
from mmlongbench_write.fields import RunFormatError
from mmlongbench_write.journal import Journal
from mmlongbench_write.runner import evaluate
from mmlongbench_write.runstore import JOURNAL, RESULTS, RUN_JSON, SAMPLES, load_run, read_jsonl

MMLW = [sys.executable, "-m", "mmlongbench_write"]


def write_rows(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


def five_rows() -> list[dict]:
    return [{"id": f"r{i}", "question": f"Write a {200 + 100 * i}-word travel guide for these photos.",
             "L": 200 + 100 * i} for i in range(5)]


def cfg(tmp_path: Path, data: Path, **kw: object) -> EvalConfig:
    base: dict[str, object] = {"model": "scripted", "model_args": {"length_ratio": 0.5}, "data": str(data),
                               "output": str(tmp_path / "runs"), "cache": "off"}
    return EvalConfig.from_dict({**base, **kw})


def records(run_dir: Path, kind: str) -> list[dict]:
    return [r for r in read_jsonl(run_dir / JOURNAL) if r["type"] == kind]


def test_editing_one_row_regenerates_and_rejudges_exactly_that_row(tmp_path: Path) -> None:
    data = tmp_path / "prompts.jsonl"
    rows = five_rows()
    write_rows(data, rows)
    messages: list[str] = []
    first = evaluate(cfg(tmp_path, data), progress=messages.append)
    assert first.generated == 5
    rows[2] = {"id": "r2", "question": "Write a 900-word travel guide for these photos.", "L": 900}
    write_rows(data, rows)
    messages.clear()
    second = evaluate(cfg(tmp_path, data), progress=messages.append)
    assert second.run_dir == first.run_dir and second.changed == 1
    assert any("1 sample(s) changed" in m for m in messages)
    generations = records(second.run_dir, "generation")
    assert [r["sample_id"] for r in generations] == ["r0", "r1", "r2", "r3", "r4", "r2"]
    verdicts = [r["sample_id"] for r in records(second.run_dir, "judgement")]
    assert collections.Counter(verdicts) == {"r0": 1, "r1": 1, "r2": 2, "r3": 1, "r4": 1}
    row = next(r for r in load_run(second.run_dir).samples if r["id"] == "r2")
    assert row["required_length"] == 900 and "900-word" in row["instruction"]
    assert row["word_count"] == 450 and row["length_score"] == pytest.approx(50.0)  # the new answer, the new L


def test_a_changed_l_alone_rejudges_without_regenerating(tmp_path: Path) -> None:
    data = tmp_path / "prompts.jsonl"
    rows = [{"id": "a", "question": "Write a travel guide for these photos.", "L": 100}]
    write_rows(data, rows)
    evaluate(cfg(tmp_path, data, model_args={"words": 100}), progress=None)
    write_rows(data, [{**rows[0], "L": 200}])
    again = evaluate(cfg(tmp_path, data, model_args={"words": 100}), progress=None)
    assert again.generated == 0 and again.judged == 1  # same request, new judge input (L)
    assert load_run(again.run_dir).samples[0]["length_score"] == pytest.approx(50.0)


def test_two_processes_on_one_run_one_refuses_in_one_line(tmp_path: Path) -> None:
    data = tmp_path / "prompts.jsonl"
    write_rows(data, five_rows())
    out = tmp_path / "runs"
    args = [*MMLW, "eval", "--model", "scripted", "--model-args", "length_ratio=0.5,delay_s=0.4", "--data", str(data),
            "--output", str(out), "--cache", "off"]
    first = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not list(out.glob(f"*/{JOURNAL}")):
        time.sleep(0.05)
    second = subprocess.run(args, capture_output=True, text=True, timeout=60)
    assert first.wait(timeout=120) == 0, first.stderr.read() if first.stderr else ""
    assert second.returncode == 2 and "Traceback" not in second.stderr
    (line,) = second.stderr.strip().splitlines()
    assert "is in use by pid" in line and str(first.pid) in line
    (run_dir,) = out.iterdir()
    ids = collections.Counter(r["sample_id"] for r in records(run_dir, "generation"))
    assert ids == {f"r{i}": 1 for i in range(5)}


def test_three_sessions_under_one_max_cost_stay_under_it(tmp_path: Path) -> None:
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps({"scripted": {"input": 0, "output": 1000}}))  # $0.001 per output token
    data = tmp_path / "prompts.jsonl"
    write_rows(data, [{"id": f"r{i}", "question": "Write a 2000-word travel guide.", "L": 2000} for i in range(12)])
    # each request writes 2000 words ~ 1200 tokens of filler ~ $1.2; the bound is max_new_tokens=1500 -> $1.5
    kw = {"model_args": {"length_ratio": 1.0}, "max_cost": 5.0, "prices": str(prices), "concurrency": 1,
          "gen_kwargs": {"max_new_tokens": 1500}}
    spent = []
    for _ in range(3):
        outcome = evaluate(cfg(tmp_path, data, **kw), progress=None)
        spent.append(load_run(outcome.run_dir).run["budget"]["spent_usd"])
    assert outcome.status == "stopped"
    assert spent[0] == spent[1] == spent[2]  # later sessions count what earlier ones spent: nothing more to do
    assert spent[-1] <= 5.0 + 1.5


def test_all_generations_failing_exits_incomplete(tmp_path: Path) -> None:
    data = tmp_path / "prompts.jsonl"
    write_rows(data, five_rows())
    result = subprocess.run([*MMLW, "eval", "--model", "scripted", "--model-args", "fail_every=1", "--data",
                             str(data), "--output", str(tmp_path / "runs"), "--cache", "off"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == EXIT_INCOMPLETE, result.stderr
    assert "5 sample(s) without a generation" in result.stderr
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert load_run(run_dir).run["status"] == "incomplete"


def test_a_kill_between_the_final_files_is_seen_as_interrupted(tmp_path: Path) -> None:
    data = tmp_path / "prompts.jsonl"
    write_rows(data, five_rows())
    run_dir = evaluate(cfg(tmp_path, data), progress=None).run_dir
    assert load_run(run_dir).problem is None
    # a second session starts (run.json says running, with its own session) and dies before its final files
    meta = json.loads((run_dir / RUN_JSON).read_text())
    (run_dir / RUN_JSON).write_text(json.dumps({**meta, "status": "running", "session_id": "new-session"}))
    assert "did not finish" in str(load_run(run_dir).problem)
    # or it died after run.json was finished but samples.jsonl was replaced under old results
    (run_dir / RUN_JSON).write_text(json.dumps({**meta, "status": "complete", "session_id": "new-session"}))
    assert "earlier session" in str(load_run(run_dir).problem)
    (run_dir / RUN_JSON).write_text(json.dumps(meta))
    (run_dir / SAMPLES).write_text((run_dir / SAMPLES).read_text().replace("r1", "r9"))
    assert "does not match" in str(load_run(run_dir).problem)
    board = subprocess.run([*MMLW, "leaderboard", str(run_dir.parent), "--format", "json"], capture_output=True,
                           text=True, timeout=60)
    assert board.returncode == 2 and "left out" in board.stderr and "no finished runs" in board.stderr


def test_a_journal_torn_inside_a_chinese_character_resumes(tmp_path: Path) -> None:
    data = tmp_path / "prompts.jsonl"
    write_rows(data, [{"id": f"z{i}", "question": f"写一篇{100 + i}字的游记。", "L": 100 + i} for i in range(3)])
    first = evaluate(cfg(tmp_path, data, model_args={"length_ratio": 1.0, "language": "zh"}, tasks="custom"),
                     progress=None)
    journal = first.run_dir / JOURNAL
    raw = journal.read_bytes()
    lines = raw.split(b"\n")
    torn = max(i for i, line in enumerate(lines) if "的".encode() in line)  # the last generation record
    cut = lines[torn].index("的".encode()) + 1  # inside the three bytes of a CJK character
    journal.write_bytes(b"\n".join(lines[:torn]) + b"\n" + lines[torn][:cut])
    again = evaluate(cfg(tmp_path, data, model_args={"length_ratio": 1.0, "language": "zh"}, tasks="custom"),
                     progress=None)
    assert again.status == "complete"
    assert journal.read_bytes().count(b'"type": "judgement"') == 3


def test_a_bad_record_mid_journal_is_one_line_with_its_number(tmp_path: Path) -> None:
    data = tmp_path / "prompts.jsonl"
    write_rows(data, five_rows())
    run_dir = evaluate(cfg(tmp_path, data), progress=None).run_dir
    lines = (run_dir / JOURNAL).read_text().splitlines()
    lines[3] = json.dumps({"type": "generation", "sample_id": "r2", "request_hash": "x", "generation": [1, 2]})
    (run_dir / JOURNAL).write_text("\n".join(lines) + "\n")
    with pytest.raises(RunFormatError, match=r"line 4.*'generation'|line 4, generation"):
        Journal.replay(run_dir / JOURNAL)
    result = subprocess.run([*MMLW, "eval", "--model", "scripted", "--model-args", "length_ratio=0.5", "--data",
                             str(data), "--output", str(tmp_path / "runs"), "--cache", "off"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    (line,) = result.stderr.strip().splitlines()[-1:]
    assert "line 4" in line


def test_an_old_format_run_reads_and_refuses_to_resume_in_one_line(tmp_path: Path) -> None:
    """A run written by mmlw 0.1 (format 1): the leaderboard upgrades it; a resume refuses to guess."""
    old = Path(__file__).parent / "fixtures" / "run_format_1"
    run = load_run(old)
    assert run.meta.format_version == 1 and run.problem is None
    assert run.rows[0].length_score == pytest.approx(50.0) and run.rows[0].scores["length"].ok
    board = subprocess.run([*MMLW, "leaderboard", str(old), "--format", "json"], capture_output=True, text=True,
                           timeout=60)
    assert board.returncode == 0, board.stderr
    assert json.loads(board.stdout)["tables"][0]["rows"][0]["scores"]["overall"]["S_l"]["mean"] == pytest.approx(50.0)
    with pytest.raises(RunFormatError, match="older mmlw"):
        Journal.replay(old / JOURNAL)


def test_a_run_of_a_newer_format_is_refused_in_one_line(tmp_path: Path) -> None:
    data = tmp_path / "prompts.jsonl"
    write_rows(data, five_rows())
    run_dir = evaluate(cfg(tmp_path, data), progress=None).run_dir
    meta = json.loads((run_dir / RUN_JSON).read_text())
    (run_dir / RUN_JSON).write_text(json.dumps({**meta, "format_version": 99}))
    with pytest.raises(RunFormatError, match="newer mmlw"):
        load_run(run_dir)
    assert (run_dir / RESULTS).exists()


def test_every_record_type_round_trips(tmp_path: Path) -> None:
    from mmlongbench_write.journal import parse_record
    from mmlongbench_write.runformat import Results, RunMeta, SampleRow

    data = tmp_path / "prompts.jsonl"
    write_rows(data, five_rows())
    run_dir = evaluate(cfg(tmp_path, data), progress=None).run_dir
    for number, line in enumerate((run_dir / JOURNAL).read_text().splitlines(), start=1):
        record = parse_record(json.loads(line), f"line {number}")
        if record is not None:
            assert record.to_json() == json.loads(line)
    for line in (run_dir / SAMPLES).read_text().splitlines():
        assert SampleRow.from_json(json.loads(line), "row").to_json() == json.loads(line)
    results = json.loads((run_dir / RESULTS).read_text())
    assert Results.from_json(results, "results").to_json() == results
    meta = json.loads((run_dir / RUN_JSON).read_text())
    assert RunMeta.from_json(meta, "run").to_json() == meta


def test_the_lock_is_released_by_a_sigkill(tmp_path: Path) -> None:
    data = tmp_path / "prompts.jsonl"
    write_rows(data, five_rows())
    out = tmp_path / "runs"
    args = [*MMLW, "eval", "--model", "scripted", "--model-args", "length_ratio=0.5,delay_s=1", "--data", str(data),
            "--output", str(out), "--cache", "off"]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not list(out.glob(f"*/{JOURNAL}")):
        time.sleep(0.05)
    os.kill(proc.pid, 9)
    proc.wait()
    resumed = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stderr  # the kernel released the dead holder's lock
