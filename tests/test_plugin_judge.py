"""A third-party judge installed as a package reaches samples.jsonl, results.json and the leaderboard
with no change to mmlw (examples/plugins/mmlw-repetition, registered through the mmlw.judges entry point)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

PLUGIN = Path(__file__).resolve().parents[1] / "examples" / "plugins" / "mmlw-repetition"


@pytest.fixture(scope="module")
def plugin_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The plugin pip-installed (a real wheel build) into its own site folder, put on the path."""
    site = tmp_path_factory.mktemp("site")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                    "--target", str(site), str(PLUGIN)], check=True, capture_output=True, timeout=300)
    assert list(site.glob("mmlw_repetition-*.dist-info/entry_points.txt"))
    return {**os.environ, "PYTHONPATH": str(site), "MMLW_CACHE_DIR": str(site / "cache")}


def mmlw(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mmlongbench_write", *args], capture_output=True, text=True,
                          env=env, timeout=300)


def test_an_installed_judge_plugin_flows_to_every_output(plugin_env: dict[str, str], tmp_path: Path) -> None:
    listed = mmlw(plugin_env, "judges")
    assert listed.returncode == 0 and "repetition" in listed.stdout
    out = tmp_path / "runs"
    for ratio in ("1.0", "0.6"):  # the scripted model's filler repeats itself: a real signal for the metric
        result = mmlw(plugin_env, "eval", "--model", "scripted", "--model-args", f"length_ratio={ratio}", "--data",
                      "mini", "--judge", "length,repetition", "--output", str(out), "--cache", "off")
        assert result.returncode == 0, result.stderr
    run_dir = sorted(out.iterdir())[0]
    rows = [json.loads(line) for line in (run_dir / "samples.jsonl").read_text().splitlines()]
    assert all(0 < r["scores"]["repetition"]["value"] <= 100 for r in rows)
    assert all(r["scores"]["repetition"]["metrics"] == {"repetition": r["scores"]["repetition"]["value"]}
               for r in rows)
    results = json.loads((run_dir / "results.json").read_text())
    assert [m["name"] for m in results["metrics"]] == ["S_l", "repetition"]
    assert results["metrics"][1]["higher_is_better"] is False
    overall = results["scores"]["overall"]["repetition"]
    assert overall["n"] == 12 and overall["mean"] == pytest.approx(
        sum(r["scores"]["repetition"]["value"] for r in rows) / 12, abs=1e-3)
    assert results["scores"]["by_task"]["ppt_script"]["repetition"]["n"] == 2
    board = mmlw(plugin_env, "leaderboard", str(out), "--format", "json")
    assert board.returncode == 0, board.stderr
    (table,) = json.loads(board.stdout)["tables"]
    assert "repetition" in [m["name"] for m in table["metrics"]]
    assert all("repetition" in row["scores"]["overall"] for row in table["rows"])
    markdown = mmlw(plugin_env, "leaderboard", str(out))
    assert "| repetition |" in markdown.stdout  # a column of its own
    csv_text = mmlw(plugin_env, "leaderboard", str(out), "--format", "csv").stdout
    assert "repetition" in csv_text.splitlines()[0].split(",")
    runs = sorted(out.iterdir())
    gate = mmlw(plugin_env, "compare", str(runs[0]), str(runs[1]), "--metric", "repetition", "--format", "json")
    assert gate.returncode in (0, 1) and json.loads(gate.stdout)["rows"][0]["metric"] == "repetition"
