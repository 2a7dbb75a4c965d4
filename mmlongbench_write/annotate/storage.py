"""Saving revisions so that nothing is lost: atomic writes, a history of every save, stale saves refused.

A save runs under an exclusive lock on the page's history file (``flock``, so threads and processes
serialise), then: (1) compares the editor's ``base`` with the current version and refuses a stale one,
(2) appends ``{time, user, previous, previous_version, version}`` to ``history/<i>.jsonl`` and fsyncs
it, (3) writes the new text to a temporary file, fsyncs it and renames it over ``annotated_scripts/<i>.txt``.
A kill at any point leaves the old or the new text whole, and the text a save replaced is always in
the history first. A version is the SHA-256 of the revision text; no revision (or an empty one, which
``iterdpo-pairs`` also reads as none) is the hash of the empty string.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from mmlongbench_write.errors import MMLWError

from .tree import PageFiles

try:  # POSIX: lock across processes too
    import fcntl
except ImportError:  # pragma: no cover - Windows: one server process, thread locks only
    fcntl = None  # type: ignore[assignment]

MAX_REVISION_CHARS = 500_000
_THREAD_LOCKS: dict[Path, threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()


class StaleBase(MMLWError):
    """A save whose base is no longer the current version (someone else saved in between)."""

    def __init__(self, message: str, current: PageState) -> None:
        super().__init__(message)
        self.current = current


class RevisionTooLarge(MMLWError):
    """A revision longer than :data:`MAX_REVISION_CHARS`."""


def version_of(text: str | None) -> str:
    return hashlib.sha256((text or "").encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class PageState:
    """What the editor needs: the model's page, the current revision (None when unrevised), its version."""

    original: str
    revision: str | None
    version: str
    author: str | None = None  # who saved the current revision (None: unrevised or made outside the studio)


@dataclass(frozen=True)
class SaveResult:
    version: str
    changed: bool
    saved_at: str | None = None


def _read_text(path: Path) -> str | None:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    return text if text.strip() else None


def read_history(files: PageFiles) -> list[dict[str, Any]]:
    """Every save of a page, oldest first; a line torn by a kill mid-append is skipped."""
    try:
        lines = files.history.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []
    records = []
    for line in lines:
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict):
            records.append(record)
    return records


def author_of(records: list[dict[str, Any]], version: str) -> str | None:
    """The user of the latest save that produced ``version``."""
    return next((str(r.get("user")) for r in reversed(records) if r.get("version") == version), None)


def read_page(files: PageFiles) -> PageState:
    original = files.original.read_text(encoding="utf-8")
    revision = _read_text(files.revision)
    version = version_of(revision)
    author = author_of(read_history(files), version) if revision is not None else None
    return PageState(original, revision, version, author)


@contextmanager
def _page_lock(history: Path) -> Iterator[Any]:
    key = history.resolve()
    with _LOCKS_GUARD:
        lock = _THREAD_LOCKS.setdefault(key, threading.Lock())
    with lock, open(history, "ab+") as log:
        if fcntl is not None:
            fcntl.flock(log.fileno(), fcntl.LOCK_EX)
        try:
            yield log
        finally:
            if fcntl is not None:
                fcntl.flock(log.fileno(), fcntl.LOCK_UN)


def _fsync_dir(folder: Path) -> None:
    if os.name != "posix":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_text(path: Path, text: str) -> None:
    """Write through a unique temporary file in the same folder, fsync, rename, fsync the folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def save_page(files: PageFiles, text: str, *, user: str, base: str | None = None) -> SaveResult:
    """Store ``text`` as the page's revision (empty text removes it); see the module docstring.

    Raises :class:`StaleBase` when ``base`` is given and is not the current version; a save that changes
    nothing is accepted without a history record (autosave repeats).
    """
    text = text.replace("\r\n", "\n")
    if len(text) > MAX_REVISION_CHARS:
        raise RevisionTooLarge(f"revision of page {files.number} is {len(text)} characters "
                               f"(at most {MAX_REVISION_CHARS})")
    new = text if text.strip() else None
    files.history.parent.mkdir(parents=True, exist_ok=True)
    with _page_lock(files.history) as log:
        current = _read_text(files.revision)
        current_version = version_of(current)
        if base is not None and base != current_version:
            state = PageState(files.original.read_text(encoding="utf-8"), current, current_version,
                              author_of(read_history(files), current_version))
            who = f" by {state.author}" if state.author else ""
            raise StaleBase(f"page {files.number} was saved{who} after you opened it; "
                            "your text was not saved — the newer text is shown", state)
        if (new or "") == (current or ""):
            return SaveResult(current_version, changed=False)
        saved_at = datetime.now(timezone.utc).isoformat(timespec="milliseconds")
        new_version = version_of(new)
        record = {"time": saved_at, "user": user, "previous": current, "previous_version": current_version,
                  "version": new_version}
        end = log.seek(0, os.SEEK_END)
        if end:  # a line torn by a kill mid-append must not swallow this record
            log.seek(end - 1)
            if log.read(1) != b"\n":
                log.write(b"\n")
        log.write((json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8"))
        log.flush()
        os.fsync(log.fileno())
        if new is None:
            files.revision.unlink(missing_ok=True)
            if files.revision.parent.is_dir():
                _fsync_dir(files.revision.parent)
        else:
            atomic_write_text(files.revision, new)
        return SaveResult(new_version, changed=True, saved_at=saved_at)
