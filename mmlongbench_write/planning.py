"""From a config to the work list: which samples, under which task, asked with which request.

Used by ``mmlw eval`` and by ``mmlw score`` on a run (which rebuilds the same samples to judge them).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .config import PAPER_GEN_DEFAULTS, EvalConfig, parse_shard
from .errors import ConfigError
from .schema import GenerationConfig, Request, Sample


@dataclass
class PlannedSample:
    sample: Sample
    request: Request


@dataclass
class Plan:
    """The samples of a run, in order, with the dataset's provenance."""

    items: list[PlannedSample]
    dataset: dict[str, Any] = field(default_factory=dict)

    @property
    def samples(self) -> list[Sample]:
        return [item.sample for item in self.items]

    def by_id(self) -> dict[str, PlannedSample]:
        return {item.sample.id: item for item in self.items}


def generation_config(base: GenerationConfig, task_overrides: dict[str, Any], user: dict[str, Any],
                      seed: int | None) -> GenerationConfig:
    """Paper defaults < model preset < task (the ruler's temperature) < the user's ``--gen-kwargs``."""
    config = GenerationConfig().merged(**PAPER_GEN_DEFAULTS)
    config = config.merged(**{k: v for k, v in base.to_dict().items() if k != "extra"}, **base.extra)
    config = config.merged(**task_overrides)
    config = config.merged(seed=seed)
    return config.merged(**user)


def generation_part_order(config: EvalConfig) -> str:
    """Text or images first in this run's generation requests (``--protocol``; the provider matters)."""
    from .model_adapters.base import resolve_model_spec
    from .protocol import IMAGES_FIRST
    from .protocol import generation_part_order as order_for

    if config.protocol == "mmlw":
        return IMAGES_FIRST
    spec = resolve_model_spec(config.model, config.model_args)
    args = spec.model_args
    names = " ".join(str(n) for n in (spec.preset, args.get("pretrained"), args.get("model")) if n)
    return order_for(config.protocol, spec.adapter, names)


def build_plan(config: EvalConfig, gen_base: GenerationConfig) -> Plan:
    """Load the data, select the tasks' samples, apply shard and limit, and build each request."""
    from .data import load_samples
    from .tasks.base import with_part_order
    from .tasks.selection import resolve_tasks

    data = load_samples(config.data, columns=config.data_columns or None, skip_invalid=config.skip_invalid,
                        split=config.split)
    items: list[PlannedSample] = []
    seen: set[str] = set()
    part_order = generation_part_order(config)
    for task in resolve_tasks(config.tasks):
        gen = generation_config(gen_base, dict(task.gen_overrides), config.gen_kwargs, config.seed)
        for sample in task.select(data.samples):
            if sample.id in seen:
                continue
            seen.add(sample.id)
            items.append(PlannedSample(sample, with_part_order(task.build_request(sample, gen), part_order)))
    if config.shard:
        index, count = parse_shard(config.shard)
        items = items[index::count]
    if config.limit is not None:
        items = items[: config.limit]
    if not items:
        hint = (f"; {data.unclassified} samples have no recognisable task: use --tasks custom"
                if data.unclassified else "")
        raise ConfigError(
            f"no samples to evaluate: data {config.data!r} has {len(data.samples)} samples, none selected by "
            f"--tasks {config.tasks}" + (f" and --shard {config.shard}" if config.shard else "") + hint
        )
    dataset = {**data.summary(), "n_selected": len(items)}
    return Plan(items, dataset)
