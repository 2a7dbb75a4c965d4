"""Registries of tasks, model adapters and judges.

Built-ins register with a decorator (``@register_model("hf")``) in modules that import their heavy
libraries lazily, so listing plugins imports no torch. Third-party packages register through the entry
point groups ``mmlw.tasks``, ``mmlw.models`` and ``mmlw.judges`` (value ``"module:attr"``), loaded only
when their name is asked for. A typo gets a "did you mean ...".
"""

from __future__ import annotations

import difflib
import functools
import importlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib import metadata
from typing import Any, Generic, TypeVar

from .errors import PluginNotFound

T = TypeVar("T")

#: Modules whose import registers the built-in plugins. Each imports only light modules at top level.
BUILTIN_MODULES: dict[str, tuple[str, ...]] = {
    "tasks": ("mmlongbench_write.tasks.mmlongbench", "mmlongbench_write.tasks.ruler", "mmlongbench_write.tasks.custom"),
    "models": (
        "mmlongbench_write.model_adapters.scripted",
        "mmlongbench_write.model_adapters.predictions",
        "mmlongbench_write.model_adapters.openai",
        "mmlongbench_write.model_adapters.anthropic",
        "mmlongbench_write.model_adapters.hf",
        "mmlongbench_write.model_adapters.vllm",
        "mmlongbench_write.model_adapters.presets",
    ),
    "judges": ("mmlongbench_write.judges.length", "mmlongbench_write.judges.quality"),
}


@dataclass
class Entry(Generic[T]):
    """A registered plugin: the object itself, or a ``"module:attr"`` string resolved on first use."""

    name: str
    target: T | str
    description: str = ""
    origin: str = "builtin"

    def load(self) -> T:
        if isinstance(self.target, str):
            module_name, _, attr = self.target.partition(":")
            obj: Any = importlib.import_module(module_name)
            for part in attr.split(".") if attr else ():
                obj = getattr(obj, part)
            self.target = obj
        return self.target  # type: ignore[return-value]


class Registry(Generic[T]):
    """Name -> plugin, filled by decorators (built-ins) and entry points (third parties)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Entry[T]] = {}
        self._builtins_loaded = False
        self._entry_points_loaded = False

    def register(self, name: str, target: T | str, description: str = "", origin: str = "builtin") -> None:
        self._entries[name] = Entry(name, target, description, origin)

    def decorator(self, name: str, description: str = "") -> Callable[[T], T]:
        def wrap(obj: T) -> T:
            doc = description or ((getattr(obj, "__doc__", None) or "").strip().splitlines() or [""])[0]
            self.register(name, obj, doc)
            return obj

        return wrap

    def _ensure_loaded(self) -> None:
        if not self._builtins_loaded:
            self._builtins_loaded = True
            for module in BUILTIN_MODULES.get(self.kind, ()):
                importlib.import_module(module)
        if not self._entry_points_loaded:
            self._entry_points_loaded = True
            for ep in metadata.entry_points(group=f"mmlw.{self.kind}"):
                if ep.name not in self._entries:
                    self.register(ep.name, ep.value, f"from {ep.value}", origin=ep.dist.name if ep.dist else "plugin")

    def names(self) -> list[str]:
        self._ensure_loaded()
        return sorted(self._entries)

    def entries(self) -> Iterator[Entry[T]]:
        self._ensure_loaded()
        for name in sorted(self._entries):
            yield self._entries[name]

    def __contains__(self, name: object) -> bool:
        self._ensure_loaded()
        return name in self._entries

    def entry(self, name: str) -> Entry[T]:
        self._ensure_loaded()
        try:
            return self._entries[name]
        except KeyError:
            close = difflib.get_close_matches(name, self._entries, n=3, cutoff=0.5)
            hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
            raise PluginNotFound(
                f"unknown {self.kind[:-1]} {name!r}{hint} (`mmlw {self.kind}` lists them)"
            ) from None

    def get(self, name: str) -> T:
        return self.entry(name).load()


tasks: Registry[Any] = Registry("tasks")
models: Registry[Any] = Registry("models")
judges: Registry[Any] = Registry("judges")

register_task = tasks.decorator


@functools.cache
def task_category(name: str | None) -> str:
    """The ``category`` of the registered task ``name``; ``"custom"`` for no task or an unknown one (a user's
    own label), so a plugin task reports under the category it declares."""
    if not name:
        return "custom"
    try:
        task = tasks.get(name)
    except PluginNotFound:
        return "custom"
    return str(getattr(task, "category", None) or "custom")
register_model = models.decorator
register_judge = judges.decorator
