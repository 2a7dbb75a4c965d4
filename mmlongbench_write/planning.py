"""From a config to the work list: which samples, under which task, asked with which request.

Used by ``mmlw eval`` and by ``mmlw score`` on a run (which rebuilds the same samples to judge them).

Nothing is left out silently: every sample a step of planning drops — ``--skip-invalid`` (bad data),
``--tasks``, ``--shard``, ``--limit`` — is recorded in :class:`Exclusions` with its count, ids and the
reason, stored in ``run.json`` under ``dataset.excluded`` and printed by the runner on the console.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .config import PAPER_GEN_DEFAULTS, EvalConfig, parse_shard
from .errors import ConfigError
from .schema import GenerationConfig, Request, Sample

#: Reasons a sample is left out, in the order planning applies them.
EXCLUSION_REASONS = ("invalid", "tasks", "shard", "limit")
_SHOWN = 3  # per-sample details shown on the console per reason (all of them are in run.json)


@dataclass
class PlannedSample:
    sample: Sample
    request: Request


@dataclass(frozen=True)
class Exclusion:
    """The samples one planning step left out: ``reason`` (one of :data:`EXCLUSION_REASONS`), the flag
    that did it, the ids, and per cause (``causes``) or per sample (``details``) why."""

    reason: str
    flag: str
    ids: tuple[str, ...]
    causes: dict[str, int] = field(default_factory=dict)
    details: dict[str, str] = field(default_factory=dict)

    @property
    def count(self) -> int:
        return len(self.ids)

    def line(self) -> str:
        """One console line: ``left out 77 samples by --tasks all: ...``."""
        noun = "sample" if self.count == 1 else "samples"
        if self.reason == "invalid":
            shown = "; ".join(list(self.details.values())[:_SHOWN])
            more = f"; +{self.count - _SHOWN} more" if self.count > _SHOWN else ""
            return f"left out {self.count} invalid {noun} ({self.flag}): {shown}{more} (all in run.json)"
        head = f"left out {self.count} {noun} by {self.flag}"
        if self.causes:
            return head + ": " + ", ".join(f"{n} {cause}" for cause, n in self.causes.items())
        return head

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"count": self.count, "flag": self.flag, "ids": list(self.ids)}
        if self.causes:
            out["causes"] = dict(self.causes)
        if self.details:
            out["details"] = dict(self.details)
        return out


@dataclass
class Exclusions:
    """Every sample planning left out, by reason (at most one :class:`Exclusion` per reason)."""

    items: list[Exclusion] = field(default_factory=list)

    def add(self, exclusion: Exclusion) -> None:
        if exclusion.count:
            self.items.append(exclusion)

    @property
    def total(self) -> int:
        return sum(item.count for item in self.items)

    def counts(self) -> dict[str, int]:
        """reason -> how many samples it left out."""
        return {item.reason: item.count for item in self.items}

    def lines(self) -> list[str]:
        """The console lines, one per reason (nothing when nothing was left out)."""
        return [item.line() for item in self.items]

    def to_dict(self) -> dict[str, Any]:
        return {item.reason: item.to_dict() for item in self.items}


@dataclass
class Plan:
    """The samples of a run, in order, with the dataset's provenance and what was left out."""

    items: list[PlannedSample]
    dataset: dict[str, Any] = field(default_factory=dict)
    exclusions: Exclusions = field(default_factory=Exclusions)

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
    from .tasks.selection import select_samples

    data = load_samples(config.data, columns=config.data_columns or None, skip_invalid=config.skip_invalid,
                        split=config.split)
    exclusions = Exclusions()
    exclusions.add(Exclusion("invalid", "--skip-invalid", tuple(sid for sid, _ in data.skipped),
                             details={sid: why for sid, why in data.skipped}))
    selection = select_samples(config.tasks, data.samples)
    if selection.left_out:
        exclusions.add(Exclusion("tasks", f"--tasks {config.tasks}",
                                 tuple(i for ids in selection.left_out.values() for i in ids),
                                 causes={cause: len(ids) for cause, ids in selection.left_out.items()}))
    items: list[PlannedSample] = []
    gens: dict[int, GenerationConfig] = {}
    part_order = generation_part_order(config)
    for task, sample in selection.pairs:
        if id(task) not in gens:
            gens[id(task)] = generation_config(gen_base, dict(task.gen_overrides), config.gen_kwargs, config.seed)
        items.append(PlannedSample(sample, with_part_order(task.build_request(sample, gens[id(task)]), part_order)))
    if config.shard:
        index, count = parse_shard(config.shard)
        kept, items = items, items[index::count]
        exclusions.add(Exclusion("shard", f"--shard {config.shard}", _dropped(kept, items),
                                 causes={"evaluated by the other shards": len(kept) - len(items)}))
    if config.limit is not None:
        kept, items = items, items[: config.limit]
        exclusions.add(Exclusion("limit", f"--limit {config.limit}", _dropped(kept, items)))
    dataset = {**data.summary(), "n_selected": len(items), "excluded": exclusions.to_dict()}
    if not items:
        hint = ""
        if config.tasks is not None:
            hint = "; leave out --tasks to evaluate every sample of the data"
        left = "; ".join(exclusions.lines())
        raise ConfigError(f"no samples to evaluate: data {data.source!r} has {len(data.samples)} samples; {left}"
                          + hint)
    return Plan(items, dataset, exclusions)


def _dropped(before: list[PlannedSample], after: list[PlannedSample]) -> tuple[str, ...]:
    kept = {item.sample.id for item in after}
    return tuple(item.sample.id for item in before if item.sample.id not in kept)
