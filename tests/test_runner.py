"""The runner end to end with the offline `scripted` model: run store, resume, stages, score, shards."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mmlongbench_write.config import EvalConfig
from mmlongbench_write.errors import ConfigError
from mmlongbench_write.merging import merge_runs
from mmlongbench_write.runner import evaluate
from mmlongbench_write.runstore import JOURNAL, load_run, read_jsonl
from mmlongbench_write.scoring import score

REQUIRED_FIELDS = {
    "id", "task", "category", "language", "required_length", "prediction", "word_count", "length_score",
    "quality_scores", "quality_score", "score", "finish_reason", "error",
}


def config(tmp_path: Path, **kw: object) -> EvalConfig:
    base: dict[str, object] = {"model": "scripted", "model_args": {"length_ratio": 0.5}, "output": str(tmp_path),
                               "cache": "off"}
    base.update(kw)
    return EvalConfig.from_dict(base)


def journal_records(run_dir: Path, kind: str) -> list[dict]:
    return [r for r in read_jsonl(run_dir / JOURNAL) if r["type"] == kind]


def test_eval_writes_the_documented_run_directory(tmp_path: Path) -> None:
    outcome = evaluate(config(tmp_path), progress=None)
    run = load_run(outcome.run_dir)
    assert {p.name for p in outcome.run_dir.iterdir()} >= {"run.json", "results.json", "samples.jsonl", JOURNAL}
    assert len(run.samples) == 12
    for row in run.samples:
        assert REQUIRED_FIELDS <= row.keys()
        assert row["error"] is None and row["finish_reason"] == "stop"
        assert row["length_score"] == pytest.approx(50.0)  # half the required length, paper formula
        assert row["score"] is None  # no quality judge
    assert run.run["status"] == "complete"
    assert run.run["dataset"]["fingerprint"] and run.run["git"].keys() == {"revision", "dirty"}
    assert run.run["config"]["model_args"] == {"length_ratio": 0.5}
    assert run.results is not None
    overall = run.results["scores"]["overall"]
    assert overall["S_l"]["mean"] == pytest.approx(50.0)
    assert "S" not in overall and "S_q" not in overall  # only what the judges declare: no quality judge, no S


def test_same_command_resumes_without_redoing_work(tmp_path: Path) -> None:
    first = evaluate(config(tmp_path), progress=None)
    second = evaluate(config(tmp_path), progress=None)
    assert second.run_dir == first.run_dir
    assert (first.generated, second.generated, second.judged) == (12, 0, 0)
    assert len(journal_records(first.run_dir, "generation")) == 12
    assert len(journal_records(first.run_dir, "judgement")) == 12


def test_failed_generations_are_recorded_and_retried_on_resume(tmp_path: Path) -> None:
    # the scripted model fails every 3rd request of each call: 4 of 12, then 1 of the 4 retried, then none
    flaky = config(tmp_path, model_args={"length_ratio": 1.0, "fail_every": 3})
    first = evaluate(flaky, progress=None)
    assert first.results["n_generation_errors"] == 4
    run = load_run(first.run_dir)
    assert run.run["status"] == "incomplete"
    failed = [r for r in run.samples if r["error"]]
    assert len(failed) == 4
    assert all(r["prediction"] == "" and r["length_score"] is None and r["finish_reason"] == "error" for r in failed)
    second = evaluate(flaky, progress=None)
    assert (second.generated, second.results["n_generation_errors"]) == (3, 1)
    third = evaluate(flaky, progress=None)
    assert (third.generated, third.results["n_generation_errors"]) == (1, 0)
    assert load_run(first.run_dir).run["status"] == "complete"
    generations = journal_records(first.run_dir, "generation")
    assert sum(1 for r in generations if r["generation"]["error"] is None) == 12


def test_a_run_id_holding_another_config_is_refused(tmp_path: Path) -> None:
    evaluate(config(tmp_path, run_id="mine"), progress=None)
    with pytest.raises(ConfigError, match="different configuration"):
        evaluate(config(tmp_path, run_id="mine", model_args={"length_ratio": 0.7}), progress=None)


def test_stage_generate_then_judge(tmp_path: Path) -> None:
    gen = evaluate(config(tmp_path, stage="generate"), progress=None)
    assert gen.judged == 0
    assert all(r["length_score"] is None for r in load_run(gen.run_dir).samples)
    judged = evaluate(config(tmp_path, stage="judge"), progress=None)
    assert judged.generated == 0 and judged.judged == 12
    assert all(r["length_score"] == pytest.approx(50.0) for r in load_run(gen.run_dir).samples)


def _tree_digest(folder: Path) -> dict[str, str]:
    import hashlib

    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_score_rejudges_a_run_into_a_new_directory(tmp_path: Path) -> None:
    run_dir = evaluate(config(tmp_path), progress=None).run_dir
    before = _tree_digest(run_dir)
    outcome = score(run_dir, {"judges": ["length-released"]})
    assert outcome.run_dir != run_dir and outcome.run_dir.parent == run_dir.parent
    assert outcome.generated == 0 and outcome.judged == 12
    assert _tree_digest(run_dir) == before  # the original run is byte-identical
    run = load_run(outcome.run_dir)
    assert run.run["length_formula"] == "released" and run.run["rescored_from"] == str(run_dir)
    # half length: paper 50, released 1 - (2-1)/3
    assert run.samples[0]["length_score"] == pytest.approx(100 * (1 - 1 / 3))
    assert load_run(run_dir).samples[0]["length_score"] == pytest.approx(50.0)
    again = score(run_dir, {"judges": ["length-released"]})
    assert again.run_dir == outcome.run_dir and again.judged == 0
    in_place = score(run_dir, {"judges": ["length-released"]}, in_place=True)
    assert in_place.run_dir == run_dir and load_run(run_dir).run["length_formula"] == "released"


def test_score_a_predictions_file(tmp_path: Path) -> None:
    preds = tmp_path / "preds.jsonl"
    rows = [
        {"id": "a", "question": "Write a 100-word story about these comic panels.", "L": 100,
         "prediction": "word " * 100},
        {"id": "b", "question": "写一篇200字的影评。", "L": 200, "prediction": "好" * 100},
        {"id": "c", "question": "Describe the trip in 50 words", "L": 50,
         "prediction": "<think>x y</think>" + "go " * 25},
    ]
    preds.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    outcome = score(preds, {"judges": ["length"]}, output=str(tmp_path / "scored"))
    by_id = {r["id"]: r for r in load_run(outcome.run_dir).samples}
    assert by_id["a"]["length_score"] == pytest.approx(100.0)
    assert by_id["b"]["length_score"] == pytest.approx(50.0)
    assert by_id["c"]["word_count"] == 25 and by_id["c"]["prediction"].startswith("<think>")
    assert by_id["a"]["task"] == "story_generation" and by_id["b"]["language"] == "zh"


def test_shards_merge_into_the_unsharded_result(tmp_path: Path) -> None:
    shard_dirs = [evaluate(config(tmp_path / "shards", shard=f"{i}/3"), progress=None).run_dir for i in range(3)]
    sizes = [len(load_run(d).samples) for d in shard_dirs]
    assert sizes == [4, 4, 4]
    ids = [r["id"] for d in shard_dirs for r in load_run(d).samples]
    assert len(set(ids)) == 12
    merged = merge_runs(shard_dirs, str(tmp_path / "merged"))
    whole = evaluate(config(tmp_path / "whole"), progress=None)
    merged_rows = {r["id"]: r["length_score"] for r in load_run(merged.run_dir).samples}
    whole_rows = {r["id"]: r["length_score"] for r in load_run(whole.run_dir).samples}
    assert merged_rows == whole_rows
    assert load_run(merged.run_dir).run["status"] == "complete"


def test_merge_refuses_runs_of_different_configs(tmp_path: Path) -> None:
    a = evaluate(config(tmp_path, shard="0/2"), progress=None).run_dir
    b = evaluate(config(tmp_path, shard="1/2", model_args={"length_ratio": 0.9}), progress=None).run_dir
    with pytest.raises(ConfigError, match="different configuration"):
        merge_runs([a, b], str(tmp_path / "m"))
    with pytest.raises(ConfigError, match="both shard"):
        merge_runs([a, a], str(tmp_path / "m"))


def test_limit_tasks_and_gen_kwargs_reach_the_request(tmp_path: Path) -> None:
    outcome = evaluate(config(tmp_path, tasks="creative", limit=3, gen_kwargs={"temperature": 0.2}), progress=None)
    rows = load_run(outcome.run_dir).samples
    assert len(rows) == 3 and {r["category"] for r in rows} == {"creative"}
    run = load_run(outcome.run_dir).run
    assert run["config"]["gen_kwargs"] == {"temperature": 0.2}


def test_ruler_task_uses_temperature_09(tmp_path: Path) -> None:
    from mmlongbench_write.config import PAPER_GEN_DEFAULTS
    from mmlongbench_write.model_adapters.base import resolve_model_spec
    from mmlongbench_write.planning import build_plan

    plan = build_plan(config(tmp_path, tasks="ruler"), resolve_model_spec("scripted").gen_defaults)
    assert {item.request.config.temperature for item in plan.items} == {0.9}
    assert {item.request.config.top_p for item in plan.items} == {PAPER_GEN_DEFAULTS["top_p"]}
    assert sorted({item.sample.required_length for item in plan.items}) == [500, 1000, 2000, 4000]


def test_secrets_in_model_args_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="environment"):
        config(tmp_path, model_args={"api_key": "sk-123"})


def test_max_cost_stops_cleanly_before_the_limit_and_resumes(tmp_path: Path) -> None:
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps({"scripted": {"input": 0, "output": 1000}}))  # $0.001 per output token
    limited = config(tmp_path, model_args={"length_ratio": 1.0}, max_cost=5.0, prices=str(prices), concurrency=1,
                     gen_kwargs={"max_new_tokens": 2500})
    first = evaluate(limited, progress=None)
    assert first.stopped_reason is not None and "cost limit" in first.stopped_reason
    run = load_run(first.run_dir)
    assert run.run["status"] == "stopped"
    assert 0 < first.generated < 12
    assert run.run["budget"]["spent_usd"] <= 5.0
    assert first.results["cost"]["generation_usd"] == pytest.approx(run.run["budget"]["spent_usd"])
    more = config(tmp_path, model_args={"length_ratio": 1.0}, max_cost=1000.0, prices=str(prices), concurrency=1,
                  gen_kwargs={"max_new_tokens": 2500})
    second = evaluate(more, progress=None)
    assert second.stopped_reason is None and second.generated == 12 - first.generated
    assert load_run(first.run_dir).run["status"] == "complete"
