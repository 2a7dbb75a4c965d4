"""The CI example in examples/ci/ is a gate that can fail: its data lets S_l drop, and compare exits 1."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from cli_helpers import run_cli

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "ci"


def test_the_workflow_evaluates_the_shipped_gate_data_with_a_real_model() -> None:
    workflow = yaml.safe_load((EXAMPLE / "mmlw-regression.yml").read_text(encoding="utf-8"))
    env = workflow["env"]
    assert "tiny" not in env["MODEL"] + env["MODEL_ARGS"]  # a random model scores 0: the gate could not fail
    assert (EXAMPLE / "data" / Path(env["DATA"]).name).is_file()
    steps = " ".join(step.get("run", "") for step in workflow["jobs"]["gate"]["steps"])
    assert '--model-args "$MODEL_ARGS"' in steps and '--data "$DATA"' in steps and "mmlw compare" in steps


def test_a_model_losing_its_length_control_fails_the_example_gate(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    data = str(EXAMPLE / "data" / "gate.jsonl")
    for run_id, ratio in (("baseline", 1.0), ("current", 0.4)):
        code, _, err = run_cli(["eval", "--model", "scripted", "--model-args", f"length_ratio={ratio},language=auto",
                                "--data", data, "--seed", "0", "--output", str(tmp_path), "--run-id", run_id,
                                "--cache", "off", "--quiet"], capsys)
        assert code == 0, err
    code, out, _ = run_cli(["compare", str(tmp_path / "baseline"), str(tmp_path / "current"), "--max-drop", "5"],
                           capsys)
    assert code == 1 and "FAIL: S_l dropped by 75.0 points" in out
    code, out, _ = run_cli(["compare", str(tmp_path / "baseline"), str(tmp_path / "baseline"), "--max-drop", "5"],
                           capsys)
    assert code == 0 and "PASS" in out
