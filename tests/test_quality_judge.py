"""The quality judge end to end with a scripted judge model: outcomes, retries, provenance, cache, k samples."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fake_models import FakeJudgeModel

from mmlongbench_write.errors import ConfigError
from mmlongbench_write.judges.base import JudgeOptions
from mmlongbench_write.judges.model_judge import prompt_hash
from mmlongbench_write.judges.quality import QualityJudge
from mmlongbench_write.schema import Generation, ImagePart, ImageRef, JudgeInput, Sample, TextPart, Usage

GOOD = json.dumps({"analysis": "clear and accurate", "Relevance": 5, "Accuracy": 4, "Coherence": 4, "Clarity": 3,
                   "Breadth and Depth": 5, "Reading Experience": 4})
ALL3 = json.dumps({"analysis": "average", **{d: 3 for d in ["Relevance", "Accuracy", "Coherence", "Clarity",
                                                              "Breadth and Depth", "Reading Experience"]}})
MISSING = json.dumps({"analysis": "x", "Relevance": 5, "Accuracy": 4, "Coherence": 4, "Clarity": 3,
                      "Breadth and Depth": 5})


def bad(value: object) -> str:
    return GOOD.replace('"Clarity": 3', f'"Clarity": {json.dumps(value)}')


def item(sid: str = "s1", response: str = "A story about the pictures.") -> JudgeInput:
    images = (ImageRef.from_bytes(b"img-one", "one.png"), ImageRef.from_bytes(b"img-two", "two.png"))
    sample = Sample(id=sid, instruction="Write a 500-word story from these comic panels.", images=images,
                    required_length=500, task="story_generation")
    return JudgeInput(sample=sample, response=response)


def judge_with(replies: list[object], **kw: object) -> tuple[QualityJudge, FakeJudgeModel]:
    model = FakeJudgeModel(replies)  # type: ignore[arg-type]
    return QualityJudge(model, **kw), model  # type: ignore[arg-type]


def test_valid_reply_scores_and_provenance() -> None:
    judge, model = judge_with([GOOD])
    [j] = list(judge.judge([item()]))
    assert j.ok and round(j.score or 0, 2) == 79.17 and j.attempts == 1
    assert j.dimension_scores == {"relevance": 5, "accuracy": 4, "coherence": 4, "clarity": 3,
                                  "breadth_and_depth": 5, "reading_experience": 4}
    assert j.analysis == "clear and accurate" and j.usage == Usage(100, 20)
    ident = j.identity
    assert ident["model"] == "fake-judge" and ident["snapshot"] == "fake-judge-2024-08-06"
    assert ident["temperature"] == 0.5 and ident["max_new_tokens"] == 1024 and "seed" in ident
    assert ident["prompt_hash"] == prompt_hash(judge.template)
    assert "snapshot" not in judge.identity()
    request = model.requests[0]
    assert request.config.temperature == 0.5 and request.config.max_new_tokens == 1024


@pytest.mark.parametrize("first", ["Sure!\n```json\n" + GOOD + "\n```\nLet me know.", MISSING, bad(0), bad(6),
                                   bad("4.5"), bad(4.5), "no json here"])
def test_invalid_then_valid_is_retried(first: str) -> None:
    judge, model = judge_with([first, GOOD])
    [j] = list(judge.judge([item()]))
    assert j.ok and round(j.score or 0, 2) == 79.17
    expected_attempts = 1 if first.startswith("Sure!") else 2
    assert j.attempts == expected_attempts == len(model.requests)
    if expected_attempts == 2:
        assert j.usage == Usage(200, 40)
        assert model.requests[1].config.seed != model.requests[0].config.seed  # a retry is a new draw


def test_refusal_is_a_failure_without_retry() -> None:
    judge, model = judge_with(["I'm sorry, but I cannot evaluate this content."])
    [j] = list(judge.judge([item()]))
    assert not j.ok and j.score is None and "refused" in (j.error or "")
    assert j.attempts == 1 and len(model.requests) == 1 and j.dimension_scores is None


def test_three_failures_in_a_row() -> None:
    judge, model = judge_with([MISSING, bad(6), bad("4.5")])
    [j] = list(judge.judge([item()]))
    assert j.score is None and j.attempts == 3 and len(model.requests) == 3
    assert "after 3 attempt(s)" in (j.error or "") and "not an integer" in (j.error or "")


def test_model_errors_are_retried_then_fail() -> None:
    judge, _ = judge_with([Generation.failure("x", "HTTP 500")] * 2, max_attempts=2)
    [j] = list(judge.judge([item()]))
    assert j.score is None and "HTTP 500" in (j.error or "") and j.attempts == 2


def test_many_items_one_generate_call_per_round() -> None:
    judge, model = judge_with([GOOD, MISSING, ALL3, GOOD])
    out = {j.sample_id: j for j in judge.judge([item("a"), item("b"), item("c")])}
    assert model.generate_calls == 2  # round 1: three requests; round 2: the one retry
    assert out["a"].attempts == 1 and out["b"].attempts == 2 and out["c"].score == pytest.approx(50.0)


def test_cache_second_judging_sends_no_request(tmp_path: Path) -> None:
    judge, model = judge_with([GOOD], cache_dir=tmp_path)
    first = list(judge.judge([item()]))
    assert len(model.requests) == 1 and not first[0].details["cached"]
    judge2, model2 = judge_with([], cache_dir=tmp_path)
    [again] = list(judge2.judge([item()]))
    assert model2.requests == [] and again.details["cached"] and again.score == first[0].score
    assert again.identity["snapshot"] == "fake-judge-2024-08-06" and again.usage == Usage()
    # a different response, or another prompt, is a miss
    judge3, model3 = judge_with([ALL3], cache_dir=tmp_path)
    list(judge3.judge([item(response="Another story.")]))
    assert len(model3.requests) == 1


def test_failures_are_not_cached(tmp_path: Path) -> None:
    judge, _ = judge_with(["I'm sorry, I can't help with that."], cache_dir=tmp_path)
    list(judge.judge([item()]))
    judge2, model2 = judge_with([GOOD], cache_dir=tmp_path)
    [j] = list(judge2.judge([item()]))
    assert j.ok and len(model2.requests) == 1


def test_cache_modes(tmp_path: Path) -> None:
    judge, _ = judge_with([GOOD], cache_dir=tmp_path, cache_mode="off")
    list(judge.judge([item()]))
    assert not (tmp_path / "judgements.sqlite").exists()
    judge, _ = judge_with([GOOD], cache_dir=tmp_path, cache_mode="write")
    list(judge.judge([item()]))
    judge, model = judge_with([GOOD], cache_dir=tmp_path, cache_mode="write")
    list(judge.judge([item()]))
    assert len(model.requests) == 1  # write-only never reads
    judge, model = judge_with([], cache_dir=tmp_path, cache_mode="read")
    assert list(judge.judge([item()]))[0].ok and model.requests == []
    with pytest.raises(ConfigError):
        judge_with([], cache_mode="sometimes")


def test_judge_samples_mean_and_spread() -> None:
    judge, model = judge_with([GOOD, ALL3, MISSING, GOOD], samples=3, config=None)
    [j] = list(judge.judge([item()]))
    spread = j.details["judge_samples"]["spread"]
    assert j.ok and len(model.requests) == 4  # three samples, one retried
    assert spread["relevance"] == {"mean": pytest.approx(13 / 3), "std": pytest.approx(0.9428, abs=1e-4),
                                   "min": 3.0, "max": 5.0}
    assert j.dimension_scores["clarity"] == pytest.approx(3.0)  # type: ignore[index]
    assert j.score == pytest.approx((79.1667 * 2 + 50) / 3, abs=1e-3)
    seeds = {r.config.seed for r in model.requests[:3]}
    assert len(seeds) == 3  # three different draws


def test_missing_image_bytes_fail_without_request() -> None:
    judge, model = judge_with([])
    ref = ImageRef(sha256="ab" * 32, source="gone.png")
    sample = Sample(id="s", instruction="i", images=(ref,), required_length=100)
    [j] = list(judge.judge([JudgeInput(sample=sample, response="r")]))
    assert j.score is None and "not available" in (j.error or "") and model.requests == []


def test_custom_prompt_file(tmp_path: Path) -> None:
    template = tmp_path / "authors.txt"
    template.write_text("Q: $INST$\nA: $RESPONSE$\nScore it.", encoding="utf-8")
    judge, model = judge_with([GOOD], prompt_file=str(template))
    list(judge.judge([item(response="cost $INST$ 5")]))
    parts = model.requests[0].messages[0].content
    assert [type(p) for p in parts] == [ImagePart, ImagePart, TextPart]
    assert parts[-1].text == "Q: Write a 500-word story from these comic panels.\nA: cost $INST$ 5\nScore it."  # type: ignore[union-attr]
    assert judge.identity()["prompt"] == "authors.txt"
    bad_template = tmp_path / "bad.txt"
    bad_template.write_text("no placeholders", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"\$INST\$"):
        judge_with([], prompt_file=str(bad_template))


def test_from_options_uses_registered_adapter_and_gen_kwargs() -> None:
    from mmlongbench_write.model_adapters.base import ModelSpec

    options = JudgeOptions(model=ModelSpec("scripted", {"reply": GOOD, "model": "judge-x"}), seed=7,
                           extra={"judge_gen_kwargs": "temperature=0.2", "max_attempts": 2})
    judge = QualityJudge.from_options(options)
    assert judge.config.temperature == 0.2 and judge.config.max_new_tokens == 1024 and judge.config.seed == 7
    assert judge.max_attempts == 2 and judge.identity()["model"] == "judge-x"
    [j] = list(judge.judge([item()]))
    assert round(j.score or 0, 2) == 79.17
    judge.close()


def test_registered_as_quality() -> None:
    from mmlongbench_write.registry import judges

    assert judges.get("quality") is QualityJudge


@pytest.mark.api
def test_quality_judge_through_openai_loopback_server(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The real ``openai`` adapter against a loopback server: images sent in order, settings, snapshot, retry."""
    pytest.importorskip("openai")
    import servers
    from servers import FakeAPIServer, Fault

    from mmlongbench_write.model_adapters.base import ModelSpec, RuntimeOptions

    replies = iter(["Here you go: " + MISSING, "```json\n" + GOOD + "\n```"])
    monkeypatch.setattr(servers, "filler", lambda n: next(replies))
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    with FakeAPIServer() as server:
        server.add_faults(Fault.status_code(500))
        options = JudgeOptions(model=ModelSpec("openai", {"model": "gpt-4o-2024-08-06", "base_url": server.openai_url}),
                               runtime=RuntimeOptions(max_retries=2), cache_dir=str(tmp_path), seed=3)
        judge = QualityJudge.from_options(options)
        try:
            [j] = list(judge.judge([item()]))
        finally:
            judge.close()
        bodies = [r.body for r in server.requests]
    assert j.ok and round(j.score or 0, 2) == 79.17 and j.attempts == 2
    assert j.identity["snapshot"] == "gpt-4o-2024-08-06-snapshot" and "sk-test" not in json.dumps(j.to_dict())
    last = bodies[-1]
    assert last["temperature"] == 0.5 and last["max_tokens"] == 1024 and last["seed"] == 1003
    content = last["messages"][0]["content"]
    assert [p["type"] for p in content] == ["image_url", "image_url", "text"]
    assert "Write a 500-word story" in content[-1]["text"]
