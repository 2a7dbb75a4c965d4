"""Templates a user points at (authors' placeholder names) and ``--protocol mmlw|authors``.

The templates are the project's own fixtures laid out like a checkout of the authors' repository
(``tests/fixtures/authors_checkout``). The tests pin the exact request text and part order of the judge,
the captioner and the caption+LLM writer under both protocols, and the end-to-end test checks them on the
wire (a loopback OpenAI-compatible server).
"""

from __future__ import annotations

import ast
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import run_cli
from fake_models import FakeJudgeModel, register_fake_judge

from mmlongbench_write.config import EvalConfig
from mmlongbench_write.errors import ConfigError
from mmlongbench_write.judges.quality import QualityJudge
from mmlongbench_write.model_adapters.base import ModelAdapter
from mmlongbench_write.model_adapters.caption import CaptionLLMAdapter
from mmlongbench_write.model_adapters.scripted import ScriptedAdapter
from mmlongbench_write.planning import build_plan
from mmlongbench_write.schema import (
    Generation,
    GenerationConfig,
    ImagePart,
    ImageRef,
    JudgeInput,
    Message,
    Request,
    Sample,
    TextPart,
)

CHECKOUT = Path(__file__).parent / "fixtures" / "authors_checkout"
PROMPTS = CHECKOUT / "eval" / "prompts"
JUDGE_TEMPLATE = (PROMPTS / "eval_quality.txt").read_text(encoding="utf-8")
CAPTION_TEMPLATE = (PROMPTS / "caption.txt").read_text(encoding="utf-8")
WRITER_TEMPLATE = (PROMPTS / "llm_generate.txt").read_text(encoding="utf-8")
IMG_A = ImageRef.from_bytes(b"image-a", "a.png")
IMG_B = ImageRef.from_bytes(b"image-b", "b.jpg", media_type="image/jpeg")
GOOD = json.dumps({"analysis": "fine", "Relevance": 5, "Accuracy": 4, "Coherence": 4, "Clarity": 3,
                   "Breadth and Depth": 5, "Reading Experience": 4})


class Describer(ModelAdapter):
    """A captioner that names the image it was shown (with an apostrophe, to pin the list's quoting)."""

    adapter_name = "describer"

    def __init__(self) -> None:
        super().__init__(None)
        self.calls: list[Request] = []

    def generate(self, requests: Sequence[Request]) -> Iterator[Generation]:
        for request in requests:
            self.calls.append(request)
            yield Generation(request.id, f"It's a picture named {request.images[0].source}.")


def part_kinds(message: Message) -> list[str]:
    return ["text" if isinstance(p, TextPart) else "image" for p in message.content]


# -- judge -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("protocol", "order"), [("mmlw", ["image", "image", "text"]),
                                                 ("authors", ["text", "image", "image"])])
def test_judge_request_with_the_authors_template(protocol: str, order: list[str]) -> None:
    judge = QualityJudge(FakeJudgeModel(), cache_mode="off", prompt_file=str(PROMPTS / "eval_quality.txt"),
                         protocol=protocol)
    sample = Sample(id="s", instruction="Write a 400-word story for these panels.", images=(IMG_A, IMG_B),
                    required_length=400)
    [message] = judge.request_for(JudgeInput(sample=sample, response="Once, a $RESPONSE$ cat.")).messages
    assert part_kinds(message) == order
    assert [p.image.source for p in message.content if isinstance(p, ImagePart)] == ["a.png", "b.jpg"]
    assert message.text == (
        "Fixture judge template. Rate the answer below on Relevance, Accuracy, Coherence, Clarity, Breadth and "
        "Depth and Reading Experience, 1 to 5 each, as JSON.\n\n<Request>\nWrite a 400-word story for these "
        "panels.\n</Request>\n\n<Answer>\nOnce, a $RESPONSE$ cat.\n</Answer>\n"
    )
    assert judge.identity()["prompt"] == "eval_quality.txt"
    assert judge.identity().get("part_order") == (None if protocol == "mmlw" else "text-first")


def test_judge_attempts_follow_the_protocol_unless_given(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mmlongbench_write.runner import build_judges, runtime_options

    register_fake_judge(monkeypatch, "fake-judge", GOOD)

    def attempts(**kw: Any) -> int:
        config = EvalConfig.from_dict({"model": "scripted", "judge_model": "fake-judge", "judges": ["quality"],
                                       "output": str(tmp_path), **kw})
        [judge] = build_judges(config, runtime_options(config))
        return judge.max_attempts  # type: ignore[attr-defined,no-any-return]

    assert attempts() == 3 and attempts(protocol="authors") == 5
    assert attempts(protocol="authors", judge_max_attempts=2) == 2
    failing = QualityJudge(FakeJudgeModel(default="no verdict here"), cache_mode="off", max_attempts=5)
    sample = Sample(id="s", instruction="Write.", images=(IMG_A,), required_length=100)
    [verdict] = list(failing.judge([JudgeInput(sample=sample, response="text")]))
    assert verdict.attempts == 5 and "after 5 attempt(s)" in (verdict.error or "")


# -- captioner and writer ----------------------------------------------------------------------------
def caption_llm(protocol: str) -> tuple[CaptionLLMAdapter, Describer, ScriptedAdapter]:
    captioner, writer = Describer(), ScriptedAdapter(words=5)
    adapter = CaptionLLMAdapter(captioner, writer, caption_prompt=CAPTION_TEMPLATE, writer_template=WRITER_TEMPLATE,
                                protocol=protocol)
    return adapter, captioner, writer


@pytest.mark.parametrize(("protocol", "order"), [("mmlw", ["image", "text"]), ("authors", ["text", "image"])])
def test_captioner_request(protocol: str, order: list[str]) -> None:
    adapter, _, _ = caption_llm(protocol)
    [message] = adapter.caption_request(IMG_A).messages
    assert part_kinds(message) == order
    assert message.text == "Fixture caption prompt: say what this picture shows, including any text in it."
    assert message.images == (IMG_A,)


@pytest.mark.parametrize(("protocol", "captions"), [
    ("mmlw", "[Image 1]\nIt's a picture named a.png.\n\n[Image 2]\nIt's a picture named b.jpg."),
    ("authors", "[\"It's a picture named a.png.\", \"It's a picture named b.jpg.\"]"),
])
def test_writer_request(protocol: str, captions: str) -> None:
    adapter, captioner, writer = caption_llm(protocol)
    request = Request("r1", (Message.system("Be helpful."),
                             Message.user(ImagePart(IMG_A), ImagePart(IMG_B), "Write a 300-word story.")))
    [gen] = adapter.generate([request])
    assert gen.ok and len(captioner.calls) == 2
    [sent] = writer.calls
    assert [m.role for m in sent.messages] == ["system", "user"] and sent.messages[0].text == "Be helpful."
    assert part_kinds(sent.messages[1]) == ["text"] and not sent.images
    assert sent.messages[1].text == (
        "Fixture writer template.\n\nTask:\nWrite a 300-word story.\n\nPicture descriptions:\n"
        f"{captions}\n\nWrite the text now."
    )
    assert adapter.identity()["args"]["writer_template_sha256"]


def test_without_a_writer_template_the_in_place_layout_is_kept() -> None:
    adapter = CaptionLLMAdapter(Describer(), ScriptedAdapter(words=5))
    request = Request("r1", (Message.user(ImagePart(IMG_A), "Write a 300-word story."),))
    adapter.caption_all([request])
    assert adapter.text_request(request).messages[0].text.startswith("The images are given as detailed descriptions.")


# -- generation requests -----------------------------------------------------------------------------
@pytest.mark.parametrize(("protocol", "model", "args", "first"), [
    ("mmlw", "openai", {"model": "gpt-4o-2024-08-06"}, "image"),
    ("authors", "openai", {"model": "gpt-4o-2024-08-06"}, "text"),
    ("authors", "hf", {"pretrained": "Qwen/Qwen2.5-VL-7B-Instruct"}, "text"),
    ("authors", "anthropic", {"model": "claude-3-opus-20240229"}, "image"),  # their script: images first
    ("authors", "hf", {"pretrained": "openbmb/MiniCPM-V-2_6"}, "image"),
])
def test_generation_part_order(tmp_path: Path, protocol: str, model: str, args: dict[str, str], first: str) -> None:
    config = EvalConfig.from_dict({"model": model, "model_args": args, "protocol": protocol, "limit": 2,
                                   "output": str(tmp_path)})
    plan = build_plan(config, GenerationConfig())
    for item in plan.items:
        [message] = item.request.messages
        n = len(item.sample.images)
        expected = ["text"] + ["image"] * n if first == "text" else ["image"] * n + ["text"]
        assert part_kinds(message) == expected and message.text == item.sample.instruction
        assert message.images == item.sample.images


# -- configuration -----------------------------------------------------------------------------------
def test_prompts_from_picks_each_template_from_its_place(tmp_path: Path) -> None:
    config = EvalConfig(model="scripted", mode="caption-llm", captioner="scripted", prompts_from=str(CHECKOUT))
    assert config.template_path("judge") == str(PROMPTS / "eval_quality.txt")
    assert config.template_path("caption") == str(PROMPTS / "caption.txt")
    assert config.template_path("writer") == str(PROMPTS / "llm_generate.txt")
    own = tmp_path / "mine.txt"
    own.write_text("Mine: $QUESTION$ / $CAPTIONS$", encoding="utf-8")
    config = EvalConfig(model="scripted", mode="caption-llm", captioner="scripted", prompts_from=str(CHECKOUT),
                        writer_prompt=str(own))
    assert config.template_path("writer") == str(own)  # a flag wins over --prompts-from
    partial = tmp_path / "checkout"
    (partial / "eval" / "prompts").mkdir(parents=True)
    config = EvalConfig(model="scripted", prompts_from=str(partial))
    with pytest.raises(ConfigError, match=r"no eval/prompts/eval_quality.txt there"):
        config.template_path("judge")
    bad_writer = tmp_path / "bad.txt"
    bad_writer.write_text("Only $QUESTION$ here", encoding="utf-8")
    config = EvalConfig(model="scripted", mode="caption-llm", captioner="scripted", writer_prompt=str(bad_writer))
    with pytest.raises(ConfigError, match=r"--writer-prompt .*lacks the placeholder\(s\) \$CAPTIONS\$"):
        config.load_template("writer")


def test_fingerprint_protocol_and_template_contents(tmp_path: Path) -> None:
    # pinned: a change here renames every default run (this release did once: --tasks now defaults to the whole data)
    assert EvalConfig(model="scripted").default_run_id() == "scripted-3859bf89b6"
    base = {"model": "scripted", "mode": "caption-llm", "captioner": "scripted"}
    plain = EvalConfig(**base).generation_fingerprint()
    authors = EvalConfig(**base, protocol="authors", prompts_from=str(CHECKOUT)).generation_fingerprint()
    assert authors != plain
    copy = tmp_path / "elsewhere" / "llm_generate.txt"
    copy.parent.mkdir()
    copy.write_text(WRITER_TEMPLATE, encoding="utf-8")
    with_file = EvalConfig(**base, writer_prompt=str(PROMPTS / "llm_generate.txt")).generation_fingerprint()
    assert EvalConfig(**base, writer_prompt=str(copy)).generation_fingerprint() == with_file  # content, not path
    copy.write_text(WRITER_TEMPLATE + "\nBe brief.", encoding="utf-8")
    assert EvalConfig(**base, writer_prompt=str(copy)).generation_fingerprint() != with_file
    # the judge template only changes judging: same generations, same run
    vlm = EvalConfig(model="scripted").generation_fingerprint()
    assert EvalConfig(model="scripted", prompts_from=str(CHECKOUT)).generation_fingerprint() == vlm
    assert EvalConfig(model="scripted", protocol="authors").generation_fingerprint() != vlm


@pytest.mark.parametrize(("args", "message"), [
    (["--protocol", "paper"], "--protocol must be one of mmlw, authors, not 'paper'"),
    (["--caption-prompt", str(PROMPTS / "caption.txt")], "--caption-prompt applies to --mode caption-llm only"),
    (["--mode", "caption-llm", "--captioner", "scripted", "--protocol", "authors"],
     "--protocol authors --mode caption-llm writes the captions into a writer template"),
    (["--prompts-from", "/nonexistent/LongWriter-V", "--judge-model", "fake-judge"],
     "--prompts-from: no such directory /nonexistent/LongWriter-V"),
])
def test_bad_template_options_are_one_line(args: list[str], message: str, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    register_fake_judge(monkeypatch, "fake-judge", GOOD)
    code, _, err = run_cli(["eval", "--model", "scripted", "--limit", "1", "--output", str(tmp_path), *args],
                           capsys)
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and "Traceback" not in err
    assert any(line.startswith("error:") and message in line for line in lines), err


def test_score_keeps_the_runs_protocol_and_takes_the_judge_template_from_prompts_from(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    from mmlongbench_write.runstore import load_run

    requests = register_fake_judge(monkeypatch, "fake-judge", GOOD)
    code, out, _ = run_cli(["eval", "--model", "scripted", "--limit", "1", "--output", str(tmp_path)], capsys)
    run_dir = next(tmp_path.iterdir())
    code, _, err = run_cli(["score", str(run_dir), "--protocol", "authors", "--judge-model", "fake-judge"], capsys)
    assert code == 2 and "was generated under protocol mmlw" in err and "Traceback" not in err
    code, _, _ = run_cli(["score", str(run_dir), "--judge", "quality", "--judge-model", "fake-judge",
                          "--prompts-from", str(CHECKOUT)], capsys)
    assert code == 0 and len(requests) == 1
    assert requests[0].messages[0].text.startswith("Fixture judge template.")
    (rescored,) = [p for p in tmp_path.iterdir() if "-rescored-" in p.name]  # the original stays as it was
    assert load_run(rescored).samples[0]["quality_judge"]["prompt"] == "eval_quality.txt"


# -- end to end, on the wire -------------------------------------------------------------------------
@pytest.mark.api
def test_caption_llm_eval_under_the_authors_protocol_over_a_loopback_server(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("openai")
    import servers
    from servers import FakeAPIServer, RecordedRequest

    from mmlongbench_write.runstore import load_run

    original = servers._reply

    def reply(owner: Any, body: dict[str, Any], anthropic: bool) -> dict[str, Any]:
        payload = original(owner, body, anthropic)
        model = body.get("model")
        if model == "cap-x":
            url = next(p["image_url"]["url"] for p in body["messages"][0]["content"] if p["type"] == "image_url")
            payload["choices"][0]["message"]["content"] = f"Caption {len(url)}: it's a scene."
        elif model == "judge-x":
            payload["choices"][0]["message"]["content"] = GOOD
        return payload

    monkeypatch.setattr(servers, "_reply", reply)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-loopback")
    with FakeAPIServer(words=40) as server:
        url = server.openai_url
        code, out, err = run_cli([
            "eval", "--mode", "caption-llm", "--model", "openai", "--model-args", f"model=writer-x,base_url={url}",
            "--captioner", "openai", "--captioner-args", f"model=cap-x,base_url={url}",
            "--judge-model", "openai", "--judge-model-args", f"model=judge-x,base_url={url}",
            "--prompts-from", str(CHECKOUT), "--protocol", "authors", "--limit", "2", "--output", str(tmp_path),
        ], capsys)
        assert code == 0, err
        by_model: dict[str, list[RecordedRequest]] = {}
        for request in server.requests:
            by_model.setdefault(request.body["model"], []).append(request)
    run = load_run(next(tmp_path.iterdir()))
    assert run.run["config"]["protocol"] == "authors" and run.run["config"]["prompts_from"] == str(CHECKOUT)
    assert run.run["judges"]["quality"]["part_order"] == "text-first"
    samples = {row["id"]: row for row in run.samples}
    assert len(samples) == 2 and all(row["quality_score"] is not None for row in samples.values())

    for call in by_model["cap-x"]:
        content = call.body["messages"][0]["content"]
        assert [p["type"] for p in content] == ["text", "image_url"] and content[0]["text"] == CAPTION_TEMPLATE
    for call in by_model["writer-x"]:
        [message] = call.body["messages"]
        text = message["content"] if isinstance(message["content"], str) else message["content"][0]["text"]
        head, rest = text.split("Picture descriptions:\n")
        captions = ast.literal_eval(rest.removesuffix("\n\nWrite the text now."))  # the printed Python list
        assert isinstance(captions, list) and all(c.endswith(": it's a scene.") for c in captions)
        instruction = head.removeprefix("Fixture writer template.\n\nTask:\n").removesuffix("\n\n")
        row = next(r for r in samples.values() if r["instruction"] == instruction)
        assert len(captions) == len(row["images"])
    for call in by_model["judge-x"]:
        content = call.body["messages"][0]["content"]
        assert content[0]["type"] == "text" and {p["type"] for p in content[1:]} == {"image_url"}
        assert content[0]["text"].startswith("Fixture judge template.") and "<Answer>\n" in content[0]["text"]
