"""`mmlw compare`: paired bootstrap regression gate and its exit codes (0 pass, 1 regression, 2 unusable)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_helpers import run_cli
from runfactory import make_rows, make_run, quality_judge

from mmlongbench_write.leaderboard.compare import compare_runs
from mmlongbench_write.runstore import load_run


def _half(rows: list[dict]) -> list[dict]:
    """The same predictions cut to half their length (scores recomputed for length)."""
    from runfactory import paper_length_score

    out = []
    for r in rows:
        r = dict(r)
        words = r["response"].split(" ") if r["language"] == "en" else list(r["response"])
        cut = words[: len(words) // 2]
        r["response"] = r["prediction"] = (" " if r["language"] == "en" else "").join(cut)
        r["word_count"] = len(cut)
        r["length_score"] = paper_length_score(len(cut), r["required_length"])
        if r["quality_score"] is not None:
            r["score"] = (r["length_score"] + r["quality_score"]) / 2
        out.append(r)
    return out


@pytest.fixture()
def base_rows() -> list[dict]:
    return make_rows(per_task=4, seed=3)


def test_identical_predictions_exit_0(tmp_path: Path, base_rows: list[dict], capsys) -> None:
    a = make_run(tmp_path, label="base", rows=base_rows)
    b = make_run(tmp_path, label="new", rows=[dict(r) for r in base_rows])
    code, out, _ = run_cli(["compare", str(a), str(b), "--max-drop", "2"], capsys)
    assert code == 0, out
    assert "PASS" in out and "24 shared samples" in out


def test_half_length_exits_1_and_names_s_l(tmp_path: Path, base_rows: list[dict], capsys) -> None:
    a = make_run(tmp_path, label="base", rows=base_rows)
    b = make_run(tmp_path, label="new", rows=_half(base_rows))
    code, out, _ = run_cli(["compare", str(a), str(b), "--max-drop", "2", "--metric", "S_l"], capsys)
    assert code == 1
    assert "FAIL: S_l dropped by" in out and "REGRESSION" in out
    code, out, _ = run_cli(["compare", str(a), str(b), "--max-drop", "2", "--format", "json"], capsys)
    result = json.loads(out)
    assert code == 1 and {r["metric"] for r in result["failed"]} == {"S", "S_l"}
    overall_q = next(r for r in result["rows"] if r["group"] == "overall" and r["metric"] == "S_q")
    assert overall_q["status"] == "ok" and overall_q["diff"] == 0


def test_drop_within_max_drop_passes(tmp_path: Path, base_rows: list[dict]) -> None:
    a = make_run(tmp_path, label="base", rows=base_rows)
    b = make_run(tmp_path, label="new", rows=_half(base_rows))
    result = compare_runs(load_run(a), load_run(b), metrics=["S_l"], max_drop=90)
    assert result["exit_code"] == 0
    assert result["rows"][0]["status"] == "drop (within max-drop)"


def test_no_shared_samples_exit_2(tmp_path: Path, base_rows: list[dict], capsys) -> None:
    a = make_run(tmp_path, label="base", rows=base_rows)
    other = [dict(r, id="other-" + r["id"]) for r in base_rows]
    b = make_run(tmp_path, label="new", rows=other)
    code, _, err = run_cli(["compare", str(a), str(b)], capsys)
    assert code == 2 and "no shared samples" in err and len(err.strip().splitlines()) == 1


def test_different_dataset_or_judge_exit_2(tmp_path: Path, base_rows: list[dict], capsys) -> None:
    a = make_run(tmp_path, label="base", rows=base_rows)
    b = make_run(tmp_path, label="new", rows=base_rows, fingerprint="fp-other")
    code, _, err = run_cli(["compare", str(a), str(b)], capsys)
    assert code == 2 and "different benchmark data" in err
    judge = quality_judge(model="claude-3-opus", prompt_hash="zz")
    c = make_run(tmp_path, label="judged-elsewhere", judge=judge, rows=make_rows(per_task=4, seed=3, judge=judge))
    code, _, err = run_cli(["compare", str(a), str(c)], capsys)
    assert code == 2 and "different quality judges" in err
    code, _, _ = run_cli(["compare", str(a), str(c), "--allow-mixed-judges"], capsys)
    assert code == 0


def test_metric_without_data_is_na(tmp_path: Path) -> None:
    rows = make_rows(per_task=3, judged=False)
    a = make_run(tmp_path, label="base", judged=False, rows=rows)
    b = make_run(tmp_path, label="new", judged=False, rows=[dict(r) for r in rows])
    result = compare_runs(load_run(a), load_run(b))
    statuses = {r["metric"]: r["status"] for r in result["rows"] if r["group"] == "overall"}
    assert statuses == {"S": "n/a", "S_q": "n/a", "S_l": "ok"} and result["exit_code"] == 0


def test_gate_groups_and_bad_metric(tmp_path: Path, base_rows: list[dict], capsys) -> None:
    a = make_run(tmp_path, label="base", rows=base_rows)
    b = make_run(tmp_path, label="new", rows=_half(base_rows))
    result = compare_runs(load_run(a), load_run(b), metrics=["S_l"], max_drop=2, gate_groups=True)
    assert {r["group"] for r in result["failed"]} >= {"overall", "task", "length_bin"}
    code, _, err = run_cli(["compare", str(a), str(b), "--metric", "S_x"], capsys)
    assert code == 2 and "unknown metric" in err
