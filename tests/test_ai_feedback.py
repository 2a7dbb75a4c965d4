"""AI-feedback pairs: k samples, length + quality scores, best vs worst above a margin."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from fake_models import FakeJudgeModel
from training_helpers import make_png

from mmlongbench_write.errors import DataError
from mmlongbench_write.judges.base import Judge
from mmlongbench_write.schema import JudgeInput, Judgement, Request
from mmlongbench_write.training.ai_feedback import AIFeedbackReport, ai_feedback_pairs


class FakeQuality(Judge):
    """S_q = 100 when the response says 'vivid', else 20; fails on responses saying 'broken'."""

    name = "quality"

    def __init__(self) -> None:
        self.seen: list[str] = []

    def judge(self, items: Sequence[JudgeInput]) -> Iterator[Judgement]:
        for item in items:
            self.seen.append(item.sample.id)
            if "broken" in item.response:
                yield Judgement(item.sample.id, self.name, None, error="unparsable verdict")
            else:
                yield Judgement(item.sample.id, self.name, 100.0 if "vivid" in item.response else 20.0)


def _sampler(request: Request) -> str:
    j = int(request.config.seed or 0)
    words = ["vivid"] if j == 1 else ["plain"]
    return " ".join(words * (10 * (j + 1)))  # 10, 20, 30, 40 words


def _input(tmp_path: Path) -> Path:
    make_png(tmp_path / "a.png", 1)
    rows = [{"id": "q1", "instruction": "Write 80 words about the picture.", "images": ["a.png"]},
            {"id": "q2", "instruction": "Describe it.", "images": ["a.png"], "required_length": 20}]
    path = tmp_path / "in.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_best_vs_worst_by_length_and_quality(tmp_path: Path) -> None:
    sampler = FakeJudgeModel(default=_sampler)
    judge = FakeQuality()
    report = AIFeedbackReport()
    pairs = ai_feedback_pairs(_input(tmp_path), sampler, judge, k=4, min_margin=10, report=report)
    assert len(sampler.requests) == 8 and {r.config.seed for r in sampler.requests} == {0, 1, 2, 3}
    assert all(r.config.temperature == 0.8 for r in sampler.requests)
    assert len(judge.seen) == 8 and "q1#0" in judge.seen
    by_id = {p["id"]: p for p in pairs}
    # q1 (L=80): sample 1 (20 words, vivid) S_l 0, S_q 100 -> 50 beats sample 3 (40 words) S_l 50, S_q 20 -> 35;
    # sample 0 (10 words) S_l 0, S_q 20 -> 10 is the worst
    q1 = by_id["q1"]
    assert q1["chosen_scores"]["words"] == 20 and q1["rejected_scores"]["words"] == 10
    assert q1["chosen_scores"]["score"] == pytest.approx(50.0) and q1["margin"] == pytest.approx(40.0)
    # q2 (L=20): the 20-word vivid answer wins
    assert by_id["q2"]["chosen"].startswith("vivid") and by_id["q2"]["required_length"] == 20
    assert set(q1) >= {"images", "prompt", "chosen", "rejected"} and q1["images"] == [str(tmp_path / "a.png")]
    assert report.pairs == 2


def test_margin_threshold_and_length_only(tmp_path: Path) -> None:
    report = AIFeedbackReport()
    pairs = ai_feedback_pairs(_input(tmp_path), FakeJudgeModel(default=_sampler), None, k=2, min_margin=45,
                              report=report)
    # length only: q1 samples have 10/20 words for L=80 -> both S_l 0: below the margin;
    # q2 (L=20): 10 words -> 50, 20 words -> 100: kept
    assert [p["id"] for p in pairs] == ["q2"] and report.below_margin == 1


def test_failed_judgements_are_dropped_not_scored(tmp_path: Path) -> None:
    def sampler(request: Request) -> str:
        return "broken answer" if request.config.seed == 0 else _sampler(request)

    report = AIFeedbackReport()
    pairs = ai_feedback_pairs(_input(tmp_path), FakeJudgeModel(default=sampler), FakeQuality(), k=2,
                              min_margin=0, report=report)
    assert report.failed_judgements == 2 and report.too_few_scored == 2 and pairs == []
    with pytest.raises(DataError, match="at least 2"):
        ai_feedback_pairs(_input(tmp_path), FakeJudgeModel(default=sampler), None, k=1)


def test_cli_length_only(tmp_path: Path) -> None:
    from mmlongbench_write.cli import main

    out = tmp_path / "pairs.jsonl"
    main(["data", "ai-feedback-pairs", "--input", str(_input(tmp_path)), "--output", str(out), "--model",
          "scripted", "--model-args", "length_ratio=1.0", "--k", "2", "--min-margin", "0"])
    # the scripted model writes exactly L words every time: equal scores, margin 0 >= 0 still makes a pair
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert rows and all(r["margin"] == 0 for r in rows)
