"""AI-feedback preference pairs: sample k responses, score them, keep best vs worst (LongWriter-V DPO data).

Each instruction is answered k times by a model (sampled, one seed per draw). Every response is scored
by the length judge (S_l against the row's required length) and the quality judge (S_q, any
:class:`~mmlongbench_write.judges.base.Judge`); the score is their weighted mean, or the one available
when the row has no required length. The best and the worst response become a pair when their scores
differ by at least ``min_margin``. Failed generations and failed judgements are dropped, never scored 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mmlongbench_write.data.inference import parse_length
from mmlongbench_write.errors import DataError
from mmlongbench_write.judges.base import Judge
from mmlongbench_write.judges.length import length_score
from mmlongbench_write.model_adapters.base import ModelAdapter
from mmlongbench_write.schema import (
    Generation,
    GenerationConfig,
    ImagePart,
    JudgeInput,
    Message,
    Request,
    Sample,
    TextPart,
)
from mmlongbench_write.textstats import detect_language, strip_think, word_count

from .dataio import load_images, read_input_rows, row_id, row_image_paths, row_instruction


@dataclass
class AIFeedbackReport:
    instructions: int = 0
    samples: int = 0
    failed_generations: int = 0
    failed_judgements: int = 0
    pairs: int = 0
    below_margin: int = 0
    too_few_scored: int = 0
    margins: list[float] = field(default_factory=list)

    def summary(self) -> str:
        return (f"{self.pairs} pairs from {self.instructions} instructions ({self.samples} responses; "
                f"{self.below_margin} below the margin, {self.too_few_scored} with < 2 scored responses, "
                f"{self.failed_generations} failed generations, {self.failed_judgements} failed judgements)")


def _sample_for(row: dict[str, Any], base: Path) -> Sample:
    rid = row_id(row)
    instruction = row_instruction(row, "ai-feedback-pairs")
    required = row.get("required_length") or parse_length(instruction) or 0
    return Sample(id=rid, instruction=instruction,
                  images=load_images(row_image_paths(row, base), rid),
                  required_length=int(required), task=row.get("task"),
                  language="zh" if detect_language(instruction) == "zh" else "en",
                  metadata={"image_paths": row_image_paths(row, base)})


def _score(length: float | None, quality: float | None, length_weight: float) -> float | None:
    if length is None and quality is None:
        return None
    if length is None:
        return quality
    if quality is None:
        return length
    return length_weight * length + (1.0 - length_weight) * quality


def ai_feedback_pairs(
    input_path: str | Path,
    sampler: ModelAdapter,
    quality_judge: Judge | None,
    *,
    k: int = 4,
    min_margin: float = 10.0,
    length_weight: float = 0.5,
    config: GenerationConfig | None = None,
    seed: int = 0,
    limit: int | None = None,
    report: AIFeedbackReport | None = None,
) -> list[dict[str, Any]]:
    """Pairs (``images``, ``prompt``, ``chosen``, ``rejected`` + scores) for the rows of ``input_path``.

    With ``quality_judge=None`` only the length score ranks responses (rows without a required length
    then cannot be ranked and are counted as ``too_few_scored``).
    """
    if k < 2:
        raise DataError(f"--k must be at least 2 to form a pair, got {k}")
    report = report if report is not None else AIFeedbackReport()
    config = (config or GenerationConfig()).merged(temperature=(config.temperature if config else None) or 0.8)
    src = Path(input_path)
    rows = read_input_rows(src)
    rows = rows[:limit] if limit else rows
    samples = [_sample_for(row, src.resolve().parent) for row in rows]
    report.instructions = len(samples)

    requests = []
    for sample in samples:
        message = Message("user", (*(ImagePart(img) for img in sample.images), TextPart(sample.instruction)))
        for j in range(k):
            requests.append(Request(f"{sample.id}#{j}", (message,), config.merged(seed=seed + j)))
    generations: dict[str, Generation] = {}
    for gen in sampler.generate(requests):
        report.samples += 1
        if gen.ok and strip_think(gen.text):
            generations[gen.request_id] = gen
        else:
            report.failed_generations += 1

    by_sample = {s.id: s for s in samples}
    # judges key verdicts by sample id: each response is judged under its own request id
    judge_inputs = [JudgeInput(_with_id(by_sample[rid.rsplit("#", 1)[0]], rid), strip_think(g.text), g)
                    for rid, g in generations.items()]
    quality: dict[str, float | None] = {}
    if quality_judge is not None:
        for verdict in quality_judge.judge(judge_inputs):
            quality[verdict.sample_id] = verdict.score if verdict.ok else None
            if not verdict.ok:
                report.failed_judgements += 1

    pairs = []
    for sample in samples:
        scored: list[tuple[float, str, dict[str, Any]]] = []
        for j in range(k):
            rid = f"{sample.id}#{j}"
            if rid not in generations:
                continue
            text = strip_think(generations[rid].text)
            s_l = length_score(word_count(text), sample.required_length) if sample.required_length else None
            s_q = quality.get(rid) if quality_judge is not None else None
            if quality_judge is not None and s_q is None:
                continue  # a failed quality verdict: the response cannot be ranked fairly
            total = _score(s_l, s_q, length_weight)
            if total is not None:
                scored.append((total, text, {"length": s_l, "quality": s_q, "score": total,
                                             "words": word_count(text)}))
        if len(scored) < 2:
            report.too_few_scored += 1
            continue
        scored.sort(key=lambda item: item[0])
        (worst, worst_text, worst_detail), (best, best_text, best_detail) = scored[0], scored[-1]
        if best - worst < min_margin:
            report.below_margin += 1
            continue
        report.pairs += 1
        report.margins.append(best - worst)
        pairs.append({
            "id": sample.id,
            "images": sample.metadata["image_paths"],
            "prompt": sample.instruction,
            "chosen": best_text,
            "rejected": worst_text,
            "required_length": sample.required_length or None,
            "margin": best - worst,
            "chosen_scores": best_detail,
            "rejected_scores": worst_detail,
            "responses_scored": len(scored),
        })
    return pairs


def _with_id(sample: Sample, new_id: str) -> Sample:
    from dataclasses import replace

    return replace(sample, id=new_id)
