"""Strict readers for the JSON that API servers send, so a reply of the wrong shape is an error, not a crash.

A 200 reply is untrusted input: ``{"choices": [{"message": "hello"}]}``, ``"usage": "lots"`` or
``"prompt_tokens": "abc"`` must not surface as an ``AttributeError`` deep in a run. Every accessor here
checks the type it promises and raises :class:`MalformedResponse` (retried like any transient failure,
then recorded as that request's failure) naming the path that was wrong.
"""

from __future__ import annotations

import math
from typing import Any


class TransientError(Exception):
    """A failure worth retrying (raised by adapters for replies they cannot use, e.g. no choices)."""


class MalformedResponse(TransientError):
    """A reply whose body is not what the wire format promises."""


class StreamError(TransientError):
    """The server reported an error inside a 200 event stream (e.g. Anthropic's ``overloaded_error``)."""


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def obj(value: Any, where: str) -> dict[str, Any]:
    """``value`` as a JSON object, else MalformedResponse."""
    if not isinstance(value, dict):
        raise MalformedResponse(f"{where} is not an object: {_show(value)}")
    return value


def items(value: Any, where: str) -> list[Any]:
    """``value`` as a JSON array, else MalformedResponse."""
    if not isinstance(value, list):
        raise MalformedResponse(f"{where} is not a list: {_show(value)}")
    return value


def opt_str(d: dict[str, Any], key: str, where: str) -> str | None:
    """``d[key]`` when it is a string, None when absent or null, else MalformedResponse."""
    value = d.get(key)
    if value is None or isinstance(value, str):
        return value
    raise MalformedResponse(f"{where}.{key} is not a string: {_show(value)}")


def count(d: dict[str, Any], key: str, where: str) -> int:
    """A token count: a non-negative integer (an integral float is accepted), 0 when absent or null."""
    value = d.get(key)
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise MalformedResponse(f"{where}.{key} is not a token count: {_show(value)}")
    if not math.isfinite(value) or value < 0 or value > 2**53 or value != int(value):
        raise MalformedResponse(f"{where}.{key} is not a token count: {_show(value)}")
    return int(value)


def opt_obj(d: dict[str, Any], key: str, where: str) -> dict[str, Any]:
    """``d[key]`` as an object, ``{}`` when absent or null, else MalformedResponse."""
    value = d.get(key)
    return {} if value is None else obj(value, f"{where}.{key}")


def error_in_body(body: dict[str, Any]) -> str | None:
    """The message of an ``{"error": ...}`` object some servers send with status 200, else None."""
    error = body.get("error")
    if error is None:
        return None
    if isinstance(error, dict):
        message = error.get("message")
        return str(message)[:300] if message is not None else _show(error)
    return _show(error)
