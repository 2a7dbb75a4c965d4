"""Backtranslation of length requirements: teach the model that "write L words" means L words.

For a seeded sample of rows, the output's real word count L (the benchmark's :func:`word_count`) is
appended to the instruction as a requirement ("Write about 2,315 words." / "要求写2315字。"), optionally
rephrased by a model into the instruction's own wording. A rephrasing that loses the number is discarded
for the plain template, so the stated length is always the real one. Rows not sampled pass unchanged.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mmlongbench_write.errors import DataError
from mmlongbench_write.model_adapters.base import ModelAdapter
from mmlongbench_write.schema import GenerationConfig, Message, Request
from mmlongbench_write.textstats import detect_language, strip_think, word_count

from .dataio import read_input_rows, row_id, row_image_paths

EN_TEMPLATES = (
    "Write {n} words.",
    "The response should be about {n} words long.",
    "Please write around {n} words.",
    "Your answer should be {n} words.",
)
ZH_TEMPLATES = ("要求写{n}字。", "字数要求：{n}字左右。", "请写{n}字。", "回答需要{n}字。")

REPHRASE_PROMPT = """Rewrite the writing instruction below so that it also asks for a response of {n} \
{unit}, stated as a number. Keep its meaning, language and details; output only the rewritten instruction.

Instruction:
{instruction}"""


@dataclass
class BacktranslateReport:
    rows: int = 0
    sampled: int = 0
    rephrased: int = 0
    rephrase_fallbacks: int = 0

    def summary(self) -> str:
        text = f"{self.sampled}/{self.rows} rows given a length requirement"
        if self.rephrased or self.rephrase_fallbacks:
            text += f" ({self.rephrased} rephrased by the model, {self.rephrase_fallbacks} kept the template)"
        return text


def _output_text(row: dict[str, Any]) -> str:
    for key in ("output", "completion", "response"):
        if isinstance(row.get(key), str):
            return str(row[key])
    raise DataError("row has no 'output' (or 'completion'/'response') text", sample_id=row_id(row))


def length_requirement(n: int, language: str, rng: random.Random) -> str:
    """A requirement sentence for ``n`` words in ``language`` (templates picked by ``rng``)."""
    return rng.choice(ZH_TEMPLATES if language == "zh" else EN_TEMPLATES).format(n=n)


def _mentions(text: str, n: int) -> bool:
    return any(int(m.replace(",", "")) == n for m in re.findall(r"\d[\d,]*", text))


def backtranslate_rows(
    rows: list[dict[str, Any]],
    *,
    fraction: float = 1.0,
    seed: int = 0,
    rephraser: ModelAdapter | None = None,
    config: GenerationConfig | None = None,
    report: BacktranslateReport | None = None,
) -> list[dict[str, Any]]:
    """All rows, with a length requirement appended to a ``fraction`` of them (chosen with ``seed``)."""
    if not 0.0 <= fraction <= 1.0:
        raise DataError(f"--fraction must be between 0 and 1, got {fraction}")
    report = report if report is not None else BacktranslateReport()
    rng = random.Random(seed)
    report.rows = len(rows)
    chosen = set(rng.sample(range(len(rows)), round(fraction * len(rows))))
    out: list[dict[str, Any]] = []
    pending: dict[str, tuple[int, int, str]] = {}  # request id -> (index in out, n, template instruction)
    requests: list[Request] = []
    for index, row in enumerate(rows):
        row = dict(row)
        if index in chosen:
            instruction = str(row.get("instruction", row.get("prompt", "")))
            n = word_count(strip_think(_output_text(row)))
            language = detect_language(instruction + _output_text(row))
            sep = "" if language == "zh" else " "
            templated = instruction.rstrip() + sep + length_requirement(n, language, rng)
            row.update({"original_instruction": instruction, "instruction": templated, "required_length": n,
                        "backtranslated": True})
            row.pop("prompt", None)
            if rephraser is not None:
                rid = f"{row_id(rows[index])}/rephrase"
                unit = "Chinese characters (字)" if language == "zh" else "words"
                requests.append(Request(rid, (Message.user(REPHRASE_PROMPT.format(
                    n=n, unit=unit, instruction=instruction)),), config or GenerationConfig()))
                pending[rid] = (len(out), n, templated)
            report.sampled += 1
        out.append(row)
    if rephraser is not None and requests:
        for gen in rephraser.generate(requests):
            index, n, _templated = pending[gen.request_id]
            text = strip_think(gen.text).strip() if gen.ok else ""
            if text and _mentions(text, n):
                out[index]["instruction"] = text
                report.rephrased += 1
            else:
                report.rephrase_fallbacks += 1
    return out


def backtranslate(
    input_path: str | Path,
    output_path: str | Path,
    *,
    fraction: float = 1.0,
    seed: int = 0,
    rephraser: ModelAdapter | None = None,
    config: GenerationConfig | None = None,
) -> BacktranslateReport:
    """Read ``input_path``, backtranslate, write ``output_path`` (atomically)."""
    from mmlongbench_write.runstore import write_jsonl

    report = BacktranslateReport()
    base = Path(input_path).resolve().parent
    rows = [{**row, "images": row_image_paths(row, base)} if row.get("images") else row
            for row in read_input_rows(input_path)]
    rows = backtranslate_rows(rows, fraction=fraction, seed=seed, rephraser=rephraser,
                              config=config, report=report)
    out = Path(output_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_jsonl(out, rows)
    return report
