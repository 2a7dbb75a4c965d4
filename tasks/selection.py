"""``--tasks`` resolution: ``all``, ``professional``, ``creative``, task ids, ``ruler[:all|:N]``, ``custom``.

Items are comma separated and may be mixed (``professional,ruler``); duplicates are dropped and the
order is kept (groups expand in the paper's task order). A name that is not a group is looked up in
the task registry, so plugins work and a typo gets a "did you mean". ``name:arg`` passes ``arg`` to
the task class's ``from_arg`` (the ruler's ``ruler:all``).
"""

from __future__ import annotations

from collections.abc import Sequence

from mmlongbench_write import registry
from mmlongbench_write.errors import ConfigError
from mmlongbench_write.schema import TASK_CATEGORIES, Sample

from .base import Task

#: Group names and the task ids they stand for.
GROUPS: dict[str, tuple[str, ...]] = {
    "all": tuple(TASK_CATEGORIES),
    "professional": tuple(t for t, c in TASK_CATEGORIES.items() if c == "professional"),
    "creative": tuple(t for t, c in TASK_CATEGORIES.items() if c == "creative"),
}


def _instantiate(name: str, arg: str | None) -> Task:
    target = registry.tasks.get(name)
    if isinstance(target, Task):
        if arg is not None:
            raise ConfigError(f"--tasks {name}:{arg}: task {name!r} takes no argument")
        return target
    if arg is not None:
        from_arg = getattr(target, "from_arg", None)
        if from_arg is None:
            raise ConfigError(f"--tasks {name}:{arg}: task {name!r} takes no argument")
        return from_arg(arg)  # type: ignore[no-any-return]
    return target()  # type: ignore[no-any-return]


def resolve_tasks(spec: str) -> list[Task]:
    """Task instances for a ``--tasks`` value; raises PluginNotFound / ConfigError on a bad name."""
    items = [item.strip() for item in (spec or "").split(",") if item.strip()]
    if not items:
        raise ConfigError("--tasks is empty (use all, professional, creative, ruler, custom or task ids)")
    names: list[tuple[str, str | None]] = []
    for item in items:
        name, sep, arg = item.partition(":")
        name = name.strip().lower()
        for expanded in GROUPS.get(name, (name,)):
            key = (expanded, arg.strip() if sep else None)
            if key not in names:
                names.append(key)
    return [_instantiate(name, arg) for name, arg in names]


def select_all(tasks: Sequence[Task], samples: Sequence[Sample]) -> list[tuple[Task, Sample]]:
    """Every (task, sample) pair the tasks select, in task order; a sample id taken twice keeps the first."""
    seen: set[str] = set()
    pairs = []
    for task in tasks:
        for sample in task.select(samples):
            if sample.id not in seen:
                seen.add(sample.id)
                pairs.append((task, sample))
    return pairs
