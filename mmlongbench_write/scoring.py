"""``mmlw score``: judge predictions without generating — an existing run, or another tool's jsonl.

Re-scoring a run writes a *new* run directory by default (``<run-id>-rescored-<hash>`` beside it), started
from a copy of the original's journal, so the original stays byte-identical; ``in_place=True`` judges the
run itself. Either way the result keeps the identity of every judge whose verdicts it holds.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from .config import JUDGE_FIELDS, EvalConfig
from .errors import ConfigError
from .kvstore import stable_hash
from .runner import RunOutcome, evaluate
from .runstore import JOURNAL, RUN_JSON, is_run_dir, read_meta


def score(target: Path, overrides: dict[str, Any], *, output: str | None = None,
          columns: dict[str, str] | None = None, data: str | None = None, in_place: bool = False) -> RunOutcome:
    """Judge ``target`` with the judges in ``overrides`` (same fields as :class:`EvalConfig`).

    Args:
        target: a run directory, or a predictions file (jsonl/json with ``id`` and ``prediction``).
        overrides: judging (and runtime) fields, e.g. ``{"judges": ["length", "quality"]}``.
        output: where a predictions file's run goes (default ``runs/``), or a re-scored run (default:
            beside the original).
        columns: for a predictions file: benchmark field -> its column.
        data: for a predictions file: the data set its ids refer to (the benchmark, with its images),
            so the judge sees the images; without it the file itself is the data.
        in_place: re-judge the run directory itself instead of writing a new one.
    """
    if is_run_dir(target):
        return evaluate(rejudge_config(target, overrides, output=output, in_place=in_place))
    if target.is_file():
        return evaluate(predictions_config(target, overrides, output=output, columns=columns or {}, data=data))
    raise ConfigError(f"{target} is neither a run directory (with {RUN_JSON}) nor a predictions file")


def rescored_run_id(run_dir: Path, overrides: dict[str, Any]) -> str:
    """``<run-id>-rescored-<hash of the judging settings>``: the same re-score command finds its run again."""
    judging = {k: v for k, v in sorted(overrides.items()) if k in JUDGE_FIELDS}
    return f"{run_dir.name}-rescored-{stable_hash(judging)[:8]}"


def rejudge_config(run_dir: Path, overrides: dict[str, Any], *, output: str | None = None,
                   in_place: bool = False) -> EvalConfig:
    """The run's own config, judging only, in the run itself or in a new run started from its journal."""
    stored = read_meta(run_dir).config
    protocol = stored.get("protocol", "mmlw")
    if overrides.get("protocol", protocol) != protocol:
        raise ConfigError(f"--protocol {overrides['protocol']}: run {run_dir.name} was generated under protocol "
                          f"{protocol}, which shaped its requests; a run is judged under its own protocol")
    if in_place:
        target_dir = run_dir
    else:
        target_dir = Path(output or run_dir.parent) / rescored_run_id(run_dir, overrides)
        if target_dir.resolve() == run_dir.resolve():
            raise ConfigError(f"{run_dir}: the re-scored run would overwrite the original; pass --in-place for that")
        if not is_run_dir(target_dir):
            target_dir.mkdir(parents=True, exist_ok=True)
            shutil.copy2(run_dir / RUN_JSON, target_dir / RUN_JSON)
            if (run_dir / JOURNAL).is_file():
                shutil.copy2(run_dir / JOURNAL, target_dir / JOURNAL)
    merged = {**stored, **overrides, "stage": "judge", "output": str(target_dir.parent), "run_id": target_dir.name,
              "rescored_from": stored.get("rescored_from") if in_place else str(run_dir)}
    return EvalConfig.from_dict(merged)


def predictions_config(path: Path, overrides: dict[str, Any], *, output: str | None,
                       columns: dict[str, str], data: str | None = None) -> EvalConfig:
    """A run whose "model" replays the file's predictions, over ``data`` (or the file itself)."""
    data_columns = {k: v for k, v in columns.items() if k != "prediction"}
    model_args: dict[str, Any] = {"file": str(path.resolve())}
    if "id" in columns:
        model_args["id_column"] = columns["id"]
    if "prediction" in columns:
        model_args["prediction_column"] = columns["prediction"]
    fields: dict[str, Any] = {"model": "predictions", "model_args": model_args, "output": output or "runs",
                              "label": path.stem, **overrides}
    if data is None:
        fields.update(data=str(path.resolve()), data_columns=data_columns, tasks="custom")
    else:
        fields.update(data=data)
    return EvalConfig.from_dict(fields)
