"""Aggregation rules, bootstrap CIs and speed (leaderboard/aggregate.py, leaderboard/stats.py)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from runfactory import make_rows

from mmlongbench_write.leaderboard.aggregate import aggregate_rows
from mmlongbench_write.leaderboard.stats import mean_with_ci, paired_diff_ci
from mmlongbench_write.metrics import S_L, S_Q, run_metrics
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


SPECS = run_metrics([S_L, S_Q])


def test_aggregate_structure_and_rules() -> None:
    rows = make_rows(per_task=4, judge_failures=3, generation_errors=2, truncate_every=5)
    res = aggregate_rows(rows, SPECS, n_boot=200)
    assert res["rule"]["name"] == "mmlw" and res["rule"]["S_l"] == "S_l_all"
    assert list(res["by_length_bin"]) == list(LENGTH_BIN_NAMES)
    ov = res["overall"]
    assert ov["n_samples"] == 24
    assert ov["n_judge_failures"] == 3
    assert ov["n_generation_errors"] == 2
    assert ov["n_truncated"] == sum(1 for r in rows if r.truncated)
    # a failed generation is no measurement: excluded from every mean (the runner never judges it)
    assert ov["S_l"]["n"] == 24 - 2 == ov["S_l_all"]["n"]
    assert ov["S_l_judged"]["n"] == 24 - 2 - 3
    # S_q excludes judge failures and failed generations
    assert ov["S_q"]["n"] == 24 - 3 - 2 and ov["S"]["n"] == 24 - 3 - 2
    expected_sq = np.mean([r.quality_score for r in rows if r.quality_score is not None])
    assert ov["S_q"]["mean"] == pytest.approx(expected_sq, abs=1e-3)
    assert {"S", "S_l", "S_q", "S_l_all", "S_l_judged"} <= ov.keys()
    assert set(res["by_task"]) == {r.task for r in rows}
    assert set(res["by_category"]) == {"professional", "creative"}
    assert set(res["by_language"]) == {"en", "zh"}
    assert sum(g["n_samples"] for g in res["by_length_bin"].values()) == 24
    json.dumps(res)  # JSON-able


def test_both_aggregation_rules_match_a_hand_computation() -> None:
    # 6 generated rows: S_l known exactly; the last two have a judge refusal (no S_q)
    rows = make_rows(per_task=1, judge_failures=2)
    s_l = [r.length_score for r in rows]
    s_q = [r.quality_score for r in rows]
    assert all(v is not None for v in s_l) and s_q[-2:] == [None, None]
    judged_sl = [a for a, q in zip(s_l, s_q, strict=True) if q is not None]
    judged_sq = [q for q in s_q if q is not None]
    mmlw = aggregate_rows(rows, SPECS, rule="mmlw", n_boot=50)["overall"]
    assert mmlw["S_l"]["mean"] == pytest.approx(sum(s_l) / 6, abs=1e-3)
    assert mmlw["S_q"]["mean"] == pytest.approx(sum(judged_sq) / 4, abs=1e-3)
    # the headline S is (S_l + S_q) / 2 of the headline means: the table is self-consistent
    assert mmlw["S"]["mean"] == pytest.approx((sum(s_l) / 6 + sum(judged_sq) / 4) / 2, abs=1e-3)
    authors = aggregate_rows(rows, SPECS, rule="authors", n_boot=50)["overall"]
    assert authors["S_l"]["mean"] == pytest.approx(sum(judged_sl) / 4, abs=1e-3)
    assert authors["S_l"]["n"] == 4 and authors["S_l_all"]["n"] == 6
    assert authors["S_q"]["mean"] == mmlw["S_q"]["mean"]
    per_sample_s = [(a + q) / 2 for a, q in zip(judged_sl, judged_sq, strict=True)]
    assert authors["S"]["mean"] == pytest.approx(sum(per_sample_s) / 4, abs=1e-3)
    assert authors["S"]["mean"] == pytest.approx((authors["S_l"]["mean"] + authors["S_q"]["mean"]) / 2, abs=1e-3)
    for stat in (mmlw["S"], authors["S"]):
        lo, hi = stat["ci95"]
        assert lo <= stat["mean"] <= hi


def test_a_length_only_run_declares_no_s_or_s_q() -> None:
    rows = make_rows(per_task=1, judged=False)
    res = aggregate_rows(rows, run_metrics([S_L]), n_boot=50)
    assert set(res["overall"]) & {"S", "S_q", "S_l_all"} == set()
    assert res["overall"]["S_l"]["n"] == 6


def test_empty_bin_has_none_mean() -> None:
    rows = [r for r in make_rows(per_task=2) if r.length_bin != "3000+"]
    res = aggregate_rows(rows, SPECS, n_boot=50)
    assert res["by_length_bin"]["3000+"]["S_l"] == {"mean": None, "ci95": None, "n": 0}
    assert res["by_length_bin"]["3000+"]["S"]["mean"] is None
