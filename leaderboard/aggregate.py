"""Aggregate a run's sample rows into its scores, over whatever metrics its judges declare, with 95% CIs.

Which rows count (docs/judging.md, "Aggregation"), stated in ``results.json`` under ``scores.rule``:

- A row whose generation failed is no measurement: it is excluded from every mean and counted in
  ``n_generation_errors`` (the run is then *incomplete*, and says so).
- Each judge's metrics are averaged over the rows where that judge gave a verdict; a judge failure
  (``judge_error`` for the quality judge) excludes the row from that judge's metrics and is counted.
- ``S_l`` is reported over two row sets: ``S_l_all`` (every generated row) and ``S_l_judged`` (rows with
  a quality verdict). The **mmlw** rule (default) makes ``S_l_all`` the headline ``S_l``; the **authors**
  rule (``--protocol authors``), like the authors' script, drops rows without a quality verdict from
  every mean, so its headline is ``S_l_judged`` and every other metric is over those rows too.
- The headline ``S`` is ``(S_l + S_q) / 2`` of the two headline means above, so a table's S always equals
  the average of its own S_l and S_q. Under the authors rule this equals the mean of per-sample S.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, Literal

from mmlongbench_write.metrics import COMBINED_PARTS, MetricSpec, S
from mmlongbench_write.runformat import SampleRow
from mmlongbench_write.schema import LENGTH_BIN_NAMES

from .stats import DEFAULT_N_BOOT, DEFAULT_SEED, mean_of_means_with_ci, mean_with_ci

Rule = Literal["mmlw", "authors"]
RULES: dict[str, str] = {
    "mmlw": "S_l over every generated row (S_l_all); each judge's metrics over the rows it judged; "
            "S = (S_l + S_q) / 2 of those means",
    "authors": "every metric over the rows with a quality verdict (S_l_judged), as the authors' script "
               "does; S = (S_l + S_q) / 2 of those means = the mean of per-sample S",
}
GROUPS: tuple[tuple[str, Callable[[SampleRow], str | None]], ...] = (
    ("by_length_bin", lambda r: r.length_bin),
    ("by_task", lambda r: r.task),
    ("by_category", lambda r: r.category),
    ("by_language", lambda r: r.language),
)
COUNTS = ("n_samples", "n_generated", "n_judge_failures", "n_generation_errors", "n_truncated")
NAN = float("nan")


def rule_for_protocol(protocol: str | None) -> Rule:
    return "authors" if protocol == "authors" else "mmlw"


def metric_columns(rows: Sequence[SampleRow], specs: Sequence[MetricSpec], rule: Rule) -> dict[str, list[float]]:
    """Per metric, one value per row (NaN where the row does not count for it under ``rule``).

    Beside the declared metrics: ``S_l_all`` and ``S_l_judged`` when both S_l and S_q are declared.
    """
    names = [s.name for s in specs if s.name not in COMBINED_PARTS]
    has_quality = "S_q" in names
    columns: dict[str, list[float]] = {name: [] for name in names}
    extra: dict[str, list[float]] = {"S_l_all": [], "S_l_judged": []} if has_quality and "S_l" in names else {}
    for row in rows:
        values = row.metric_values() if row.generated else {}
        judged = values.get("S_q") is not None
        for name in names:
            value = values.get(name)
            counts = value is not None and (rule == "mmlw" or not has_quality or judged)
            columns[name].append(float(value) if counts and value is not None else NAN)
        if extra:
            s_l = values.get("S_l")
            extra["S_l_all"].append(NAN if s_l is None else float(s_l))
            extra["S_l_judged"].append(NAN if s_l is None or not judged else float(s_l))
    return {**columns, **extra}


def _stats(rows: Sequence[SampleRow], columns: dict[str, list[float]], index: Sequence[int],
           specs: Sequence[MetricSpec], key: str, n_boot: int, seed: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, column in columns.items():
        values = [column[i] for i in index if not math.isnan(column[i])]
        out[name] = mean_with_ci(values, n_boot=n_boot, seed=seed, key=f"{key}/{name}")
    if any(s.name == S.name for s in specs):
        parts = [[columns[p][i] for i in index] for p in COMBINED_PARTS["S"]]
        out["S"] = mean_of_means_with_ci(parts, n_boot=n_boot, seed=seed, key=f"{key}/S")
    chosen = [rows[i] for i in index]
    words = [r.word_count for r in chosen if r.generated and r.word_count is not None]
    out["mean_word_count"] = round(sum(words) / len(words), 2) if words else None
    out["n_samples"] = len(chosen)
    out["n_generated"] = sum(1 for r in chosen if r.generated)
    out["n_judge_failures"] = sum(1 for r in chosen for v in r.scores.values() if not v.ok)
    out["n_generation_errors"] = sum(1 for r in chosen if not r.generated)
    out["n_truncated"] = sum(1 for r in chosen if r.truncated)
    return out


def aggregate_rows(rows: Sequence[SampleRow], specs: Sequence[MetricSpec], *, rule: Rule = "mmlw",
                   n_boot: int = DEFAULT_N_BOOT, seed: int = DEFAULT_SEED) -> dict[str, Any]:
    """A run's scores: overall and per length bin, task, category and language.

    Each group maps every metric (and ``S_l_all``/``S_l_judged`` beside S_l) to
    ``{"mean", "ci95": [lo, hi], "n"}`` and carries the counts of :data:`COUNTS` and
    ``mean_word_count``. All four length bins are always present (empty ones have ``n == 0``).
    """
    rows = list(rows)
    columns = metric_columns(rows, specs, rule)

    def stats(index: Sequence[int], key: str) -> dict[str, Any]:
        return _stats(rows, columns, index, specs, key, n_boot, seed)

    result: dict[str, Any] = {
        "rule": {"name": rule, "S_l": "S_l_judged" if rule == "authors" else "S_l_all", "text": RULES[rule]},
        "ci": {"method": "percentile bootstrap", "level": 0.95, "n_boot": n_boot, "seed": seed},
        "overall": stats(range(len(rows)), "overall"),
    }
    for group, key_of in GROUPS:
        found: dict[str, list[int]] = {}
        for i, row in enumerate(rows):
            value = key_of(row)
            if value:
                found.setdefault(str(value), []).append(i)
        names = list(LENGTH_BIN_NAMES) if group == "by_length_bin" else sorted(found)
        result[group] = {name: stats(found.get(name, []), f"{group}/{name}") for name in names}
    return result
