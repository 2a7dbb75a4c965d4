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
from mmlongbench_write.training.agentwrite import agentwrite, failures_path

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
    assert [s["target"] for s in row["sections"]] == [{"low": n, "high": n} for n in (300, 1200, 500)]
    assert [s["number"] for s in row["sections"]] == [1, 2, 3] and row["planned_sections"] == 3
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
    assert report.written == 0 and "no numbered sections" in report.failed["ex0"]


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


# an outline in the shape the authors' planner template asks for: each header followed by detail lines
BLOCKS = [
    "Section 1 - Main Point: The harbour at dawn - Word Count: [200-1000 words]\n"
    "- The fishing boats in the picture and the low light on the water\n"
    "- The crane on the left",
    "Section 2 - Main Point: The market street\n"
    "  Details: the stalls, the crowd, the sign that reads \"Fresh fish\"\n"
    "  Word Count: 400 words",
    "Section 3 - Main Point: What the day means to the town\n"
    "  Word Count: 300-500 words",
]
OUTLINE = "Here is the outline.\n\n" + "\n\n".join(BLOCKS)


def test_each_writer_call_gets_its_whole_section_block(tmp_path: Path) -> None:
    def writer_reply(request: Request) -> str:
        return OUTLINE if request.id.endswith("/plan") else f"text of {request.id}"

    writer = FakeJudgeModel(default=writer_reply)
    report = agentwrite(_inputs(tmp_path, 1), tmp_path / "out.jsonl", writer)
    assert report.written == 1 and not report.failed
    calls = [r for r in writer.requests if "/section" in r.id]
    assert len(calls) == 3
    for block, call in zip(BLOCKS, calls, strict=True):
        prompt = call.messages[0].text
        assert prompt.count(OUTLINE) == 1  # $PLAN$: the planner's whole reply
        step = prompt.replace(OUTLINE, "", 1)  # what is left holds $STEP$: this section, header and details
        assert step.count(block) == 1 and not any(other in step for other in BLOCKS if other is not block)
    row = json.loads((tmp_path / "out.jsonl").read_text())
    assert [s["outline"] for s in row["sections"]] == BLOCKS
    assert [s["target"] for s in row["sections"]] == [{"low": 200, "high": 1000}, {"low": 400, "high": 400},
                                                      {"low": 300, "high": 500}]


def test_an_unreadable_plan_is_a_recorded_failure_with_the_reply(tmp_path: Path) -> None:
    reply = "I'd be glad to help! The pictures show a harbour at dawn.\n\nShall I write about it?"
    out = tmp_path / "out.jsonl"
    report = agentwrite(_inputs(tmp_path, 2), out, FakeJudgeModel(
        default=lambda r: reply if r.id == "ex1/plan" else _writer(r)))
    assert report.written == 1 and list(report.failed) == ["ex1"]
    assert report.failures_path == failures_path(out) == tmp_path / "out.failures.jsonl"
    assert "out.failures.jsonl" in report.summary()
    [record] = [json.loads(line) for line in failures_path(out).read_text().splitlines()]
    assert record["id"] == "ex1" and record["stage"] == "plan" and record["plan"] == reply
    assert "no numbered sections" in record["error"] and record["sections"] == []
    assert [json.loads(line)["id"] for line in out.read_text().splitlines()] == ["ex0"]  # not silently written
    again = agentwrite(_inputs(tmp_path, 2), out, FakeJudgeModel(default=_writer))  # retried on the next run
    assert again.written == 1 and again.already_done == 1 and not again.failed


def test_a_failed_section_keeps_the_sections_written(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    agentwrite(_inputs(tmp_path, 1), out, FakeJudgeModel(
        default=lambda r: Generation.failure(r.id, "HTTP 500") if r.id == "ex0/section3" else _writer(r)))
    [record] = [json.loads(line) for line in failures_path(out).read_text().splitlines()]
    assert record["stage"] == "section 3" and "HTTP 500" in record["error"] and record["plan"] == PLAN
    assert [s["text"] for s in record["sections"]] == [f"ex0 section{k} text " + "word " * 9 + "word"
                                                       for k in (1, 2)]
    assert not out.read_text()


def test_sections_past_max_sections_are_counted(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    agentwrite(_inputs(tmp_path, 1), out, FakeJudgeModel(default=_writer), max_sections=2)
    row = json.loads(out.read_text())
    assert len(row["sections"]) == 2 and row["planned_sections"] == 3
