"""The annotation tree: course and page lookup, with every path confined to ROOT.

A course is ``ROOT/<major>/<course>/`` holding ``scripts/``; its pages are the numbered ``scripts/<i>.txt``
files, ordered numerically. Names come from URLs, so each is checked (no ``..``, no separators, no hidden
names) and every file is resolved and required to stay under ROOT — a symlink that leads out is refused.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from mmlongbench_write.errors import MMLWError

STATE_DIR = ".mmlw-annotate"
IMAGES = "pngs"
ORIGINALS = "scripts"
REVISIONS = "annotated_scripts"
HISTORY = "history"
#: Same suffixes ``mmlw data iterdpo-pairs`` accepts for page images (training.iterdpo.IMAGE_SUFFIXES).
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
MAX_NAME_CHARS = 200


class PathRefused(MMLWError):
    """A name or path that would leave ROOT (``..``, separators, absolute paths, symlinks out)."""


class NotFound(MMLWError):
    """No such course or page in the tree."""


def check_name(name: str, what: str) -> str:
    """``name`` if it is one safe path component (any script, non-ASCII included); else :class:`PathRefused`."""
    bad = (
        not name
        or name in {".", ".."}
        or name.startswith(".")
        or len(name) > MAX_NAME_CHARS
        or any(ch in name for ch in "/\\\x00")
        or any(unicodedata.category(ch) == "Cc" for ch in name)
        or bool(re.match(r"^[A-Za-z]:", name))
    )
    if bad:
        raise PathRefused(f"invalid {what} name {name!r}: one folder name, not hidden, no '/', '\\' or '..'")
    return name


def _page_number(path: Path) -> int | None:
    return int(path.stem) if re.fullmatch(r"\d+", path.stem) else None


@dataclass(frozen=True)
class PageFiles:
    """The files of one page (image may be missing in a hand-made tree)."""

    number: int
    original: Path
    revision: Path
    history: Path
    image: Path | None


class Tree:
    """One annotation ROOT on disk."""

    def __init__(self, root: str | Path) -> None:
        path = Path(root)
        if not path.is_dir():
            raise MMLWError(f"{path}: not a directory (create a tree with `mmlw annotate init {path}`)")
        self.root = path.resolve()

    @property
    def state_dir(self) -> Path:
        return self.root / STATE_DIR

    def confined(self, path: Path) -> Path:
        """``path`` resolved (symlinks followed); :class:`PathRefused` when it is not under ROOT."""
        resolved = path.resolve()
        if resolved != self.root and not resolved.is_relative_to(self.root):
            raise PathRefused(f"{path.relative_to(self.root) if path.is_relative_to(self.root) else path}: "
                              "leads outside the annotation root")
        return resolved

    def courses(self) -> list[tuple[str, str]]:
        """``(major, course)`` of every course, sorted; hidden folders and folders leading out are skipped."""
        found = []
        for major in sorted(self.root.iterdir()):
            if major.name.startswith(".") or not major.is_dir() or not self._inside(major):
                continue
            for course in sorted(major.iterdir()):
                scripts = course / ORIGINALS
                if course.name.startswith(".") or not scripts.is_dir() or not self._inside(scripts):
                    continue
                found.append((major.name, course.name))
        return found

    def _inside(self, path: Path) -> bool:
        try:
            self.confined(path)
        except PathRefused:
            return False
        return True

    def course_dir(self, major: str, course: str) -> Path:
        """The folder of a course; refuses unsafe names and unknown courses."""
        check_name(major, "major")
        check_name(course, "course")
        path = self.root / major / course
        self.confined(path)
        if not (path / ORIGINALS).is_dir():
            raise NotFound(f"no course {major}/{course}")
        self.confined(path / ORIGINALS)
        return path

    def pages(self, major: str, course: str) -> list[int]:
        """Page numbers of a course (its numbered ``scripts/<i>.txt``), in numeric order."""
        folder = self.course_dir(major, course) / ORIGINALS
        numbers = {_page_number(p) for p in folder.iterdir() if p.suffix == ".txt"}
        return sorted(n for n in numbers if n is not None)

    def page(self, major: str, course: str, number: int) -> PageFiles:
        """The confined files of one page; :class:`NotFound` when the course has no such page."""
        base = self.course_dir(major, course)
        original = base / ORIGINALS / f"{number}.txt"
        if number < 0 or not original.is_file():
            raise NotFound(f"no page {number} in {major}/{course}")
        self.confined(original)
        image = next((base / IMAGES / f"{number}{s}" for s in IMAGE_SUFFIXES
                      if (base / IMAGES / f"{number}{s}").is_file()), None)
        if image is not None:
            self.confined(image)
        revision, history = base / REVISIONS / f"{number}.txt", base / HISTORY / f"{number}.jsonl"
        for path in (revision.parent, history.parent, revision, history):  # saves must not lead out either
            if path.exists() or path.is_symlink():
                self.confined(path)
        return PageFiles(number, original, revision, history, image)
