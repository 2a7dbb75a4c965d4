"""Training data formats, read into one row shape for the SFT and DPO trainers.

Why one shape: TRL's vision collators want ``images`` plus conversational ``prompt`` and ``completion``
(SFT) or ``chosen``/``rejected`` (DPO). Reading every common format into that shape lets published data
sets (LongWriter-V-22K is one) train without a conversion script.

Sources: a ``.jsonl``/``.json``/``.parquet``/``.csv`` file, a folder of parquet shards (``data/train-*.parquet``
as a hub snapshot lays them out) or a ``datasets`` ``save_to_disk`` folder (read by
:func:`mmlongbench_write.data.readers.read_local`). Accepted rows:

* project SFT: ``{"images", "instruction"|"prompt": str, "output"|"completion"|"response": str}``;
* project DPO: ``{"images", "prompt"|"instruction": str, "chosen": str, "rejected": str}``;
* LongWriter-V-22K: ``{"id", "messages": [str, ...], "images": [Image, ...]}``: the strings alternate
  user / assistant, starting with the user;
* LLaMA-Factory sharegpt / mllm: ``{"conversations"|"messages": [{"from"|"role", "value"|"content"}],
  "images"}`` with ``<image>`` placeholders; for DPO ``chosen``/``rejected`` strings or ``{"from", "value"}``;
* TRL conversational: ``messages`` whose ``content`` is a list of typed parts (``{"type": "text", "text"}``,
  ``{"type": "image"}``); prompt/completion (``prompt`` and ``completion`` lists of messages); preference
  with an explicit ``prompt`` or implicit (``chosen``/``rejected`` full conversations sharing the prompt).

Images may be paths (relative ones start at the data file's directory, or ``image_root``), ``{"bytes",
"path"}`` dicts with embedded bytes (as ``datasets`` stores ``Image`` columns) or raw bytes; they become
``{"bytes", "path"}`` dicts, decoded lazily. Without any placeholder or image part, the images come first in
the first user turn, as in LongWriter-V's data. A row that cannot be used is rejected with a reason and
counted; the first case of each reason is kept with its file, row number and field.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from mmlongbench_write.errors import DataError

IMAGE_PLACEHOLDER = "<image>"
Kind = Literal["sft", "dpo"]
Part = dict[str, Any]
Turn = tuple[str, list[Part]]

_ROLE_ALIASES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant",
                 "system": "system", "observation": "user"}


class RowError(ValueError):
    """A row that cannot be used: ``reason`` is what gets counted, ``field`` and ``detail`` say where."""

    def __init__(self, reason: str, field: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason, self.field, self.detail = reason, field, detail


@dataclass
class LoadReport:
    """How many rows were read, kept, and why any were rejected (``reason -> count``)."""

    read: int = 0
    kept: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    examples: dict[str, str] = field(default_factory=dict)  # reason -> the first row it happened to
    sampled: dict[str, int] | None = None  # {"max_samples", "seed", "from"} when --max-samples drew a subset
    tokens_per_row: list[int] = field(default_factory=list)  # of the kept rows, once measured (.data_report)
    tokens_per_image: list[int] = field(default_factory=list)  # visual tokens of their images

    def reject(self, reason: str, where: str | None = None) -> None:
        self.rejected[reason] += 1
        if where is not None:
            self.examples.setdefault(reason, where)

    def merge(self, other: LoadReport) -> None:
        self.read += other.read
        self.kept += other.kept
        self.rejected.update(other.rejected)
        for reason, where in other.examples.items():
            self.examples.setdefault(reason, where)
        self.tokens_per_row += other.tokens_per_row
        self.tokens_per_image += other.tokens_per_image

    def summary(self) -> str:
        parts = [f"{self.kept}/{self.read} rows kept"]
        for reason, n in sorted(self.rejected.items()):
            example = f" (first: {self.examples[reason]})" if reason in self.examples else ""
            parts.append(f"{n} rejected: {reason}{example}")
        return "; ".join(parts)


def plain(value: Any) -> Any:
    """``value`` with numpy arrays/scalars (as pandas reads parquet lists) turned into lists and numbers."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    tolist = getattr(value, "tolist", None)
    if tolist is not None and type(value).__module__ == "numpy":
        return plain(tolist())
    return value


def read_source(path: str | Path) -> tuple[list[dict[str, Any]], Path]:
    """The rows of a data file or folder (shards, save_to_disk) and the folder relative images start at."""
    from mmlongbench_write.data.readers import read_local

    p = Path(path)
    if not p.exists():
        raise DataError(f"training data file not found: {p}")
    raw = read_local(str(p))
    base = raw.base_dir or (p.resolve() if p.is_dir() else p.resolve().parent)
    return [plain(row) for row in raw.rows], base


def read_rows(path: str | Path) -> list[dict[str, Any]]:
    """The rows of a data file or folder (the same reader as evaluation data), numpy values made plain."""
    return read_source(path)[0]


def text_content(text: str, n_images_first: int = 0) -> list[Part]:
    """Structured message content: ``<image>`` placeholders become image parts in place.

    ``n_images_first`` image parts are put before the text (rows without placeholders). Image parts carry
    ``text: None`` so every part has the same keys (Arrow needs one struct type per column).
    """
    parts: list[Part] = [{"type": "image", "text": None} for _ in range(n_images_first)]
    pieces = text.split(IMAGE_PLACEHOLDER)
    for i, piece in enumerate(pieces):
        if i > 0:
            parts.append({"type": "image", "text": None})
        if piece.strip():
            parts.append({"type": "text", "text": piece.strip("\n")})
    return parts


def count_image_parts(messages: list[dict[str, Any]]) -> int:
    return sum(1 for m in messages for part in m["content"] if part["type"] == "image")


def image_ref(image: Any, base: Path) -> dict[str, Any]:
    """One image as ``{"bytes", "path"}``: embedded bytes kept, paths resolved against ``base``."""
    if isinstance(image, (bytes, bytearray)):
        return {"bytes": bytes(image), "path": None}
    if isinstance(image, dict):
        if image.get("bytes"):
            return {"bytes": bytes(image["bytes"]), "path": None}
        image = image.get("path") or image.get("source") or image.get("image") or ""
    if not isinstance(image, str) or not image.strip():
        raise RowError("unusable image entry", "images", f"{type(image).__name__} with no bytes and no path")
    p = Path(image).expanduser()
    return {"bytes": None, "path": str(p if p.is_absolute() else base / p)}


def _images(row: dict[str, Any], base: Path) -> list[dict[str, Any]]:
    images = row.get("images")
    if images is None:
        images = [row["image"]] if row.get("image") is not None else []
    if isinstance(images, (str, bytes, dict)):
        images = [images]
    if not isinstance(images, list):
        raise RowError("unusable 'images'", "images", f"a {type(images).__name__}, not a list")
    return [image_ref(image, base) for image in images]


def _parts(content: Any, where: str) -> list[Part]:
    """Message content (a string with placeholders, or TRL typed parts) as normalized parts."""
    if content is None:
        return []
    if isinstance(content, str):
        return text_content(content)
    if isinstance(content, dict):
        content = [content]
    if not isinstance(content, list):
        raise RowError("unusable message content", where, f"a {type(content).__name__}")
    parts: list[Part] = []
    for part in content:
        if isinstance(part, str):
            parts.extend(text_content(part))
            continue
        kind = part.get("type") if isinstance(part, dict) else None
        if kind in ("image", "image_url"):
            parts.append({"type": "image", "text": None})
        elif kind == "text":
            parts.extend(text_content(str(part.get("text") or "")))
        else:
            raise RowError("unknown content part type", where, repr(kind))
    return parts


def _turn(turn: Any, index: int, key: str) -> Turn:
    where = f"{key}[{index}]"
    if isinstance(turn, str):
        stripped = turn.lstrip()
        if stripped.startswith("{") and '"role"' in stripped:  # a JSON-encoded message
            try:
                return _turn(json.loads(stripped), index, key)
            except json.JSONDecodeError:
                pass
        return ("user" if index % 2 == 0 else "assistant", text_content(turn))  # LongWriter-V-22K
    if not isinstance(turn, dict):
        raise RowError("unusable turn", where, f"a {type(turn).__name__}")
    raw_role = turn.get("role", turn.get("from"))
    role = _ROLE_ALIASES.get(str(raw_role).lower())
    if role is None:
        raise RowError("unknown role", where, repr(raw_role))
    return role, _parts(turn.get("content", turn.get("value")), where)


def _turns(value: Any, key: str, text_role: str = "user") -> list[Turn]:
    """A field holding a string (one ``text_role`` turn), one message, or a list of messages/strings."""
    if isinstance(value, str):
        return [(text_role, text_content(value))]
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list):
        raise RowError(f"unusable '{key}'", key, f"a {type(value).__name__}")
    return [_turn(t, i, key) for i, t in enumerate(value)]


def _answer(row: dict[str, Any], key: str) -> list[Turn]:
    if row.get(key) is None:
        raise RowError(f"missing '{key}'", key)
    turns = _turns(row[key], key, text_role="assistant")
    if not turns:
        raise RowError(f"empty '{key}'", key)
    return turns


def _split_implicit(chosen: list[Turn], rejected: list[Turn]) -> tuple[list[Turn], list[Turn], list[Turn]]:
    """TRL's implicit-prompt preference rows: the shared leading turns are the prompt."""
    n = 0
    while n < min(len(chosen), len(rejected)) and chosen[n] == rejected[n]:
        n += 1
    while n > 0 and chosen[n - 1][0] == "assistant":  # the answers start at an assistant turn
        n -= 1
    return chosen[:n], chosen[n:], rejected[n:]


def _conversation(row: dict[str, Any]) -> list[Turn] | None:
    for key in ("messages", "conversations"):
        if row.get(key) is not None:
            turns = _turns(row[key], key)
            if row.get("system"):
                turns.insert(0, ("system", text_content(str(row["system"]))))
            return turns
    return None


def _prompt_turns(row: dict[str, Any]) -> list[Turn]:
    prompt = row.get("prompt", row.get("instruction"))
    if prompt is None:
        raise RowError("no prompt", "prompt", "no 'prompt'/'instruction' and no 'messages'/'conversations'")
    turns = _turns(prompt, "prompt")
    if row.get("system"):
        turns.insert(0, ("system", text_content(str(row["system"]))))
    return turns


def _sft_turns(row: dict[str, Any]) -> tuple[list[Turn], list[Turn]]:
    conversation = _conversation(row)
    if conversation is not None:
        if not conversation or conversation[-1][0] != "assistant":
            raise RowError("conversation does not end with an assistant turn", "messages")
        return conversation[:-1], conversation[-1:]
    key = next((k for k in ("output", "completion", "response") if row.get(k) is not None), None)
    if key is None:
        raise RowError("no answer", "output", "an SFT row needs 'output' (or 'completion'/'response')")
    return _prompt_turns(row), _answer(row, key)


def _dpo_turns(row: dict[str, Any]) -> tuple[list[Turn], list[Turn], list[Turn]]:
    chosen, rejected = _answer(row, "chosen"), _answer(row, "rejected")
    conversation = _conversation(row)
    if conversation is not None:
        if conversation and conversation[-1][0] == "assistant":  # a conversation that already holds an answer
            conversation = conversation[:-1]
        return conversation, chosen, rejected
    if row.get("prompt") is None and row.get("instruction") is None:
        return _split_implicit(chosen, rejected)
    return _prompt_turns(row), chosen, rejected


def _place_images(prompt: list[Turn], answers: list[list[Turn]], n_images: int) -> None:
    """With no image part anywhere, the row's images go before the first user text (in place)."""
    if n_images == 0 or any(p["type"] == "image" for turns in (prompt, *answers) for _, ps in turns for p in ps):
        return
    for i, (role, parts) in enumerate(prompt):
        if role == "user":
            prompt[i] = (role, [{"type": "image", "text": None} for _ in range(n_images)] + parts)
            return


def _messages(turns: list[Turn]) -> list[dict[str, Any]]:
    return [{"role": role, "content": parts} for role, parts in turns]


def _answer_field(row: dict[str, Any], key: str) -> str:
    """The input field an answer came from (for the rejection line)."""
    if key in row:
        return key
    names = ("messages", "conversations") + (("output", "completion", "response") if key == "completion" else ())
    return next((k for k in names if k in row), key)


def normalize_row(row: dict[str, Any], kind: Kind, base: Path) -> dict[str, Any]:
    """One input row in any accepted format -> the trainer row; raises :class:`RowError` naming the field."""
    images = _images(row, base)
    if kind == "dpo":
        prompt, chosen, rejected = _dpo_turns(row)
        answers = [chosen, rejected]
    else:
        prompt, completion = _sft_turns(row)
        answers = [completion]
    if not any(role == "user" for role, _ in prompt):
        raise RowError("no user turn", "prompt" if "prompt" in row else "messages")
    # an empty answer teaches nothing (an empty rejected side is a real preference and stays)
    if not any(p["type"] == "text" and (p["text"] or "").strip() for _, parts in answers[0] for p in parts):
        raise RowError("empty answer", _answer_field(row, "chosen" if kind == "dpo" else "completion"))
    _place_images(prompt, answers, len(images))
    out: dict[str, Any] = {"images": images, "prompt": _messages(prompt)}
    if kind == "dpo":
        out["chosen"], out["rejected"] = _messages(answers[0]), _messages(answers[1])
    else:
        out["completion"] = _messages(answers[0])
    return out


def _where(path: str | Path, number: int, raw: dict[str, Any], field_name: str | None) -> str:
    rid = raw.get("id")
    ident = f" (id {rid})" if isinstance(rid, (str, int)) and str(rid) else ""
    return f"{Path(path).name} row {number}{ident}" + (f", field '{field_name}'" if field_name else "")


def _check(row: dict[str, Any], max_images: int | None) -> RowError | None:
    n_parts = sum(count_image_parts(row[k]) for k in ("prompt", "completion", "chosen", "rejected") if k in row)
    if n_parts != len(row["images"]):
        return RowError("image placeholder count != image count", "images",
                        f"{n_parts} placeholders, {len(row['images'])} images")
    if max_images is not None and len(row["images"]) > max_images:
        return RowError(f"more than {max_images} images", "images", f"{len(row['images'])} images")
    for i, image in enumerate(row["images"]):
        if image["bytes"] is None and not Path(image["path"]).is_file():
            return RowError("image file not found", f"images[{i}]", image["path"])
    return None


def load_training_rows(
    paths: Sequence[str | Path], kind: Kind, *, image_root: str | Path | None = None,
    max_images: int | None = None, max_samples: int | None = None, sample_seed: int = 0,
) -> tuple[list[dict[str, Any]], LoadReport]:
    """Read and normalize every row of ``paths``; rows that cannot be used are counted, not kept.

    Rejected (with a reason in the report): malformed rows, image placeholder count != image count,
    more than ``max_images`` images, image files that do not exist. ``max_samples`` then keeps a random
    subset of the usable rows, drawn with ``sample_seed`` (the same rows every time for the same data).
    Over-long rows are rejected later, once the processor can count tokens (:mod:`.data_report`).
    """
    rows: list[dict[str, Any]] = []
    report = LoadReport()
    for path in paths:
        raw_rows, base = read_source(path)
        if image_root:
            base = Path(image_root)
        for number, raw in enumerate(raw_rows, start=1):
            report.read += 1
            try:
                row = normalize_row(raw, kind, base)
            except RowError as exc:
                report.reject(f"malformed row: {exc.reason}", _where(path, number, raw, exc.field) +
                              (f": {exc.detail}" if exc.detail else ""))
                continue
            except (TypeError, KeyError, AttributeError, ValueError) as exc:  # a shape no rule above expects
                report.reject("malformed row: unexpected value",
                              f"{_where(path, number, raw, None)}: {type(exc).__name__}: {exc}"[:300])
                continue
            problem = _check(row, max_images)
            if problem is not None:
                report.reject(problem.reason, _where(path, number, raw, problem.field) + f": {problem.detail}")
                continue
            rows.append(row)
    if max_samples is not None and max_samples < len(rows):
        if max_samples <= 0:
            raise DataError(f"--max-samples must be positive, not {max_samples}")
        picked = sorted(random.Random(sample_seed).sample(range(len(rows)), max_samples))
        report.sampled = {"max_samples": max_samples, "seed": sample_seed, "from": len(rows)}
        rows = [rows[i] for i in picked]
    report.kept = len(rows)
    return rows, report


def to_sharegpt(row: dict[str, Any]) -> dict[str, Any]:
    """A project pair/SFT row as a LLaMA-Factory sharegpt row (``<image>`` placeholders first)."""
    images = list(row.get("images") or [])
    prompt = IMAGE_PLACEHOLDER * len(images) + str(row.get("prompt", row.get("instruction", "")))
    out: dict[str, Any] = {"conversations": [{"from": "human", "value": prompt}], "images": images}
    if "chosen" in row:
        out["chosen"] = {"from": "gpt", "value": row["chosen"]}
        out["rejected"] = {"from": "gpt", "value": row["rejected"]}
    else:
        out["conversations"].append({"from": "gpt", "value": row.get("output", row.get("completion", ""))})
    return out
