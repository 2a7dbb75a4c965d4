"""Checks of the ``key=value`` settings users type: generation settings and adapter model args.

A typo in a generation setting is the quiet kind of wrong: ``--gen-kwargs temprature=0.3`` used to send
the default temperature *and* an unknown ``temprature`` the backend ignored, and the run looked fine. So
a key close to a known one is refused with a did-you-mean, values of the known keys are type-checked,
and a backend-specific key that happens to look like a known one is passed on purpose as ``extra.KEY``.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable, Mapping
from typing import Any

from .errors import ConfigError

#: prefix that passes a generation setting to the backend as it is, without the typo check
EXTRA_PREFIX = "extra."
#: how alike two keys must be (difflib ratio) for one to be taken as a typo of the other
TYPO_CUTOFF = 0.8

#: known generation settings -> (type, smallest value, largest value)
_GEN_TYPES: dict[str, tuple[type, float | None, float | None]] = {
    "temperature": (float, 0.0, None),
    "top_p": (float, 0.0, 1.0),
    "top_k": (int, -1, None),
    "max_new_tokens": (int, 1, None),
    "min_new_tokens": (int, 0, None),
    "seed": (int, None, None),
}
GEN_KEYS = frozenset(_GEN_TYPES)


def did_you_mean(key: str, known: Iterable[str], cutoff: float = 0.6) -> str:
    """``" (did you mean 'x'?)"`` for the closest of ``known``, or ``""``."""
    close = difflib.get_close_matches(key, sorted(known), n=1, cutoff=cutoff)
    return f" (did you mean {close[0]!r}?)" if close else ""


def check_gen_kwargs(flag: str, kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """Validate generation settings; return them with the known keys' values in their proper type.

    Raises :class:`ConfigError` (one line naming ``flag``) for a key that looks like a misspelt known key
    or a known key with a value of the wrong type or range. Other keys are the backend's own (for
    example ``repetition_penalty``) and pass through, as does anything spelt ``extra.KEY``.
    """
    checked: dict[str, Any] = {}
    for key, value in kwargs.items():
        if key in _GEN_TYPES:
            checked[key] = None if value is None else _typed(flag, key, value)
        elif key.startswith(EXTRA_PREFIX):
            if not key[len(EXTRA_PREFIX):]:
                raise ConfigError(f"{flag}: {key!r} names no setting (write extra.KEY=VALUE)")
            checked[key] = value
        else:
            hint = did_you_mean(key, GEN_KEYS, TYPO_CUTOFF)
            if hint:
                raise ConfigError(f"{flag}: unknown generation setting {key!r}{hint}; to send it to the backend "
                                  f"as it is, write {EXTRA_PREFIX}{key}=...")
            checked[key] = value
    return checked


def _typed(flag: str, key: str, value: Any) -> int | float:
    kind, low, high = _GEN_TYPES[key]
    number: int | float
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{flag}: {key} must be {'an integer' if kind is int else 'a number'}, got {value!r}")
    if kind is int:
        if isinstance(value, float) and not value.is_integer():
            raise ConfigError(f"{flag}: {key} must be an integer, got {value!r}")
        number = int(value)
    else:
        if not math.isfinite(value):
            raise ConfigError(f"{flag}: {key} must be a finite number, got {value!r}")
        number = float(value)
    if (low is not None and number < low) or (high is not None and number > high):
        bounds = f"at least {low:g}" if high is None else f"between {low:g} and {high:g}"
        raise ConfigError(f"{flag}: {key} must be {bounds}, got {value!r}")
    return number


def check_model_args(owner: str, args: Mapping[str, Any], accepted: Iterable[str], what: str = "model arg") -> None:
    """Refuse ``what``s (model args of an adapter, keys of a flag) ``owner`` does not read, in one line with
    a did-you-mean."""
    known = frozenset(accepted)
    unknown = sorted(k for k, v in args.items() if k not in known and v is not None)
    if not unknown:
        return
    key = unknown[0]
    more = f" (and {', '.join(unknown[1:])})" if len(unknown) > 1 else ""
    raise ConfigError(f"{owner}: unknown {what} {key!r}{did_you_mean(key, known)}{more}; "
                      f"it accepts {', '.join(sorted(known))}")
