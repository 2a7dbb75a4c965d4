"""``mmlw merge``: join the shard runs of one evaluation (``--shard i/n``) into a single run."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .config import JUDGE_FIELDS, RUNTIME_FIELDS, EvalConfig, parse_shard
from .errors import ConfigError
from .journal import Journal
from .model_adapters.base import resolve_model_spec
from .planning import build_plan
from .runner import RunDirectory, RunOutcome, finalize, run_metadata
from .runstore import JOURNAL, is_run_dir, read_run_meta


def _comparable(config: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in config.items() if k not in RUNTIME_FIELDS | JUDGE_FIELDS | {"shard"}}


def merge_runs(run_dirs: Sequence[Path], output: str, run_id: str | None = None) -> RunOutcome:
    """Merge shard runs whose configs agree (apart from the shard) into ``output/<run-id>``.

    Refuses runs of different configurations or judges, and duplicate shards. Missing shards are allowed
    (the merged run is then ``incomplete`` and says so).
    """
    if len(run_dirs) < 2:
        raise ConfigError("mmlw merge needs at least two shard runs")
    metas = []
    for path in run_dirs:
        metas.append(read_run_meta(path))
    first = metas[0]
    shards: dict[str, Path] = {}
    for path, meta in zip(run_dirs, metas, strict=True):
        if _comparable(meta["config"]) != _comparable(first["config"]):
            differing = sorted(k for k in _comparable(meta["config"])
                               if meta["config"].get(k) != first["config"].get(k))
            raise ConfigError(f"{path} was run with a different configuration ({', '.join(differing)} differ)")
        if meta.get("judges") != first.get("judges"):
            raise ConfigError(f"{path} was judged by different judges than {run_dirs[0]}")
        shard = meta["config"].get("shard")
        if shard is None:
            raise ConfigError(f"{path} is not a shard run (no --shard)")
        if shard in shards:
            raise ConfigError(f"{path} and {shards[shard]} are both shard {shard}")
        if parse_shard(shard)[1] != parse_shard(first["config"]["shard"])[1]:
            raise ConfigError(f"{path}: shard {shard} splits the data differently from the other runs")
        shards[shard] = path
    missing = missing_shards(list(shards))

    config_dict = {**first["config"], "shard": None, "output": output, "run_id": run_id, "stage": "judge"}
    config = EvalConfig.from_dict(config_dict)
    spec = resolve_model_spec(config.model, config.model_args)
    plan = build_plan(config, spec.gen_defaults)
    run = RunDirectory(config)
    meta = run_metadata(config, spec, plan, [], run)
    meta.update({"judges": first.get("judges", {}), "metrics": first.get("metrics", []),
                 "length_formula": first.get("length_formula"), "model": first.get("model", meta["model"]),
                 "merged_from": [str(p) for p in run_dirs]})
    if is_run_dir(run.path) and "merged_from" not in read_run_meta(run.path):
        raise ConfigError(f"{run.path} already holds a run that is not a merge; choose another --output or --run-id")
    meta = run.open(meta)
    try:
        journal_path = run.path / JOURNAL
        journal_path.unlink(missing_ok=True)  # a merge is rebuilt from its shards every time
        with Journal(journal_path) as journal:
            for path in run_dirs:
                shard_state = Journal.replay(path / JOURNAL)
                for record in shard_state.generations.values():
                    journal.add(record)
                for sample_id, verdicts in shard_state.judgements.items():
                    if sample_id in shard_state.generations:
                        for verdict in verdicts.values():
                            journal.add(verdict)
        state = Journal.replay(journal_path)
        previous = {"judges": first.get("judges", {}), "metrics": first.get("metrics", [])}
        results, status, reasons = finalize(run.path, plan, state, meta, [], previous, None)
    finally:
        run.close()
    if missing:  # name the shards to merge in; the sample counts alone do not say which run is absent
        reasons = [f"shard {', '.join(missing)} missing (merge its run too once it has finished)", *reasons]
    return RunOutcome(run.path, results.to_json(), 0, 0, len(state.generations), status=status,
                      incomplete_reasons=reasons)


def missing_shards(shards: Sequence[str]) -> list[str]:
    """The ``i/n`` shards of the same split that are not among ``shards`` (all of which split by the same n)."""
    parsed = [parse_shard(s) for s in shards]
    if not parsed:
        return []
    count = parsed[0][1]
    present = {index for index, _ in parsed}
    return [f"{i}/{count}" for i in range(count) if i not in present]
