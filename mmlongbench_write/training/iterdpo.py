"""IterDPO pairs from human revisions of multi-page scripts (LongWriter-V, docs/benchmark.md).

A revised N-page script y_w against the model's original y_l yields N pairs: pair i prefers the revised
prefix up to page i (with the images of pages 1..i) to the original prefix up to page i. Pages whose
revision is missing are unrevised: the revision falls back to the original page.

Inputs:

* the annotation platform's layout ``DIR/{major}/{course}/pngs/{i}.png``, ``scripts/{i}.txt`` (original)
  and ``annotated_scripts/{i}.txt`` (revision); any directory under ``DIR`` holding a ``scripts/``
  folder is a course, named by its path relative to ``DIR``;
* or a jsonl with one course per row: ``{"course": ..., "instruction"?: ..., "pages": [{"image": path,
  "original": text, "revised": text | null}, ...]}`` (pages in order).

Pages are ordered numerically (page 10 after page 9). Hidden folders (``.mmlw``, ``.history``, any name
starting with a dot) are not courses. A revision whose page has no original is an error naming the page,
never dropped. Written pairs hold absolute image paths (:func:`write_pairs`), so the trainer finds the
images wherever the pairs file is written and whatever folder it runs from.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mmlongbench_write.errors import DataError

DEFAULT_INSTRUCTION = (
    "These are the slides of a lecture, one image per slide. Write the lecture script the teacher reads "
    "aloud, one part per slide, in order, explaining each slide in detail."
)
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")


@dataclass(frozen=True)
class Page:
    image: str
    original: str
    revised: str | None = None

    @property
    def final(self) -> str:
        """The revision, or the original when the page was left unrevised."""
        return self.original if self.revised is None else self.revised


@dataclass(frozen=True)
class Script:
    course: str
    pages: tuple[Page, ...]
    instruction: str | None = None


@dataclass
class IterDPOReport:
    courses: int = 0
    pages: int = 0
    revised_pages: int = 0
    pairs: int = 0
    identical: int = 0
    skipped_identical: int = 0
    per_course: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        skipped = f", {self.skipped_identical} identical pairs skipped" if self.skipped_identical else ""
        kept_identical = (
            f", {self.identical} identical pairs kept (use --skip-identical to drop them)"
            if self.identical and not self.skipped_identical else ""
        )
        return (f"{self.pairs} pairs from {self.courses} scripts ({self.pages} pages, "
                f"{self.revised_pages} revised){skipped}{kept_identical}")


def _page_number(path: Path) -> int | None:
    return int(path.stem) if re.fullmatch(r"\d+", path.stem) else None


def _numbered(folder: Path, suffixes: tuple[str, ...]) -> dict[int, Path]:
    found: dict[int, Path] = {}
    if folder.is_dir():
        for p in folder.iterdir():
            n = _page_number(p)
            if n is not None and p.suffix.lower() in suffixes:
                found[n] = p
    return found


def read_course_dir(course_dir: Path, course: str) -> Script:
    """One course folder (``pngs/``, ``scripts/``, ``annotated_scripts/``) -> :class:`Script`."""
    originals = _numbered(course_dir / "scripts", (".txt",))
    revisions = _numbered(course_dir / "annotated_scripts", (".txt",))
    images = _numbered(course_dir / "pngs", IMAGE_SUFFIXES)
    if not originals:
        raise DataError(f"{course_dir / 'scripts'}: no numbered page texts ({{i}}.txt)")
    orphans = sorted(set(revisions) - set(originals))
    if orphans:
        raise DataError(f"{course_dir / 'annotated_scripts' / f'{orphans[0]}.txt'}: page {orphans[0]} of course "
                        f"{course!r} has a revision but no original ({course_dir / 'scripts' / f'{orphans[0]}.txt'} "
                        "is missing)")
    pages = []
    for n in sorted(originals):
        if n not in images:
            raise DataError(f"{course_dir / 'pngs'}: no image for page {n} (expected {n}.png)")
        revised = revisions[n].read_text(encoding="utf-8").strip() if n in revisions else None
        pages.append(Page(str(images[n]), originals[n].read_text(encoding="utf-8").strip(), revised or None))
    instruction_file = course_dir / "instruction.txt"
    instruction = instruction_file.read_text(encoding="utf-8").strip() if instruction_file.is_file() else None
    return Script(course, tuple(pages), instruction)


def read_revision_dir(root: str | Path) -> list[Script]:
    """Every course under ``root`` (any folder holding ``scripts/``), sorted by course path."""
    base = Path(root)
    if not base.is_dir():
        raise DataError(f"revisions directory not found: {base}")
    course_dirs = sorted({p.parent for p in base.rglob("scripts")
                          if p.is_dir() and not any(part.startswith(".") for part in p.relative_to(base).parts)})
    if not course_dirs:
        raise DataError(f"{base}: no course folders (expected {{major}}/{{course}}/scripts/{{i}}.txt)")
    return [read_course_dir(d, d.relative_to(base).as_posix() or d.name) for d in course_dirs]


def read_revision_jsonl(path: str | Path) -> list[Script]:
    """Courses from a jsonl (see the module docstring); relative image paths are relative to the file."""
    from mmlongbench_write.training.formats import read_rows

    p = Path(path)
    scripts = []
    for number, row in enumerate(read_rows(p), start=1):
        pages_raw = row.get("pages")
        if not isinstance(pages_raw, list) or not pages_raw:
            raise DataError(f"{p}: row {number} has no 'pages' list")
        pages = []
        for page in pages_raw:
            if "image" not in page or "original" not in page:
                raise DataError(f"{p}: row {number}: every page needs 'image' and 'original'")
            image = Path(str(page["image"]))
            revised = page.get("revised")
            pages.append(Page(str(image if image.is_absolute() else p.resolve().parent / image),
                              str(page["original"]).strip(), str(revised).strip() if revised else None))
        scripts.append(Script(str(row.get("course", f"row{number}")), tuple(pages), row.get("instruction")))
    return scripts


def read_revisions(source: str | Path) -> list[Script]:
    """A revisions directory or a jsonl file."""
    return read_revision_dir(source) if Path(source).is_dir() else read_revision_jsonl(source)


def iterdpo_pairs(
    scripts: list[Script],
    *,
    instruction: str | None = None,
    joiner: str = "\n\n",
    skip_identical: bool = False,
    report: IterDPOReport | None = None,
) -> Iterator[dict[str, Any]]:
    """Yield the IterDPO pairs of every script: for page i, revised pages 1..i over original pages 1..i.

    ``instruction`` overrides each script's own (``instruction.txt`` / the jsonl field), which defaults
    to :data:`DEFAULT_INSTRUCTION`.
    """
    report = report if report is not None else IterDPOReport()
    for script in scripts:
        report.courses += 1
        report.pages += len(script.pages)
        report.revised_pages += sum(1 for page in script.pages if page.revised is not None)
        prompt = instruction or script.instruction or DEFAULT_INSTRUCTION
        kept = 0
        for i in range(1, len(script.pages) + 1):
            prefix = script.pages[:i]
            chosen = joiner.join(page.final for page in prefix)
            rejected = joiner.join(page.original for page in prefix)
            if chosen == rejected:
                report.identical += 1
                if skip_identical:
                    report.skipped_identical += 1
                    continue
            kept += 1
            report.pairs += 1
            yield {
                "images": [page.image for page in prefix],
                "prompt": prompt,
                "chosen": chosen,
                "rejected": rejected,
                "course": script.course,
                "page": i,
            }
        report.per_course[script.course] = kept


def absolute_images(pair: dict[str, Any]) -> dict[str, Any]:
    """``pair`` with every image path made absolute (resolved against the current directory)."""
    return {**pair, "images": [str(Path(image).expanduser().resolve()) for image in pair.get("images") or []]}


def write_pairs(output: Path, pairs: list[dict[str, Any]], *, sharegpt: bool = False) -> None:
    """Write pairs as jsonl with absolute image paths (``sharegpt``: as LLaMA-Factory rows)."""
    from mmlongbench_write.runstore import write_jsonl
    from mmlongbench_write.training.formats import to_sharegpt

    rows = [absolute_images(p) for p in pairs]
    output.parent.mkdir(parents=True, exist_ok=True)
    write_jsonl(output, [to_sharegpt(r) for r in rows] if sharegpt else rows)
