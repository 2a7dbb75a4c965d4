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


def _edit_distance(a: str, b: str) -> int:
    """Optimal string alignment distance: a swap of two neighbours counts as one typo."""
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        cur = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        prev2, prev = prev, cur
    return prev[-1]


def closest(word: str, choices: Iterable[str], cutoff: float = 0.6) -> str | None:
    """The choice nearest ``word`` (fewest typos, then same length, then difflib), None if none is close.

    The one did-you-mean of the project: usage errors (``cli.usage``), settings and model args use it."""
    close = difflib.get_close_matches(word, list(choices), n=5, cutoff=cutoff)
    if not close:
        return None
    return min(
        close,
        key=lambda c: (_edit_distance(word, c), len(c) != len(word), -difflib.SequenceMatcher(None, word, c).ratio()),
    )


def did_you_mean(key: str, known: Iterable[str], cutoff: float = 0.6) -> str:
    """``" (did you mean 'x'?)"`` for the closest of ``known``, or ``""``."""
    best = closest(key, known, cutoff)
    return f" (did you mean {best!r}?)" if best else ""


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
