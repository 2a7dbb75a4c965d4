"""Training data formats: the project's own jsonl and LLaMA-Factory's sharegpt, read into one row shape.

Why one shape: the SFT and DPO trainers (TRL's vision collators) want ``images`` (paths, decoded lazily)
plus conversational ``prompt`` and ``completion`` (SFT) or ``chosen``/``rejected`` (DPO). Reading both
formats into that shape lets existing LLaMA-Factory data sets (LongWriter-V-22k is one) train without a
conversion script.

Accepted rows (``.jsonl``, or a ``.json`` array as LLaMA-Factory ships):

* project SFT: ``{"images": [...], "instruction"|"prompt": str, "output"|"completion"|"response": str}``
  (``mmlw data agentwrite`` / ``backtranslate`` rows are of this kind);
* project DPO: ``{"images": [...], "prompt"|"instruction": str, "chosen": str, "rejected": str}``
  (``mmlw data iterdpo-pairs`` / ``ai-feedback-pairs`` rows);
* sharegpt: ``{"messages"|"conversations": [{"role"|"from": ..., "content"|"value": ...}], "images": [...]}``
  with one ``<image>`` placeholder per image in the user turns; for DPO the last assistant turn is
  replaced by ``"chosen"`` / ``"rejected"`` (strings or ``{"from": "gpt", "value": ...}``).

Relative image paths are resolved against the data file's directory (or ``image_root``). In project rows
without placeholders the images come first in the user turn, as in LongWriter-V's data.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from mmlongbench_write.errors import DataError

IMAGE_PLACEHOLDER = "<image>"
Kind = Literal["sft", "dpo"]

_ROLE_ALIASES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant",
                 "system": "system", "observation": "user"}


@dataclass
class LoadReport:
    """How many rows were read and why any were rejected (``reason -> count``)."""

    read: int = 0
    kept: int = 0
    rejected: Counter[str] = field(default_factory=Counter)

    def reject(self, reason: str) -> None:
        self.rejected[reason] += 1

    def merge(self, other: LoadReport) -> None:
        self.read += other.read
        self.kept += other.kept
        self.rejected.update(other.rejected)

    def summary(self) -> str:
        parts = [f"{self.kept}/{self.read} rows kept"]
        parts += [f"{n} rejected: {reason}" for reason, n in sorted(self.rejected.items())]
        return "; ".join(parts)


def read_rows(path: str | Path) -> list[dict[str, Any]]:
    """The rows of a ``.jsonl``, ``.json`` or ``.parquet`` file (the same reader as evaluation data)."""
    from mmlongbench_write.data.readers import read_file

    p = Path(path)
    if not p.is_file():
        raise DataError(f"training data file not found: {p}")
    return read_file(p)


def text_content(text: str, n_images_first: int = 0) -> list[dict[str, Any]]:
    """Structured message content: ``<image>`` placeholders become image parts in place.

    ``n_images_first`` image parts are put before the text (rows without placeholders). Image parts carry
    ``text: None`` so every part has the same keys (Arrow needs one struct type per column).
    """
    parts: list[dict[str, Any]] = [{"type": "image", "text": None} for _ in range(n_images_first)]
    pieces = text.split(IMAGE_PLACEHOLDER)
    for i, piece in enumerate(pieces):
        if i > 0:
            parts.append({"type": "image", "text": None})
        if piece.strip():
            parts.append({"type": "text", "text": piece.strip("\n")})
    return parts


def count_image_parts(messages: list[dict[str, Any]]) -> int:
    return sum(1 for m in messages for part in m["content"] if part["type"] == "image")


def _resolve_images(row: dict[str, Any], base: Path) -> list[str]:
    images = row.get("images")
    if images is None:
        images = [row["image"]] if row.get("image") else []
    if isinstance(images, str):
        images = [images]
    resolved = []
    for image in images:
        if isinstance(image, dict):  # {"path": ...} / {"source": ...}
            image = image.get("path") or image.get("source") or ""
        p = Path(str(image)).expanduser()
        resolved.append(str(p if p.is_absolute() else base / p))
    return resolved


def _turn_text(value: Any) -> str:
    if isinstance(value, dict):
        return str(value.get("value", value.get("content", "")))
    return "" if value is None else str(value)


def _sharegpt_turns(row: dict[str, Any]) -> list[tuple[str, str]]:
    turns = row.get("messages") or row.get("conversations") or []
    out = []
    for turn in turns:
        role = _ROLE_ALIASES.get(str(turn.get("role", turn.get("from", ""))).lower())
        if role is None:
            raise ValueError(f"unknown role {turn.get('role', turn.get('from'))!r}")
        out.append((role, _turn_text(turn.get("content", turn.get("value")))))
    if row.get("system"):
        out.insert(0, ("system", str(row["system"])))
    return out


def _messages(turns: list[tuple[str, str]], n_images: int) -> list[dict[str, Any]]:
    """Turns to structured messages; with no placeholder anywhere, images go before the first user text."""
    has_placeholder = any(IMAGE_PLACEHOLDER in text for _, text in turns)
    messages = []
    first_user = True
    for role, text in turns:
        first = n_images if (role == "user" and first_user and not has_placeholder) else 0
        if role == "user":
            first_user = False
        messages.append({"role": role, "content": text_content(text, first)})
    return messages


def normalize_row(row: dict[str, Any], kind: Kind, base: Path) -> dict[str, Any]:
    """One input row in any accepted format -> the trainer row; raises ``ValueError`` naming the problem."""
    images = _resolve_images(row, base)
    if "messages" in row or "conversations" in row:
        turns = _sharegpt_turns(row)
        if kind == "dpo":
            if "chosen" not in row or "rejected" not in row:
                raise ValueError("a sharegpt DPO row needs 'chosen' and 'rejected'")
            chosen, rejected = _turn_text(row["chosen"]), _turn_text(row["rejected"])
            if turns and turns[-1][0] == "assistant":  # a conversation that already holds an answer
                turns = turns[:-1]
        else:
            if not turns or turns[-1][0] != "assistant":
                raise ValueError("a sharegpt SFT row must end with an assistant turn")
            completion = turns[-1][1]
            turns = turns[:-1]
    else:
        prompt_text = row.get("prompt", row.get("instruction"))
        if not isinstance(prompt_text, str):
            raise ValueError("row has no 'prompt'/'instruction' text and no 'messages'/'conversations'")
        turns = [("user", prompt_text)]
        if row.get("system"):
            turns.insert(0, ("system", str(row["system"])))
        if kind == "dpo":
            if "chosen" not in row or "rejected" not in row:
                raise ValueError("a DPO row needs 'chosen' and 'rejected'")
            chosen, rejected = _turn_text(row["chosen"]), _turn_text(row["rejected"])
        else:
            answer = row.get("output", row.get("completion", row.get("response")))
            if not isinstance(answer, str):
                raise ValueError("an SFT row needs an 'output' (or 'completion'/'response') string")
            completion = answer
    if not any(role == "user" for role, _ in turns):
        raise ValueError("row has no user turn")
    out: dict[str, Any] = {"images": images, "prompt": _messages(turns, len(images))}
    if kind == "dpo":
        out["chosen"] = [{"role": "assistant", "content": text_content(chosen)}]
        out["rejected"] = [{"role": "assistant", "content": text_content(rejected)}]
    else:
        out["completion"] = [{"role": "assistant", "content": text_content(completion)}]
    return out


def load_training_rows(
    paths: Sequence[str | Path], kind: Kind, *, image_root: str | Path | None = None, max_images: int | None = None
) -> tuple[list[dict[str, Any]], LoadReport]:
    """Read and normalize every row of ``paths``; rows that cannot be used are counted, not kept.

    Rejected (with a reason in the report): malformed rows, image placeholder count != image count,
    more than ``max_images`` images, image files that do not exist. Over-long rows are rejected later,
    once the processor can count tokens (:func:`mmlongbench_write.training.common.filter_by_length`).
    """
    rows: list[dict[str, Any]] = []
    report = LoadReport()
    for path in paths:
        base = Path(image_root) if image_root else Path(path).resolve().parent
        for raw in read_rows(path):
            report.read += 1
            try:
                row = normalize_row(raw, kind, base)
            except (ValueError, TypeError, KeyError) as exc:
                report.reject(f"malformed row ({exc})")
                continue
            n_parts = count_image_parts(row["prompt"])
            if n_parts != len(row["images"]):
                report.reject("image placeholder count != image count")
                continue
            if max_images is not None and len(row["images"]) > max_images:
                report.reject(f"more than {max_images} images")
                continue
            if any(not Path(p).is_file() for p in row["images"]):
                report.reject("image file not found")
                continue
            rows.append(row)
            report.kept += 1
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
