"""The run journal: an append-only, fsynced log of every finished generation and verdict.

The journal is the source of truth while a run is in progress and what a resumed run replays. Each
record says what it was made from — a generation the hash of its request, a verdict the hash of the
judge's input (judge identity, instruction, images, L, response) — so a resume reuses a record only
while what it was made from is unchanged: edit a row of the data and exactly that row is generated and
judged again.

Robustness: one line per record, fsynced before the next starts, so a crash (even SIGKILL) loses at most
the record in flight. A torn last line, in any encoding (a kill inside a multi-byte character), is
ignored and cut off on reopen; a bad record in the middle is one error line naming its line number.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .fields import Fields, RunFormatError, finite_number
from .kvstore import stable_hash
from .runformat import FORMAT_VERSION
from .schema import Generation, JudgeInput, Judgement, Request, Usage
from .secrets import scrub


def request_hash(request: Request) -> str:
    """What a generation is made from: messages (image *hashes*, not their paths) and settings."""
    messages = [
        {"role": m.role, "content": [p if p.get("type") == "text" else {"type": "image", "sha256": p["sha256"]}
                                     for p in m.to_dict()["content"]]}
        for m in request.messages
    ]
    return stable_hash({"messages": messages, "config": request.config.to_dict()})


def judge_core_identity(identity: dict[str, Any]) -> dict[str, Any]:
    """A judge's identity without the provider-reported snapshot (which may only be known afterwards)."""
    return {k: v for k, v in identity.items() if k not in {"snapshot", "model_snapshot"}}


def judge_input_hash(identity: dict[str, Any], item: JudgeInput) -> str:
    """What a verdict is made from: the judge (snapshot aside) and everything it is shown."""
    return stable_hash({
        "judge": judge_core_identity(identity),
        "instruction": item.sample.instruction,
        "images": [img.sha256 for img in item.sample.images],
        "required_length": item.sample.required_length,
        "response": item.response,
    })


@dataclass(frozen=True)
class GenerationRecord:
    """A finished generation (or its failure) and the hash of the request it answered."""

    generation: Generation
    request_hash: str

    @property
    def sample_id(self) -> str:
        return self.generation.request_id

    def to_json(self) -> dict[str, Any]:
        return {"type": "generation", "sample_id": self.sample_id, "request_hash": self.request_hash,
                "generation": self.generation.to_dict()}


@dataclass(frozen=True)
class JudgementRecord:
    """A verdict in one judge slot, the hash of the judge input it was made from, and the values of the
    metrics the judge declares (computed by the judge when the verdict was made, so rows can be built from
    the journal alone, even for a judge that is not part of the current session)."""

    judgement: Judgement
    slot: str
    input_hash: str
    metrics: dict[str, float | None] = field(default_factory=dict)

    @property
    def sample_id(self) -> str:
        return self.judgement.sample_id

    def to_json(self) -> dict[str, Any]:
        return {"type": "judgement", "slot": self.slot, "sample_id": self.sample_id, "input_hash": self.input_hash,
                "metrics": dict(self.metrics), "judgement": self.judgement.to_dict()}


def _generation(data: Any, where: str) -> Generation:
    f = Fields(data, where)
    usage = f.sub("usage")
    return Generation(request_id=f.str("request_id", required=True), text=f.str("text", ""),
                      finish_reason=f.str("finish_reason", "unknown"),  # type: ignore[arg-type]
                      usage=Usage(usage.int("input_tokens", 0), usage.int("output_tokens", 0)),
                      latency_s=f.opt_float("latency_s") or 0.0, error=f.opt_str("error"), model=f.opt_str("model"),
                      cached=f.bool("cached"))


def _judgement(data: Any, where: str) -> Judgement:
    f = Fields(data, where)
    usage = f.sub("usage")
    dims = f.opt_dict("dimension_scores")
    return Judgement(sample_id=f.str("sample_id", required=True), judge=f.str("judge", required=True),
                     score=f.opt_float("score"), error=f.opt_str("error"), dimension_scores=dims,
                     analysis=f.opt_str("analysis"), attempts=f.int("attempts", 1), identity=f.dict("identity"),
                     usage=Usage(usage.int("input_tokens", 0), usage.int("output_tokens", 0)),
                     details=f.dict("details"))


def parse_record(data: Any, where: str) -> GenerationRecord | JudgementRecord | None:
    """One journal line as a typed record (None for the header); anything else is a RunFormatError."""
    f = Fields(data, where)
    kind = f.str("type", required=True)
    if kind == "header":
        version = f.int("format_version")
        if version > FORMAT_VERSION:
            raise RunFormatError(f"{where}: journal of a newer mmlw (format {version}); upgrade mmlongbench-write")
        return None
    if kind == "generation":
        if not f.has("request_hash"):
            raise OldJournal(where)
        gen = _generation(f.data.get("generation"), f"{where}, generation")
        if gen.request_id != f.str("sample_id", required=True):
            raise RunFormatError(f"{where}: sample_id does not match the generation's request_id")
        return GenerationRecord(gen, f.str("request_hash"))
    if kind == "judgement":
        if not f.has("input_hash"):
            raise OldJournal(where)
        verdict = _judgement(f.data.get("judgement"), f"{where}, judgement")
        metrics: dict[str, float | None] = {}
        for name, value in f.dict("metrics").items():
            number = finite_number(value)
            if value is not None and number is None:
                raise RunFormatError(f"{where}: metric {name!r} must be a finite number or null, found {value!r}")
            metrics[str(name)] = number
        return JudgementRecord(verdict, f.str("slot", verdict.judge), f.str("input_hash"), metrics)
    raise RunFormatError(f"{where}: unknown record type {kind!r}")


class OldJournal(RunFormatError):
    """A journal of run format 1: its records do not say what they were made from, so none can be checked."""

    def __init__(self, where: str) -> None:
        super().__init__(
            f"{where}: this run was written by an older mmlw (run format 1) whose records do not say what they "
            "were made from, so a resume cannot tell stale answers from current ones; evaluate into a new run "
            "(another --run-id or --output) — reading it with `mmlw leaderboard` still works"
        )


def read_lines(path: Path) -> Iterator[tuple[int, Any]]:
    """``(line number, parsed JSON)`` of every complete line of a JSONL file.

    Lines are split as bytes and decoded one by one, so a file torn inside a multi-byte character still
    reads; a last line without its newline is a torn write and is skipped. A bad line elsewhere is a
    :class:`RunFormatError` naming it.
    """
    data = path.read_bytes()
    lines = data.split(b"\n")
    torn = lines.pop()  # after the last newline: empty, or the record in flight when the process died
    del torn
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            yield number, json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise RunFormatError(
                f"{path} line {number} is not valid JSON ({exc.__class__.__name__}); the file was edited or "
                "damaged: restore it, or delete that line to redo its work"
            ) from None


@dataclass
class JournalState:
    """What the journal says is done: per sample the latest generation and, per judge slot, the verdict.

    ``spend`` lists the usage of every record that cost something (not served from a cache), including
    records later replaced, so a budget carried across sessions counts all of them.
    """

    generations: dict[str, GenerationRecord] = field(default_factory=dict)
    failed_generations: dict[str, GenerationRecord] = field(default_factory=dict)
    judgements: dict[str, dict[str, JudgementRecord]] = field(default_factory=dict)
    spend: list[tuple[str | None, str, Usage]] = field(default_factory=list)  # (model, kind, usage)

    def record_generation(self, record: GenerationRecord) -> None:
        """A success replaces any failure and drops verdicts on an older output; a failure never hides a
        success of the same request."""
        sid = record.sample_id
        generation = record.generation
        if not generation.cached and (generation.usage.input_tokens or generation.usage.output_tokens):
            self.spend.append((generation.model, "generation", generation.usage))
        current = self.generations.get(sid)
        if generation.ok:
            self.generations[sid] = record
            self.failed_generations.pop(sid, None)
            if current is None or current.generation.text != generation.text:
                self.judgements.pop(sid, None)
        elif current is None or current.request_hash != record.request_hash:
            self.generations.pop(sid, None)
            self.failed_generations[sid] = record

    def record_judgement(self, record: JudgementRecord) -> None:
        usage = record.judgement.usage
        if usage.input_tokens or usage.output_tokens:
            self.spend.append((record.judgement.identity.get("model"), "judgement", usage))
        self.judgements.setdefault(record.sample_id, {})[record.slot] = record

    def generation(self, sample_id: str) -> Generation | None:
        """The successful generation of a sample, if any."""
        record = self.generations.get(sample_id)
        return record.generation if record else None

    def verdicts(self, sample_id: str) -> dict[str, Judgement]:
        return {slot: r.judgement for slot, r in self.judgements.get(sample_id, {}).items()}

    def forget(self, sample_id: str) -> None:
        """Drop everything about a sample (its request changed: it is generated and judged again)."""
        self.generations.pop(sample_id, None)
        self.failed_generations.pop(sample_id, None)
        self.judgements.pop(sample_id, None)


class Journal:
    """Append-only JSONL log of finished records, fsynced per record."""

    def __init__(self, path: Path) -> None:
        self.path = path
        fresh = not path.exists() or path.stat().st_size == 0
        self._repair_tail()
        self._fh = open(path, "a", encoding="utf-8")  # noqa: SIM115 - kept open for the run
        self.written: Counter[str] = Counter()  # records appended by this session, per type
        if fresh:
            self.append({"type": "header", "format_version": FORMAT_VERSION})

    def _repair_tail(self) -> None:
        """Cut a torn last line (crash mid-write) so the next record starts on a fresh line."""
        if not self.path.exists():
            return
        data = self.path.read_bytes()
        if not data or data.endswith(b"\n"):
            return
        with open(self.path, "r+b") as fh:
            fh.truncate(data.rfind(b"\n") + 1)

    def append(self, record: dict[str, Any]) -> None:
        self._fh.write(scrub(json.dumps(record, ensure_ascii=False, default=str)) + "\n")
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self.written[str(record["type"])] += 1

    def add(self, record: GenerationRecord | JudgementRecord) -> None:
        self.append(record.to_json())

    def close(self) -> None:
        self._fh.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @staticmethod
    def replay(path: Path) -> JournalState:
        """Rebuild what is done from the journal (later records win)."""
        state = JournalState()
        if not path.exists():
            return state
        for number, data in read_lines(path):
            record = parse_record(data, f"{path} line {number}")
            if isinstance(record, GenerationRecord):
                state.record_generation(record)
            elif isinstance(record, JudgementRecord):
                state.record_judgement(record)
        return state
