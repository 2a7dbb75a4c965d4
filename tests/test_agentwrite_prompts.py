"""AgentWrite planner and writer templates (authors' placeholders), --prompts-from, --protocol, records.

The templates are the project's own fixtures laid out like a checkout of the authors' repository
(``tests/fixtures/authors_checkout/agentwrite/prompts``). The tests pin the exact request text and the
part order of the planner and writer requests, in process and on the wire (a loopback OpenAI server).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import run_cli
from fake_models import FakeJudgeModel, register_fake_judge
from training_helpers import make_png

from mmlongbench_write.errors import ConfigError
from mmlongbench_write.schema import ImagePart, Message, Request, TextPart
from mmlongbench_write.templates import PLACEHOLDERS, prompt_hash
from mmlongbench_write.training.agentwrite import (
    PLAN_TEMPLATE,
    WRITE_TEMPLATE,
    AgentWritePrompts,
    agentwrite,
    failures_path,
)

CHECKOUT = Path(__file__).parent / "fixtures" / "authors_checkout"
PROMPTS = CHECKOUT / "agentwrite" / "prompts"
PLAN_FIXTURE = (PROMPTS / "plan.txt").read_text(encoding="utf-8")
WRITE_FIXTURE = (PROMPTS / "write.txt").read_text(encoding="utf-8")
INSTRUCTION = "Write a 900-word travel piece about these two photos of Lisbon — “o elétrico”."
BLOCKS = [
    "Section 1 - Main Point: The tram climbing the hill - Word Count: [200-1000 words]\n"
    "- Its yellow paint in the first photo\n- The tourists hanging on",
    "Section 2 - Main Point: The view from the miradouro\n- Red roofs, the river\n- Word Count: 400 words",
]
OUTLINE = "\n\n".join(BLOCKS)


def _inputs(tmp_path: Path) -> Path:
    make_png(tmp_path / "tram.png", 1)
    make_png(tmp_path / "vista.png", 2)
    path = tmp_path / "in.jsonl"
    path.write_text(json.dumps({"id": "lisboa", "instruction": INSTRUCTION, "images": ["tram.png", "vista.png"]},
                               ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def _reply(request: Request) -> str:
    return OUTLINE if request.id.endswith("/plan") else f"Prose of {request.id.split('/')[1]}."


def part_kinds(message: Message) -> list[str]:
    return ["text" if isinstance(p, TextPart) else "image" for p in message.content]


def authors_fill(template: str, values: dict[str, str]) -> str:
    """The authors' way of filling a template (successive ``str.replace``), as the expected text."""
    for key, value in values.items():
        template = template.replace(key, value)
    return template


@pytest.mark.parametrize(("protocol", "order"), [("mmlw", ["image", "image", "text"]),
                                                 ("authors", ["text", "image", "image"])])
def test_planner_and_writer_requests_with_the_authors_templates(
        tmp_path: Path, protocol: str, order: list[str]) -> None:
    prompts = AgentWritePrompts.resolve(prompts_from=CHECKOUT, protocol=protocol)
    writer = FakeJudgeModel(default=_reply)
    report = agentwrite(_inputs(tmp_path), tmp_path / "out.jsonl", writer, prompts=prompts)
    assert report.written == 1 and not report.failed
    assert [r.id for r in writer.requests] == ["lisboa/plan", "lisboa/section1", "lisboa/section2"]
    plan, first, second = (r.messages for r in writer.requests)
    for messages in (plan, first, second):
        [message] = messages
        assert message.role == "user" and part_kinds(message) == order
        sources = [Path(p.image.source).name for p in message.content if isinstance(p, ImagePart)]
        assert sources == ["tram.png", "vista.png"]  # the row's images, in its order, in every call
    assert plan[0].text == authors_fill(PLAN_FIXTURE, {"$INST$": INSTRUCTION})
    assert first[0].text == authors_fill(WRITE_FIXTURE, {"$INST$": INSTRUCTION, "$PLAN$": OUTLINE, "$TEXT$": "",
                                                         "$STEP$": BLOCKS[0]})
    assert second[0].text == authors_fill(WRITE_FIXTURE, {"$INST$": INSTRUCTION, "$PLAN$": OUTLINE,
                                                          "$TEXT$": "Prose of section1.", "$STEP$": BLOCKS[1]})


def test_values_are_substituted_verbatim_in_one_pass(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    tricky = "Write about $PLAN$ and $STEP$ literally, 300 words."
    src.write_text(json.dumps({"id": "x", "instruction": tricky, "images": []}) + "\n")
    writer = FakeJudgeModel(default=lambda r: "Section 1 - the $TEXT$ sign - 300 words" if r.id.endswith("plan")
                            else "done")
    agentwrite(src, tmp_path / "out.jsonl", writer, prompts=AgentWritePrompts.resolve(prompts_from=CHECKOUT))
    [_, section] = writer.requests
    assert section.messages[0].text == (
        f"Fixture writer step template.\n\nTask:\n{tricky}\n\nOutline:\nSection 1 - the $TEXT$ sign - 300 words"
        "\n\nSo far:\n\n\nNow write: Section 1 - the $TEXT$ sign - 300 words\n\nOnly the new section.")


def test_the_output_records_which_templates_built_it(tmp_path: Path) -> None:
    own_plan = tmp_path / "mine-plan.txt"
    own_plan.write_text("Mine: $INST$", encoding="utf-8")
    prompts = AgentWritePrompts.resolve(plan_prompt=own_plan, prompts_from=CHECKOUT, protocol="authors")
    assert prompts.plan.text == "Mine: $INST$" and prompts.write.text == WRITE_FIXTURE  # the file wins
    out = tmp_path / "out.jsonl"
    agentwrite(_inputs(tmp_path), out, FakeJudgeModel(default=_reply), prompts=prompts)
    row = json.loads(out.read_text(encoding="utf-8"))
    assert row["prompts"] == {"protocol": "authors",
                              "plan": {"source": "mine-plan.txt", "sha256": prompt_hash("Mine: $INST$")},
                              "write": {"source": "write.txt", "sha256": prompt_hash(WRITE_FIXTURE)}}
    builtin = AgentWritePrompts().fingerprint()
    assert builtin["plan"]["source"] == "builtin:agentwrite-plan" and builtin["protocol"] == "mmlw"


def test_builtin_templates_use_the_same_placeholders() -> None:
    for template, kind in ((PLAN_TEMPLATE, "plan"), (WRITE_TEMPLATE, "write")):
        assert all(p in template.text for p in PLACEHOLDERS[kind])


def test_resume_refuses_an_output_built_with_other_templates(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    agentwrite(_inputs(tmp_path), out, FakeJudgeModel(default=_reply))
    before = out.read_bytes()
    with pytest.raises(ConfigError, match=r"1 of its rows were built with other prompts \(protocol mmlw, plan "
                                          r"builtin:agentwrite-plan"):
        agentwrite(_inputs(tmp_path), out, FakeJudgeModel(default=_reply),
                   prompts=AgentWritePrompts.resolve(prompts_from=CHECKOUT))
    assert out.read_bytes() == before
    moved = tmp_path / "moved"  # the same templates from elsewhere: the content counts, not the path
    moved.mkdir()
    for name in ("plan.txt", "write.txt"):
        (moved / name).write_text((PROMPTS / name).read_text(encoding="utf-8"), encoding="utf-8")
    fixture_out = tmp_path / "fixture.jsonl"
    agentwrite(_inputs(tmp_path), fixture_out, FakeJudgeModel(default=_reply),
               prompts=AgentWritePrompts.resolve(prompts_from=CHECKOUT))
    same = AgentWritePrompts.resolve(plan_prompt=moved / "plan.txt", write_prompt=moved / "write.txt")
    again = agentwrite(_inputs(tmp_path), fixture_out, FakeJudgeModel(default=_reply), prompts=same)
    assert again.already_done == 1 and again.written == 0


# -- the command line --------------------------------------------------------------------------------
def test_cli_prompts_from_and_protocol(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    requests = register_fake_judge(monkeypatch, "aw-fake", _reply)
    out = tmp_path / "aw.jsonl"
    code, stdout, err = run_cli(["data", "agentwrite", "--input", str(_inputs(tmp_path)), "--output", str(out),
                                 "--model", "aw-fake", "--prompts-from", str(CHECKOUT), "--protocol", "authors"],
                                capsys)
    assert code == 0, err
    assert "1 rows written" in stdout
    assert requests[0].messages[0].text == authors_fill(PLAN_FIXTURE, {"$INST$": INSTRUCTION})
    assert part_kinds(requests[0].messages[0]) == ["text", "image", "image"]
    assert json.loads(out.read_text(encoding="utf-8"))["prompts"]["write"]["source"] == "write.txt"


@pytest.mark.parametrize(("extra", "message"), [
    (["--write-prompt", "{bad}"], "--write-prompt {bad}: template lacks the placeholder(s) $PLAN$, $STEP$"),
    (["--plan-prompt", "{missing}"], "--plan-prompt: no such file {missing}"),
    (["--prompts-from", "{empty}"],
     "--prompts-from {empty}: no agentwrite/prompts/plan.txt there (expected a checkout of THU-KEG/LongWriter-V)"),
    (["--protocol", "paper"], "--protocol must be one of mmlw, authors, not 'paper'"),
])
def test_cli_bad_templates_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                        monkeypatch: pytest.MonkeyPatch, extra: list[str], message: str) -> None:
    requests = register_fake_judge(monkeypatch, "aw-fake", _reply)
    bad = tmp_path / "bad.txt"
    bad.write_text("Only $INST$ and $TEXT$ here.", encoding="utf-8")
    (tmp_path / "empty").mkdir()
    paths = {"bad": bad, "missing": tmp_path / "nope.txt", "empty": tmp_path / "empty"}
    out = tmp_path / "aw.jsonl"
    code, _, err = run_cli(["data", "agentwrite", "--input", str(_inputs(tmp_path)), "--output", str(out),
                            "--model", "aw-fake", *(e.format(**paths) for e in extra)], capsys)
    assert code == 2 and err.strip().splitlines() == [f"error: {message.format(**paths)}"]
    assert not requests and not out.exists()


def test_cli_refuses_to_resume_with_other_templates(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    register_fake_judge(monkeypatch, "aw-fake", _reply)
    args = ["data", "agentwrite", "--input", str(_inputs(tmp_path)), "--output", str(tmp_path / "aw.jsonl"),
            "--model", "aw-fake"]
    assert run_cli(args, capsys)[0] == 0
    code, _, err = run_cli([*args, "--protocol", "authors"], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "built with other prompts" in err


# -- on the wire -------------------------------------------------------------------------------------
@pytest.mark.api
def test_agentwrite_over_a_loopback_openai_server(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Text first, exact text, each section's block on the wire; an unreadable plan recorded with its reply."""
    pytest.importorskip("openai")
    import servers
    from servers import FakeAPIServer

    original = servers._reply

    def reply(owner: Any, body: dict[str, Any], anthropic: bool) -> dict[str, Any]:
        payload = original(owner, body, anthropic)
        text = body["messages"][0]["content"][0]["text"]
        if text.startswith("Fixture planner template.") and "Lisbon" in text:
            payload["choices"][0]["message"]["content"] = OUTLINE
        elif text.startswith("Fixture planner template."):  # the second row's planner answers no outline
            payload["choices"][0]["message"]["content"] = "Sorry, I can only describe the photo: a tram."
        return payload

    monkeypatch.setattr(servers, "_reply", reply)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-loopback")
    src = _inputs(tmp_path)
    with src.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps({"id": "porto", "instruction": "Describe Porto.", "images": ["tram.png"]}) + "\n")
    out = tmp_path / "aw.jsonl"
    with FakeAPIServer(words=30) as server:
        code, stdout, err = run_cli([
            "data", "agentwrite", "--input", str(src), "--output", str(out), "--model", "openai",
            "--model-args", f"model=writer-x,base_url={server.openai_url}", "--prompts-from", str(CHECKOUT),
            "--protocol", "authors"], capsys)
        calls = list(server.requests)
    assert code == 4, err  # rows left to do (EXIT_INCOMPLETE)
    assert "1 rows written" in stdout and "1 failed" in stdout and "aw.failures.jsonl" in stdout
    lisboa = [c for c in calls if "Lisbon" in c.body["messages"][0]["content"][0]["text"]]
    assert len(lisboa) == 3  # plan, section 1, section 2
    for call in lisboa:
        [message] = call.body["messages"]
        assert [p["type"] for p in message["content"]] == ["text", "image_url", "image_url"]
        assert all(p["image_url"]["url"].startswith("data:image/png;base64,") for p in message["content"][1:])
    assert lisboa[0].body["messages"][0]["content"][0]["text"] == authors_fill(PLAN_FIXTURE, {"$INST$": INSTRUCTION})
    row = json.loads(out.read_text(encoding="utf-8"))
    for k, call in enumerate(lisboa[1:]):
        text_so_far = "\n\n".join(s["text"] for s in row["sections"][:k])
        assert call.body["messages"][0]["content"][0]["text"] == authors_fill(
            WRITE_FIXTURE, {"$INST$": INSTRUCTION, "$PLAN$": OUTLINE, "$TEXT$": text_so_far, "$STEP$": BLOCKS[k]})
    assert [s["outline"] for s in row["sections"]] == BLOCKS and row["prompts"]["protocol"] == "authors"
    [failure] = [json.loads(line) for line in failures_path(out).read_text(encoding="utf-8").splitlines()]
    assert failure["id"] == "porto" and failure["stage"] == "plan"
    assert failure["plan"] == "Sorry, I can only describe the photo: a tram."
