"""The run directory: ``run.json``, an append-only journal, and the final ``samples.jsonl``/``results.json``.

See ``docs/run-format.md``. The journal is the source of truth while a run is in progress: one JSON line
per finished generation or judgement, flushed and fsynced before the next starts, so a crash (even
SIGKILL) loses at most the record being written. A torn last line is ignored and cut off on reopen.
Final files are written to a temporary name and renamed, so a reader never sees half a file.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import MMLWError
from .schema import Generation, Judgement

RUN_JSON = "run.json"
JOURNAL = "journal.jsonl"
SAMPLES = "samples.jsonl"
RESULTS = "results.json"


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and an atomic rename."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, ensure_ascii=False, default=str) + "\n")


def write_jsonl(path: Path, rows: Iterable[dict[str, Any]]) -> None:
    atomic_write_text(path, "".join(json.dumps(r, ensure_ascii=False, default=str) + "\n" for r in rows))


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """All complete JSON lines of ``path``; a torn (unparsable) *last* line is skipped."""
    rows: list[dict[str, Any]] = []
    lines = path.read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            if number == len(lines):
                break  # torn write of the record in flight when the process died
            raise MMLWError(f"{path}: line {number} is not valid JSON") from None
    return rows


@dataclass
class JournalState:
    """What the journal says is done: the latest successful generation and judgements per sample."""

    generations: dict[str, Generation] = field(default_factory=dict)
    failed_generations: dict[str, Generation] = field(default_factory=dict)
    judgements: dict[str, dict[str, Judgement]] = field(default_factory=dict)  # sample -> judge slot -> verdict

    def record_generation(self, generation: Generation) -> None:
        """A success replaces any failure and invalidates verdicts on an older output; a failure never
        hides a success."""
        sid = generation.request_id
        if generation.ok:
            self.generations[sid] = generation
            self.failed_generations.pop(sid, None)
            self.judgements.pop(sid, None)
        elif sid not in self.generations:
            self.failed_generations[sid] = generation

    def record_judgement(self, judgement: Judgement, slot: str) -> None:
        self.judgements.setdefault(judgement.sample_id, {})[slot] = judgement


class Journal:
    """Append-only JSONL log of finished records, fsynced per record."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._repair_tail()
        self._fh = open(path, "a", encoding="utf-8")  # noqa: SIM115 - kept open for the run
        self.written: Counter[str] = Counter()  # records appended by this session, per type

    def _repair_tail(self) -> None:
        """Cut a torn last line (crash mid-write) so the next record starts on a fresh line."""
        if not self.path.exists():
            return
        data = self.path.read_bytes()
        if not data or data.endswith(b"\n"):
            return
        cut = data.rfind(b"\n") + 1
        with open(self.path, "r+b") as fh:
            fh.truncate(cut)

    def append(self, record: dict[str, Any]) -> None:
        self._fh.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self.written[str(record["type"])] += 1

    def add_generation(self, generation: Generation) -> None:
        self.append({"type": "generation", "sample_id": generation.request_id, "generation": generation.to_dict()})

    def add_judgement(self, judgement: Judgement, slot: str) -> None:
        self.append({"type": "judgement", "slot": slot, "sample_id": judgement.sample_id,
                     "judgement": judgement.to_dict()})

    def close(self) -> None:
        self._fh.close()

    @staticmethod
    def replay(path: Path) -> JournalState:
        """Rebuild what is done from the journal (later records win)."""
        state = JournalState()
        if not path.exists():
            return state
        for rec in read_jsonl(path):
            if rec["type"] == "generation":
                state.record_generation(Generation.from_dict(rec["generation"]))
            elif rec["type"] == "judgement":
                verdict = Judgement.from_dict(rec["judgement"])
                state.record_judgement(verdict, rec.get("slot") or verdict.judge)
        return state


@dataclass
class StoredRun:
    """A run as the leaderboard sees it: its metadata, final per-sample rows and aggregate results."""

    path: Path
    run: dict[str, Any]
    samples: list[dict[str, Any]]
    results: dict[str, Any] | None

    @property
    def run_id(self) -> str:
        return str(self.run.get("run_id") or self.path.name)

    @property
    def label(self) -> str:
        """Short display name: the model (preset or name) of the run."""
        model = self.run.get("model") or {}
        return str(self.run.get("label") or model.get("preset") or model.get("model") or self.run_id)


def is_run_dir(path: Path) -> bool:
    return (path / RUN_JSON).is_file()


def find_runs(paths: Iterable[str | Path]) -> list[Path]:
    """Run directories among ``paths``: each path is a run, or a folder searched recursively for runs."""
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            raise MMLWError(f"no such run or directory: {path}")
        if is_run_dir(path):
            found.append(path)
            continue
        found.extend(sorted(p.parent for p in path.rglob(RUN_JSON)))
    return found


def read_run_meta(path: str | Path) -> dict[str, Any]:
    """A run directory's ``run.json``; one clear error when there is none or it is not valid JSON."""
    path = Path(path)
    if not is_run_dir(path):
        raise MMLWError(f"{path} is not a run directory (no {RUN_JSON})")
    try:
        meta = json.loads((path / RUN_JSON).read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise MMLWError(f"{path / RUN_JSON}: not valid JSON ({exc.msg})") from None
    if not isinstance(meta, dict):
        raise MMLWError(f"{path / RUN_JSON}: expected a JSON object")
    return meta


def load_run(path: str | Path) -> StoredRun:
    """Read a finished (or partly finished) run directory."""
    path = Path(path)
    run = read_run_meta(path)
    samples = read_jsonl(path / SAMPLES) if (path / SAMPLES).exists() else []
    results = json.loads((path / RESULTS).read_text(encoding="utf-8")) if (path / RESULTS).exists() else None
    return StoredRun(path=path, run=run, samples=samples, results=results)


def iter_runs(paths: Iterable[str | Path]) -> Iterator[StoredRun]:
    for path in find_runs(paths):
        yield load_run(path)
