"""Build synthetic run directories in the documented format (docs/run-format.md), for tests and benchmarks.

``make_run(root, label=..., length_ratio=..., quality=...)`` writes ``root/<run_id>/`` with ``run.json``,
``samples.jsonl`` and ``results.json`` (aggregated by the real aggregator), deterministic for a seed.
Samples follow a fixed synthetic benchmark: six tasks x ``per_task`` samples, EN/ZH alternating,
required lengths spread over the four bins, so two runs built here share sample ids.
"""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path
from typing import Any

from mmlongbench_write.leaderboard.aggregate import aggregate_samples
from mmlongbench_write.schema import TASK_CATEGORIES, length_bin

REQUIRED_LENGTHS = (800, 1200, 1600, 1800, 2200, 2800, 3200, 4000, 1000, 2500)
DIMENSIONS = ("Relevance", "Accuracy", "Coherence", "Clarity", "Breadth and Depth", "Reading Experience")
RULER_LENGTHS = (500, 1000, 2000, 4000)


def quality_judge(model: str = "gpt-4o-2024-08-06", prompt_hash: str = "q1") -> dict[str, Any]:
    return {"name": "quality", "model": model, "prompt_hash": prompt_hash, "temperature": 0.5}


def paper_length_score(words: int, required: int) -> float:
    lv, lr = max(words, 2), max(required, 2)
    if lv > lr:
        return 100 * max(0.0, 1 - (lv / lr - 1) / 3)
    return 100 * max(0.0, 1 - (lr / lv - 1) / 2)


def _text(words: int, language: str) -> str:
    if language == "zh":
        return "长" * words
    return " ".join(["word"] * words)


def make_rows(
    *,
    per_task: int = 2,
    length_ratio: float = 1.0,
    quality: float = 4.0,
    judged: bool = True,
    judge_failures: int = 0,
    generation_errors: int = 0,
    truncate_every: int = 0,
    ruler: bool = False,
    image_sources: list[str] | None = None,
    seed: int = 0,
    judge: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Per-sample rows; output length ~ ``length_ratio * L`` (with noise), quality dims ~ ``quality``."""
    rng = random.Random(seed)
    judge = judge or quality_judge()
    specs: list[tuple[str, str, str, int]] = []  # id, task, language, L
    for t_i, task in enumerate(TASK_CATEGORIES):
        for k in range(per_task):
            lang = "en" if k % 2 == 0 else "zh"
            specs.append((f"{task}-{k}", task, lang, REQUIRED_LENGTHS[(t_i + k) % len(REQUIRED_LENGTHS)]))
    if ruler:
        specs = [(f"ruler-{k}@L{L}", "ruler", "en" if k % 2 == 0 else "zh", L) for k in range(4) for L in RULER_LENGTHS]
    rows = []
    for i, (sid, task, lang, req) in enumerate(specs):
        failed_gen = i < generation_errors
        words = 0 if failed_gen else max(0, int(req * length_ratio * rng.uniform(0.85, 1.15)))
        text = "" if failed_gen else _text(words, lang)
        s_l = paper_length_score(words, req)
        dims = None
        s_q = None
        judge_error = None
        if judged and not failed_gen:
            if i >= len(specs) - judge_failures:
                judge_error = "invalid JSON after 3 attempts"
            else:
                dims = {d: max(1, min(5, round(quality + rng.uniform(-1, 1)))) for d in DIMENSIONS}
                s_q = (sum(dims.values()) - 6) * 25 / 6
        truncated = bool(truncate_every) and i % truncate_every == 0 and not failed_gen
        images = [
            {
                "sha256": f"{(i * 7 + j):064x}",
                "source": (image_sources[(i + j) % len(image_sources)] if image_sources else f"images/{sid}-{j}.png"),
                "media_type": "image/png",
            }
            for j in range(1 + i % 3)
        ]
        rows.append(
            {
                "id": sid,
                "task": task,
                "category": TASK_CATEGORIES.get(task, "ruler"),
                "language": lang,
                "required_length": req,
                "length_bin": length_bin(req),
                "instruction": f"Write a {req}-word {task.replace('_', ' ')} for these pictures.",
                "images": images,
                "prediction": text,
                "response": text,
                "word_count": words,
                "length_score": round(s_l, 4),
                "length_formula": "paper",
                "quality_scores": dims,
                "quality_score": s_q,
                "judge_error": judge_error,
                "quality_judge": judge if judged else None,
                "judge_attempts": 3 if judge_error else 1,
                "judge_analysis": "Relevant and clear; depth could improve." if dims else None,
                "score": (s_l + s_q) / 2 if s_q is not None else None,
                "finish_reason": "error" if failed_gen else ("length" if truncated else "stop"),
                "truncated": truncated,
                "error": "HTTP 500 after 5 retries" if failed_gen else None,
                "usage": {"input_tokens": 100, "output_tokens": words},
                "judge_usage": {"input_tokens": 0, "output_tokens": 0},
                "latency_s": 1.0,
                "model_snapshot": None,
            }
        )
    return rows


def make_run(
    root: str | Path,
    *,
    label: str = "model-a",
    run_id: str | None = None,
    judge: dict[str, Any] | None = None,
    judged: bool = True,
    fingerprint: str = "fp-synthetic",
    rows: list[dict[str, Any]] | None = None,
    n_boot: int = 1000,
    **row_kwargs: Any,
) -> Path:
    """Write a complete run directory and return its path."""
    judge = judge or quality_judge()
    rows = rows if rows is not None else make_rows(judge=judge, judged=judged, **row_kwargs)
    digest = hashlib.sha256(json.dumps([label, row_kwargs], sort_keys=True, default=str).encode()).hexdigest()
    run_id = run_id or f"{label}-{digest[:8]}"
    path = Path(root) / run_id
    path.mkdir(parents=True, exist_ok=True)
    judges: dict[str, Any] = {"length": {"name": "length", "formula": "paper"}}
    if judged:
        judges["quality"] = judge
    run = {
        "run_id": run_id,
        "label": label,
        "status": "complete",
        "model": {"name": "scripted", "preset": label},
        "judges": judges,
        "length_formula": "paper",
        "dataset": {"source": "synthetic", "fingerprint": fingerprint},
        "tasks": sorted({r["task"] for r in rows}),
    }
    (path / "run.json").write_text(json.dumps(run, indent=2), encoding="utf-8")
    (path / "samples.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    (path / "results.json").write_text(json.dumps(aggregate_samples(rows, n_boot=n_boot)), encoding="utf-8")
    return path
