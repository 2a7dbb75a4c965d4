"""Turning one raw row into a checked :class:`Sample`, or a :class:`DataError` naming the sample and field.

Row values come from jsonl/json (strings, numbers, lists), parquet (numpy arrays, bytes) or the hub
(``{"bytes", "path"}`` dicts, PIL images), so every field accepts the forms those writers produce.

Images may be:
- a path relative to the data file's directory (or absolute), which must resolve inside ``root``
  (the data directory) — ``../`` escapes and symlinks pointing out are refused;
- embedded bytes: ``bytes``, a ``{"bytes": ..., "path": ...}`` dict as Hugging Face ``datasets``
  writes them, a base64 string (optionally a ``data:image/...;base64,`` URI), or a PIL image.
Every image is opened with Pillow and ``verify()``-ed, so a corrupt file fails at load time, not mid-run.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from mmlongbench_write.errors import DataError
from mmlongbench_write.schema import ImageRef, Language, Sample
from mmlongbench_write.textstats import detect_language

from .inference import infer_task, normalize_task, parse_length

#: Benchmark fields and the column names looked up for each when no mapping is given (first present wins).
DEFAULT_COLUMNS: dict[str, tuple[str, ...]] = {
    "id": ("id", "sample_id", "uid"),
    "question": ("question", "instruction", "prompt"),
    "images": ("images", "image", "image_paths"),
    "L": ("L", "length", "required_length"),
    "task": ("task", "task_type"),
    "language": ("language", "lang"),
}
FIELDS = tuple(DEFAULT_COLUMNS)

_LANGUAGES = {
    "en": "en",
    "english": "en",
    "eng": "en",
    "zh": "zh",
    "chinese": "zh",
    "cn": "zh",
    "zh-cn": "zh",
    "中文": "zh",
    "英文": "en",
}
_FORMAT_MEDIA = {
    "PNG": "image/png",
    "JPEG": "image/jpeg",
    "GIF": "image/gif",
    "WEBP": "image/webp",
    "BMP": "image/bmp",
    "TIFF": "image/tiff",
    "MPO": "image/jpeg",
}


@dataclass(frozen=True)
class RowContext:
    """Where a row came from: the directory its relative image paths start at and the root they must stay in."""

    base_dir: Path | None
    root: Path | None
    source: str


@dataclass(frozen=True)
class ParsedRow:
    sample: Sample
    task_inferred: bool
    length_parsed: bool
    language_detected: bool


def _is_missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and not value.strip()


def _as_list(value: Any) -> list[Any]:
    """Images as a list: accepts a list/tuple, a numpy array, one item, or a JSON-encoded list string."""
    if _is_missing(value):
        return []
    if isinstance(value, str) and value.lstrip().startswith("["):
        try:
            decoded = json.loads(value)
        except json.JSONDecodeError:
            return [value]
        return list(decoded) if isinstance(decoded, list) else [value]
    if isinstance(value, (list, tuple)):
        return list(value)
    if type(value).__name__ == "ndarray":
        return list(value)
    return [value]


def _verify(data: bytes, sample_id: str, what: str) -> str:
    """Open and verify image bytes with Pillow; return the media type. Raises DataError when corrupt."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as img:
            fmt = img.format or "PNG"
            img.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise DataError(
            f"corrupt or unreadable image {what} ({type(exc).__name__})", sample_id=sample_id, field="images"
        ) from None
    return _FORMAT_MEDIA.get(fmt, "image/png")


def _decode_base64(text: str) -> bytes | None:
    if text.startswith("data:"):
        _, _, text = text.partition(",")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


def _resolve_path(raw: str, ctx: RowContext, sample_id: str) -> Path:
    path = Path(raw).expanduser()
    if not path.is_absolute():
        if ctx.base_dir is None:
            raise DataError(
                f"relative image path {raw!r} but the data has no directory", sample_id=sample_id, field="images"
            )
        candidates = [ctx.base_dir / path]
        if ctx.root is not None and ctx.root != ctx.base_dir:
            candidates.append(ctx.root / path)
        path = next((c for c in candidates if c.exists()), candidates[0])
    resolved = path.resolve()
    if ctx.root is not None:
        root = ctx.root.resolve()
        if resolved != root and root not in resolved.parents:
            raise DataError(
                f"image path {raw!r} points outside the data directory {str(root)!r}",
                sample_id=sample_id,
                field="images",
            )
    if not resolved.is_file():
        raise DataError(f"image file {raw!r} not found", sample_id=sample_id, field="images")
    return resolved


def image_ref(value: Any, index: int, ctx: RowContext, sample_id: str) -> ImageRef:
    """One image value (any supported form) as a verified :class:`ImageRef`."""
    what = f"#{index}"
    source = f"{sample_id}/image{index}"
    if isinstance(value, dict):
        data = value.get("bytes")
        if _is_missing(data) and not _is_missing(value.get("path")):
            value = str(value["path"])
        elif isinstance(data, str):
            value = data
        elif isinstance(data, (bytes, bytearray)):
            value = bytes(data)
        else:
            raise DataError(f"image {what} has neither bytes nor a path", sample_id=sample_id, field="images")
    if hasattr(value, "save") and hasattr(value, "mode"):  # a PIL image (hub data with decoding on)
        buffer = io.BytesIO()
        fmt = value.format or "PNG"
        value.save(buffer, format=fmt)
        value = buffer.getvalue()
    if isinstance(value, (bytes, bytearray)):
        data = bytes(value)
        return ImageRef.from_bytes(data, source, media_type=_verify(data, sample_id, what))
    if not isinstance(value, str) or not value.strip():
        raise DataError(
            f"image {what} is {type(value).__name__}, not a path or bytes", sample_id=sample_id, field="images"
        )
    text = value.strip()
    if text.startswith("data:") or len(text) > 512:
        decoded = _decode_base64(text)
        if decoded is None:
            raise DataError(
                f"image {what} is neither a file path nor valid base64", sample_id=sample_id, field="images"
            )
        return ImageRef.from_bytes(decoded, source, media_type=_verify(decoded, sample_id, what))
    path = _resolve_path(text, ctx, sample_id)
    data = path.read_bytes()
    media = _verify(data, sample_id, f"{what} ({text})")
    # Keep only the path: a real benchmark's images would otherwise all sit in memory for the whole run.
    return ImageRef(sha256=hashlib.sha256(data).hexdigest(), source=text, path=str(path), data=None, media_type=media)


def required_length(value: Any, instruction: str, sample_id: str) -> tuple[int, bool]:
    """``L`` as a positive int, parsed from the instruction when missing; second item: whether parsed."""
    if _is_missing(value):
        parsed = parse_length(instruction)
        if parsed is None:
            raise DataError(
                "required length L is missing and the instruction states none", sample_id=sample_id, field="L"
            )
        return parsed, True
    number: float | None = None
    if isinstance(value, bool):
        number = None
    elif isinstance(value, (int, float)) or type(value).__module__ == "numpy":
        number = float(value)
    elif isinstance(value, str):
        text = value.strip().replace(",", "")
        try:
            number = float(text)
        except ValueError:
            parsed = parse_length(value)
            number = float(parsed) if parsed is not None else None
    if number is None or math.isnan(number):
        raise DataError(f"required length L {value!r} is not a number", sample_id=sample_id, field="L")
    if number <= 0 or number != int(number):
        raise DataError(
            f"required length L must be a positive whole number, got {value!r}", sample_id=sample_id, field="L"
        )
    return int(number), False


def parse_row(row: dict[str, Any], index: int, columns: dict[str, str | None], ctx: RowContext) -> ParsedRow:
    """Check and convert one row; ``columns`` maps each benchmark field to the row's column (or None)."""

    def get(name: str) -> Any:
        column = columns.get(name)
        return row.get(column) if column is not None else None

    raw_id = get("id")
    sample_id = str(index) if _is_missing(raw_id) else str(raw_id).strip()
    instruction = get("question")
    if _is_missing(instruction) or not isinstance(instruction, str):
        raise DataError("instruction is missing or empty", sample_id=sample_id, field="question")
    images = tuple(image_ref(v, i, ctx, sample_id) for i, v in enumerate(_as_list(get("images"))))
    length, length_parsed = required_length(get("L"), instruction, sample_id)

    raw_task = get("task")
    task = None if _is_missing(raw_task) else normalize_task(str(raw_task))
    task_inferred = task is None
    if task is None:
        task = infer_task(instruction)

    raw_language = get("language")
    language_detected = _is_missing(raw_language)
    if language_detected:
        language = detect_language(instruction)
    else:
        language = _LANGUAGES.get(str(raw_language).strip().lower(), "")
        if not language:
            raise DataError(f"language {raw_language!r} is not en or zh", sample_id=sample_id, field="language")

    used = {c for c in columns.values() if c is not None}
    metadata: dict[str, Any] = {k: v for k, v in row.items() if k not in used and _is_plain(v)}
    metadata.update({"row": index, "task_inferred": task_inferred, "length_parsed": length_parsed})
    sample = Sample(
        id=sample_id,
        instruction=instruction,
        images=images,
        required_length=length,
        task=task,
        language=cast(Language, language),
        metadata=metadata,
    )
    return ParsedRow(sample, task_inferred, length_parsed, language_detected)


def _is_plain(value: Any) -> bool:
    """Whether an extra column can be kept in metadata (JSON scalars only; no bytes or arrays)."""
    return value is None or isinstance(value, (str, int, float, bool))


def resolve_columns(available: list[str], mapping: dict[str, str] | None) -> dict[str, str | None]:
    """Benchmark field -> column of the data; a user mapping overrides the defaults and must name real columns."""
    mapping = dict(mapping or {})
    for field_name, column in mapping.items():
        if field_name not in DEFAULT_COLUMNS:
            raise DataError(
                f"unknown benchmark field {field_name!r} in the column mapping (fields: {', '.join(FIELDS)})",
                field=field_name,
            )
        if column not in available:
            raise DataError(
                f"column {column!r} mapped to {field_name!r} is not in the data (columns: "
                f"{', '.join(available) or 'none'})",
                field=field_name,
            )
    resolved: dict[str, str | None] = {}
    taken = set(mapping.values())
    for field_name, defaults in DEFAULT_COLUMNS.items():
        if field_name in mapping:
            resolved[field_name] = mapping[field_name]
        else:
            resolved[field_name] = next((c for c in defaults if c in available and c not in taken), None)
    if resolved["question"] is None:
        raise DataError(
            f"no instruction column (looked for {', '.join(DEFAULT_COLUMNS['question'])}; map one "
            f"with --data-columns question=COLUMN)",
            field="question",
        )
    return resolved
