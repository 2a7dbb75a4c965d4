"""Aggregate per-sample rows (``samples.jsonl``) into the benchmark's scores with 95% bootstrap CIs.

Rules (DESIGN.md §1 Aggregation), stated in the output so a reader of ``results.json`` sees them:

- ``S_q`` and ``S`` are means over samples with a quality score; judge failures (``judge_error``) are
  excluded from both and counted in ``n_judge_failures``.
- ``S_l`` is the mean over **all** rows that have a length score (``"S_l_over": "all"``), judge
  failures included — unlike the authors' script, which drops judge-refused samples everywhere.
- Generation errors (``error`` set): a row that still carries a ``length_score`` (the runner scores a
  failed generation as a 0-word output) counts with that score; a row without one is excluded from
  ``S_l``. Such rows never have ``S_q``/``S``. They are counted in ``n_generation_errors``.
- Per sample ``S`` is the row's ``score``, or ``(S_l + S_q) / 2`` when the row has both but no ``score``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from mmlongbench_write.schema import LENGTH_BIN_NAMES, length_bin

from .stats import DEFAULT_N_BOOT, DEFAULT_SEED, mean_with_ci

METRICS: tuple[str, ...] = ("S", "S_l", "S_q")
GROUPS: tuple[str, ...] = ("by_length_bin", "by_task", "by_category", "by_language")
GENERATION_ERROR_POLICY = (
    "rows with a generation error count with their length_score (scored as a 0-word output) when they "
    "have one, else are excluded from S_l; they never have S_q or S"
)


def _num(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def sample_metrics(row: Mapping[str, Any]) -> dict[str, float | None]:
    """The per-sample ``S``, ``S_l``, ``S_q`` of one row under the module's rules (``None`` = excluded)."""
    s_l = _num(row.get("length_score"))
    s_q = None if row.get("judge_error") else _num(row.get("quality_score"))
    s = None if row.get("judge_error") else _num(row.get("score"))
    if s is None and s_l is not None and s_q is not None:
        s = (s_l + s_q) / 2
    if s_q is None:
        s = None
    return {"S": s, "S_l": s_l, "S_q": s_q}


def row_length_bin(row: Mapping[str, Any]) -> str | None:
    if row.get("length_bin"):
        return str(row["length_bin"])
    req = row.get("required_length")
    return length_bin(int(req)) if isinstance(req, (int, float)) and req >= 0 else None


def is_truncated(row: Mapping[str, Any]) -> bool:
    return bool(row.get("truncated")) or row.get("finish_reason") == "length"


def _group_stats(
    rows: Sequence[Mapping[str, Any]], metrics: Sequence[dict[str, float | None]], key: str, n_boot: int, seed: int
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for metric in METRICS:
        values = [v for v in (m[metric] for m in metrics) if v is not None]
        out[metric] = mean_with_ci(values, n_boot=n_boot, seed=seed, key=f"{key}/{metric}")
    words = [float(r["word_count"]) for r in rows if isinstance(r.get("word_count"), (int, float))]
    out["mean_word_count"] = round(sum(words) / len(words), 2) if words else None
    out["n_samples"] = len(rows)
    out["n_judge_failures"] = sum(1 for r in rows if r.get("judge_error"))
    out["n_generation_errors"] = sum(1 for r in rows if r.get("error"))
    out["n_truncated"] = sum(1 for r in rows if is_truncated(r))
    return out


def _groups(rows: Sequence[Mapping[str, Any]], field: str) -> dict[str, list[int]]:
    found: dict[str, list[int]] = {}
    for i, row in enumerate(rows):
        value = row_length_bin(row) if field == "length_bin" else row.get(field)
        if value is None or value == "":
            continue
        found.setdefault(str(value), []).append(i)
    return found


def aggregate_samples(
    rows: Sequence[Mapping[str, Any]], *, n_boot: int = DEFAULT_N_BOOT, seed: int = DEFAULT_SEED
) -> dict[str, Any]:
    """Scores of a run from its ``samples.jsonl`` rows: overall and per bin, task, category, language.

    Each group holds ``S``, ``S_l``, ``S_q`` as ``{"mean", "ci95": [lo, hi], "n"}`` plus
    ``n_samples``, ``n_judge_failures``, ``n_generation_errors``, ``n_truncated``, ``mean_word_count``.
    All four length bins are always present (empty ones have ``n == 0`` and ``mean: None``).
    """
    rows = list(rows)
    metrics = [sample_metrics(r) for r in rows]

    def stats(indices: Iterable[int], key: str) -> dict[str, Any]:
        idx = list(indices)
        return _group_stats([rows[i] for i in idx], [metrics[i] for i in idx], key, n_boot, seed)

    result: dict[str, Any] = {
        "S_l_over": "all",
        "generation_errors": GENERATION_ERROR_POLICY,
        "ci": {"method": "percentile bootstrap", "level": 0.95, "n_boot": n_boot, "seed": seed},
        "overall": stats(range(len(rows)), "overall"),
    }
    bins = _groups(rows, "length_bin")
    result["by_length_bin"] = {name: stats(bins.get(name, []), f"bin/{name}") for name in LENGTH_BIN_NAMES}
    for group, field in (("by_task", "task"), ("by_category", "category"), ("by_language", "language")):
        found = _groups(rows, field)
        result[group] = {name: stats(found[name], f"{field}/{name}") for name in sorted(found)}
    return result
