"""The verdict cache is untrusted input: stored verdicts are validated when read, a broken file is one line.

A verdict with Relevance 99 in ``judgements.sqlite`` once gave S_q 491.7. Now a stored verdict that is
not six integer scores 1..5 (or whose value is not JSON) is reported and judged again, and a cache file
that SQLite cannot open is reported once while judging goes on without it.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from pathlib import Path

import pytest
from fake_models import FakeJudgeModel, register_fake_judge

from mmlongbench_write.judges.pairwise import PairInput, PairwiseJudge
from mmlongbench_write.judges.quality import QualityJudge
from mmlongbench_write.schema import ImageRef, JudgeInput, Sample

DIMS = ["Relevance", "Accuracy", "Coherence", "Clarity", "Breadth and Depth", "Reading Experience"]
GOOD = json.dumps({"analysis": "fine", **dict(zip(DIMS, [5, 4, 4, 3, 5, 4], strict=True))})


def item(sid: str = "s1") -> JudgeInput:
    sample = Sample(id=sid, instruction="Write a 300-word story.", images=(ImageRef.from_bytes(b"p", "p.png"),),
                    required_length=300)
    return JudgeInput(sample=sample, response="A story.")


def tamper(db: Path, namespace: str, edit) -> int:  # noqa: ANN001 - test helper
    """Apply ``edit(value_text) -> new_text`` to every stored value of ``namespace``; returns how many."""
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT key, value FROM kv WHERE ns=?", (namespace,)).fetchall()
        for key, value in rows:
            conn.execute("UPDATE kv SET value=? WHERE ns=? AND key=?", (edit(value), namespace, key))
    return len(rows)


def set_relevance(value: object):  # noqa: ANN201 - test helper
    def edit(text: str) -> str:
        record = json.loads(text)
        record["scores"]["relevance"] = value
        return json.dumps(record)

    return edit


@pytest.mark.parametrize("stored", [99, 0, "5", 4.5, True, None])
def test_a_stored_verdict_out_of_range_is_judged_again(stored: object, tmp_path: Path,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    first = QualityJudge(FakeJudgeModel([GOOD]), cache_dir=tmp_path)
    list(first.judge([item()]))
    first.close()
    assert tamper(tmp_path / "judgements.sqlite", "quality", set_relevance(stored)) == 1

    model = FakeJudgeModel([GOOD])
    judge = QualityJudge(model, cache_dir=tmp_path)
    with caplog.at_level(logging.WARNING):
        [verdict] = list(judge.judge([item()]))
    judge.close()
    assert len(model.requests) == 1 and verdict.ok and round(verdict.score or 0, 2) == 79.17
    assert not verdict.details["cached"]
    lines = [r.getMessage() for r in caplog.records if "judge cache" in r.getMessage()]
    assert len(lines) == 1 and "invalid" in lines[0] and "relevance" in lines[0]
    # the fresh verdict replaced the bad one: a third judge hits the cache again
    again = FakeJudgeModel()
    [hit] = list(QualityJudge(again, cache_dir=tmp_path).judge([item()]))
    assert again.requests == [] and hit.details["cached"] and round(hit.score or 0, 2) == 79.17


def test_a_stored_value_that_is_not_json_is_judged_again(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    list(QualityJudge(FakeJudgeModel([GOOD]), cache_dir=tmp_path).judge([item()]))
    tamper(tmp_path / "judgements.sqlite", "quality", lambda text: text[: len(text) // 2])
    model = FakeJudgeModel([GOOD])
    with caplog.at_level(logging.WARNING):
        [verdict] = list(QualityJudge(model, cache_dir=tmp_path).judge([item()]))
    assert verdict.ok and len(model.requests) == 1
    assert any("not JSON" in r.getMessage() for r in caplog.records)


def test_a_corrupt_cache_file_is_one_line_and_judging_goes_on(tmp_path: Path,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "judgements.sqlite").write_bytes(b"this is not a database, just bytes\x00" * 200)
    model = FakeJudgeModel(default=GOOD)
    judge = QualityJudge(model, cache_dir=tmp_path)
    items = [item("s1"), item("s2")]
    with caplog.at_level(logging.WARNING):
        verdicts = list(judge.judge(items))
    judge.close()
    assert [v.ok for v in verdicts] == [True, True] and len(model.requests) == 2
    lines = [r.getMessage() for r in caplog.records if "judge cache" in r.getMessage()]
    assert len(lines) == 1 and "unusable" in lines[0] and "judging goes on without it" in lines[0]


def test_a_tampered_pairwise_verdict_is_judged_again(tmp_path: Path) -> None:
    sample = item().sample
    pairs = [PairInput(sample=sample, response_a="first answer", response_b="second answer")]
    list(PairwiseJudge(FakeJudgeModel(default='{"winner": "A"}'), cache_dir=tmp_path).compare(pairs))

    def edit(text: str) -> str:
        return json.dumps({**json.loads(text), "verdict": "Z"})

    assert tamper(tmp_path / "judgements.sqlite", "pairwise", edit) == 2
    model = FakeJudgeModel(default='{"winner": "A"}')
    [verdict] = list(PairwiseJudge(model, cache_dir=tmp_path).compare(pairs))
    assert len(model.requests) == 2 and verdict.outcome == "tie" and verdict.error is None


def test_eval_does_not_turn_a_tampered_cache_into_a_score_above_100(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch,
                                                                    capfd: pytest.CaptureFixture[str],
                                                                    caplog: pytest.LogCaptureFixture) -> None:
    """Through ``mmlw eval``: the reproduction of the issue (Relevance 99 -> S_q 491.7)."""
    from cli_helpers import run_cli, summary

    requests = register_fake_judge(monkeypatch, "fake-judge", GOOD)
    cache = tmp_path / "cache"
    base = ["eval", "--model", "scripted", "--limit", "2", "--judge-model", "fake-judge", "--cache-dir", str(cache)]
    code, _, _ = run_cli([*base, "--output", str(tmp_path / "a")], capfd)  # type: ignore[arg-type]
    assert code == 0 and len(requests) == 2
    tamper(cache / "judgements.sqlite", "quality", set_relevance(99))
    with caplog.at_level(logging.WARNING):
        code, out, err = run_cli([*base, "--output", str(tmp_path / "b")], capfd)  # type: ignore[arg-type]
    assert code == 0 and len(requests) == 4  # both judged again
    assert summary(out)["S_q"] == "79.2" and "491" not in out and "Traceback" not in err
    warned = [r.getMessage() for r in caplog.records]
    assert sum("ignoring a stored quality verdict that is invalid (relevance: score 99" in m for m in warned) == 2
