"""One image value of a row -> a checked :class:`ImageRef`, or a :class:`DataError` naming sample and field.

Images may be:
- a path relative to the data file's directory (or absolute), which must resolve inside ``root``
  (the data directory) — ``../`` escapes and symlinks pointing out are refused;
- embedded bytes: ``bytes``, a ``{"bytes": ..., "path": ...}`` dict as Hugging Face ``datasets``
  writes them, a base64 string (optionally a ``data:image/...;base64,`` URI), or a PIL image.

Every image is **fully decoded** with Pillow at load time (not just ``verify()``-ed), so a corrupt or
truncated file fails here, naming its sample, instead of mid-run on every resume. An image above
:data:`MAX_IMAGE_PIXELS` is refused before its pixels are decoded (a decompression bomb: a few KB of
PNG can claim 30000x30000 pixels). A path holding a NUL byte, a name too long for the file system or a
symlink loop is one line too, never an ``OSError``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mmlongbench_write.errors import DataError, first_line
from mmlongbench_write.schema import ImageRef

#: Largest image accepted, in pixels (width x height): Pillow's own default bomb threshold, about
#: 9459 x 9459. Benchmark images are far smaller; anything above is refused, not decoded.
MAX_IMAGE_PIXELS = 89_478_485

_FORMAT_MEDIA = {
    "PNG": "image/png",
    "JPEG": "image/jpeg",
    "GIF": "image/gif",
    "WEBP": "image/webp",
    "BMP": "image/bmp",
    "TIFF": "image/tiff",
    "MPO": "image/jpeg",
}

#: sha256 -> media type of images already decoded in this process (a ruler set repeats each image set).
_checked: dict[str, str] = {}


@dataclass(frozen=True)
class RowContext:
    """Where a row came from: the directory its relative image paths start at and the root they must stay in."""

    base_dir: Path | None
    root: Path | None
    source: str


def _missing(value: Any) -> bool:
    return value is None or value in (b"", "") or (isinstance(value, float) and value != value)


def _short(text: str, limit: int = 80) -> str:
    """``text`` cut to ``limit`` characters for a one-line message (a 300-character name stays readable)."""
    return text if len(text) <= limit else f"{text[: limit - 20]}...{text[-17:]}"


def checked_media_type(data: bytes, sample_id: str, what: str) -> str:
    """Decode ``data`` completely; return its media type. Raises DataError for a bad or oversized image."""
    digest = hashlib.sha256(data).hexdigest()
    known = _checked.get(digest)
    if known is not None:
        return known
    from PIL import Image, UnidentifiedImageError

    def bad(reason: str) -> DataError:
        return DataError(f"image {what} {reason}", sample_id=sample_id, field="images")

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # we apply our own limit below
            with Image.open(io.BytesIO(data)) as img:
                fmt = img.format or "PNG"
                width, height = img.size
                if width * height > MAX_IMAGE_PIXELS:
                    raise bad(f"is {width}x{height} pixels, above the limit of {MAX_IMAGE_PIXELS:,} "
                              "(a decompression bomb?)")
                img.load()  # the whole image: a truncated file fails here, not mid-run
    except Image.DecompressionBombError as exc:
        raise bad(f"is too large to decode ({exc.__class__.__name__})") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
        detail = first_line(exc)[:80] or type(exc).__name__
        raise bad(f"is corrupt or unreadable ({type(exc).__name__}: {detail})") from None
    media = _FORMAT_MEDIA.get(fmt, "image/png")
    _checked[digest] = media
    return media


def _decode_base64(text: str) -> bytes | None:
    if text.startswith("data:"):
        _, _, text = text.partition(",")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


def resolve_image_path(raw: str, ctx: RowContext, sample_id: str) -> Path:
    """The file an image path names, checked to exist and to stay inside the data directory."""

    def bad(reason: str) -> DataError:
        return DataError(f"image path {_short(raw)!r} {reason}", sample_id=sample_id, field="images")

    if "\x00" in raw:
        raise bad("contains a NUL byte")
    try:
        path = Path(raw).expanduser()
        if not path.is_absolute():
            if ctx.base_dir is None:
                raise bad("is relative but the data has no directory (use an absolute path or bytes)")
            candidates = [ctx.base_dir / path]
            if ctx.root is not None and ctx.root != ctx.base_dir:
                candidates.append(ctx.root / path)
            path = next((c for c in candidates if c.exists()), candidates[0])
        resolved = path.resolve()
        if ctx.root is not None:
            root = ctx.root.resolve()
            if resolved != root and root not in resolved.parents:
                raise bad(f"points outside the data directory {str(root)!r}")
        if resolved.is_dir():
            raise bad("is a directory, not an image file")
        if not resolved.is_file():
            raise bad("names no file (not found)")
    except RuntimeError:  # Python 3.11's Path.resolve on a symlink loop
        raise bad("is a symlink loop") from None
    except OSError as exc:  # a name too long for the file system, a loop (3.13+), an unreadable directory
        raise bad(f"cannot be used ({exc.strerror or type(exc).__name__})") from None
    return resolved


def _read(path: Path, raw: str, sample_id: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise DataError(f"image file {_short(raw)!r} cannot be read ({exc.strerror or type(exc).__name__})",
                        sample_id=sample_id, field="images") from None


def image_ref(value: Any, index: int, ctx: RowContext, sample_id: str) -> ImageRef:
    """One image value (any supported form) as a fully decoded, checked :class:`ImageRef`."""
    what = f"#{index}"
    source = f"{sample_id}/image{index}"
    if isinstance(value, dict):
        data = value.get("bytes")
        path_value = value.get("path")
        if _missing(data) and isinstance(path_value, str) and path_value.strip():
            value = path_value
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
        return ImageRef.from_bytes(data, source, media_type=checked_media_type(data, sample_id, what))
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
        return ImageRef.from_bytes(decoded, source, media_type=checked_media_type(decoded, sample_id, what))
    path = resolve_image_path(text, ctx, sample_id)
    data = _read(path, text, sample_id)
    media = checked_media_type(data, sample_id, f"{what} ({_short(text)})")
    # Keep only the path: a real benchmark's images would otherwise all sit in memory for the whole run.
    return ImageRef(sha256=hashlib.sha256(data).hexdigest(), source=text, path=str(path), data=None, media_type=media)
