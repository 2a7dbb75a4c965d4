"""Pairwise judging: both orders, position bias cancelled, Wilson CIs, cache, failures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fake_models import FakeJudgeModel

from mmlongbench_write.judges.pairwise import PairInput, PairwiseJudge, combine, summarize, wilson_interval
from mmlongbench_write.schema import ImageRef, Request, Sample


def pairs(n: int = 10) -> list[PairInput]:
    out = []
    for i in range(n):
        sample = Sample(id=f"s{i}", instruction=f"Write about picture {i}.",
                        images=(ImageRef.from_bytes(f"img{i}".encode(), f"{i}.png"),), required_length=300)
        out.append(PairInput(sample=sample, response_a=f"answer of model A #{i}", response_b=f"answer of B #{i}"))
    return out


def prefer_text(marker: str):  # noqa: ANN201 - test helper
    """A judge that picks whichever position holds the response containing ``marker``."""

    def reply(request: Request) -> str:
        text = request.messages[0].text
        first = text.split("<<<BEGIN RESPONSE A")[1].split("<<<END RESPONSE A")[0]
        return json.dumps({"analysis": "x", "winner": "A" if marker in first else "B"})

    return reply


def run(judge_model: FakeJudgeModel, n: int = 10, **kw: object) -> dict:
    judge = PairwiseJudge(judge_model, **kw)  # type: ignore[arg-type]
    verdicts = list(judge.compare(pairs(n)))
    return summarize(verdicts, {"run_id": "ra", "label": "A"}, {"run_id": "rb", "label": "B"}, judge.identity())


def test_first_position_bias_gives_ties() -> None:
    result = run(FakeJudgeModel(default='{"analysis": "first is better", "winner": "A"}'))
    assert result["n"] == 10 and result["ties"] == 10 and result["a_wins"] == result["b_wins"] == 0
    assert result["tie_rate"] == 1.0 and all(i["order_ab"] == "A" and i["order_ba"] == "A" for i in result["items"])
    assert result["ci95"]["a_win_rate"][0] == 0.0 and result["ci95"]["a_win_rate"][1] < 0.35


def test_consistent_preference_wins() -> None:
    model = FakeJudgeModel(default=prefer_text("model A"))
    result = run(model)
    assert result["a_wins"] == 10 and result["a_win_rate"] == 1.0
    assert [i["outcome"] for i in result["items"]] == ["a"] * 10
    assert model.generate_calls == 1 and len(model.requests) == 20  # both orders in one concurrent call
    lo, hi = result["ci95"]["a_win_rate"]
    assert 0.65 < lo < 0.75 and hi == 1.0
    assert result["judge"]["snapshot"] == "fake-judge-2024-08-06"


def test_combine_rules() -> None:
    assert combine("A", "B") == "a" and combine("B", "A") == "b"
    assert combine("A", "A") == "tie" and combine("tie", "B") == "tie" and combine("tie", "tie") == "tie"


def test_failures_are_counted_not_tied() -> None:
    model = FakeJudgeModel(["I'm sorry, I can't compare these.", '{"winner": "B"}'])
    result = run(model, n=1)
    assert result["n"] == 0 and result["failed"] == 1 and result["items"][0]["outcome"] == "error"
    assert "refused" in result["items"][0]["error"]


def test_cache_reuses_verdicts(tmp_path: Path) -> None:
    run(FakeJudgeModel(default='{"winner": "tie"}'), n=3, cache_dir=tmp_path)
    again = FakeJudgeModel()
    result = run(again, n=3, cache_dir=tmp_path)
    assert again.requests == [] and result["ties"] == 3


def test_wilson_interval() -> None:
    lo, hi = wilson_interval(5, 10)
    assert lo == pytest.approx(0.2366, abs=1e-3) and hi == pytest.approx(0.7634, abs=1e-3)
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_custom_template_needs_both_responses(tmp_path: Path) -> None:
    from mmlongbench_write.errors import ConfigError

    bad = tmp_path / "t.txt"
    bad.write_text("$INST$ $RESPONSE$", encoding="utf-8")
    with pytest.raises(ConfigError, match="RESPONSE_A"):
        PairwiseJudge(FakeJudgeModel(), prompt_file=str(bad))
