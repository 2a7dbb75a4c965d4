"""AgentWrite: outline first, then each section given everything written so far; resumable."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fake_models import FakeJudgeModel
from training_helpers import make_png

from mmlongbench_write.cli import main
from mmlongbench_write.schema import Generation, Request
from mmlongbench_write.textstats import word_count
from mmlongbench_write.training.agentwrite import agentwrite, parse_plan

PLAN = (
    "Paragraph 1 - Main Point: the scene and its colours - Word Count: 300 words\n\n"
    "Paragraph 2 - Main Point: the people in it - Word Count: 1,200 words\n"
    "Paragraph 3 - Main Point: what it means - Word Count: 500 words"
)


def _inputs(tmp_path: Path, n: int = 2) -> Path:
    rows = []
    for i in range(n):
        make_png(tmp_path / f"p{i}.png", i)
        rows.append({"id": f"ex{i}", "instruction": f"Write a long essay about picture {i}.",
                     "images": [f"p{i}.png"]})
    path = tmp_path / "in.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _writer(request: Request) -> str:
    if request.id.endswith("/plan"):
        return PLAN
    row, section = request.id.split("/")
    return f"{row} {section} text " + "word " * 10


def test_parse_plan_reads_word_targets() -> None:
    sections = parse_plan(PLAN)
    assert [s.target_words for s in sections] == [300, 1200, 500]
    assert parse_plan("段落1 - 主要内容：开头 - 字数要求：800字") [0].target_words == 800
    assert len(parse_plan(PLAN, max_sections=2)) == 2


def test_sections_see_all_previous_text(tmp_path: Path) -> None:
    writer = FakeJudgeModel(default=_writer)
    report = agentwrite(_inputs(tmp_path), tmp_path / "out.jsonl", writer)
    assert report.written == 2 and not report.failed
    ex0 = [r for r in writer.requests if r.id.startswith("ex0/")]
    assert [r.id for r in ex0] == ["ex0/plan", "ex0/section1", "ex0/section2", "ex0/section3"]
    for step, request in enumerate(ex0[1:], start=1):
        prompt = request.messages[0].text
        assert PLAN in prompt and "Write a long essay about picture 0." in prompt
        for earlier in range(1, step):  # every earlier section is passed on, not just the last one
            assert f"ex0 section{earlier} text" in prompt
        assert f"ex0 section{step} text" not in prompt
        assert len(request.images) == 1  # the images go with every call
    rows = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    row = next(r for r in rows if r["id"] == "ex0")
    assert len(row["sections"]) == 3  # the outline's section count
    assert [s["target_words"] for s in row["sections"]] == [300, 1200, 500]
    assert row["output"] == "\n\n".join(s["text"] for s in row["sections"])
    assert row["output_words"] == word_count(row["output"])
    assert row["sections"][0]["words"] == word_count(row["sections"][0]["text"])
    assert Path(row["images"][0]).is_absolute() and row["plan"] == PLAN


def test_resume_skips_finished_rows_and_retries_failures(tmp_path: Path) -> None:
    def flaky(request: Request) -> str | Generation:
        if request.id == "ex1/section2":
            return Generation.failure(request.id, "boom")
        return _writer(request)

    out = tmp_path / "out.jsonl"
    first = agentwrite(_inputs(tmp_path), out, FakeJudgeModel(default=flaky))
    assert first.written == 1 and "ex1" in first.failed and "section 2" in first.failed["ex1"]
    writer = FakeJudgeModel(default=_writer)
    second = agentwrite(_inputs(tmp_path), out, writer)
    assert second.already_done == 1 and second.written == 1
    assert {r.id.split("/")[0] for r in writer.requests} == {"ex1"}
    assert sorted(json.loads(line)["id"] for line in out.read_text().splitlines()) == ["ex0", "ex1"]


def test_plan_without_sections_fails_the_row(tmp_path: Path) -> None:
    report = agentwrite(_inputs(tmp_path, 1), tmp_path / "out.jsonl", FakeJudgeModel(default="no outline here"))
    assert report.written == 0 and "no sections" in report.failed["ex0"]


def test_cli_with_scripted_writer_resumes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = _inputs(tmp_path)
    out = tmp_path / "aw.jsonl"
    args = ["data", "agentwrite", "--input", str(src), "--output", str(out), "--model", "scripted",
            "--model-args", "reply=Paragraph 1 - Main Point: all of it - Word Count: 5 words"]
    main(args)
    assert "2 rows written" in capsys.readouterr().out
    main(args)
    assert "0 rows written, 2 already done" in capsys.readouterr().out
    assert len(out.read_text().splitlines()) == 2
