"""A run's final files, built from its journal: ``samples.jsonl`` (one :class:`SampleRow` per sample) and
``results.json`` (:class:`Results`), written in that order and naming what they summarise."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .journal import JournalState
from .metrics import MetricSpec
from .runformat import ImageInfo, JudgeScore, Results, SampleRow, SummaryOf
from .runstore import RESULTS, SAMPLES, atomic_write_json, file_sha256, write_jsonl
from .schema import Judgement, Sample, Usage
from .textstats import has_unclosed_think, strip_think, word_count

#: run.json fields that results.json repeats, so it can be read on its own.
RESULT_META_KEYS = ("run_id", "label", "model", "judges", "length_formula", "protocol", "dataset", "status",
                    "config", "budget", "batch")


def judge_score(judgement: Judgement, metrics: dict[str, float | None]) -> JudgeScore:
    """A verdict as a row stores it: value, error, metric values, and what the judge reported beside."""
    details = dict(judgement.details)
    if judgement.dimension_scores is not None:
        details["dimensions"] = judgement.dimension_scores
    if judgement.analysis is not None:
        details["analysis"] = judgement.analysis
    return JudgeScore(value=judgement.score if judgement.ok else None, error=judgement.error,
                      metrics=metrics if judgement.ok else {k: None for k in metrics}, details=details,
                      attempts=judgement.attempts)


NOT_GENERATED = "not generated"  # the error of a sample without any generation record


def sample_row(sample: Sample, state: JournalState) -> SampleRow:
    """The ``samples.jsonl`` row of one sample (docs/run-format.md)."""
    record = state.generations.get(sample.id) or state.failed_generations.get(sample.id)
    generation = record.generation if record else None
    prediction = generation.text if generation else None
    response = strip_think(prediction) if prediction is not None else None
    judgements = state.judgements.get(sample.id, {})
    quality = judgements.get("quality")
    return SampleRow(
        id=sample.id,
        task=sample.task,
        category=sample.category,
        language=sample.language,
        required_length=sample.required_length,
        instruction=sample.instruction,
        images=tuple(ImageInfo(i.sha256, i.source, i.media_type) for i in sample.images),
        prediction=prediction,
        response=response,
        word_count=word_count(response) if response is not None else None,
        scores={slot: judge_score(rec.judgement, rec.metrics) for slot, rec in judgements.items()},
        finish_reason=generation.finish_reason if generation else None,
        error=(generation.error if generation else NOT_GENERATED),
        usage=generation.usage if generation else Usage(),
        judge_usage=sum((rec.judgement.usage for rec in judgements.values()), Usage()),
        latency_s=generation.latency_s if generation else None,
        model_snapshot=generation.model if generation else None,
        cached=bool(generation and generation.cached),
        think_unclosed=bool(prediction) and has_unclosed_think(prediction or ""),
        quality_judge=quality.judgement.identity if quality else None,
    )


def run_totals(rows: Sequence[SampleRow]) -> dict[str, Any]:
    """Counts and token totals that every results.json carries next to the scores."""
    return {
        "n_samples": len(rows),
        "n_generated": sum(1 for r in rows if r.generated),
        # a sample the run has not reached yet (a stop, a shard) is not an error: only failed generations are
        "n_generation_errors": sum(1 for r in rows if not r.generated and r.error != NOT_GENERATED),
        "n_truncated": sum(1 for r in rows if r.truncated),
        "n_length_scored": sum(1 for r in rows if r.length_score is not None),
        "n_quality_scored": sum(1 for r in rows if r.quality_score is not None),
        "n_judge_failures": sum(1 for r in rows for v in r.scores.values() if not v.ok),
        "n_cached": sum(1 for r in rows if r.cached),
        "n_think_unclosed": sum(1 for r in rows if r.think_unclosed),
        "usage": sum((r.usage for r in rows), Usage()).to_dict(),
        "judge_usage": sum((r.judge_usage for r in rows), Usage()).to_dict(),
    }


def cost_estimate(meta: dict[str, Any], totals: dict[str, Any]) -> dict[str, Any]:
    """Estimated USD of the run's generations and judgements (None where a model has no known price)."""
    from .pricing import estimate_cost, load_price_table

    config = meta.get("config") or {}
    batch = bool(config.get("batch"))
    table = load_price_table(config.get("prices"), batch=batch)
    model = str((meta.get("model") or {}).get("model") or "")
    judge_model = str(((meta.get("judges") or {}).get("quality") or {}).get("model") or "")
    generation = estimate_cost(model, Usage(**totals["usage"]), table) if model else None
    judging = estimate_cost(judge_model, Usage(**totals["judge_usage"]), table) if judge_model else None
    known = [c for c in (generation, judging) if c is not None]
    return {"generation_usd": generation, "judge_usd": judging, "total_usd": sum(known) if known else None,
            "note": ("batch prices (--batch)" if batch else "list prices")
            + "; cached responses cost nothing and are not counted"}


def sample_set(rows: Sequence[SampleRow]) -> dict[str, Any]:
    """Which samples a run evaluated (ids, instructions, L, images), as one fingerprint: runs are only
    ranked or compared together when theirs are equal."""
    from .kvstore import stable_hash

    items = sorted([r.id, r.instruction, r.required_length, [i.sha256 for i in r.images]] for r in rows)
    return {"fingerprint": stable_hash(items), "n": len(rows)}


def write_final(run_dir: Path, samples: Sequence[Sample], state: JournalState, meta: dict[str, Any],
                specs: Sequence[MetricSpec]) -> Results:
    """Write ``samples.jsonl`` then ``results.json`` (atomically each); return the results.

    ``meta`` is the run.json content of this session (its ``session_id`` is recorded in the results).
    """
    from .leaderboard.aggregate import aggregate_rows, rule_for_protocol

    rows = [sample_row(s, state) for s in samples]
    write_jsonl(run_dir / SAMPLES, [r.to_json() for r in rows])
    totals = run_totals(rows)
    scores = aggregate_rows(rows, specs, rule=rule_for_protocol(meta.get("protocol")))
    data = {**{k: meta[k] for k in RESULT_META_KEYS if k in meta}, **totals, "sample_set": sample_set(rows),
            "cost": cost_estimate(meta, totals)}
    summary = SummaryOf(meta.get("session_id"), file_sha256(run_dir / SAMPLES), len(rows))
    results = Results(scores=scores, metrics=tuple(specs), summary_of=summary, data=data)
    atomic_write_json(run_dir / RESULTS, results.to_json())
    return results
