"""Small shared pieces of the ``mmlw data`` builders: input rows, row ids, images, resumable output."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mmlongbench_write.errors import DataError
from mmlongbench_write.kvstore import stable_hash
from mmlongbench_write.schema import ImageRef


def row_id(row: dict[str, Any]) -> str:
    """The row's ``id``, or a stable hash of its instruction and image paths (so resume works without ids)."""
    if row.get("id") not in (None, ""):
        return str(row["id"])
    return stable_hash({"instruction": row.get("instruction", row.get("prompt")), "images": row.get("images")})[:16]


def row_instruction(row: dict[str, Any], where: str) -> str:
    text = row.get("instruction", row.get("prompt"))
    if not isinstance(text, str) or not text.strip():
        raise DataError(f"{where}: row has no 'instruction' text", sample_id=row_id(row))
    return text


def row_image_paths(row: dict[str, Any], base: Path) -> list[str]:
    images = row.get("images") or []
    if isinstance(images, str):
        images = [images]
    out = []
    for image in images:
        p = Path(str(image)).expanduser()
        out.append(str(p if p.is_absolute() else base / p))
    return out


def load_images(paths: list[str], sample_id: str) -> tuple[ImageRef, ...]:
    """Read the images of a row; a missing file is a :class:`DataError` naming the row and the path."""
    refs = []
    for path in paths:
        if not Path(path).is_file():
            raise DataError(f"image not found: {path}", sample_id=sample_id, field="images")
        refs.append(ImageRef.from_path(path))
    return tuple(refs)


def read_input_rows(path: str | Path) -> list[dict[str, Any]]:
    from mmlongbench_write.training.formats import read_rows

    return read_rows(path)


def finished_ids(output: Path) -> set[str]:
    """Ids already written to ``output`` (a torn last line from a crash is ignored)."""
    if not output.exists():
        return set()
    from mmlongbench_write.runstore import read_jsonl

    return {str(r["id"]) for r in read_jsonl(output) if "id" in r}
