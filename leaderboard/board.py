"""Build leaderboard entries from stored runs (and, optionally, the paper's reported rows).

Where scores come from: a finished run's ``results.json`` holds the output of :func:`aggregate_samples`
(the runner calls it, seed 0, 1000 resamples), and it is used as is — so ``mmlw leaderboard`` needs no
numpy and starts fast. Scores are recomputed from ``samples.jsonl`` with the same function when
``results.json`` is missing or not in that shape, or when asked (``recompute=True``, e.g. another seed).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mmlongbench_write.errors import MMLWError
from mmlongbench_write.runstore import StoredRun, find_runs, load_run

from .aggregate import aggregate_samples
from .reported import load_reported


class MixedJudgesError(MMLWError):
    """Runs scored by different quality judges cannot be ranked together without consent."""


@dataclass
class Entry:
    """One leaderboard row: a measured run or a reported paper row."""

    label: str
    run_id: str
    kind: str  # "measured" | "reported"
    results: dict[str, Any]
    setting: str | None = None
    judge: str | None = None  # display form of the quality judge identity
    judge_key: str | None = None
    length_formula: str | None = None
    mixed_judge: bool = False
    run: StoredRun | None = field(default=None, repr=False)

    @property
    def reported(self) -> bool:
        return self.kind == "reported"

    def metric(self, name: str, group: str = "overall", key: str | None = None) -> dict[str, Any] | None:
        block = self.results.get(group)
        if block is None:
            return None
        if key is not None:
            block = block.get(key)
            if block is None:
                return None
        value = block.get(name)
        return value if isinstance(value, dict) else None

    def mean(self, name: str, group: str = "overall", key: str | None = None) -> float | None:
        m = self.metric(name, group, key)
        return None if m is None else m.get("mean")

    def to_json(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "run_id": self.run_id,
            "kind": self.kind,
            "setting": self.setting,
            "judge": self.judge,
            "length_formula": self.length_formula,
            "mixed_judge": self.mixed_judge,
            "path": str(self.run.path) if self.run else None,
            "results": self.results,
        }


def quality_judge_identity(run: StoredRun) -> dict[str, Any] | None:
    """The quality judge of a run: ``run.json["judges"]["quality"]``, else the first sample's."""
    judges = run.run.get("judges")
    if isinstance(judges, dict) and isinstance(judges.get("quality"), dict):
        return judges["quality"]
    for row in run.samples:
        if isinstance(row.get("quality_judge"), dict):
            return row["quality_judge"]
    return None


def judge_key(identity: dict[str, Any] | None) -> str | None:
    """What makes two quality judges the same: model (and snapshot) plus prompt hash."""
    if not identity:
        return None
    model = identity.get("snapshot") or identity.get("model") or identity.get("name") or "?"
    prompt = identity.get("prompt_hash") or identity.get("prompt_sha256") or "?"
    return f"{model} (prompt {str(prompt)[:12]})"


def length_formula(run: StoredRun) -> str | None:
    formula = run.run.get("length_formula")
    judges = run.run.get("judges")
    if formula is None and isinstance(judges, dict) and isinstance(judges.get("length"), dict):
        formula = judges["length"].get("formula")
    if formula is None:
        formula = next((r.get("length_formula") for r in run.samples if r.get("length_formula")), None)
    return formula


def dataset_fingerprint(run: StoredRun) -> str | None:
    data = run.run.get("dataset")
    if isinstance(data, dict) and data.get("fingerprint"):
        return str(data["fingerprint"])
    value = run.run.get("dataset_fingerprint")
    return str(value) if value else None


def stored_aggregate(results: dict[str, Any] | None) -> dict[str, Any] | None:
    """The aggregate in ``results.json`` (top level or under ``scores``/``aggregate``), if it has the shape."""
    if not isinstance(results, dict):
        return None
    for candidate in (results, results.get("scores"), results.get("aggregate")):
        if (
            isinstance(candidate, dict)
            and isinstance(candidate.get("overall"), dict)
            and isinstance(candidate["overall"].get("S_l"), dict)
            and "by_length_bin" in candidate
        ):
            return candidate
    return None


def _load_summary(path: Path) -> StoredRun:
    """``run.json`` + ``results.json`` only, when the latter holds the aggregate (fast); else the full run."""
    try:
        run = json.loads((path / "run.json").read_text(encoding="utf-8"))
        results = json.loads((path / "results.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return load_run(path)
    if stored_aggregate(results) is None or not isinstance(run, dict):
        return load_run(path)
    return StoredRun(path=path, run=run, samples=[], results=results)


def entry_from_run(run: StoredRun, *, n_boot: int = 1000, seed: int = 0, recompute: bool = False) -> Entry:
    stored = None if recompute else stored_aggregate(run.results)
    if stored is not None:
        results = stored
    elif run.samples:
        results = aggregate_samples(run.samples, n_boot=n_boot, seed=seed)
    else:
        raise MMLWError(f"{run.path}: run has neither samples.jsonl nor results.json (not finished?)")
    identity = quality_judge_identity(run)
    key = judge_key(identity)
    return Entry(
        label=run.label,
        run_id=run.run_id,
        kind="measured",
        results=results,
        judge=key,
        judge_key=key,
        length_formula=length_formula(run),
        run=run,
    )


def check_judges(entries: Sequence[Entry], *, allow_mixed: bool) -> None:
    """Refuse (or, when allowed, mark) measured runs scored by different quality judges."""
    keys = sorted({e.judge_key for e in entries if e.judge_key and not e.reported})
    if len(keys) <= 1:
        return
    if not allow_mixed:
        raise MixedJudgesError(
            f"runs were scored by different quality judges ({'; '.join(keys)}); "
            "their S_q/S are not comparable — pass --allow-mixed-judges to show them together (marked)"
        )
    majority = max(keys, key=lambda k: sum(1 for e in entries if e.judge_key == k))
    for e in entries:
        e.mixed_judge = bool(e.judge_key) and e.judge_key != majority


def sort_key(entry: Entry) -> tuple[float, float]:
    """Best first: by S, then S_l; missing values sort last."""
    s = entry.mean("S")
    s_l = entry.mean("S_l")
    return (-(s if s is not None else float("-inf")), -(s_l if s_l is not None else float("-inf")))


def build_board(
    paths: Iterable[str | Path],
    *,
    reported: bool = False,
    allow_mixed_judges: bool = False,
    n_boot: int = 1000,
    seed: int = 0,
    recompute: bool = False,
    with_samples: bool = False,
    unfinished: list[Path] | None = None,
) -> list[Entry]:
    """Entries for every run under ``paths`` (plus reported rows), sorted by S then S_l.

    ``with_samples`` loads every run's ``samples.jsonl`` (the HTML report's plots and drill-down need
    them); without it, runs whose ``results.json`` holds the aggregate are read without their samples.
    Runs that never produced results (a crash before the first one finished) are left out and, when
    ``unfinished`` is given, listed there — one broken run must not hide the others.
    """
    runs = [load_run(p) if with_samples or recompute else _load_summary(p) for p in find_runs(paths)]
    finished = [r for r in runs if r.samples or stored_aggregate(r.results) is not None]
    if unfinished is not None:
        unfinished.extend(r.path for r in runs if r not in finished)
    entries = [entry_from_run(r, n_boot=n_boot, seed=seed, recompute=recompute) for r in finished]
    check_judges(entries, allow_mixed=allow_mixed_judges)
    labels = [e.label for e in entries]
    for e in entries:  # two runs of one model: tell them apart by run id
        if labels.count(e.label) > 1:
            e.label = e.run_id
    if reported:
        for row in load_reported():
            entries.append(
                Entry(
                    label=row["label"],
                    run_id="reported",
                    kind="reported",
                    results=row["results"],
                    setting=row["setting"],
                    judge=row["source"],
                )
            )
    return sorted(entries, key=sort_key)


def load_pairwise(paths: Iterable[str | Path]) -> list[dict[str, Any]]:
    """Pairwise judge results (``{"type": "pairwise", "a", "b", "a_win_rate", ...}``) from JSON files."""
    out = []
    for raw in paths:
        path = Path(raw)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise MMLWError(f"{path}: cannot read pairwise results ({exc})") from None
        items = data if isinstance(data, list) else [data]
        for item in items:
            if not isinstance(item, dict) or item.get("type") != "pairwise" or "a" not in item or "b" not in item:
                raise MMLWError(f"{path}: not a pairwise result (expected type 'pairwise' with 'a' and 'b')")
            out.append(item)
    return out
