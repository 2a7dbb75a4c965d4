"""The run directory on disk: its files, atomic writes, the one-writer lock, and the reader of finished runs.

A run directory holds ``run.json``, ``journal.jsonl`` (see :mod:`mmlongbench_write.journal`), and, once a
session ends, ``samples.jsonl`` and ``results.json`` (records in :mod:`mmlongbench_write.runformat`). Final
files are written to a temporary name and renamed, so a reader never sees half a file; ``results.json`` is
written after ``samples.jsonl`` and before ``run.json`` is marked finished, and names the session and
the exact ``samples.jsonl`` it summarises — so :func:`load_run` tells a finished run from one whose last
session was killed between its final files.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import cached_property
from pathlib import Path
from typing import Any

from .errors import MMLWError
from .fields import RunFormatError
from .journal import read_lines
from .runformat import Results, RunMeta, SampleRow, check_row_metrics, rows_from_json
from .secrets import scrub

RUN_JSON = "run.json"
JOURNAL = "journal.jsonl"
SAMPLES = "samples.jsonl"
RESULTS = "results.json"
LOCK = ".lock"


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and an atomic rename (secrets scrubbed)."""
    text = scrub(text)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, ensure_ascii=False, default=str) + "\n")


def write_jsonl(path: Path, rows: Iterable[dict[str, Any]]) -> None:
    atomic_write_text(path, "".join(json.dumps(r, ensure_ascii=False, default=str) + "\n" for r in rows))


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """All complete JSON lines of ``path`` (a torn last line skipped); a bad line is one error naming it."""
    return [row for _, row in read_lines(path)]


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class RunInUse(MMLWError):
    """Another process holds the run directory."""


class RunLock:
    """An exclusive lock on a run directory, held by the one process writing it.

    ``flock`` on ``<run>/.lock``: the kernel releases it when the holder exits, however it exits (SIGKILL
    included), so a crashed run never leaves a stale lock. The file names the holder for the error line.
    """

    def __init__(self, run_dir: Path) -> None:
        self.path = run_dir / LOCK
        self._fh: Any = None

    def acquire(self) -> None:
        import fcntl

        fh = open(self.path, "a+", encoding="utf-8")  # noqa: SIM115 - held until release
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "another process"
            fh.close()
            raise RunInUse(f"{self.path.parent} is in use by {holder}; wait for it to finish, or evaluate into "
                           "another --output/--run-id") from None
        fh.seek(0)
        fh.truncate()
        command = " ".join(os.path.basename(a) if i == 0 else a for i, a in enumerate(sys.argv))[:200]
        fh.write(scrub(f"pid {os.getpid()} on {socket.gethostname()} since {now()} ({command})\n"))
        fh.flush()
        self._fh = fh

    def release(self) -> None:
        if self._fh is not None:
            self._fh.close()  # closing the descriptor releases the flock
            self._fh = None

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@dataclass
class StoredRun:
    """A run as readers see it: typed metadata, rows and results, and whether the results can be trusted.

    ``problem`` is None for a finished run; otherwise it says why its results are not to be shown (the last
    session was killed before its final files, or is still running). ``run``, ``samples`` and ``results``
    are the JSON forms of ``meta``, ``rows`` and ``summary`` for scripts and notebooks.
    """

    path: Path
    meta: RunMeta
    rows: list[SampleRow]
    summary: Results | None
    problem: str | None = None
    rows_loaded: bool = True
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def run_id(self) -> str:
        return self.meta.run_id or self.path.name

    @property
    def label(self) -> str:
        return self.meta.label if self.meta.run_id else self.path.name

    @property
    def finished(self) -> bool:
        return self.problem is None and self.summary is not None

    @property
    def run(self) -> dict[str, Any]:
        return self.meta.to_json()

    @cached_property
    def samples(self) -> list[dict[str, Any]]:
        return [row.to_json() for row in self.rows]

    @cached_property
    def results(self) -> dict[str, Any] | None:
        return self.summary.to_json() if self.summary is not None else None


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


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise RunFormatError(f"{path}: not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise RunFormatError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None


def read_meta(path: str | Path) -> RunMeta:
    """A run directory's ``run.json``, typed; one clear error when there is none or it is unreadable."""
    path = Path(path)
    if not is_run_dir(path):
        raise MMLWError(f"{path} is not a run directory (no {RUN_JSON})")
    return RunMeta.from_json(_read_json(path / RUN_JSON), str(path / RUN_JSON))


def read_run_meta(path: str | Path) -> dict[str, Any]:
    """``run.json`` as a plain dict (validated by :func:`read_meta`)."""
    return read_meta(path).to_json()


def _results_problem(meta: RunMeta, results: Results | None, samples_path: Path) -> str | None:
    """Why the stored results cannot be trusted, or None when they summarise exactly this session's rows."""
    if meta.status == "running":
        return "its last session did not finish (killed, or still running): re-run the same command to resume"
    if results is None:
        return "it has no results.json: re-run the same command to finish it"
    if results.summary_of is None:
        return None if meta.format_version == 1 else "results.json does not say what it summarises"
    if results.summary_of.session_id != meta.session_id:
        return "results.json is from an earlier session than run.json: re-run the same command to finish it"
    if not samples_path.is_file() or file_sha256(samples_path) != results.summary_of.samples_sha256:
        return "samples.jsonl does not match what results.json summarises: re-run the same command to rebuild them"
    return None


def load_run(path: str | Path, *, rows: bool = True) -> StoredRun:
    """Read a run directory (finished or not); ``rows=False`` skips parsing ``samples.jsonl`` (fast)."""
    path = Path(path)
    meta = read_meta(path)
    results = None
    if (path / RESULTS).is_file():
        results = Results.from_json(_read_json(path / RESULTS), str(path / RESULTS))
    samples_path = path / SAMPLES
    parsed: list[SampleRow] = []
    if rows and samples_path.is_file():
        parsed = rows_from_json(read_lines(samples_path), str(samples_path), meta.format_version)
        specs = list(results.metrics) if results is not None else meta.metrics
        for number, row in enumerate(parsed, start=1):
            check_row_metrics(row, specs, f"{samples_path} row {number}")
    return StoredRun(path=path, meta=meta, rows=parsed, summary=results,
                     problem=_results_problem(meta, results, samples_path), rows_loaded=rows)


def iter_runs(paths: Iterable[str | Path]) -> Iterator[StoredRun]:
    for path in find_runs(paths):
        yield load_run(path)
