"""Parsing and validating quality/pairwise judge replies, and the S_q arithmetic."""

from __future__ import annotations

import json

import pytest

from mmlongbench_write.judges.parsing import (
    DIMENSION_KEYS,
    JudgeReplyError,
    parse_pairwise_reply,
    parse_quality_reply,
    quality_score,
)

SCORES = {"Relevance": 5, "Accuracy": 4, "Coherence": 4, "Clarity": 3, "Breadth and Depth": 5,
          "Reading Experience": 4}


def reply(**overrides: object) -> str:
    return json.dumps({"analysis": "solid but uneven", **SCORES, **overrides})


def test_valid_json() -> None:
    parsed = parse_quality_reply(reply())
    assert parsed.scores == dict(zip(DIMENSION_KEYS, [5, 4, 4, 3, 5, 4], strict=True))
    assert parsed.analysis == "solid but uneven"


def test_fenced_json_with_prose_and_key_spellings() -> None:
    body = {"Analysis": "ok", "relevance": 5, "ACCURACY": "4", "coherence": 4.0, "clarity": 3,
            "breadth_and_depth": 5, "Reading-Experience": 4}
    text = f"Here is my evaluation.\n```json\n{json.dumps(body, indent=2)}\n```\nHope this helps!"
    parsed = parse_quality_reply(text)
    assert parsed.scores["accuracy"] == 4 and parsed.scores["coherence"] == 4
    assert parsed.scores["breadth_and_depth"] == 5 and parsed.analysis == "ok"


def test_bare_json_inside_prose_and_nested_scores() -> None:
    text = 'Verdict: {"analysis": "fine", "scores": {"Relevance": 3, "Accuracy": 3, "Coherence": 3, ' \
           '"Clarity": 3, "Breadth & Depth": 3, "Reading Experience": 3}} -- end'
    assert quality_score(parse_quality_reply(text).scores) == pytest.approx(50.0)


def test_missing_dimension_rejected() -> None:
    body = dict(SCORES)
    del body["Reading Experience"]
    with pytest.raises(JudgeReplyError, match="missing dimension.*Reading Experience"):
        parse_quality_reply(json.dumps(body))


@pytest.mark.parametrize(("value", "reason"), [(0, "outside 1..5"), (6, "outside 1..5"), ("4.5", "not an integer"),
                                               (4.5, "not an integer"), (True, "not an integer"),
                                               ("good", "not an integer"), (None, "not an integer")])
def test_bad_scores_rejected_with_reason(value: object, reason: str) -> None:
    with pytest.raises(JudgeReplyError, match=f"Clarity: .*{reason}"):
        parse_quality_reply(reply(Clarity=value))


def test_refusal_detected() -> None:
    with pytest.raises(JudgeReplyError) as info:
        parse_quality_reply("I'm sorry, but I can't help with evaluating this content.")
    assert info.value.refusal


def test_not_json_is_not_a_refusal() -> None:
    with pytest.raises(JudgeReplyError) as info:
        parse_quality_reply("The response is good, I'd give it a 4.")
    assert not info.value.refusal and "no JSON" in info.value.reason
    with pytest.raises(JudgeReplyError, match="empty"):
        parse_quality_reply("  ")
    with pytest.raises(JudgeReplyError, match="none of the rubric"):
        parse_quality_reply('{"score": 4}')


@pytest.mark.parametrize(("scores", "expected"), [([5] * 6, 100.0), ([1] * 6, 0.0), ([3] * 6, 50.0),
                                                  ([5, 4, 4, 3, 5, 4], 79.17)])
def test_quality_score_arithmetic(scores: list[int], expected: float) -> None:
    assert round(quality_score(scores), 2) == expected


def test_quality_score_needs_six() -> None:
    with pytest.raises(ValueError):
        quality_score([5, 5])


@pytest.mark.parametrize(("text", "verdict"), [('{"winner": "A"}', "A"), ('```json\n{"winner": "b"}\n```', "B"),
                                               ('x {"analysis": "close", "Winner": "Tie"} y', "tie"),
                                               ('{"winner": "Response A"}', "A")])
def test_pairwise_verdicts(text: str, verdict: str) -> None:
    assert parse_pairwise_reply(text)[0] == verdict


def test_pairwise_bad_verdict() -> None:
    with pytest.raises(JudgeReplyError, match="not A, B or tie"):
        parse_pairwise_reply('{"winner": "C"}')
    with pytest.raises(JudgeReplyError, match="no 'winner'"):
        parse_pairwise_reply('{"best": "A"}')
