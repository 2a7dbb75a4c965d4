"""Small shared pieces of the ``mmlw data`` builders: input rows, row ids, images, resumable output."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mmlongbench_write.errors import DataError
from mmlongbench_write.kvstore import stable_hash
from mmlongbench_write.schema import ImageRef
from mmlongbench_write.secrets import scrub


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


class RowWriter:
    """Appends finished rows to a jsonl, fsynced one by one; a torn last line (crash mid-write) is cut first."""

    def __init__(self, path: Path) -> None:
        import os

        self._os = os
        if path.exists():
            data = path.read_bytes()
            if data and not data.endswith(b"\n"):
                with open(path, "r+b") as fh:
                    fh.truncate(data.rfind(b"\n") + 1)
        self._fh = open(path, "a", encoding="utf-8")  # noqa: SIM115 - kept open while rows are written

    def append(self, row: dict[str, Any]) -> None:
        import json

        self._fh.write(scrub(json.dumps(row, ensure_ascii=False, default=str)) + "\n")
        self._fh.flush()
        self._os.fsync(self._fh.fileno())

    def close(self) -> None:
        self._fh.close()
