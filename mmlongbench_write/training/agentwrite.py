"""AgentWrite, the plan-then-write pipeline that builds long SFT outputs (LongWriter / LongWriter-V).

For each (images, instruction) the writer model first writes an outline of numbered sections, each with
its main point and a word target. It then writes each section in turn, given the images, the
instruction, the outline, the section's whole plan and *all the text written so far*, and the sections
are concatenated. Any adapter can write. How outlines are read: :mod:`.outline`.

The two prompts are templates with the authors' placeholders, substituted verbatim in one pass: the
planner's ``$INST$`` (the instruction); the writer's ``$INST$``, ``$PLAN$`` (the planner's reply),
``$TEXT$`` (the sections written so far, joined) and ``$STEP$`` (this section's block of the outline).
The built-in ones are mmlw's own; ``--plan-prompt`` / ``--write-prompt`` / ``--prompts-from`` replace
them. ``--protocol authors`` puts the text before the images, as the authors' script does.

Rows advance in lock-step rounds (all outlines, then every row's section 1, then section 2 ...), so an
API or batched local adapter sees many requests at once. A finished row is appended to the output at
once (fsynced), with the templates and protocol that built it (``prompts``); a re-run skips finished rows
and refuses an output built with other templates. A row that fails (a failed generation, an outline
with no readable section) is appended to ``<output>.failures.jsonl`` with what it had produced — the
planner's reply, the sections written — and retried on the next run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mmlongbench_write.errors import ConfigError
from mmlongbench_write.model_adapters.base import ModelAdapter
from mmlongbench_write.protocol import DEFAULT_PROTOCOL, TEXT_FIRST, agentwrite_part_order
from mmlongbench_write.schema import GenerationConfig, ImagePart, ImageRef, Message, Request, TextPart
from mmlongbench_write.templates import PromptTemplate, user_template
from mmlongbench_write.textstats import strip_think, word_count

from .dataio import RowWriter, load_images, read_input_rows, row_id, row_image_paths, row_instruction
from .outline import PlanError, Section, parse_plan

PLAN_TEMPLATE = PromptTemplate(source="builtin:agentwrite-plan", text="""\
Plan a long piece of writing, to be written section by section from the images you are given and the \
instruction below.

Instruction:
$INST$

Reply with an outline of numbered sections. Begin each section with one line of this form:

Section N - Main point: <what the section covers, drawing on the images> - Word count: <number> words

and put any further notes for that section on the lines below it. The sections together must cover the \
whole instruction, and their word counts must add up to the length it asks for; give each section \
between 200 and 1000 words. Reply with the outline only.""")

WRITE_TEMPLATE = PromptTemplate(source="builtin:agentwrite-write", text="""\
You are writing a long piece one section at a time, following an outline. You have the images, the \
instruction, the outline and the text written so far.

Instruction:
$INST$

Outline:
$PLAN$

Text written so far:
$TEXT$

Write this section of the outline, and only this section:
$STEP$

Keep to its main point and its word count, carry on from the text so far without repeating it, and use \
the images where they bear on it. You may open with a short heading. Reply with the section's text only.""")


@dataclass(frozen=True)
class AgentWritePrompts:
    """The planner and writer templates and the protocol (part order) one build uses."""

    plan: PromptTemplate = PLAN_TEMPLATE
    write: PromptTemplate = WRITE_TEMPLATE
    protocol: str = DEFAULT_PROTOCOL

    @classmethod
    def resolve(cls, *, plan_prompt: str | Path | None = None, write_prompt: str | Path | None = None,
                prompts_from: str | Path | None = None, protocol: str = DEFAULT_PROTOCOL) -> AgentWritePrompts:
        """The user's choice: each template's own file, else the authors' checkout's, else the built-in."""
        agentwrite_part_order(protocol)  # an unknown protocol is a usage error before anything runs
        plan = user_template("plan", plan_prompt, prompts_from, "--plan-prompt") or PLAN_TEMPLATE
        write = user_template("write", write_prompt, prompts_from, "--write-prompt") or WRITE_TEMPLATE
        return cls(plan, write, protocol)

    @property
    def part_order(self) -> str:
        return agentwrite_part_order(self.protocol)

    def fingerprint(self) -> dict[str, Any]:
        """What each output row records: the protocol and each template's source and SHA-256."""
        return {"protocol": self.protocol,
                "plan": {"source": self.plan.source, "sha256": self.plan.sha256},
                "write": {"source": self.write.source, "sha256": self.write.sha256}}


def _identity(fingerprint: Any) -> Any:
    """The part of a fingerprint that decides the requests (a moved or renamed file changes nothing)."""
    if not isinstance(fingerprint, dict):
        return None
    return (fingerprint.get("protocol"), *((fingerprint.get(k) or {}).get("sha256") for k in ("plan", "write")))


@dataclass
class _RowState:
    id: str
    instruction: str
    image_paths: list[str]
    images: tuple[ImageRef, ...]
    plan: str = ""
    planned: list[Section] = field(default_factory=list)  # every section the outline names
    sections: list[Section] = field(default_factory=list)  # those written (--max-sections)
    texts: list[str] = field(default_factory=list)

    def message(self, text: str, part_order: str) -> Message:
        images = tuple(ImagePart(img) for img in self.images)
        parts = (TextPart(text), *images) if part_order == TEXT_FIRST else (*images, TextPart(text))
        return Message("user", parts)

    def _sections(self) -> list[dict[str, Any]]:
        written = zip(self.sections, self.texts, strict=False)  # a failed row has fewer texts than sections
        return [{**s.to_dict(), "text": t, "words": word_count(t)} for s, t in written]

    def to_row(self, joiner: str, prompts: dict[str, Any]) -> dict[str, Any]:
        final = joiner.join(self.texts)
        return {
            "id": self.id,
            "instruction": self.instruction,
            "images": self.image_paths,
            "plan": self.plan,
            "planned_sections": len(self.planned),
            "sections": self._sections(),
            "output": final,
            "output_words": word_count(final),
            "prompts": prompts,
        }

    def failure(self, stage: str, error: str, prompts: dict[str, Any]) -> dict[str, Any]:
        """The failure record: the error and all this row had produced (the planner's reply, the sections)."""
        return {"id": self.id, "stage": stage, "error": error, "plan": self.plan or None,
                "sections": self._sections(), "prompts": prompts}


@dataclass
class AgentWriteReport:
    rows: int = 0
    already_done: int = 0
    written: int = 0
    failed: dict[str, str] = field(default_factory=dict)  # row id -> reason
    failures_path: Path | None = None  # where the failed rows' records went, when any failed

    def summary(self) -> str:
        text = f"{self.written} rows written, {self.already_done} already done"
        if self.failed:
            text += f", {len(self.failed)} failed (re-run to retry): " + "; ".join(
                f"{k}: {v}" for k, v in list(self.failed.items())[:3])
            if self.failures_path is not None:
                text += f" (details and replies in {self.failures_path})"
        return text


def failures_path(output: Path) -> Path:
    """``sft.jsonl`` -> ``sft.failures.jsonl``: one record per failed attempt, appended."""
    return output.with_name(f"{output.stem}.failures{output.suffix or '.jsonl'}")


def _finished(output: Path, prompts: AgentWritePrompts) -> set[str]:
    """Ids already in ``output``; rows built with other templates or another protocol are refused."""
    if not output.exists():
        return set()
    from mmlongbench_write.runstore import read_jsonl

    rows = [r for r in read_jsonl(output) if "id" in r]
    want = _identity(prompts.fingerprint())
    other = [r for r in rows if _identity(r.get("prompts")) != want]
    if other:
        got = other[0].get("prompts")
        was = (f"protocol {got.get('protocol')}, plan {got.get('plan', {}).get('source')}, write "
               f"{got.get('write', {}).get('source')}" if isinstance(got, dict) else "no template record")
        raise ConfigError(
            f"--output {output}: {len(other)} of its rows were built with other prompts ({was}); this run uses "
            f"protocol {prompts.protocol}, plan {prompts.plan.source}, write {prompts.write.source}. Give the "
            "same templates and --protocol to resume, or a new --output")
    return {str(r["id"]) for r in rows}


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


class _Failures:
    """The failure log, opened on the first failure only (a clean run leaves no empty file)."""

    def __init__(self, path: Path, report: AgentWriteReport) -> None:
        self.path = path
        self.report = report
        self._writer: RowWriter | None = None

    def add(self, record: dict[str, Any]) -> None:
        self.report.failed[record["id"]] = f"{record['stage']}: {record['error']}"
        self.report.failures_path = self.path
        if self._writer is None:
            self._writer = RowWriter(self.path)
        self._writer.append(record)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()


def agentwrite(
    input_path: str | Path,
    output_path: str | Path,
    writer: ModelAdapter,
    *,
    config: GenerationConfig | None = None,
    prompts: AgentWritePrompts | None = None,
    max_sections: int | None = 30,
    joiner: str = "\n\n",
    limit: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> AgentWriteReport:
    """Plan and write every row of ``input_path`` (``instruction`` + ``images``) into ``output_path``."""
    config = config or GenerationConfig()
    prompts = prompts or AgentWritePrompts()
    fingerprint = prompts.fingerprint()
    order = prompts.part_order
    src = Path(input_path)
    out = Path(output_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    rows = read_input_rows(src)[:limit] if limit else read_input_rows(src)
    done = _finished(out, prompts)
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
    failures = _Failures(failures_path(out), report)
    try:
        plans = _run_round(writer, {
            s.id: Request(f"{s.id}/plan", (s.message(prompts.plan.fill({"$INST$": s.instruction}), order),), config)
            for s in states})
        active: list[_RowState] = []
        for s in states:
            result = plans[s.id]
            if isinstance(result, Exception):
                failures.add(s.failure("plan", str(result), fingerprint))
                continue
            s.plan = result
            try:
                s.planned = parse_plan(result)
            except PlanError as exc:
                failures.add(s.failure("plan", str(exc), fingerprint))
                continue
            s.sections = s.planned[:max_sections] if max_sections else s.planned
            active.append(s)
        step = 0
        while active:
            requests = {}
            for s in active:
                text = prompts.write.fill({"$INST$": s.instruction, "$PLAN$": s.plan,
                                           "$TEXT$": joiner.join(s.texts), "$STEP$": s.sections[step].outline})
                requests[s.id] = Request(f"{s.id}/section{step + 1}", (s.message(text, order),), config)
            results = _run_round(writer, requests)
            still = []
            for s in active:
                result = results[s.id]
                if isinstance(result, Exception):
                    failures.add(s.failure(f"section {step + 1}", str(result), fingerprint))
                    continue
                s.texts.append(result.strip())
                if len(s.texts) == len(s.sections):
                    journal.append(s.to_row(joiner, fingerprint))
                    report.written += 1
                    if progress:
                        cut = f" (of {len(s.planned)} planned)" if len(s.planned) > len(s.sections) else ""
                        progress(f"{s.id}: {len(s.sections)} sections{cut}, "
                                 f"{word_count(joiner.join(s.texts))} words")
                else:
                    still.append(s)
            active = still
            step += 1
    finally:
        journal.close()
        failures.close()
    return report
