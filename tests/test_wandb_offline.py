"""``--wandb``: a real W&B offline run (WANDB_MODE=offline) written by ``mmlw eval`` / ``mmlw leaderboard``, read
back from its datastore file and its table files, holds exactly what the run directory says."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_helpers import run_cli
from fake_models import register_fake_judge
from wandb_records import read_offline_run

from mmlongbench_write.judges.parsing import DIMENSIONS


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path / "wb"))
    monkeypatch.setenv("WANDB_CONFIG_DIR", str(tmp_path / "wb-config"))
    monkeypatch.delenv("WANDB_API_KEY", raising=False)


def _only_run(root: Path) -> Path:
    [run] = list((root / "wandb").glob("offline-run-*"))
    return run


def _table(run: Path, history: list[dict], name: str) -> dict:
    [path] = [h[f"{name}.path"] for h in history if f"{name}.path" in h]
    return json.loads((run / "files" / path).read_text(encoding="utf-8"))


def test_eval_logs_config_metrics_with_cis_group_tables_and_samples(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    register_fake_judge(monkeypatch, "fake-judge", json.dumps({"analysis": "ok", **{n: 4 for _, n in DIMENSIONS}}))
    code, _, err = run_cli(["eval", "--model", "scripted", "--model-args", "length_ratio=0.8", "--judge-model",
                            "fake-judge", "--output", str(tmp_path / "runs"), "--run-id", "r1", "--quiet",
                            "--wandb", f"project=mmlw-test,name=first,tags=ci;smoke,dir={tmp_path / 'wb'}"], capsys)
    assert code == 0, err
    assert "wandb: logged to" in err
    run = _only_run(tmp_path / "wb")
    logged = read_offline_run(run)
    results = json.loads((tmp_path / "runs" / "r1" / "results.json").read_text(encoding="utf-8"))
    overall = results["scores"]["overall"]
    for metric in ("S", "S_l", "S_q"):
        assert logged["summary"][metric] == overall[metric]["mean"]
        assert [logged["summary"][f"{metric}_ci_lo"], logged["summary"][f"{metric}_ci_hi"]] == overall[metric]["ci95"]
    assert logged["summary"]["n_samples"] == 12 and logged["summary"]["status"] == "complete"
    assert logged["config"]["run_id"] == "r1" and logged["config"]["model"]["args"] == {"length_ratio": 0.8}
    assert logged["config"]["config"]["judge_model"] == "fake-judge"
    by_task = _table(run, logged["history"], "by_task")
    assert {row[0] for row in by_task["data"]} == set(results["scores"]["by_task"])
    s_l = by_task["columns"].index("S_l")
    assert {row[0]: row[s_l] for row in by_task["data"]} == {k: v["S_l"]["mean"]
                                                            for k, v in results["scores"]["by_task"].items()}
    bins = _table(run, logged["history"], "by_length_bin")
    assert [row[0] for row in bins["data"]] == list(results["scores"]["by_length_bin"])
    samples = _table(run, logged["history"], "samples")
    stored = [json.loads(line) for line in (tmp_path / "runs" / "r1" / "samples.jsonl").read_text("utf-8").splitlines()]
    assert len(samples["data"]) == 12
    cols = samples["columns"]
    assert {row[cols.index("id")]: row[cols.index("response")] for row in samples["data"]} == \
        {s["id"]: s["response"] for s in stored}


def test_leaderboard_logs_the_board_as_a_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for rid, ratio in (("long", 1.0), ("short", 0.3)):
        code, _, err = run_cli(["eval", "--model", "scripted", "--model-args", f"length_ratio={ratio}", "--output",
                                str(tmp_path / "runs"), "--run-id", rid, "--label", rid, "--quiet"], capsys)
        assert code == 0, err
    code, out, err = run_cli(["leaderboard", str(tmp_path / "runs"), "--format", "csv", "--wandb",
                              f"project=mmlw-test,dir={tmp_path / 'wb'}"], capsys)
    assert code == 0, err
    run = _only_run(tmp_path / "wb")
    board = _table(run, read_offline_run(run)["history"], "leaderboard")
    label, s_l = board["columns"].index("label"), board["columns"].index("S_l")
    assert [(row[label], row[s_l]) for row in board["data"]] == [("long", 100.0), ("short", 0.0)]
    assert out.splitlines()[0].startswith("label,")  # the board itself is still printed


@pytest.mark.parametrize(("value", "message"), [
    ("projct=x", "unknown key 'projct' (did you mean 'project'?)"),
    ("name=x", "project=NAME is required"),
    ("project=x,mode=sometimes", "mode must be one of online, offline, disabled"),
    ("project=x,api_key=abc123", "looks like a secret"),
])
def test_bad_wandb_args_stop_before_the_run(tmp_path: Path, capsys: pytest.CaptureFixture[str], value: str,
                                            message: str) -> None:
    code, _, err = run_cli(["eval", "--model", "scripted", "--output", str(tmp_path / "runs"), "--wandb", value],
                           capsys)
    assert code == 2 and message in err and "abc123" not in err and not (tmp_path / "runs").exists()
