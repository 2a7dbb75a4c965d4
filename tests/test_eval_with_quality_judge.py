"""`mmlw eval` with the quality judge: S, S_l, S_q per sample, provenance, failures, no paying twice."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fake_models import register_fake_judge

from mmlongbench_write.config import EvalConfig
from mmlongbench_write.runner import evaluate
from mmlongbench_write.runstore import load_run
from mmlongbench_write.scoring import score

SCORES = {"Relevance": 5, "Accuracy": 4, "Coherence": 4, "Clarity": 3, "Breadth and Depth": 5,
          "Reading Experience": 4}
REPLY = "Here is my verdict:\n```json\n" + json.dumps({"analysis": "Solid but generic.", **SCORES}) + "\n```"


def cfg(tmp_path: Path, **kw: object) -> EvalConfig:
    base: dict[str, object] = {"model": "scripted", "model_args": {"length_ratio": 1.0}, "output": str(tmp_path),
                               "judge_model": "fake-judge", "limit": 4}
    base.update(kw)
    return EvalConfig.from_dict(base)


def test_eval_scores_length_and_quality(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    requests = register_fake_judge(monkeypatch, "fake-judge", REPLY)
    outcome = evaluate(cfg(tmp_path), progress=None)
    assert len(requests) == 4
    run = load_run(outcome.run_dir)
    for row in run.samples:
        assert row["length_score"] == pytest.approx(100.0)
        assert row["quality_score"] == pytest.approx(79.1667, abs=1e-3)
        assert row["score"] == pytest.approx((100.0 + 79.1667) / 2, abs=1e-3)
        assert row["quality_scores"]["breadth_and_depth"] == 5
        assert row["judge_analysis"] == "Solid but generic." and row["judge_attempts"] == 1
        assert row["quality_judge"]["prompt_hash"]
    quality = run.run["judges"]["quality"]
    assert quality["model"] == "fake-judge" and quality["temperature"] == 0.5 and quality["prompt_hash"]
    overall = run.results["scores"]["overall"]
    assert overall["S_q"]["mean"] == pytest.approx(79.1667, abs=1e-3)
    assert overall["S"]["n"] == 4

    # re-scoring the run reuses every verdict: no judge request at all
    again = score(outcome.run_dir, {"judge_model": "fake-judge"})
    assert again.judged == 0 and len(requests) == 4
    # the same responses in another run directory hit the judge cache
    evaluate(cfg(tmp_path / "elsewhere"), progress=None)
    assert len(requests) == 4


def test_judge_failures_are_excluded_and_counted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    requests = register_fake_judge(monkeypatch, "fake-judge", "I'm sorry, but I can't help with evaluating this.")
    outcome = evaluate(cfg(tmp_path), progress=None)
    assert len(requests) == 4  # a refusal is final: no retries
    rows = load_run(outcome.run_dir).samples
    assert all(r["quality_score"] is None and r["score"] is None and r["judge_error"] for r in rows)
    assert all(r["length_score"] == pytest.approx(100.0) for r in rows)
    assert outcome.results["n_judge_failures"] == 4
    overall = outcome.results["scores"]["overall"]
    assert overall["S"]["n"] == 0 and overall["S_l"]["n"] == 4
    assert outcome.status == "complete"  # a refusal is the judge's final word, never asked again
    register_fake_judge(monkeypatch, "fake-judge", REPLY)
    assert evaluate(cfg(tmp_path), progress=None).judged == 0


def test_unusable_verdicts_leave_the_run_incomplete_and_are_judged_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    requests = register_fake_judge(monkeypatch, "fake-judge", "no verdict here")
    outcome = evaluate(cfg(tmp_path), progress=None)
    assert len(requests) == 4 * 3  # retried up to the attempt limit
    assert outcome.status == "incomplete" and "4 quality judge failure(s)" in outcome.incomplete_reasons
    register_fake_judge(monkeypatch, "fake-judge", REPLY)
    healed = evaluate(cfg(tmp_path), progress=None)
    assert healed.judged == 4 and healed.results["n_judge_failures"] == 0 and healed.status == "complete"


def test_a_different_judge_rejudges_but_never_regenerates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    register_fake_judge(monkeypatch, "fake-judge", REPLY)
    first = evaluate(cfg(tmp_path), progress=None)
    other = json.dumps({"analysis": "meh", **{k: 3 for k in SCORES}})
    requests = register_fake_judge(monkeypatch, "other-judge", other)
    second = score(first.run_dir, {"judge_model": "other-judge"})
    assert second.generated == 0 and second.judged == 4 and len(requests) == 4
    rows = load_run(second.run_dir).samples
    assert {r["quality_score"] for r in rows} == {50.0}
    assert load_run(second.run_dir).run["judges"]["quality"]["model"] == "other-judge"
    assert all(r["quality_score"] == pytest.approx(79.1667, abs=1e-3) for r in load_run(first.run_dir).samples)


def test_rescoring_one_judge_keeps_the_other_judges_identity(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    register_fake_judge(monkeypatch, "fake-judge", REPLY)
    first = evaluate(cfg(tmp_path), progress=None)
    rescored = score(first.run_dir, {"judges": ["length-released"]})
    run = load_run(rescored.run_dir)
    # the quality verdicts stay in the rows, so the quality judge stays in run.json and results.json
    assert run.run["judges"]["quality"]["model"] == "fake-judge"
    assert run.run["judges"]["length"]["formula"] == "released"
    assert run.results is not None and run.results["judges"]["quality"]["model"] == "fake-judge"
    assert [m["name"] for m in run.results["metrics"]] == ["S", "S_l", "S_q"]
    assert all(r["quality_score"] == pytest.approx(79.1667, abs=1e-3) for r in run.samples)


def test_a_refusal_is_final_and_the_authors_protocol_drops_it_from_every_mean(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def reply(request):  # noqa: ANN001, ANN202 - a judge that refuses to score one sample
        refuse = "Write a 2,000-word" in request.messages[0].text or request.id.startswith(first_id)
        return "I'm sorry, I cannot evaluate this response." if refuse else REPLY

    from mmlongbench_write.data import load_samples

    first_id = load_samples("mini").samples[0].id
    requests = register_fake_judge(monkeypatch, "fake-judge", reply)
    for protocol in ("mmlw", "authors"):
        outcome = evaluate(cfg(tmp_path / protocol, model_args={"length_ratio": 0.8}, protocol=protocol),
                           progress=None)
        assert outcome.status == "complete"  # the judge gave its final word on every sample
        overall = outcome.results["scores"]["overall"]
        assert overall["n_judge_failures"] == 1 and overall["S_q"]["n"] == 3
        assert overall["S_l"]["n"] == (4 if protocol == "mmlw" else 3)
        assert overall["S"]["mean"] == pytest.approx((overall["S_l"]["mean"] + overall["S_q"]["mean"]) / 2, abs=1e-3)
        assert outcome.results["scores"]["rule"]["name"] == protocol
        asked = len(requests)
        assert evaluate(cfg(tmp_path / protocol, model_args={"length_ratio": 0.8}, protocol=protocol),
                        progress=None).judged == 0
        assert len(requests) == asked  # a refusal is not asked again on resume
