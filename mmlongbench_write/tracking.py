"""Experiment tracking: log a finished run, or a leaderboard, to Weights & Biases (``--wandb``).

lm-eval users log every evaluation to W&B; ``mmlw eval ... --wandb project=NAME`` does the same through
the official ``wandb`` package (the ``wandb`` extra). What is logged is read back from the run directory
after the run is written, so W&B shows exactly the numbers ``results.json`` holds: the run's config, the
summary metrics with their 95% CIs, one table per grouping (length bin, task, category, language) and
the samples table. ``WANDB_MODE=offline`` writes a local run for ``wandb sync`` later; the key comes from
``WANDB_API_KEY`` or ``wandb login``, never from the flag.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .arg_checks import check_model_args
from .errors import ConfigError, MMLWError, first_line
from .extras import require
from .runstore import StoredRun
from .secrets import check_args
from .specs import parse_kv

if TYPE_CHECKING:
    from .leaderboard.board import Board

#: the ``--wandb`` keys, passed to ``wandb.init`` under the same names
WANDB_KEYS = frozenset({"project", "entity", "name", "group", "tags", "job_type", "notes", "dir", "mode"})
_MODES = ("online", "offline", "disabled")
#: groupings of ``results.json`` logged as tables
GROUPS = ("by_length_bin", "by_task", "by_category", "by_language")


@dataclass(frozen=True)
class WandbTarget:
    """Where to log: ``--wandb project=NAME[,entity=...,name=...,group=...,tags=a;b,mode=offline]``."""

    project: str
    entity: str | None = None
    name: str | None = None
    group: str | None = None
    tags: tuple[str, ...] = ()
    job_type: str | None = None
    notes: str | None = None
    dir: str | None = None
    mode: str | None = None

    def init_kwargs(self, default_name: str, job_type: str) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"project": self.project, "name": self.name or default_name,
                                  "job_type": self.job_type or job_type}
        for key in ("entity", "group", "notes", "dir", "mode"):
            if getattr(self, key) is not None:
                kwargs[key] = getattr(self, key)
        if self.tags:
            kwargs["tags"] = list(self.tags)
        return kwargs


def parse_wandb(text: str | None) -> WandbTarget | None:
    """``--wandb`` as typed, checked: known keys only (a typo gets a did-you-mean), a project, no secret."""
    if text is None:
        return None
    args = parse_kv(text, flag="--wandb", convert=False)
    check_args("--wandb", args)
    check_model_args("--wandb", args, WANDB_KEYS, what="key")
    if not args.get("project"):
        raise ConfigError("--wandb: project=NAME is required (e.g. --wandb project=mmlw,entity=my-team)")
    mode = args.get("mode")
    if mode is not None and mode not in _MODES:
        raise ConfigError(f"--wandb: mode must be one of {', '.join(_MODES)}, got {mode!r}")
    tags = tuple(t.strip() for t in str(args.pop("tags", "")).split(";") if t.strip())
    return WandbTarget(tags=tags, **args)


def _metric_columns(metrics: list[str]) -> list[str]:
    return [c for m in metrics for c in (m, f"{m}_ci_lo", f"{m}_ci_hi", f"{m}_n")]


def _metric_values(block: dict[str, Any], metrics: list[str]) -> list[Any]:
    values: list[Any] = []
    for name in metrics:
        m = block.get(name) or {}
        ci = m.get("ci95") or [None, None]
        values += [m.get("mean"), ci[0], ci[1], m.get("n")]
    return values


def summary_of(run: StoredRun) -> dict[str, Any]:
    """The run's headline numbers, flat: each metric's mean, CI bounds and n, counts, cost and status."""
    assert run.summary is not None
    metrics = [m.name for m in run.summary.metrics]
    overall = run.summary.scores.get("overall") or {}
    flat = dict(zip(_metric_columns(metrics), _metric_values(overall, metrics), strict=True))
    for key in ("n_samples", "n_generated", "n_generation_errors", "n_truncated", "n_judge_failures", "n_cached"):
        flat[key] = run.summary.get(key)
    flat["mean_word_count"] = overall.get("mean_word_count")
    flat["status"] = run.summary.get("status")
    flat["cost_usd"] = (run.summary.get("cost") or {}).get("total_usd")
    return flat


def group_rows(run: StoredRun, group: str) -> tuple[list[str], list[list[Any]]]:
    """``(columns, rows)`` of one grouping of ``results.json`` (key, each metric's mean/CI/n, samples)."""
    assert run.summary is not None
    metrics = [m.name for m in run.summary.metrics]
    columns = ["key", *_metric_columns(metrics), "n_samples", "mean_word_count"]
    rows = [[key, *_metric_values(block, metrics), block.get("n_samples"), block.get("mean_word_count")]
            for key, block in (run.summary.scores.get(group) or {}).items()]
    return columns, rows


def sample_rows(run: StoredRun) -> tuple[list[str], list[list[Any]]]:
    """``(columns, rows)``: one row per sample with what was asked, written and scored."""
    assert run.summary is not None
    metrics = [m.name for m in run.summary.metrics if m.judge != "*"]
    columns = ["id", "task", "category", "language", "required_length", "word_count", *metrics, "finish_reason",
               "error", "instruction", "response"]
    rows = []
    for r in run.rows:
        values = {name: score for js in r.scores.values() for name, score in js.metrics.items()}
        rows.append([r.id, r.task, r.category, r.language, r.required_length, r.word_count,
                     *(values.get(m) for m in metrics), r.finish_reason, r.error, r.instruction, r.response])
    return columns, rows


def _start(target: WandbTarget, name: str, job_type: str, config: dict[str, Any]) -> Any:
    wandb = require("wandb", "--wandb", extra="wandb")
    try:
        return wandb, wandb.init(config=config, **target.init_kwargs(name, job_type))
    except Exception as exc:  # noqa: BLE001 - W&B's own errors (login, network) become one line
        raise MMLWError(f"--wandb: W&B did not start a run: {type(exc).__name__}: {first_line(exc)}") \
            from None


def log_run(run: StoredRun, target: WandbTarget) -> str:
    """Log a finished run to W&B; return where W&B put it (the run's URL, or its local folder offline)."""
    if run.summary is None:
        raise MMLWError(f"--wandb: run {run.run_id} has no results.json to log ({run.problem or 'not finished'})")
    meta = run.meta.to_json()
    config = {"run_id": run.run_id, "label": run.label, "config": meta.get("config"), "model": meta.get("model"),
              "judges": meta.get("judges"), "dataset": meta.get("dataset"), "protocol": meta.get("protocol"),
              "length_formula": meta.get("length_formula"), "versions": meta.get("versions")}
    wandb, wb_run = _start(target, run.run_id, "eval", config)
    try:
        wb_run.summary.update(summary_of(run))
        tables: dict[str, Any] = {}
        for group in GROUPS:
            columns, rows = group_rows(run, group)
            if rows:
                tables[group] = wandb.Table(columns=columns, data=rows)
        columns, rows = sample_rows(run)
        tables["samples"] = wandb.Table(columns=columns, data=rows)
        wb_run.log(tables)
        where = _where(wb_run)
    finally:
        wb_run.finish()
    return where


def log_board(board: Board, target: WandbTarget) -> str:
    """Log a leaderboard as one W&B table, with the columns of ``mmlw leaderboard --format csv``."""
    from .leaderboard.tables import flat_rows

    columns, rows = flat_rows(board)
    wandb, wb_run = _start(target, "leaderboard", "leaderboard", {"n_rows": len(rows)})
    try:
        wb_run.log({"leaderboard": wandb.Table(columns=columns, data=[[r.get(c) for c in columns] for r in rows])})
        where = _where(wb_run)
    finally:
        wb_run.finish()
    return where


def _where(wb_run: Any) -> str:
    """The run's URL online; its local folder offline (asking an offline run for a URL warns)."""
    if getattr(wb_run, "offline", False):
        return str(wb_run.dir)
    return str(getattr(wb_run, "url", None) or wb_run.dir)


def say_logged(where: str) -> None:
    print(f"wandb: logged to {where}", file=sys.stderr, flush=True)
