"""Aggregation rules, bootstrap CIs and speed (leaderboard/aggregate.py, leaderboard/stats.py)."""

from __future__ import annotations

import time

import numpy as np
import pytest
from runfactory import make_rows

from mmlongbench_write.leaderboard.aggregate import aggregate_samples, sample_metrics
from mmlongbench_write.leaderboard.stats import mean_with_ci, paired_diff_ci
from mmlongbench_write.schema import LENGTH_BIN_NAMES


def test_mean_with_ci_basic_and_deterministic() -> None:
    vals = list(range(100))
    a = mean_with_ci(vals, seed=0)
    b = mean_with_ci(vals, seed=0)
    assert a == b
    assert a["mean"] == pytest.approx(49.5)
    lo, hi = a["ci95"]
    assert lo < 49.5 < hi and hi - lo < 25
    assert mean_with_ci([]) == {"mean": None, "ci95": None, "n": 0}
    assert mean_with_ci([7.0])["ci95"] == [7.0, 7.0]


def test_ci_narrows_with_more_samples() -> None:
    rng = np.random.default_rng(1)
    small = mean_with_ci(rng.normal(50, 10, 20))
    big = mean_with_ci(rng.normal(50, 10, 2000))
    assert (big["ci95"][1] - big["ci95"][0]) < (small["ci95"][1] - small["ci95"][0])


def test_paired_diff_identical_is_zero() -> None:
    d = paired_diff_ci([1.0, 2.0, 3.0], [1.0, 2.0, 3.0])
    assert d["diff"] == 0 and d["ci"] == [0, 0]


def test_aggregate_structure_and_rules() -> None:
    rows = make_rows(per_task=4, judge_failures=3, generation_errors=2, truncate_every=5)
    res = aggregate_samples(rows, n_boot=200)
    assert res["S_l_over"] == "all"
    assert list(res["by_length_bin"]) == list(LENGTH_BIN_NAMES)
    ov = res["overall"]
    assert ov["n_samples"] == 24
    assert ov["n_judge_failures"] == 3
    assert ov["n_generation_errors"] == 2
    assert ov["n_truncated"] == sum(1 for r in rows if r["truncated"])
    # S_l over all rows with a length score (failed generations were scored as 0 words)
    assert ov["S_l"]["n"] == 24
    # S_q and S exclude judge failures and failed generations
    assert ov["S_q"]["n"] == 24 - 3 - 2 and ov["S"]["n"] == 24 - 3 - 2
    expected_sq = np.mean([r["quality_score"] for r in rows if r["quality_score"] is not None])
    assert ov["S_q"]["mean"] == pytest.approx(expected_sq, abs=1e-3)
    assert set(res["by_task"]) == {r["task"] for r in rows}
    assert set(res["by_category"]) == {"professional", "creative"}
    assert set(res["by_language"]) == {"en", "zh"}
    assert sum(g["n_samples"] for g in res["by_length_bin"].values()) == 24
    import json

    json.dumps(res)  # JSON-able


def test_generation_error_without_length_score_is_excluded() -> None:
    rows = make_rows(per_task=1, generation_errors=1)
    rows[0]["length_score"] = None
    res = aggregate_samples(rows, n_boot=50)
    assert res["overall"]["S_l"]["n"] == len(rows) - 1


def test_score_computed_when_missing_and_null_for_judge_error() -> None:
    assert sample_metrics({"length_score": 80, "quality_score": 60, "score": None})["S"] == 70
    assert sample_metrics({"length_score": 80, "quality_score": 60, "judge_error": "x"})["S"] is None
    assert sample_metrics({"length_score": 80, "quality_score": None})["S"] is None


def test_empty_bin_has_none_mean() -> None:
    rows = [r for r in make_rows(per_task=2) if r["length_bin"] != "3000+"]
    res = aggregate_samples(rows, n_boot=50)
    assert res["by_length_bin"]["3000+"]["S_l"] == {"mean": None, "ci95": None, "n": 0}


def test_aggregate_is_fast() -> None:
    runs = [make_rows(per_task=20, seed=s, length_ratio=0.5 + s / 10) for s in range(10)]
    t0 = time.perf_counter()
    for rows in runs:
        aggregate_samples(rows, n_boot=1000)
    assert time.perf_counter() - t0 < 1.0
