"""``mmlw score``: judge predictions without generating — an existing run, or another tool's jsonl."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .config import EvalConfig
from .errors import ConfigError
from .runner import RunOutcome, evaluate
from .runstore import RUN_JSON, is_run_dir, read_run_meta


def score(target: Path, overrides: dict[str, Any], *, output: str | None = None,
          columns: dict[str, str] | None = None) -> RunOutcome:
    """Judge ``target`` with the judges in ``overrides`` (same fields as :class:`EvalConfig`)."""
    if is_run_dir(target):
        return evaluate(rejudge_config(target, overrides))
    if target.is_file():
        return evaluate(predictions_config(target, overrides, output=output, columns=columns or {}))
    raise ConfigError(f"{target} is neither a run directory (with {RUN_JSON}) nor a predictions file")


def rejudge_config(run_dir: Path, overrides: dict[str, Any]) -> EvalConfig:
    """The run's own config, judging only, in place: the journal keeps verdicts of unchanged judges."""
    stored = read_run_meta(run_dir).get("config") or {}
    protocol = stored.get("protocol", "mmlw")
    if overrides.get("protocol", protocol) != protocol:
        raise ConfigError(f"--protocol {overrides['protocol']}: run {run_dir.name} was generated under protocol "
                          f"{protocol}, which shaped its requests; a run is judged under its own protocol")
    merged = {**stored, **overrides, "stage": "judge", "output": str(run_dir.parent), "run_id": run_dir.name}
    return EvalConfig.from_dict(merged)


def predictions_config(path: Path, overrides: dict[str, Any], *, output: str | None,
                       columns: dict[str, str]) -> EvalConfig:
    """A run whose "model" replays the file's predictions and whose data is the same file."""
    data_columns = {k: v for k, v in columns.items() if k != "prediction"}
    model_args: dict[str, Any] = {"file": str(path.resolve())}
    if "id" in columns:
        model_args["id_column"] = columns["id"]
    if "prediction" in columns:
        model_args["prediction_column"] = columns["prediction"]
    return EvalConfig.from_dict({
        "model": "predictions", "model_args": model_args, "data": str(path.resolve()),
        "data_columns": data_columns, "tasks": "custom", "output": output or "runs",
        "label": path.stem, **overrides,
    })
