"""``load_samples``: one entry point for the bundled ``mini`` set, local files/directories, hub ids and
in-memory data sets.

``source`` is resolved in this order: a ``datasets.Dataset``, pandas ``DataFrame`` or list of dicts ->
those rows (:mod:`.inmemory`); ``"mini"`` -> the bundled set; an existing local path (or one that looks
like a path: starts with ``.``/``/``/``~`` or ends in .jsonl/.json/.parquet/.csv) -> a file or directory
(see :mod:`.readers` for how a directory is searched); anything else -> a Hugging Face dataset id.

Columns: each benchmark field (``id``, ``question``, ``images``, ``L``, ``task``, ``language``) is read from
the column named in ``columns`` or else from the first default name present (see
:data:`.validation.DEFAULT_COLUMNS`). Only ``question`` is required as a column. A missing ``id`` is the
row's 0-based index as a plain string (``"0"``, ``"1"``, ...); a missing ``L`` is parsed from the
instruction; a missing task is guessed from keywords and kept as a label only when the guess is reliable
(:func:`.inference.guess_task`; otherwise ``None`` -> counted in ``unclassified``, scored as category
``custom``) — a label, never a reason to leave a sample out; a missing language is detected from the
instruction's script. The ruler's hub data set implies task ``ruler`` for every row (:mod:`.sources`).

**Fingerprint**: SHA-256 over the samples *in file order* of ``[id, instruction, L, task, language,
[image sha256...]]`` — reordering a data set changes it, as it changes ``--limit`` selections too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mmlongbench_write.errors import DataError
from mmlongbench_write.kvstore import stable_hash
from mmlongbench_write.schema import Sample

from .inmemory import describe, is_description, is_in_memory, read_object
from .readers import RawData, looks_local, read_hub, read_local
from .validation import TASK_GUESSED, ParsedRow, RowContext, parse_row, resolve_columns


@dataclass
class LoadedData:
    """The checked samples of a data source and what loading had to fill in or skip."""

    samples: list[Sample]
    source: str
    name: str
    fingerprint: str
    unclassified: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)
    task_inferred: int = 0
    task_guessed: int = 0
    task_guess_unreliable: int = 0
    length_parsed: int = 0
    language_detected: int = 0
    columns: dict[str, str | None] = field(default_factory=dict)

    def summary(self) -> dict[str, object]:
        """Counts for ``run.json`` and the console: how much was inferred, unclassified or skipped."""
        return {
            "source": self.source,
            "name": self.name,
            "fingerprint": self.fingerprint,
            "samples": len(self.samples),
            "task_inferred": self.task_inferred,
            "task_guessed": self.task_guessed,
            "task_guess_unreliable": self.task_guess_unreliable,
            "unclassified": self.unclassified,
            "length_parsed": self.length_parsed,
            "language_detected": self.language_detected,
            "skipped": [{"id": sid, "reason": reason} for sid, reason in self.skipped],
            "columns": self.columns,
        }


def fingerprint_samples(samples: list[Sample]) -> str:
    """SHA-256 over ids, instructions, L, task, language and image hashes, in the given order."""
    return stable_hash(
        [[s.id, s.instruction, s.required_length, s.task, s.language, [i.sha256 for i in s.images]] for s in samples]
    )


def load_samples(
    source: Any,
    *,
    columns: dict[str, str] | None = None,
    skip_invalid: bool = False,
    split: str = "train",
) -> LoadedData:
    """Load and check a data set.

    Args:
        source: ``"mini"``, a local file/directory, a Hugging Face dataset id, or an in-memory data set
            (``datasets.Dataset``/``DatasetDict``, pandas ``DataFrame``, list of dicts).
        columns: benchmark field -> column of the data, e.g. ``{"question": "prompt", "L": "length"}``.
        skip_invalid: skip a bad sample (recorded in ``skipped``) instead of raising its DataError.
        split: the split of a hub dataset (and the preferred file name in a directory).

    Raises:
        DataError: one line naming the sample and field at fault, or the source that cannot be read.
    """
    if is_in_memory(source):
        return build(read_object(source, split), describe(source), columns=columns, skip_invalid=skip_invalid)
    if source == "mini":
        from .mini import mini_raw_data

        raw = mini_raw_data()
    elif looks_local(source):
        raw = read_local(source, split)
    elif is_description(source):
        raise DataError(f"data {source} was an in-memory data set handed to evaluate(); it cannot be reloaded "
                        "from run.json: pass the same object again (EvalConfig(data=...))")
    else:
        raw = read_hub(source, split)
    return build(raw, source, columns=columns, skip_invalid=skip_invalid)


def build(
    raw: RawData, source: str, *, columns: dict[str, str] | None = None, skip_invalid: bool = False
) -> LoadedData:
    """Check every row of ``raw`` and collect the samples and counts."""
    if not raw.rows:
        raise DataError(f"data set {source!r} has no rows")
    resolved = resolve_columns(raw.columns, columns)
    ctx = RowContext(base_dir=raw.base_dir, root=raw.root, source=source)
    parsed: list[ParsedRow] = []
    skipped: list[tuple[str, str]] = []
    seen: set[str] = set()
    for index, row in enumerate(raw.rows):
        try:
            item = parse_row(row, index, resolved, ctx, declared_task=raw.implied_task)
            if item.sample.id in seen:
                raise DataError("duplicate id", sample_id=item.sample.id, field="id")
        except DataError as exc:
            if not skip_invalid:
                raise
            skipped.append((exc.sample_id or str(index), str(exc)))
            continue
        seen.add(item.sample.id)
        parsed.append(item)
    if not parsed:
        raise DataError(f"data set {source!r}: every sample is invalid (first: {skipped[0][1]})")
    samples = [p.sample for p in parsed]
    return LoadedData(
        samples=samples,
        source=source,
        name=raw.name,
        fingerprint=fingerprint_samples(samples),
        unclassified=sum(1 for s in samples if s.task is None),
        skipped=skipped,
        task_inferred=sum(p.task_inferred for p in parsed),
        task_guessed=sum(p.task_source == TASK_GUESSED for p in parsed),
        task_guess_unreliable=sum(p.guess_unreliable for p in parsed),
        length_parsed=sum(p.length_parsed for p in parsed),
        language_detected=sum(p.language_detected for p in parsed),
        columns=resolved,
    )
