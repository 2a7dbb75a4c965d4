"""`mmlw compare`: paired bootstrap regression gate and its exit codes (0 pass, 1 regression, 2 unusable)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from cli_helpers import run_cli
from runfactory import Synthetic, half, make_run, make_samples, quality_judge

from mmlongbench_write.leaderboard.compare import CompareInputError, compare_runs
from mmlongbench_write.runstore import load_run


@pytest.fixture()
def base_rows() -> list[Synthetic]:
    return make_samples(per_task=4, seed=3)


def test_identical_predictions_exit_0(tmp_path: Path, base_rows: list[Synthetic], capsys) -> None:
    a = make_run(tmp_path, label="base", samples=base_rows)
    b = make_run(tmp_path, label="new", samples=list(base_rows))
    code, out, _ = run_cli(["compare", str(a), str(b), "--max-drop", "2"], capsys)
    assert code == 0, out
    assert "PASS" in out and "24 shared samples" in out


def test_half_length_exits_1_and_names_s_l(tmp_path: Path, base_rows: list[Synthetic], capsys) -> None:
    a = make_run(tmp_path, label="base", samples=base_rows)
    b = make_run(tmp_path, label="new", samples=half(base_rows))
    code, out, _ = run_cli(["compare", str(a), str(b), "--max-drop", "2", "--metric", "S_l"], capsys)
    assert code == 1
    assert "FAIL: S_l dropped by" in out and "REGRESSION" in out
    code, out, _ = run_cli(["compare", str(a), str(b), "--max-drop", "2", "--format", "json"], capsys)
    result = json.loads(out)
    assert code == 1 and {r["metric"] for r in result["failed"]} == {"S", "S_l"}
    overall_q = next(r for r in result["rows"] if r["group"] == "overall" and r["metric"] == "S_q")
    assert overall_q["status"] == "ok" and overall_q["diff"] == 0


def test_drop_within_max_drop_passes(tmp_path: Path, base_rows: list[Synthetic]) -> None:
    a = make_run(tmp_path, label="base", samples=base_rows)
    b = make_run(tmp_path, label="new", samples=half(base_rows))
    result = compare_runs(load_run(a), load_run(b), metrics=["S_l"], max_drop=90)
    assert result["exit_code"] == 0
    assert result["rows"][0]["status"] == "drop (within max-drop)"


def test_no_shared_samples_exit_2(tmp_path: Path, base_rows: list[Synthetic], capsys) -> None:
    a = make_run(tmp_path, label="base", samples=base_rows)
    other = [replace(s, sample=replace(s.sample, id="other-" + s.id)) for s in base_rows]
    b = make_run(tmp_path, label="new", samples=other)
    code, _, err = run_cli(["compare", str(a), str(b)], capsys)
    assert code == 2 and "no shared samples" in err and len(err.strip().splitlines()) == 1


def test_different_dataset_or_judge_exit_2(tmp_path: Path, base_rows: list[Synthetic], capsys) -> None:
    a = make_run(tmp_path, label="base", samples=base_rows)
    b = make_run(tmp_path, label="new", samples=base_rows, fingerprint="fp-other")
    code, _, err = run_cli(["compare", str(a), str(b)], capsys)
    assert code == 2 and "different benchmark data" in err
    judge = quality_judge(model="claude-3-opus", prompt_hash="zz")
    c = make_run(tmp_path, label="judged-elsewhere", judge=judge, samples=make_samples(per_task=4, seed=3))
    code, _, err = run_cli(["compare", str(a), str(c)], capsys)
    assert code == 2 and "different quality judges" in err
    code, _, _ = run_cli(["compare", str(a), str(c), "--allow-mixed-judges"], capsys)
    assert code == 0


def test_length_only_runs_compare_on_s_l_alone(tmp_path: Path) -> None:
    rows = make_samples(per_task=3, judged=False)
    a = make_run(tmp_path, label="base", judged=False, samples=rows)
    b = make_run(tmp_path, label="new", judged=False, samples=list(rows))
    result = compare_runs(load_run(a), load_run(b))
    statuses = {r["metric"]: r["status"] for r in result["rows"] if r["group"] == "overall"}
    assert statuses == {"S_l": "ok"} and result["exit_code"] == 0
    with pytest.raises(CompareInputError, match="not declared by both runs"):
        compare_runs(load_run(a), load_run(b), metrics=["S_q"])


def test_gate_groups_and_bad_metric(tmp_path: Path, base_rows: list[Synthetic], capsys) -> None:
    a = make_run(tmp_path, label="base", samples=base_rows)
    b = make_run(tmp_path, label="new", samples=half(base_rows))
    result = compare_runs(load_run(a), load_run(b), metrics=["S_l"], max_drop=2, gate_groups=True)
    assert {r["group"] for r in result["failed"]} >= {"overall", "task", "length_bin"}
    code, _, err = run_cli(["compare", str(a), str(b), "--metric", "S_x"], capsys)
    assert code == 2 and "'S_x' is not declared by both runs" in err


@pytest.mark.parametrize("damage", ["truncated results.json", "a samples row that is a list", "killed mid-finish"])
def test_a_broken_run_exits_2_in_one_line(tmp_path: Path, base_rows: list[Synthetic], damage: str, capsys) -> None:
    a = make_run(tmp_path, label="base", samples=base_rows)
    b = make_run(tmp_path, label="new", samples=half(base_rows))
    if damage == "truncated results.json":
        text = (b / "results.json").read_text()
        (b / "results.json").write_text(text[: len(text) // 2])
    elif damage == "a samples row that is a list":
        lines = (b / "samples.jsonl").read_text().splitlines()
        lines[3] = "[1, 2, 3]"
        (b / "samples.jsonl").write_text("\n".join(lines) + "\n")
    else:  # run.json says a session is running: its results are not to be trusted
        meta = json.loads((b / "run.json").read_text())
        (b / "run.json").write_text(json.dumps({**meta, "status": "running"}))
    code, out, err = run_cli(["compare", str(a), str(b)], capsys)
    assert code == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert "REGRESSION" not in out and "FAIL" not in out


def test_a_gate_that_cannot_fail_is_refused(tmp_path: Path, capsys) -> None:
    """A random model writes almost nothing: S_l is 0 on both sides, so no drop can exceed --max-drop and the
    gate would pass whatever the model does. That is refused (exit 2), not reported as PASS."""
    floor = [replace(s, text="x") for s in make_samples(per_task=2, judged=False)]
    a = make_run(tmp_path, label="base", samples=floor, judged=False)
    b = make_run(tmp_path, label="new", samples=list(floor), judged=False)
    code, out, err = run_cli(["compare", str(a), str(b), "--max-drop", "2"], capsys)
    assert code == 2 and "this gate cannot fail" in err and "S_l 0.0" in err and "PASS" not in out
    # a baseline with room to drop gates as before, and says which rows could not have failed
    room = make_samples(per_task=2, judged=False)
    c = make_run(tmp_path, label="base2", samples=room, judged=False)
    d = make_run(tmp_path, label="new2", samples=list(room), judged=False)
    result = compare_runs(load_run(c), load_run(d), max_drop=2, gate_groups=True)
    assert result["exit_code"] == 0 and all(r["base"] > 2 for r in result["rows"]
                                            if f"{r['group']}/{r['key']}/{r['metric']}" not in result["cannot_fail"])
