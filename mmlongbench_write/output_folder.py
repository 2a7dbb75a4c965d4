"""Making sure a run folder can be written before any work starts.

A read-only or full output folder, or ``--output`` naming a file, would otherwise surface as a raw
``OSError`` from the first ``mkdir`` or ``write``. :func:`prepare_run_folder` creates the folder, writes
and removes a small probe file (so a full disk or a read-only mount is found now, not after the first
generation), and turns every failure into one :class:`OutputError` line naming the folder.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

from .errors import OutputError

#: Size of the probe write: enough for a full disk to refuse it, too small to matter.
PROBE_BYTES = 4096
PROBE_NAME = ".mmlw-write-probe"


def _first_existing(path: Path) -> Path | None:
    """The nearest ancestor of ``path`` (``path`` included) that exists, or ``None``."""
    for candidate in (path, *path.parents):
        try:
            if candidate.exists():
                return candidate
        except OSError:
            return None
    return None


def _why(exc: OSError) -> str:
    if exc.errno == errno.ENOSPC:
        return "no space left on the device"
    if exc.errno == errno.EROFS:
        return "read-only file system"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "permission denied"
    return exc.strerror or type(exc).__name__


def prepare_run_folder(path: Path) -> None:
    """Create ``path`` (and its parents) and prove it takes a write; raise :class:`OutputError` if not."""
    shown = str(path) if len(str(path)) <= 120 else f"{str(path)[:80]}...{str(path)[-37:]}"
    if "\x00" in str(path):
        raise OutputError(f"output folder {shown!r} contains a NUL byte; choose another --output")
    existing = _first_existing(path)
    if existing is not None and not existing.is_dir():
        raise OutputError(f"output folder {shown!r} cannot be created: {str(existing)!r} is a file, not a folder; "
                          "choose another --output")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create the output folder {shown!r} ({_why(exc)}); choose another --output") \
            from None
    probe = path / PROBE_NAME
    try:
        with probe.open("wb") as handle:
            handle.write(b"\0" * PROBE_BYTES)
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as exc:
        raise OutputError(f"cannot write to the output folder {shown!r} ({_why(exc)}); free space or choose "
                          "another --output") from None
    finally:
        try:
            probe.unlink()
        except OSError:
            pass
