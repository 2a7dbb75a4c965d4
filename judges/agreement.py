"""How much two judges agree on the same responses: per-dimension Spearman, weighted kappa, mean shift.

A ranking that flips when the judge changes says more about the judge than about the models. Given the
scores two judges gave to the same responses, this reports for each rubric dimension (and for S_q):

* Spearman's rank correlation (ties get average ranks; ``None`` when a judge's scores are constant),
* Cohen's kappa with quadratic weights over the 1..5 scale (dimensions only; 1.0 for perfect agreement),
* the mean shift ``mean(B) - mean(A)`` — a stricter or more lenient judge, in score points.

numpy only, so ``mmlw judge-agreement`` needs no scipy.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .parsing import DIMENSIONS, quality_score


def rankdata(values: Sequence[float]) -> np.ndarray:
    """Ranks 1..n with ties given their average rank (as ``scipy.stats.rankdata(method="average")``)."""
    arr = np.asarray(values, dtype=float)
    order = np.argsort(arr, kind="mergesort")
    ranks = np.empty(len(arr), dtype=float)
    sorted_vals = arr[order]
    i = 0
    while i < len(arr):
        j = i
        while j + 1 < len(arr) and sorted_vals[j + 1] == sorted_vals[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2.0 + 1.0
        i = j + 1
    return ranks


def spearman(a: Sequence[float], b: Sequence[float]) -> float | None:
    """Spearman's rho; ``None`` with fewer than two pairs or when either side is constant."""
    if len(a) != len(b):
        raise ValueError("spearman needs two sequences of the same length")
    if len(a) < 2:
        return None
    ra, rb = rankdata(a), rankdata(b)
    if np.ptp(ra) == 0 or np.ptp(rb) == 0:
        return None
    return float(np.corrcoef(ra, rb)[0, 1])


def quadratic_weighted_kappa(a: Sequence[int], b: Sequence[int], low: int = 1, high: int = 5) -> float | None:
    """Cohen's kappa with quadratic disagreement weights on the ``low..high`` scale.

    1.0 is perfect agreement, 0 chance level. When both judges give one and the same score throughout,
    the expected disagreement is zero: that is reported as 1.0 (they agree perfectly); ``None`` for no data.
    """
    if len(a) != len(b):
        raise ValueError("kappa needs two sequences of the same length")
    if not a:
        return None
    k = high - low + 1
    observed = np.zeros((k, k))
    for x, y in zip(a, b, strict=True):
        observed[int(round(x)) - low, int(round(y)) - low] += 1
    idx = np.arange(k)
    weights = (idx[:, None] - idx[None, :]) ** 2 / (k - 1) ** 2
    expected = np.outer(observed.sum(axis=1), observed.sum(axis=0)) / observed.sum()
    denom = float((weights * expected).sum())
    numer = float((weights * observed).sum())
    if denom == 0:
        return 1.0 if numer == 0 else None
    return 1.0 - numer / denom


def mean_shift(a: Sequence[float], b: Sequence[float]) -> float | None:
    """``mean(b) - mean(a)``: positive when judge B scores higher."""
    if not a:
        return None
    return float(np.mean(np.asarray(b, dtype=float)) - np.mean(np.asarray(a, dtype=float)))


def agreement(scores_a: Mapping[str, Mapping[str, float]], scores_b: Mapping[str, Mapping[str, float]]
              ) -> dict[str, Any]:
    """Agreement of two judges over the responses both scored successfully.

    Args:
        scores_a, scores_b: response id -> per-dimension scores (canonical keys, see ``parsing.DIMENSIONS``).

    Returns:
        ``{"n": ..., "dimensions": {key: {"spearman", "kappa", "mean_a", "mean_b", "shift"}},
        "quality_score": {"spearman", "mean_a", "mean_b", "shift"}}``.
    """
    common = sorted(set(scores_a) & set(scores_b))
    out: dict[str, Any] = {"n": len(common), "dimensions": {}}
    for key, _ in DIMENSIONS:
        a = [float(scores_a[i][key]) for i in common]
        b = [float(scores_b[i][key]) for i in common]
        out["dimensions"][key] = {
            "spearman": spearman(a, b),
            "kappa": quadratic_weighted_kappa([round(x) for x in a], [round(y) for y in b]),
            "mean_a": float(np.mean(a)) if a else None,
            "mean_b": float(np.mean(b)) if b else None,
            "shift": mean_shift(a, b),
        }
    qa = [quality_score(dict(scores_a[i])) for i in common]
    qb = [quality_score(dict(scores_b[i])) for i in common]
    out["quality_score"] = {"spearman": spearman(qa, qb), "mean_a": float(np.mean(qa)) if qa else None,
                            "mean_b": float(np.mean(qb)) if qb else None, "shift": mean_shift(qa, qb)}
    return out


def format_agreement(result: Mapping[str, Any], label_a: str = "A", label_b: str = "B") -> str:
    """A plain-text table of :func:`agreement`'s result."""

    def fmt(x: float | None, spec: str = "+.3f") -> str:
        return "-" if x is None else format(x, spec)

    lines = [f"judge agreement on {result['n']} responses: A = {label_a}, B = {label_b}",
             f"{'dimension':<20} {'spearman':>9} {'kappa_w':>8} {'mean_A':>7} {'mean_B':>7} {'shift':>7}"]
    for key, name in DIMENSIONS:
        d = result["dimensions"][key]
        lines.append(f"{name:<20} {fmt(d['spearman']):>9} {fmt(d['kappa']):>8} {fmt(d['mean_a'], '.2f'):>7} "
                     f"{fmt(d['mean_b'], '.2f'):>7} {fmt(d['shift'], '+.2f'):>7}")
    q = result["quality_score"]
    lines.append(f"{'S_q (0..100)':<20} {fmt(q['spearman']):>9} {'':>8} {fmt(q['mean_a'], '.1f'):>7} "
                 f"{fmt(q['mean_b'], '.1f'):>7} {fmt(q['shift'], '+.1f'):>7}")
    return "\n".join(lines)
