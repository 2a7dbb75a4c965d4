"""`mmlw leaderboard`: formats, ordering, reported rows, mixed judges, fast start, real scripted runs."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cli_helpers import run_cli
from runfactory import make_run, make_samples, quality_judge

MMLW = [sys.executable, "-m", "mmlongbench_write"]


def _tables(out: str) -> list[dict]:
    return json.loads(out)["tables"]


def _rows(out: str) -> list[dict]:
    (table,) = _tables(out)
    return table["rows"]


@pytest.fixture()
def runs(tmp_path: Path) -> Path:
    root = tmp_path / "runs"
    make_run(root, label="good", per_task=2, seed=0)
    make_run(root, label="short", per_task=2, length_ratio=0.5, seed=1, judge_failures=2, truncate_every=4)
    make_run(root, label="long", per_task=2, length_ratio=1.6, seed=2)
    return root


def test_json_sorted_by_s_with_counts(runs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(["leaderboard", str(runs), "--format", "json"], capsys)
    assert code == 0
    entries = _rows(out)
    assert [e["label"] for e in entries] == ["good", "long", "short"]
    scores = [e["scores"]["overall"]["S"]["mean"] for e in entries]
    assert scores == sorted(scores, reverse=True)
    short = entries[2]["scores"]["overall"]
    assert short["n_samples"] == 12 and short["n_judge_failures"] == 2 and short["n_truncated"] == 3
    assert entries[0]["judge"].startswith("gpt-4o-2024-08-06")
    assert entries[0]["length_formula"] == "paper"
    lo, hi = entries[0]["scores"]["overall"]["S_l"]["ci95"]
    assert lo <= entries[0]["scores"]["overall"]["S_l"]["mean"] <= hi


def test_markdown_to_file_has_all_sections(runs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "board.md"
    code, _, _ = run_cli(["leaderboard", str(runs), "--output", str(target)], capsys)
    assert code == 0
    text = target.read_text()
    for title in ("Overall and by required length", "By task", "By category", "By language", "Runs"):
        assert title in text
    assert "| 1 | good |" in text
    assert "S_l [3000,∞)" in text and "ppt_script" in text and "judge failures" in text


def test_markdown_piped_is_plain(runs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(["leaderboard", str(runs)], capsys)  # capsys is not a tty -> markdown
    assert code == 0 and out.startswith("### ")


def test_csv_one_row_per_run_plus_reported(runs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(["leaderboard", str(runs), "--format", "csv", "--reported"], capsys)
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    measured = [r for r in rows if r["kind"] == "measured"]
    reported = [r for r in rows if r["kind"] == "reported"]
    assert len(measured) == 3 and len(reported) == 13
    dpo = next(r for r in reported if r["label"] == "LongWriter-V-7B-DPO")
    assert (float(dpo["S"]), float(dpo["S_l"]), float(dpo["S_q"])) == (84.6, 86.2, 82.9)
    assert dpo["paper_setting"] == "vlm" and dpo["setting"] == "reported"
    assert {"S_l@ppt_script", "S_q@en", "S@professional", "n_judge_failures"} <= set(rows[0])


def test_another_quality_judge_gets_its_own_table_unless_mixing_is_asked(
    runs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    make_run(runs, label="other-judge", judge=quality_judge(model="claude-3-opus", prompt_hash="zz"))
    code, out, err = run_cli(["leaderboard", str(runs), "--format", "json"], capsys)
    assert code == 0 and "not comparable" in err
    tables = _tables(out)
    assert sorted(len(t["rows"]) for t in tables) == [1, 3]
    for table in tables:
        assert {r["judge"] for r in table["rows"]} == {next(iter(table["rows"]))["judge"]}
    code, out, _ = run_cli(["leaderboard", str(runs), "--allow-mixed-judges", "--format", "json"], capsys)
    assert code == 0
    marked = {e["label"]: e["mixed_judge"] for e in _rows(out)}
    assert marked == {"good": False, "long": False, "short": False, "other-judge": True}
    code, out, _ = run_cli(["leaderboard", str(runs), "--allow-mixed-judges", "--format", "md"], capsys)
    assert "other-judge†" in out


def test_missing_default_runs_dir_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli(["leaderboard"], capsys)
    assert code == 2 and "no runs given and no ./runs/" in err and len(err.strip().splitlines()) == 1
    code, out, _ = run_cli(["leaderboard", "--reported", "--format", "csv"], capsys)
    assert code == 0 and len(out.strip().splitlines()) == 1 + 13


def test_recompute_matches_results_json(runs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, stored, _ = run_cli(["leaderboard", str(runs), "--format", "json"], capsys)
    _, fresh, _ = run_cli(["leaderboard", str(runs), "--format", "json", "--recompute"], capsys)
    a = [e["scores"]["overall"] for e in _rows(stored)]
    b = [e["scores"]["overall"] for e in _rows(fresh)]
    assert a == b


def test_leaderboard_imports_nothing_heavy(runs: Path) -> None:
    code = (
        "import sys; from mmlongbench_write.cli import main; "
        f"main(['leaderboard', {str(runs)!r}, '--format', 'csv']); "
        "heavy=[m for m in ('torch','pandas','matplotlib','transformers','datasets','numpy') if m in sys.modules]; "
        "print('HEAVY', heavy)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "HEAVY []" in proc.stdout


def test_real_scripted_runs_feed_leaderboard_and_compare(tmp_path: Path) -> None:
    env = {**os.environ, "MMLW_CACHE_DIR": str(tmp_path / "cache")}
    out = tmp_path / "runs"
    for ratio in ("1.0", "0.5"):
        subprocess.run(
            [
                *MMLW,
                "eval",
                "--model",
                "scripted",
                "--model-args",
                f"length_ratio={ratio}",
                "--data",
                "mini",
                "--output",
                str(out),
            ],
            check=True,
            capture_output=True,
            env=env,
        )
    board = subprocess.run(
        [*MMLW, "leaderboard", str(out), "--format", "json"], check=True, capture_output=True, text=True, env=env
    )
    (table,) = json.loads(board.stdout)["tables"]
    assert table["setting"]["dataset_kind"] == "mini" and "mini set" in table["setting"]["title"]
    entries = table["rows"]
    assert len(entries) == 2
    assert entries[0]["scores"]["overall"]["S_l"]["mean"] > entries[1]["scores"]["overall"]["S_l"]["mean"]
    assert all(e["scores"]["overall"]["n_samples"] == 12 for e in entries)
    full, half = (Path(entries[0]["path"]), Path(entries[1]["path"]))
    same = subprocess.run(
        [*MMLW, "compare", str(full), str(full), "--max-drop", "2"], capture_output=True, text=True, env=env
    )
    assert same.returncode == 0, same.stdout + same.stderr
    worse = subprocess.run(
        [*MMLW, "compare", str(full), str(half), "--max-drop", "2"], capture_output=True, text=True, env=env
    )
    assert worse.returncode == 1 and "FAIL: S_l dropped" in worse.stdout
    assert "S_q" not in worse.stdout  # no quality judge: only S_l is compared


def test_an_unfinished_run_is_left_out_with_a_note(runs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    crashed = runs / "crashed-run"
    crashed.mkdir()
    (crashed / "run.json").write_text(json.dumps({"run_id": "crashed-run", "config": {}}), encoding="utf-8")
    code, out, err = run_cli(["leaderboard", str(runs), "--format", "json"], capsys)
    assert code == 0
    assert "crashed-run" in err and "left out" in err and "no results.json" in err
    board = json.loads(out)
    assert all("crashed-run" not in json.dumps(t) for t in board["tables"])
    assert [Path(s["path"]).name for s in board["skipped"]] == ["crashed-run"]
    code, _, err = run_cli(["leaderboard", str(crashed)], capsys)
    assert code == 2 and "no finished runs" in err


def test_json_tables_never_mix_settings(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A 4-sample run, a --limit 3 run, the 12-sample mini set, a 120-sample run and another length formula:
    five settings, five tables, and the paper's rows beside none of them (none is the full benchmark)."""
    root = tmp_path / "runs"
    env = {**os.environ, "MMLW_CACHE_DIR": str(tmp_path / "cache")}
    for extra in ([], ["--limit", "3"], ["--judge", "length-released", "--run-id", "released"]):
        subprocess.run([*MMLW, "eval", "--model", "scripted", "--data", "mini", "--output", str(root), *extra],
                       check=True, capture_output=True, env=env)
    make_run(root, label="tiny-four", judged=False, samples=make_samples(per_task=1, judged=False)[:4])
    make_run(root, label="big", judged=False, per_task=20)
    code, out, _ = run_cli(["leaderboard", str(root), "--format", "json", "--reported"], capsys)
    assert code == 0
    tables = _tables(out)
    measured = [t for t in tables if any(r["kind"] == "measured" for r in t["rows"])]
    assert len(measured) == 5
    keys = ("dataset_fingerprint", "n_samples", "tasks", "length_formula", "judges")
    assert len({json.dumps([t["setting"][k] for k in keys], sort_keys=True) for t in measured}) == 5
    for table in measured:
        assert all(r["kind"] == "measured" for r in table["rows"])  # reported rows only beside the benchmark
        assert {r["scores"]["overall"]["n_samples"] for r in table["rows"]} == {table["setting"]["n_samples"]}
    reported = [t for t in tables if t not in measured]
    assert len(reported) == 1 and len(reported[0]["rows"]) == 13


def test_reported_rows_stand_beside_the_full_benchmark_group(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "runs"
    make_run(root, label="bench-a", dataset_source="THU-KEG/MMLongBench-Write", fingerprint="fp-bench")
    make_run(root, label="mini-ish", per_task=1)
    code, out, _ = run_cli(["leaderboard", str(root), "--format", "json", "--reported"], capsys)
    tables = _tables(out)
    assert code == 0 and len(tables) == 2
    full = tables[0]
    assert full["setting"]["dataset_kind"] == "benchmark"
    assert [r["kind"] for r in full["rows"]].count("reported") == 13
    assert all(r["kind"] == "measured" for r in tables[1]["rows"])
