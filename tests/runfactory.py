"""Build synthetic run directories through the code that writes real runs, for tests and benchmarks.

A run here is a list of :class:`Synthetic` samples (what the "model" wrote and what the quality judge
said). :func:`make_run` turns them into journal records — generations, the real length judge's verdicts
and quality verdicts with the real judge's metric — and writes the run with the runner's own
``finalize``, so a change of the run format changes these runs too. Samples follow a fixed synthetic
benchmark: six tasks x ``per_task`` samples, EN/ZH alternating, required lengths over the four bins, so
two runs built here share sample ids.
"""

from __future__ import annotations

import hashlib
import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from mmlongbench_write.journal import GenerationRecord, JournalState, JudgementRecord
from mmlongbench_write.judges.length import LengthJudge, length_score
from mmlongbench_write.judges.parsing import DIMENSION_KEYS, quality_score
from mmlongbench_write.judges.quality import QualityJudge
from mmlongbench_write.planning import Plan, PlannedSample
from mmlongbench_write.results import sample_row
from mmlongbench_write.runformat import FORMAT_VERSION, SampleRow
from mmlongbench_write.runner import finalize
from mmlongbench_write.schema import Generation, ImageRef, JudgeInput, Judgement, Message, Request, Sample, Usage

REQUIRED_LENGTHS = (800, 1200, 1600, 1800, 2200, 2800, 3200, 4000, 1000, 2500)
TASKS = ("ppt_script", "medical_report", "travel_guide", "story_generation", "scenery_copywriting", "movie_review")
CATEGORY = {t: ("professional" if i < 3 else "creative") for i, t in enumerate(TASKS)} | {"ruler": "ruler"}
RULER_LENGTHS = (500, 1000, 2000, 4000)


def quality_judge(model: str = "gpt-4o-2024-08-06", prompt_hash: str = "q1") -> dict[str, Any]:
    """A quality judge identity as the real judge records it (the fields that matter for comparability)."""
    return {"judge": "quality", "model": model, "adapter": "openai", "model_args": {}, "prompt": "builtin:quality",
            "prompt_hash": prompt_hash, "temperature": 0.5, "top_p": None, "max_new_tokens": 1024, "seed": 0,
            "samples": 1}


paper_length_score = length_score


@dataclass(frozen=True)
class Synthetic:
    """One synthetic sample and what happened to it."""

    sample: Sample
    text: str
    finish_reason: str = "stop"
    error: str | None = None
    dims: dict[str, int] | None = None
    judge_error: str | None = None

    @property
    def id(self) -> str:
        return self.sample.id


def _text(words: int, language: str) -> str:
    return "长" * words if language == "zh" else " ".join(["word"] * words)


def _images(i: int, sid: str, sources: Sequence[str] | None) -> tuple[ImageRef, ...]:
    refs = []
    for j in range(1 + i % 3):
        if sources:
            refs.append(ImageRef.from_path(sources[(i + j) % len(sources)]))
        else:
            refs.append(ImageRef(sha256=f"{(i * 7 + j):064x}", source=f"images/{sid}-{j}.png"))
    return tuple(refs)


def make_samples(*, per_task: int = 2, length_ratio: float = 1.0, quality: float = 4.0, judged: bool = True,
                 judge_failures: int = 0, generation_errors: int = 0, truncate_every: int = 0, ruler: bool = False,
                 image_sources: Sequence[str] | None = None, seed: int = 0) -> list[Synthetic]:
    """Samples whose outputs are ~``length_ratio * L`` words (with noise) and quality dims ~ ``quality``."""
    rng = random.Random(seed)
    specs: list[tuple[str, str, str, int]] = []  # id, task, language, L
    for t_i, task in enumerate(TASKS):
        for k in range(per_task):
            specs.append((f"{task}-{k}", task, "en" if k % 2 == 0 else "zh", REQUIRED_LENGTHS[(t_i + k) % 10]))
    if ruler:
        specs = [(f"ruler-{k}@L{L}", "ruler", "en" if k % 2 == 0 else "zh", L) for k in range(4) for L in RULER_LENGTHS]
    out = []
    for i, (sid, task, lang, req) in enumerate(specs):
        sample = Sample(id=sid, instruction=f"Write a {req}-word {task.replace('_', ' ')} for these pictures.",
                        images=_images(i, sid, image_sources), required_length=req, task=task,
                        language=lang)  # type: ignore[arg-type]
        if i < generation_errors:
            out.append(Synthetic(sample, "", "error", error="HTTP 500 after 5 retries"))
            continue
        words = max(0, int(req * length_ratio * rng.uniform(0.85, 1.15)))
        dims = judge_error = None
        if judged:
            if i >= len(specs) - judge_failures:
                judge_error = "no valid judge reply after 3 attempt(s): invalid JSON"
            else:
                dims = {d: max(1, min(5, round(quality + rng.uniform(-1, 1)))) for d in DIMENSION_KEYS}
        truncated = bool(truncate_every) and i % truncate_every == 0
        out.append(Synthetic(sample, _text(words, lang), "length" if truncated else "stop", dims=dims,
                             judge_error=judge_error))
    return out


def half(samples: Sequence[Synthetic]) -> list[Synthetic]:
    """The same outputs cut to half their length."""
    out = []
    for s in samples:
        words = s.text.split(" ") if s.sample.language == "en" else list(s.text)
        cut = words[: len(words) // 2]
        out.append(replace(s, text=(" " if s.sample.language == "en" else "").join(cut)))
    return out


def journal_state(samples: Sequence[Synthetic], judge: dict[str, Any] | None, judged: bool = True) -> JournalState:
    """The journal records a real run of these samples would hold."""
    state = JournalState()
    length = LengthJudge()
    quality_metrics = QualityJudge.declared_metrics()
    for s in samples:
        gen = (Generation.failure(s.id, s.error) if s.error else
               Generation(request_id=s.id, text=s.text, finish_reason=s.finish_reason,  # type: ignore[arg-type]
                          usage=Usage(100, len(s.text.split())), latency_s=1.0))
        state.record_generation(GenerationRecord(gen, "synthetic"))
        if s.error:
            continue
        verdict = next(length.judge([JudgeInput(s.sample, s.text, gen)]))
        state.record_judgement(JudgementRecord(verdict, "length", "synthetic", length.metric_values(verdict)))
        if judged and judge is not None:
            if s.judge_error:
                q = Judgement(sample_id=s.id, judge="quality", score=None, error=s.judge_error, attempts=3,
                              identity=judge)
            else:
                assert s.dims is not None
                q = Judgement(sample_id=s.id, judge="quality", score=quality_score(s.dims), dimension_scores=s.dims,
                              analysis="Relevant and clear; depth could improve.", identity=judge)
            metrics = {m.name: q.score for m in quality_metrics}
            state.record_judgement(JudgementRecord(q, "quality", "synthetic", metrics))
    return state


def make_rows(judge: dict[str, Any] | None = None, judged: bool = True, **kwargs: Any) -> list[SampleRow]:
    """The ``samples.jsonl`` rows of a synthetic run (typed), without writing anything."""
    samples = make_samples(judged=judged, **kwargs)
    state = journal_state(samples, judge or quality_judge(), judged)
    return [sample_row(s.sample, state) for s in samples]


def make_run(root: str | Path, *, label: str = "model-a", run_id: str | None = None,
             judge: dict[str, Any] | None = None, judged: bool = True, fingerprint: str = "fp-synthetic",
             samples: Sequence[Synthetic] | None = None, dataset_source: str = "synthetic",
             protocol: str | None = None, config: dict[str, Any] | None = None, **kwargs: Any) -> Path:
    """Write a finished run directory of ``samples`` (default: :func:`make_samples` of ``kwargs``)."""
    judge = judge or quality_judge()
    samples = list(samples) if samples is not None else make_samples(judged=judged, **kwargs)
    digest = hashlib.sha256(repr((label, sorted(kwargs.items()), [s.text for s in samples])).encode()).hexdigest()
    run_id = run_id or f"{label}-{digest[:8]}"
    path = Path(root) / run_id
    path.mkdir(parents=True, exist_ok=True)
    state = journal_state(samples, judge, judged)
    judges = {"length": LengthJudge().identity(), **({"quality": judge} if judged else {})}
    metrics = [m.to_dict() for m in LengthJudge.declared_metrics()]
    if judged:
        metrics += [m.to_dict() for m in QualityJudge.declared_metrics()]
    meta = {
        "format_version": FORMAT_VERSION, "run_id": run_id, "session_id": uuid.uuid4().hex, "label": label,
        "model": {"adapter": "scripted", "model": label, "preset": label},
        "config": {**(config or {}), **({"protocol": protocol} if protocol else {})}, "protocol": protocol,
        "dataset": {"source": dataset_source, "fingerprint": fingerprint, "samples": len(samples)},
    }
    plan = Plan([PlannedSample(s.sample, Request(s.id, (Message.user(s.sample.instruction),))) for s in samples])
    finalize(path, plan, state, meta, [], {"judges": judges, "metrics": metrics}, None)
    return path
