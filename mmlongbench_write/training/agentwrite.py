"""AgentWrite, the plan-then-write pipeline that builds long SFT outputs (LongWriter / LongWriter-V).

For each (images, instruction) the writer model first writes an outline: one line per section with its
main point and a word target. It then writes each section in turn, given the images, the instruction,
the outline and *all the text written so far*, and the sections are concatenated. Any adapter can write.

Rows advance in lock-step rounds (all outlines, then every row's section 1, then section 2 ...), so an
API or batched local adapter sees many requests at once. A finished row is appended to the output at
once (fsynced); a re-run skips finished rows, and a row whose generation failed is retried.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mmlongbench_write.model_adapters.base import ModelAdapter
from mmlongbench_write.schema import GenerationConfig, ImagePart, ImageRef, Message, Request, TextPart
from mmlongbench_write.textstats import strip_think, word_count

from .dataio import RowWriter, finished_ids, load_images, read_input_rows, row_id, row_image_paths, row_instruction

PLAN_PROMPT = """I need you to help me break down the following long-form writing instruction into multiple \
subtasks. Each subtask will guide the writing of one section of the text, and should include the main points \
and word count requirement for that section. Use the images above.

The writing instruction is as follows:

{instruction}

Please break it down in the following format, with each subtask taking up one line:

Paragraph 1 - Main Point: [Describe the main point of the paragraph, in detail] - Word Count: [Word count \
requirement, e.g., 400 words]

Paragraph 2 - Main Point: [Describe the main point of the paragraph, in detail] - Word Count: [word count \
requirement, e.g. 1000 words].

...

Make sure that each subtask is clear and specific, and that all subtasks cover the entire content of the \
writing instruction. Do not split the subtasks too finely; each subtask's paragraph should be no less than \
200 words and no more than 1000 words. Do not output any other content."""

WRITE_PROMPT = """You are an excellent writing assistant. I will give you an original writing instruction \
and my planned writing steps. I will also provide you with the text I have already written. Please help me \
continue writing the next section based on the images above, the writing instruction, the writing steps, \
and the already written text.

Writing instruction:
{instruction}

Writing steps:
{plan}

Already written text:
{text}

Please integrate the original writing instruction, writing steps, and the already written text, and now \
continue writing {step} for me. If needed, you can add a small subtitle at the beginning. Remember to only \
output the section you write, without repeating the already written text."""

_WORD_TARGET = re.compile(r"(?:Word Count|字数)[^\d\n]*(\d[\d,]*)", re.IGNORECASE)


@dataclass(frozen=True)
class Section:
    outline: str  # the outline line, as the writer planned it
    target_words: int


def parse_plan(plan: str, max_sections: int | None = None) -> list[Section]:
    """The outline's sections: every line that states a word count, in order."""
    sections = []
    for line in strip_think(plan).splitlines():
        match = _WORD_TARGET.search(line)
        if match and line.strip():
            sections.append(Section(line.strip(), int(match.group(1).replace(",", ""))))
    return sections[:max_sections] if max_sections else sections


@dataclass
class _RowState:
    id: str
    instruction: str
    image_paths: list[str]
    images: tuple[ImageRef, ...]
    plan: str = ""
    sections: list[Section] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)

    def message(self, text: str) -> Message:
        return Message("user", (*(ImagePart(img) for img in self.images), TextPart(text)))

    def to_row(self, joiner: str) -> dict[str, Any]:
        final = joiner.join(self.texts)
        return {
            "id": self.id,
            "instruction": self.instruction,
            "images": self.image_paths,
            "plan": self.plan,
            "sections": [
                {"outline": s.outline, "target_words": s.target_words, "text": t, "words": word_count(t)}
                for s, t in zip(self.sections, self.texts, strict=True)
            ],
            "output": final,
            "output_words": word_count(final),
        }


@dataclass
class AgentWriteReport:
    rows: int = 0
    already_done: int = 0
    written: int = 0
    failed: dict[str, str] = field(default_factory=dict)  # row id -> reason

    def summary(self) -> str:
        text = f"{self.written} rows written, {self.already_done} already done"
        if self.failed:
            text += f", {len(self.failed)} failed (re-run to retry): " + "; ".join(
                f"{k}: {v}" for k, v in list(self.failed.items())[:3])
        return text


def _run_round(writer: ModelAdapter, requests: dict[str, Request]) -> dict[str, str | Exception]:
    """Generate every request; map row id -> text, or an error for a failed generation."""
    by_request = {req.id: key for key, req in requests.items()}
    out: dict[str, str | Exception] = {}
    for gen in writer.generate(list(requests.values())):
        key = by_request[gen.request_id]
        out[key] = strip_think(gen.text) if gen.ok else RuntimeError(gen.error or "generation failed")
    for key in requests:
        out.setdefault(key, RuntimeError("the writer returned no generation"))
    return out


def agentwrite(
    input_path: str | Path,
    output_path: str | Path,
    writer: ModelAdapter,
    *,
    config: GenerationConfig | None = None,
    max_sections: int | None = 30,
    joiner: str = "\n\n",
    limit: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> AgentWriteReport:
    """Plan and write every row of ``input_path`` (``instruction`` + ``images``) into ``output_path``."""
    config = config or GenerationConfig()
    src = Path(input_path)
    out = Path(output_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    rows = read_input_rows(src)[:limit] if limit else read_input_rows(src)
    done = finished_ids(out)
    report = AgentWriteReport(rows=len(rows))
    states: list[_RowState] = []
    for row in rows:
        rid = row_id(row)
        if rid in done:
            report.already_done += 1
            continue
        paths = row_image_paths(row, src.resolve().parent)
        states.append(_RowState(rid, row_instruction(row, str(src)), paths, load_images(paths, rid)))

    journal = RowWriter(out)
    try:
        plans = _run_round(writer, {
            s.id: Request(f"{s.id}/plan", (s.message(PLAN_PROMPT.format(instruction=s.instruction)),), config)
            for s in states})
        active: list[_RowState] = []
        for s in states:
            result = plans[s.id]
            if isinstance(result, Exception):
                report.failed[s.id] = f"plan: {result}"
                continue
            s.plan = result
            s.sections = parse_plan(result, max_sections)
            if not s.sections:
                report.failed[s.id] = "the plan names no sections with a word count"
                continue
            active.append(s)
        step = 0
        while active:
            requests = {}
            for s in active:
                prompt = WRITE_PROMPT.format(instruction=s.instruction, plan=s.plan, text=joiner.join(s.texts),
                                             step=s.sections[step].outline)
                requests[s.id] = Request(f"{s.id}/section{step + 1}", (s.message(prompt),), config)
            results = _run_round(writer, requests)
            still = []
            for s in active:
                result = results[s.id]
                if isinstance(result, Exception):
                    report.failed[s.id] = f"section {step + 1}: {result}"
                    continue
                s.texts.append(result.strip())
                if len(s.texts) == len(s.sections):
                    journal.append(s.to_row(joiner))
                    report.written += 1
                    if progress:
                        progress(f"{s.id}: {len(s.sections)} sections, {word_count(joiner.join(s.texts))} words")
                else:
                    still.append(s)
            active = still
            step += 1
    finally:
        journal.close()
    return report
