"""Turn a run's journal into its final files: one ``samples.jsonl`` row per sample and ``results.json``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .runstore import RESULTS, SAMPLES, JournalState, atomic_write_json, write_jsonl
from .schema import Sample, Usage
from .textstats import strip_think, word_count


def sample_row(sample: Sample, state: JournalState) -> dict[str, Any]:
    """The documented ``samples.jsonl`` row (docs/run-format.md) for one sample."""
    generation = state.generations.get(sample.id) or state.failed_generations.get(sample.id)
    verdicts = state.judgements.get(sample.id, {})
    prediction = generation.text if generation else None
    response = strip_think(prediction) if prediction is not None else None
    length = verdicts.get("length")
    quality = verdicts.get("quality")
    length_score = length.score if length and length.ok else None
    quality_score = quality.score if quality and quality.ok else None
    judge_usage = sum((j.usage for j in verdicts.values()), Usage())
    row: dict[str, Any] = {
        "id": sample.id,
        "task": sample.task,
        "category": sample.category,
        "language": sample.language,
        "required_length": sample.required_length,
        "length_bin": sample.length_bin,
        "instruction": sample.instruction,
        "images": [img.to_dict() for img in sample.images],
        "prediction": prediction,
        "response": response,
        "word_count": word_count(response) if response is not None else None,
        "length_score": length_score,
        "length_formula": (length.details.get("formula") if length else None),
        "quality_scores": quality.dimension_scores if quality and quality.ok else None,
        "quality_score": quality_score,
        "judge_error": quality.error if quality and not quality.ok else None,
        "quality_judge": quality.identity if quality else None,
        "judge_attempts": quality.attempts if quality else None,
        "judge_analysis": quality.analysis if quality else None,
        "score": (length_score + quality_score) / 2 if length_score is not None and quality_score is not None
        else None,
        "finish_reason": generation.finish_reason if generation else None,
        "truncated": bool(generation and generation.finish_reason == "length"),
        "error": generation.error if generation else "not generated",
        "usage": (generation.usage if generation else Usage()).to_dict(),
        "judge_usage": judge_usage.to_dict(),
        "latency_s": generation.latency_s if generation else None,
        "model_snapshot": generation.model if generation else None,
        "cached": bool(generation and generation.cached),
    }
    if quality and quality.details:
        row["judge_details"] = quality.details
    return row


def run_totals(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Counts and token totals that every results.json carries next to the scores."""
    usage = sum((Usage(**r["usage"]) for r in rows), Usage())
    judge_usage = sum((Usage(**r["judge_usage"]) for r in rows), Usage())
    return {
        "n_samples": len(rows),
        "n_generated": sum(1 for r in rows if r["error"] is None),
        "n_generation_errors": sum(1 for r in rows if r["error"] is not None),
        "n_truncated": sum(1 for r in rows if r["truncated"]),
        "n_length_scored": sum(1 for r in rows if r["length_score"] is not None),
        "n_quality_scored": sum(1 for r in rows if r["quality_score"] is not None),
        "n_judge_failures": sum(1 for r in rows if r["judge_error"] is not None),
        "usage": usage.to_dict(),
        "judge_usage": judge_usage.to_dict(),
    }


def cost_estimate(meta: dict[str, Any], totals: dict[str, Any]) -> dict[str, Any]:
    """Estimated USD of the run's generations and judgements (None where a model has no known price)."""
    from .pricing import estimate_cost, load_price_table

    table = load_price_table((meta.get("config") or {}).get("prices"))
    model = str((meta.get("model") or {}).get("model") or "")
    judge_model = str(((meta.get("judges") or {}).get("quality") or {}).get("model") or "")
    generation = estimate_cost(model, Usage(**totals["usage"]), table) if model else None
    judging = estimate_cost(judge_model, Usage(**totals["judge_usage"]), table) if judge_model else None
    known = [c for c in (generation, judging) if c is not None]
    return {"generation_usd": generation, "judge_usd": judging, "total_usd": sum(known) if known else None,
            "note": "list prices; cached responses cost nothing and are not counted"}


def write_final(run_dir: Path, samples: list[Sample], state: JournalState, meta: dict[str, Any]) -> dict[str, Any]:
    """Write ``samples.jsonl`` and ``results.json`` atomically; return the results."""
    from .leaderboard.aggregate import aggregate_samples

    rows = [sample_row(s, state) for s in samples]
    write_jsonl(run_dir / SAMPLES, rows)
    totals = run_totals(rows)
    results = {**meta, **totals, "cost": cost_estimate(meta, totals), "scores": aggregate_samples(rows)}
    atomic_write_json(run_dir / RESULTS, results)
    return results
