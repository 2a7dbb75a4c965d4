"""``--tasks`` resolution: ``all``, ``professional``, ``creative``, task ids, ``ruler[:all|:N|:rows]``, ``custom``.

**Without ``--tasks``** (``None``) every sample of the data is evaluated, as it is, in data order; each
is asked the way its *declared* task asks (a task column, or the source: ruler rows get the ruler's
temperature 0.9), anything else the way ``custom`` does. A keyword guess only labels.

**With ``--tasks``**, the named tasks select their samples (a benchmark task takes the samples whose
data declares it, never a guess) and :func:`select_samples` says why each other sample was left out.

Items are comma separated and may be mixed (``professional,ruler``); duplicates are dropped and the
order is kept (groups expand in the paper's task order). A name that is not a group is looked up in
the task registry, so plugins work and a typo gets a "did you mean". ``name:arg`` passes ``arg`` to
the task class's ``from_arg`` (the ruler's ``ruler:all``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from mmlongbench_write import registry
from mmlongbench_write.data.validation import TASK_GUESSED, task_declared, task_source
from mmlongbench_write.errors import ConfigError
from mmlongbench_write.registry import task_category
from mmlongbench_write.schema import BENCHMARK_TASKS, Sample

from .base import Task
from .ruler import RulerTask


def task_group(name: str) -> tuple[str, ...]:
    """The task ids a group name stands for (``all``, or a category of the benchmark's tasks, as each task
    declares it); any other name stands for itself."""
    if name == "all":
        return BENCHMARK_TASKS
    members = tuple(t for t in BENCHMARK_TASKS if task_category(t) == name)
    return members or (name,)


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
        for expanded in task_group(name):
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


@dataclass
class Selection:
    """What ``--tasks`` picked: (task, sample) pairs in order, and the left-out sample ids by cause."""

    pairs: list[tuple[Task, Sample]]
    left_out: dict[str, list[str]] = field(default_factory=dict)


def _default_task(sample: Sample, cache: dict[str, Task]) -> Task:
    """The task a sample is asked by when no ``--tasks`` is given: its declared task if registered, else custom."""
    name = sample.task if sample.task is not None and task_declared(sample) else "custom"
    if name not in cache:
        cache[name] = _instantiate(name if name in registry.tasks.names() else "custom", None)
    return cache[name]


def _cause(sample: Sample, spec: str, ruler_base: bool) -> str:
    """In words, why no task of ``--tasks spec`` took ``sample``."""
    if sample.task is not None and task_declared(sample):
        cause = f"of task {sample.task!r}"
    elif task_source(sample) == TASK_GUESSED:
        cause = f"without a task in the data (guessed {sample.task!r}; a guessed task never selects)"
    else:
        cause = "without a task in the data"
    return cause + (", and not taken as a ruler base sample" if ruler_base else "")


def select_samples(spec: str | None, samples: Sequence[Sample]) -> Selection:
    """The (task, sample) pairs to evaluate for ``--tasks spec`` (``None``: every sample) and what was left out."""
    if spec is None:
        cache: dict[str, Task] = {}
        return Selection([(_default_task(s, cache), s) for s in samples])
    tasks = resolve_tasks(spec)
    pairs = select_all(tasks, samples)
    used = {s.id for _, s in pairs} | {str(s.metadata["base_id"]) for _, s in pairs if "base_id" in s.metadata}
    expands = any(isinstance(t, RulerTask) and not t.uses_rows(samples) for t in tasks)
    left_out: dict[str, list[str]] = {}
    for sample in samples:
        if sample.id not in used:
            left_out.setdefault(_cause(sample, spec, expands), []).append(sample.id)
    return Selection(pairs, left_out)
