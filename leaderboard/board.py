"""Build the leaderboard from stored runs: one ranked table per comparable setting.

Runs are ranked together only when their numbers mean the same thing: the same evaluated samples (data
fingerprint and size), task set (the ruler apart), length formula, judges and protocol. Each such group is
its own table, with its setting shown; the paper's reported rows stand beside the full-benchmark group
only (or in a table of their own), and the bundled mini set says it is the mini set.

Scores come from each finished run's ``results.json`` (so ``mmlw leaderboard`` needs no numpy), or are
recomputed from ``samples.jsonl`` with the same aggregator when asked. A run that cannot be read, or
whose last session did not finish, is left out with a note — one broken run never hides the others.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mmlongbench_write.errors import MMLWError
from mmlongbench_write.journal import judge_core_identity
from mmlongbench_write.kvstore import stable_hash
from mmlongbench_write.metrics import S_L, S_Q, MetricSpec, S, run_metrics
from mmlongbench_write.runstore import StoredRun, find_runs, load_run

from .aggregate import aggregate_rows, rule_for_protocol
from .reported import load_reported

#: The six task ids of the benchmark (a run covering all of them, on the benchmark's data, is "full").
BENCHMARK_TASKS = ("medical_report", "movie_review", "ppt_script", "scenery_copywriting", "story_generation",
                   "travel_guide")
#: Identity fields that do not change what a judge's numbers mean (randomness, transport: the server a judge
#: model was reached at is in its cache identity, but runs from before it was recorded still rank together).
_NOT_SETTING = {"seed", "snapshot", "model_snapshot", "base_url", "server"}


def judge_key(identity: dict[str, Any] | None) -> str | None:
    """Display form of a quality judge: model (or snapshot) and prompt hash."""
    if not identity:
        return None
    model = identity.get("snapshot") or identity.get("model") or identity.get("name") or "?"
    prompt = identity.get("prompt_hash") or "?"
    return f"{model} (prompt {str(prompt)[:12]})"


def _judge_setting(slot: str, identity: dict[str, Any]) -> str:
    """What makes two judges in one slot the same, as a short stable string."""
    core = {k: v for k, v in judge_core_identity(identity).items() if k not in _NOT_SETTING}
    if slot == "length":
        return f"length ({identity.get('formula') or 'paper'})"
    shown = judge_key(identity) if slot == "quality" else slot
    return f"{shown} [{stable_hash(core)[:8]}]"


def dataset_kind(dataset: dict[str, Any]) -> str:
    """``benchmark`` (MMLongBench-Write itself), ``ruler``, ``mini`` (the bundled demo set) or ``custom``."""
    if dataset.get("kind"):
        return str(dataset["kind"])
    source = f"{dataset.get('source') or ''} {dataset.get('name') or ''}".lower()
    if dataset.get("source") == "mini":
        return "mini"
    if "longwrite-v-ruler" in source:
        return "ruler"
    return "benchmark" if "mmlongbench-write" in source else "custom"


@dataclass(frozen=True)
class Setting:
    """Everything that must be equal for two runs' numbers to be comparable."""

    sample_set: str | None
    dataset_fingerprint: str | None
    dataset: str
    kind: str
    n_samples: int
    tasks: tuple[str, ...]
    length_formula: str | None
    judges: tuple[tuple[str, str], ...]
    protocol: str

    def key(self, allow_mixed_judges: bool = False) -> tuple[Any, ...]:
        judges = tuple(j for j in self.judges if not (allow_mixed_judges and j[0] == "quality"))
        return (self.sample_set or self.dataset_fingerprint, self.n_samples, self.tasks, self.length_formula,
                judges, self.protocol)

    @property
    def is_full_benchmark(self) -> bool:
        return self.kind == "benchmark" and set(self.tasks) == set(BENCHMARK_TASKS)

    def title(self) -> str:
        data = {"mini": "the bundled mini set (a 12-sample demo, not the benchmark)",
                "benchmark": "MMLongBench-Write" + ("" if self.is_full_benchmark else " (a subset of its tasks)"),
                "ruler": "LongWrite-V-Ruler"}.get(self.kind, f"custom data {self.dataset}")
        tasks = "all six tasks" if set(self.tasks) == set(BENCHMARK_TASKS) else ", ".join(self.tasks) or "no task"
        judges = "; ".join(j for _, j in self.judges) or "no judge"
        return (f"{data} · {self.n_samples} samples · {tasks} · judges: {judges} · protocol {self.protocol} "
                f"· data {str(self.dataset_fingerprint or '?')[:12]}")

    def to_json(self) -> dict[str, Any]:
        return {"dataset_fingerprint": self.dataset_fingerprint, "sample_set": self.sample_set,
                "dataset": self.dataset, "dataset_kind": self.kind, "n_samples": self.n_samples,
                "tasks": list(self.tasks), "length_formula": self.length_formula,
                "judges": {slot: key for slot, key in self.judges}, "protocol": self.protocol,
                "title": self.title()}


def run_setting(run: StoredRun) -> Setting:
    """The setting of a finished run, read from its metadata and results."""
    meta = run.meta
    data = run.summary.data if run.summary is not None else {}
    dataset = meta.dataset
    scores = run.summary.scores if run.summary is not None else {}
    tasks = tuple(sorted(scores.get("by_task") or {})) or tuple(sorted({r.task for r in run.rows if r.task}))
    judges = tuple(sorted((slot, _judge_setting(slot, ident)) for slot, ident in meta.judges.items()))
    sample_set = (data.get("sample_set") or {}).get("fingerprint") if isinstance(data.get("sample_set"), dict) else None
    return Setting(
        sample_set=sample_set,
        dataset_fingerprint=dataset.get("fingerprint"),
        dataset=str(dataset.get("name") or dataset.get("source") or "?"),
        kind=dataset_kind(dataset),
        n_samples=int(data.get("n_samples") or len(run.rows)),
        tasks=tasks,
        length_formula=meta.get("length_formula"),
        judges=judges,
        protocol=str(meta.config.get("protocol") or meta.get("protocol") or "mmlw"),
    )


@dataclass
class Entry:
    """One leaderboard row: a measured run or a reported paper row.

    ``scores`` is the run's aggregate (``overall``, ``by_length_bin``, ``by_task`` ...); ``metrics`` the
    metrics its judges declare.
    """

    label: str
    run_id: str
    kind: str  # "measured" | "reported"
    scores: dict[str, Any]
    metrics: list[MetricSpec]
    setting: Setting | None = None
    paper_setting: str | None = None  # reported rows: "vlm" or "caption+llm"
    judge: str | None = None  # display form of the quality judge identity
    length_formula: str | None = None
    mixed_judge: bool = False
    run: StoredRun | None = field(default=None, repr=False)

    @property
    def reported(self) -> bool:
        return self.kind == "reported"

    def metric(self, name: str, group: str = "overall", key: str | None = None) -> dict[str, Any] | None:
        block = self.scores.get(group)
        if not isinstance(block, dict):
            return None
        if key is not None:
            block = block.get(key)
            if not isinstance(block, dict):
                return None
        value = block.get(name)
        return value if isinstance(value, dict) else None

    def mean(self, name: str, group: str = "overall", key: str | None = None) -> float | None:
        m = self.metric(name, group, key)
        value = None if m is None else m.get("mean")
        return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None

    def count(self, name: str) -> int | None:
        value = (self.scores.get("overall") or {}).get(name)
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    def to_json(self) -> dict[str, Any]:
        return {"label": self.label, "run_id": self.run_id, "kind": self.kind, "paper_setting": self.paper_setting,
                "judge": self.judge, "length_formula": self.length_formula, "mixed_judge": self.mixed_judge,
                "path": str(self.run.path) if self.run else None, "scores": self.scores}


@dataclass
class BoardTable:
    """One ranked table: runs of one setting (``None`` for a table of reported rows only)."""

    setting: Setting | None
    entries: list[Entry]

    @property
    def metrics(self) -> list[MetricSpec]:
        specs: dict[str, MetricSpec] = {}
        for e in self.entries:
            for spec in e.metrics:
                specs.setdefault(spec.name, spec)
        return list(specs.values())

    @property
    def measured(self) -> list[Entry]:
        return [e for e in self.entries if not e.reported]

    def to_json(self) -> dict[str, Any]:
        return {"setting": self.setting.to_json() if self.setting else {"title": "reported in the paper"},
                "metrics": [m.to_dict() for m in self.metrics], "rows": [e.to_json() for e in self.entries]}


@dataclass
class Board:
    tables: list[BoardTable]
    skipped: list[tuple[Path, str]] = field(default_factory=list)  # runs left out and why

    @property
    def entries(self) -> list[Entry]:
        return [e for t in self.tables for e in t.entries]

    def to_json(self) -> dict[str, Any]:
        return {"tables": [t.to_json() for t in self.tables],
                "skipped": [{"path": str(p), "reason": r} for p, r in self.skipped]}


def entry_from_run(run: StoredRun, *, n_boot: int = 1000, seed: int = 0, recompute: bool = False) -> Entry:
    specs = list(run.summary.metrics) if run.summary is not None and run.summary.metrics else run.meta.metrics
    if not specs:  # format 1: the benchmark's metrics, as far as the run has them
        specs = run_metrics([S_L] + ([S_Q] if "quality" in run.meta.judges else []))
    if recompute or run.summary is None or run.meta.format_version == 1:
        if not run.rows_loaded:
            run = load_run(run.path)
        scores = aggregate_rows(run.rows, specs, rule=rule_for_protocol(run.meta.config.get("protocol")),
                                n_boot=n_boot, seed=seed)
    else:
        scores = run.summary.scores
    return Entry(label=run.label, run_id=run.run_id, kind="measured", scores=scores, metrics=specs,
                 setting=run_setting(run), judge=judge_key(run.meta.judges.get("quality")),
                 length_formula=run.meta.get("length_formula"), run=run)


def sort_key(table_metrics: Sequence[MetricSpec]) -> Any:
    """Best first by the table's first metric (S when present), then the next; missing values last."""
    order = [m for m in table_metrics if m.name in (S.name, "S_l")] or list(table_metrics[:1])

    def key(entry: Entry) -> tuple[float, ...]:
        out = []
        for spec in order:
            value = entry.mean(spec.name)
            signed = value if spec.higher_is_better or value is None else -value
            out.append(-(signed if signed is not None else float("-inf")))
        return tuple(out)

    return key


def _reported_entries() -> list[Entry]:
    return [Entry(label=row["label"], run_id="reported", kind="reported", scores=row["results"],
                  metrics=[S, S_L, S_Q], paper_setting=row["setting"], judge=row["source"])
            for row in load_reported()]


def read_runs(paths: Iterable[str | Path], *, with_samples: bool) -> tuple[list[StoredRun], list[tuple[Path, str]]]:
    """The finished runs under ``paths`` and, for every other run directory, why it was left out."""
    runs: list[StoredRun] = []
    skipped: list[tuple[Path, str]] = []
    for path in find_runs(paths):
        try:
            run = load_run(path, rows=with_samples)
        except MMLWError as exc:
            skipped.append((path, str(exc)))
            continue
        if run.problem is not None:
            skipped.append((path, run.problem))
            continue
        runs.append(run)
    return runs, skipped


def build_board(paths: Iterable[str | Path], *, reported: bool = False, allow_mixed_judges: bool = False,
                n_boot: int = 1000, seed: int = 0, recompute: bool = False, with_samples: bool = False) -> Board:
    """One ranked table per comparable setting of the runs under ``paths`` (plus the paper's rows)."""
    runs, skipped = read_runs(paths, with_samples=with_samples or recompute)
    groups: dict[tuple[Any, ...], list[Entry]] = {}
    for run in runs:
        entry = entry_from_run(run, n_boot=n_boot, seed=seed, recompute=recompute)
        assert entry.setting is not None
        groups.setdefault(entry.setting.key(allow_mixed_judges), []).append(entry)
    tables: list[BoardTable] = []
    for entries in groups.values():
        _mark_mixed(entries)
        labels = [e.label for e in entries]
        for e in entries:  # two runs of one model: tell them apart by run id
            if labels.count(e.label) > 1:
                e.label = e.run_id
        tables.append(BoardTable(entries[0].setting, entries))
    tables.sort(key=lambda t: (not (t.setting and t.setting.is_full_benchmark), -len(t.entries),
                               t.setting.title() if t.setting else ""))
    if reported:
        full = next((t for t in tables if t.setting and t.setting.is_full_benchmark), None)
        if full is not None:
            full.entries.extend(_reported_entries())
        else:
            tables.append(BoardTable(None, _reported_entries()))
    for table in tables:
        table.entries.sort(key=sort_key(table.metrics))
    return Board(tables, skipped)


def _mark_mixed(entries: list[Entry]) -> None:
    """In a table ranking several quality judges together (``--allow-mixed-judges``), mark the minority."""
    keys = [e.judge for e in entries if e.judge]
    if len(set(keys)) <= 1:
        return
    majority = max(set(keys), key=keys.count)
    for e in entries:
        e.mixed_judge = bool(e.judge) and e.judge != majority


def load_pairwise(paths: Iterable[str | Path]) -> list[dict[str, Any]]:
    """Pairwise judge results (``{"type": "pairwise", "a", "b", "a_win_rate", ...}``) from JSON files."""
    out = []
    for raw in paths:
        path = Path(raw)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise MMLWError(f"{path}: cannot read pairwise results ({exc})") from None
        items = data if isinstance(data, list) else [data]
        for item in items:
            if not isinstance(item, dict) or item.get("type") != "pairwise" or "a" not in item or "b" not in item:
                raise MMLWError(f"{path}: not a pairwise result (expected type 'pairwise' with 'a' and 'b')")
            out.append(item)
    return out
