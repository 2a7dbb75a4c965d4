"""Percentile bootstrap confidence intervals, vectorised with numpy (no scipy).

One resampling matrix per call: ``n_boot`` rows of ``n`` indices drawn with replacement, so a 120-sample
group costs one ``(1000, 120)`` gather and one row mean. Seeds are derived from a fixed seed plus a
stable key, so a group's interval does not depend on which other groups were computed before it.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # numpy is imported inside the functions: `mmlw leaderboard` on finished runs never needs it
    import numpy as np

DEFAULT_N_BOOT = 1000
DEFAULT_SEED = 0


def _rng(seed: int, key: str) -> np.random.Generator:
    import numpy as np

    return np.random.default_rng([seed, zlib.crc32(key.encode("utf-8"))])


def _r(x: float) -> float:
    return round(float(x), 4)


def mean_with_ci(
    values: Sequence[float] | np.ndarray[Any, Any],
    *,
    n_boot: int = DEFAULT_N_BOOT,
    seed: int = DEFAULT_SEED,
    alpha: float = 0.05,
    key: str = "",
) -> dict[str, Any]:
    """Mean of ``values`` with a percentile-bootstrap ``1 - alpha`` interval.

    Returns ``{"mean", "ci95": [lo, hi], "n"}``; ``mean`` and ``ci95`` are ``None`` when there are no
    values. With one value the interval collapses to the value (no spread can be estimated).
    """
    import numpy as np

    arr = np.asarray(values, dtype=float)
    n = int(arr.size)
    if n == 0:
        return {"mean": None, "ci95": None, "n": 0}
    mean = float(arr.mean())
    if n == 1 or n_boot <= 0:
        return {"mean": _r(mean), "ci95": [_r(mean), _r(mean)], "n": n}
    idx = _rng(seed, key).integers(0, n, size=(n_boot, n))
    boots = arr[idx].mean(axis=1)
    lo, hi = np.quantile(boots, [alpha / 2, 1 - alpha / 2])
    return {"mean": _r(mean), "ci95": [_r(lo), _r(hi)], "n": n}


def paired_diff_ci(
    base: Sequence[float] | np.ndarray,
    new: Sequence[float] | np.ndarray,
    *,
    n_boot: int = DEFAULT_N_BOOT,
    seed: int = DEFAULT_SEED,
    alpha: float = 0.05,
    key: str = "",
) -> dict[str, Any]:
    """Paired bootstrap of ``mean(new - base)`` over aligned samples (same sample resampled in both).

    Returns ``{"base", "new", "diff", "ci": [lo, hi], "n"}`` (``None`` values when ``n == 0``).
    """
    import numpy as np

    b = np.asarray(base, dtype=float)
    m = np.asarray(new, dtype=float)
    if b.shape != m.shape:
        raise ValueError("paired samples must have the same length")
    n = int(b.size)
    if n == 0:
        return {"base": None, "new": None, "diff": None, "ci": None, "n": 0}
    d = m - b
    diff = float(d.mean())
    if n == 1 or n_boot <= 0:
        lo = hi = diff
    else:
        idx = _rng(seed, key).integers(0, n, size=(n_boot, n))
        lo, hi = np.quantile(d[idx].mean(axis=1), [alpha / 2, 1 - alpha / 2])
    return {"base": _r(b.mean()), "new": _r(m.mean()), "diff": _r(diff), "ci": [_r(lo), _r(hi)], "n": n}


def mean_of_means_with_ci(
    columns: Sequence[Sequence[float]] | Sequence[np.ndarray[Any, Any]],
    *,
    n_boot: int = DEFAULT_N_BOOT,
    seed: int = DEFAULT_SEED,
    alpha: float = 0.05,
    key: str = "",
) -> dict[str, Any]:
    """The average of several columns' means, each over its own rows (NaN = not in that column's set).

    This is how a combined score such as ``S = (mean S_l + mean S_q) / 2`` is computed when its parts are
    averaged over different row sets; the interval resamples rows jointly, so the parts stay paired.
    ``n`` counts rows present in every column. ``mean`` is None when a column has no value at all.
    """
    import numpy as np

    mat = np.asarray(columns, dtype=float)  # (parts, rows)
    present = ~np.isnan(mat)
    n_all = int(present.all(axis=0).sum())
    if mat.size == 0 or not present.any(axis=1).all():
        return {"mean": None, "ci95": None, "n": n_all}

    def stat(m: np.ndarray[Any, Any]) -> Any:
        return np.nanmean(m, axis=-1).mean(axis=0)

    mean = float(stat(mat))
    rows = mat.shape[1]
    if rows == 1 or n_boot <= 0:
        return {"mean": _r(mean), "ci95": [_r(mean), _r(mean)], "n": n_all}
    idx = _rng(seed, key).integers(0, rows, size=(n_boot, rows))
    import warnings

    with warnings.catch_warnings():  # a resample may miss every row of a part: that draw is dropped
        warnings.simplefilter("ignore", RuntimeWarning)
        boots = np.nanmean(mat[:, idx], axis=-1).mean(axis=0)
    boots = boots[~np.isnan(boots)]
    lo, hi = np.quantile(boots, [alpha / 2, 1 - alpha / 2]) if boots.size else (mean, mean)
    return {"mean": _r(mean), "ci95": [_r(lo), _r(hi)], "n": n_all}
