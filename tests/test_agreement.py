"""Judge agreement statistics on known vectors (numpy-only implementations)."""

from __future__ import annotations

import pytest

from mmlongbench_write.judges.agreement import (
    agreement,
    format_agreement,
    mean_shift,
    quadratic_weighted_kappa,
    rankdata,
    spearman,
)
from mmlongbench_write.judges.parsing import DIMENSION_KEYS


def test_rankdata_average_ties() -> None:
    assert rankdata([10, 20, 20, 5]).tolist() == [2.0, 3.5, 3.5, 1.0]


def test_spearman_known_values() -> None:
    assert spearman([1, 2, 3, 4, 5], [2, 3, 4, 5, 6]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4, 5], [5, 4, 3, 2, 1]) == pytest.approx(-1.0)
    # with ties (worked by hand): ranks (1, 2.5, 2.5, 4) vs (1, 3, 2, 4) -> 4.5 / sqrt(4.5 * 5)
    assert spearman([1, 2, 2, 3], [1, 3, 2, 4]) == pytest.approx(0.9486833, abs=1e-6)
    assert spearman([3, 3, 3], [1, 2, 3]) is None and spearman([1], [1]) is None


def test_weighted_kappa_known_values() -> None:
    assert quadratic_weighted_kappa([1, 2, 3, 4, 5], [1, 2, 3, 4, 5]) == pytest.approx(1.0)
    assert quadratic_weighted_kappa([4, 4, 4], [4, 4, 4]) == 1.0
    # worked by hand: observed weighted disagreement 7/16, expected 21/16 -> 1 - 7/21
    assert quadratic_weighted_kappa([1, 2, 3, 4, 5, 3], [2, 2, 3, 5, 4, 1]) == pytest.approx(2 / 3)
    assert quadratic_weighted_kappa([1, 5], [5, 1]) == pytest.approx(-1.0)
    assert quadratic_weighted_kappa([], []) is None


def test_mean_shift() -> None:
    assert mean_shift([3, 4, 5], [2, 3, 4]) == pytest.approx(-1.0)


def scores(values: list[int]) -> dict[str, int]:
    return dict(zip(DIMENSION_KEYS, values, strict=True))


def test_perfect_agreement_and_constant_shift() -> None:
    a = {f"s{i}": scores([1 + i % 4] * 6) for i in range(8)}
    same = agreement(a, a)
    assert same["n"] == 8
    for d in same["dimensions"].values():
        assert d["spearman"] == pytest.approx(1.0) and d["kappa"] == pytest.approx(1.0) and d["shift"] == 0.0
    shifted = {k: {dim: v + 1 for dim, v in s.items()} for k, s in a.items()}
    result = agreement(a, shifted)
    for d in result["dimensions"].values():
        assert d["spearman"] == pytest.approx(1.0) and d["shift"] == pytest.approx(1.0)
        assert d["kappa"] is not None and d["kappa"] < 1.0
    assert result["quality_score"]["shift"] == pytest.approx(25.0)  # +1 on all six = +25 S_q points
    table = format_agreement(result, "gpt-4o", "qwen")
    assert "Breadth and Depth" in table and "+25.0" in table


def test_only_common_responses_count() -> None:
    a = {"x": scores([3] * 6), "y": scores([4] * 6)}
    b = {"y": scores([4] * 6), "z": scores([5] * 6)}
    assert agreement(a, b)["n"] == 1
