"""Reading typed fields out of untrusted JSON objects, with one error line naming the place.

Run files are shared, edited and sometimes tampered with, so every reader of them goes through
:class:`Fields`: a value of the wrong type is refused with a :class:`RunFormatError` saying which file,
line and field, never a ``KeyError`` or a ``TypeError`` traceback further down.
"""

from __future__ import annotations

import builtins
import math
from collections.abc import Mapping
from typing import Any

from .errors import MMLWError


class RunFormatError(MMLWError):
    """A run file (``run.json``, ``journal.jsonl``, ``samples.jsonl``, ``results.json``) that cannot be read."""


class Fields:
    """Typed access to one JSON object; ``where`` names it in errors (``runs/x/samples.jsonl line 3``).

    (Signatures say ``builtins.str`` and the like: inside this class ``str``, ``int``, ``dict``... are its
    methods.)"""

    def __init__(self, data: Any, where: str) -> None:
        if not isinstance(data, Mapping):
            raise RunFormatError(f"{where}: expected a JSON object, found {type(data).__name__}")
        self.data = data
        self.where = where

    def _bad(self, name: str, expected: str) -> RunFormatError:
        value = self.data.get(name)
        shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "..."
        return RunFormatError(f"{self.where}: field {name!r} must be {expected}, found {shown}")

    def has(self, name: str) -> bool:
        return self.data.get(name) is not None

    def str(self, name: str, default: str | None = None, *, required: bool = False) -> str:
        value = self.data.get(name)
        if value is None and not required and default is not None:
            return default
        if not isinstance(value, str):
            raise self._bad(name, "a string")
        return value

    def opt_str(self, name: builtins.str) -> builtins.str | None:
        value = self.data.get(name)
        if value is not None and not isinstance(value, str):
            raise self._bad(name, "a string or null")
        return value

    def int(self, name: builtins.str, default: builtins.int | None = None) -> builtins.int:
        value = self.data.get(name)
        if value is None and default is not None:
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            raise self._bad(name, "an integer")
        return value

    def opt_int(self, name: builtins.str) -> builtins.int | None:
        return None if self.data.get(name) is None else self.int(name)

    def opt_float(self, name: builtins.str) -> float | None:
        value = self.data.get(name)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise self._bad(name, "a finite number or null")
        return float(value)

    def bool(self, name: builtins.str, default: builtins.bool = False) -> builtins.bool:
        value = self.data.get(name)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise self._bad(name, "true or false")
        return value

    def dict(self, name: builtins.str) -> builtins.dict[builtins.str, Any]:
        value = self.data.get(name)
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            raise self._bad(name, "an object")
        return dict(value)

    def opt_dict(self, name: builtins.str) -> builtins.dict[builtins.str, Any] | None:
        return None if self.data.get(name) is None else self.dict(name)

    def list(self, name: builtins.str) -> builtins.list[Any]:
        value = self.data.get(name)
        if value is None:
            return []
        if not isinstance(value, list):
            raise self._bad(name, "a list")
        return value

    def sub(self, name: builtins.str) -> Fields:
        """The nested object ``name`` as :class:`Fields` (an empty one when absent)."""
        return Fields(self.dict(name), f"{self.where}, {name}")


def finite_number(value: Any) -> float | None:
    """``value`` as a float when it is a finite JSON number (not a bool), else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    number = float(value)
    return number if math.isfinite(number) else None
