"""Parsing of ``k=v,k=v`` flag values (``--model-args``, ``--gen-kwargs``, ``--data-columns``)."""

from __future__ import annotations

from typing import Any

from .errors import ConfigError
from .secrets import shown


def parse_value(raw: str) -> Any:
    """``"8"`` -> 8, ``"0.5"`` -> 0.5, ``"true"`` -> True, ``"none"`` -> None, anything else stays a string."""
    low = raw.strip().lower()
    if low in {"true", "false"}:
        return low == "true"
    if low in {"none", "null"}:
        return None
    for convert in (int, float):
        try:
            return convert(raw)
        except ValueError:
            pass
    return raw


def parse_kv(text: str | None, *, flag: str = "--model-args", convert: bool = True) -> dict[str, Any]:
    """Parse ``"a=1,b=x"`` into ``{"a": 1, "b": "x"}``.

    A value may contain commas when quoted with brackets or quotes is not supported on purpose: keep
    values simple, or use a YAML config file. Raises :class:`ConfigError` naming the flag on bad input.
    """
    if not text:
        return {}
    result: dict[str, Any] = {}
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"{flag}: expected key=value, got {shown(item)}")
        result[key.strip()] = parse_value(value.strip()) if convert else value.strip()
    return result
