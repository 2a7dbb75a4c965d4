"""Turning one raw row into a checked :class:`Sample`, or a :class:`DataError` naming the sample and field.

Row values come from jsonl/json (strings, numbers, lists), parquet (numpy arrays, bytes) or the hub
(``{"bytes", "path"}`` dicts, PIL images), so every field accepts the forms those writers produce.

Images are checked (and fully decoded) by :mod:`.images`. The required length ``L`` must be a whole
number in ``1..MAX_REQUIRED_LENGTH``: ``inf``, ``1e400`` or a 400-digit integer is refused in one line.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, cast

from mmlongbench_write.errors import DataError
from mmlongbench_write.schema import Language, Sample
from mmlongbench_write.textstats import detect_language

from .images import RowContext, image_ref
from .inference import TaskGuess, guess_task, normalize_task, parse_length

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


#: Where a sample's task label came from (``Sample.metadata["task_source"]``): a task column of the data,
#: a known data source that implies it (the ruler's hub id), or a reliable keyword guess; ``None``: no label.
TASK_FROM_DATA = "data"
TASK_FROM_SOURCE = "source"
TASK_GUESSED = "guessed"


def task_source(sample: Sample) -> str | None:
    """Where ``sample.task`` came from (see ``TASK_FROM_*``); ``None`` when the sample has no task."""
    return sample.metadata.get("task_source") if sample.task is not None else None


def task_declared(sample: Sample) -> bool:
    """Whether the sample's task was given (by its data or its source) rather than guessed from keywords."""
    return task_source(sample) in (TASK_FROM_DATA, TASK_FROM_SOURCE)


@dataclass(frozen=True)
class ParsedRow:
    sample: Sample
    task_source: str | None
    guess_unreliable: bool
    length_parsed: bool
    language_detected: bool

    @property
    def task_inferred(self) -> bool:
        """No task value in the row (nor implied by the source): the task was left to the keyword guess."""
        return self.task_source not in (TASK_FROM_DATA, TASK_FROM_SOURCE)


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


#: Largest required length accepted, in words. The benchmark asks for at most a few thousand and the ruler
#: for 4000; anything above this is a data error (``inf``, ``1e400``, a typo with extra zeros), refused.
MAX_REQUIRED_LENGTH = 100_000


def _length_number(value: Any) -> int | float | None:
    """The number a length value holds (int kept exact, so ``10**400`` is not squeezed through a float)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value
    if type(value).__module__ == "numpy":
        return value.item()  # type: ignore[no-any-return]
    if isinstance(value, str):
        text = value.strip().replace(",", "")
        try:
            return int(text)
        except ValueError:
            pass
        try:
            return float(text)
        except ValueError:
            parsed = parse_length(value)
            return parsed
    return None


def check_length(number: int | float | None, value: Any, sample_id: str) -> int:
    """``number`` as a whole number in ``1..MAX_REQUIRED_LENGTH``, or a DataError quoting ``value``."""
    shown = _short_repr(value)
    if number is None or (isinstance(number, float) and math.isnan(number)):
        raise DataError(f"required length L {shown} is not a number", sample_id=sample_id, field="L")
    if isinstance(number, float) and math.isinf(number):
        raise DataError(f"required length L {shown} is not a finite number", sample_id=sample_id, field="L")
    if number <= 0 or number != int(number):
        raise DataError(f"required length L must be a positive whole number, got {shown}",
                        sample_id=sample_id, field="L")
    if number > MAX_REQUIRED_LENGTH:
        raise DataError(f"required length L {shown} is above the maximum of {MAX_REQUIRED_LENGTH:,} words",
                        sample_id=sample_id, field="L")
    return int(number)


def _short_repr(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:20]}...{text[-10:]} ({len(text)} characters)"


def required_length(value: Any, instruction: str, sample_id: str) -> tuple[int, bool]:
    """``L`` as a positive int, parsed from the instruction when missing; second item: whether parsed."""
    if _is_missing(value):
        parsed = parse_length(instruction)
        if parsed is None:
            raise DataError(
                "required length L is missing and the instruction states none", sample_id=sample_id, field="L"
            )
        return check_length(parsed, f"{parsed} (from the instruction)", sample_id), True
    return check_length(_length_number(value), value, sample_id), False


def _task(raw_task: Any, declared_task: str | None, instruction: str
          ) -> tuple[str | None, str | None, TaskGuess | None]:
    """(label, where it came from, the keyword guess when one was made) for one row."""
    if not _is_missing(raw_task):
        return normalize_task(str(raw_task)), TASK_FROM_DATA, None
    if declared_task is not None:
        return declared_task, TASK_FROM_SOURCE, None
    guess = guess_task(instruction)
    return (guess.task, TASK_GUESSED, guess) if guess.reliable else (None, None, guess)


def parse_row(row: dict[str, Any], index: int, columns: dict[str, str | None], ctx: RowContext,
              declared_task: str | None = None) -> ParsedRow:
    """Check and convert one row; ``columns`` maps each benchmark field to the row's column (or None).

    ``declared_task`` is the task a known data source implies for rows without a task value (every row
    of the ruler's hub data set is a ruler row).
    """

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
    task, task_source, guess = _task(get("task"), declared_task, instruction)

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
    metadata.update({"row": index, "task_inferred": task_source not in (TASK_FROM_DATA, TASK_FROM_SOURCE),
                     "task_source": task_source, "length_parsed": length_parsed})
    if guess is not None and guess.task is not None:
        metadata["task_guess"] = guess.task
        if not guess.reliable:
            metadata["task_doubt"] = guess.doubt
    sample = Sample(
        id=sample_id,
        instruction=instruction,
        images=images,
        required_length=length,
        task=task,
        language=cast(Language, language),
        metadata=metadata,
    )
    unreliable = guess is not None and guess.task is not None and not guess.reliable
    return ParsedRow(sample, task_source, unreliable, length_parsed, language_detected)


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
