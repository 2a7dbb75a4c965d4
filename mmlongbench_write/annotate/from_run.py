"""``mmlw annotate init ROOT --from-run RUN``: one course per slide-based sample of an mmlw run.

Each usable sample becomes ``ROOT/<major>/<course>/`` with ``pngs/<i>.<ext>`` (the exact images the model
saw, checked against the run's SHA-256), ``scripts/<i>.txt`` (its output split at the slide markers of
:mod:`.pages`), ``instruction.txt`` (the prompt, which ``iterdpo-pairs`` uses) and ``source.json``. A
course is assembled in a temporary folder and renamed into place, so an interrupted init leaves whole
courses only; an existing course is never overwritten (its revisions are people's work).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mmlongbench_write.errors import DataError, MMLWError

from .pages import NoSlideMarkers, split_pages
from .tree import IMAGE_SUFFIXES, IMAGES, ORIGINALS, STATE_DIR, check_name

SLIDE_TASKS = ("ppt_script",)
_SUFFIX_BY_MEDIA = {"image/png": ".png", "image/jpeg": ".jpg", "image/webp": ".webp"}


@dataclass
class InitReport:
    created: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (sample id, why)
    other_tasks: int = 0

    def summary(self) -> str:
        parts = [f"{len(self.created)} courses created"]
        if self.kept:
            parts.append(f"{len(self.kept)} already there, kept as they are")
        if self.skipped:
            parts.append(f"{len(self.skipped)} samples skipped")
        if self.other_tasks:
            parts.append(f"{self.other_tasks} samples of other tasks ignored")
        return ", ".join(parts)


def folder_name(text: str) -> str:
    """``text`` made one safe folder name (separators and control characters become ``_``)."""
    cleaned = "".join("_" if ch in "/\\\x00" or ord(ch) < 32 else ch for ch in text).strip().lstrip(".")
    return check_name(cleaned[:200] or "_", "course")


class ImageFinder:
    """The bytes of a run's image reference, from its source path, ``--images DIR`` or the bundled mini set.

    Whatever is found must have the SHA-256 the run recorded: a changed file is not what the model saw.
    """

    def __init__(self, run_dir: Path, image_root: Path | None = None) -> None:
        self.run_dir = run_dir
        self.image_root = image_root
        self._by_hash: dict[str, Path] | None = None
        self._mini: dict[str, bytes] | None = None

    def _indexed(self, sha: str) -> bytes | None:
        if self.image_root is None:
            return None
        if self._by_hash is None:
            self._by_hash = {}
            for path in sorted(self.image_root.rglob("*")):
                if path.is_file() and path.suffix.lower() in (*IMAGE_SUFFIXES, ".gif", ".bmp"):
                    self._by_hash.setdefault(hashlib.sha256(path.read_bytes()).hexdigest(), path)
        found = self._by_hash.get(sha)
        return found.read_bytes() if found else None

    def _bundled(self, sha: str) -> bytes | None:
        if self._mini is None:
            from mmlongbench_write.data.mini import mini_raw_data

            self._mini = {hashlib.sha256(b).hexdigest(): b for row in mini_raw_data().rows for b in row["images"]}
        return self._mini.get(sha)

    def find(self, ref: dict[str, Any], sample_id: str) -> bytes:
        sha = str(ref.get("sha256") or "")
        source = str(ref.get("source") or "")
        if not sha:
            raise DataError(f"image {source!r} has no sha256 in the run", sample_id=sample_id)
        candidates = []
        if source:
            path = Path(source)
            bases = [Path.cwd(), self.run_dir] + ([self.image_root] if self.image_root else [])
            candidates = [path] if path.is_absolute() else [base / path for base in bases]
        changed = None
        for path in candidates:
            if path.is_file():
                data = path.read_bytes()
                if hashlib.sha256(data).hexdigest() == sha:
                    return data
                changed = path
        found = self._indexed(sha) or self._bundled(sha)
        if found is not None:
            return found
        if changed is not None:
            raise DataError(f"image {changed} changed since the run (its sha256 differs)", sample_id=sample_id)
        raise DataError(f"image {source!r} (sha256 {sha[:12]}...) not found; pass --images DIR",
                        sample_id=sample_id)


def _image_file(data: bytes, media_type: str) -> tuple[str, bytes]:
    suffix = _SUFFIX_BY_MEDIA.get(media_type)
    if suffix:
        return suffix, data
    from PIL import Image  # another format (gif, bmp): stored as PNG, which every reader takes

    with Image.open(io.BytesIO(data)) as im:
        buf = io.BytesIO()
        im.convert("RGB").save(buf, format="PNG")
    return ".png", buf.getvalue()


def _row_text(row: dict[str, Any]) -> str | None:
    from mmlongbench_write.textstats import strip_think

    for key in ("prediction", "response"):
        value = row.get(key)
        if isinstance(value, str) and value.strip():
            return strip_think(value)
    return None


def _write_course(target: Path, row: dict[str, Any], pages: list[str], images: list[tuple[str, bytes]],
                  run_dir: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.init-"))
    try:
        (staging / IMAGES).mkdir()
        (staging / ORIGINALS).mkdir()
        for number, (page, (suffix, data)) in enumerate(zip(pages, images, strict=True), start=1):
            (staging / IMAGES / f"{number}{suffix}").write_bytes(data)
            (staging / ORIGINALS / f"{number}.txt").write_text(page + "\n", encoding="utf-8")
        instruction = row.get("instruction")
        if isinstance(instruction, str) and instruction.strip():
            (staging / "instruction.txt").write_text(instruction.strip() + "\n", encoding="utf-8")
        source = {"run": str(run_dir.resolve()), "sample_id": row.get("id"), "task": row.get("task")}
        (staging / "source.json").write_text(json.dumps(source, ensure_ascii=False, indent=2) + "\n",
                                             encoding="utf-8")
        os.rename(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def init_from_run(root: Path, run_dir: Path, *, major: str | None = None, image_root: Path | None = None,
                  tasks: tuple[str, ...] = SLIDE_TASKS) -> InitReport:
    """Build courses under ``root`` from the slide-based samples of the run at ``run_dir``.

    Raises :class:`MMLWError` (one line) when no sample of the run can become a course.
    """
    from mmlongbench_write.runstore import load_run

    stored = load_run(run_dir)
    major_name = folder_name(major or run_dir.resolve().name)
    finder = ImageFinder(run_dir, image_root)
    report = InitReport()
    (root / STATE_DIR).mkdir(parents=True, exist_ok=True)
    for leftover in (root / major_name).glob(".*.init-*") if (root / major_name).is_dir() else ():
        shutil.rmtree(leftover, ignore_errors=True)  # a course half-built by an interrupted init
    rows = [r for r in stored.samples if r.get("task") in tasks]
    report.other_tasks = len(stored.samples) - len(rows)
    if not rows:
        raise MMLWError(f"{run_dir}: no samples of a slide-based task ({', '.join(tasks)}) in this run")
    for row in rows:
        sample_id = str(row.get("id"))
        refs = row.get("images") or []
        text = _row_text(row)
        if row.get("error") or text is None:
            report.skipped.append((sample_id, "no output (generation failed)"))
            continue
        try:
            pages = split_pages(text, len(refs))
        except NoSlideMarkers as exc:
            report.skipped.append((sample_id, str(exc)))
            continue
        course = folder_name(sample_id)
        target = root / major_name / course
        if target.exists():
            report.kept.append(f"{major_name}/{course}")
            continue
        images = [_image_file(finder.find(ref, sample_id), str(ref.get("media_type") or "")) for ref in refs]
        _write_course(target, row, pages, images, run_dir)
        report.created.append(f"{major_name}/{course}")
    if not report.created and not report.kept:
        reasons = "; ".join(f"{sid}: {why}" for sid, why in report.skipped[:3])
        more = f" (and {len(report.skipped) - 3} more)" if len(report.skipped) > 3 else ""
        raise MMLWError(f"{run_dir}: no output marks its slides, so none can be split into pages — {reasons}{more}; "
                        "see docs/annotate.md for the markers")
    return report
