"""Two-process DeepSpeed ZeRO-3 on CPU (DS_ACCELERATOR=cpu, gloo): parameters are partitioned while the
model loads, and SFT and LoRA-DPO both save a checkpoint in the hub layout."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from training_helpers import revision_dir, sft_file

from mmlongbench_write.cli import main
from mmlongbench_write.training.launch import LAUNCHED_ENV
from mmlongbench_write.training.metrics import read_metrics

pytestmark = pytest.mark.slow

#: the CLI under the interpreter running the tests (any checkout, any virtual environment)
MMLW = [sys.executable, "-m", "mmlongbench_write"]
FLAGS = ["--lr", "1e-3", "--batch-size", "1", "--no-bf16", "--cpu", "--warmup-ratio", "0", "--lr-scheduler",
         "constant", "--max-length", "2048", "--max-steps", "2", "--accelerate-config", "zero3", "--nproc", "2"]


def _env(tmp_path: Path) -> dict[str, str]:
    env = {**os.environ, "MMLW_CACHE_DIR": str(tmp_path / "cache"), "HF_HUB_OFFLINE": "1",
           "TRANSFORMERS_OFFLINE": "1", "OMP_NUM_THREADS": "1", "DS_ACCELERATOR": "cpu"}
    env.pop(LAUNCHED_ENV, None)
    return env


def _tensors(directory: Path) -> dict:
    from safetensors.torch import load_file

    tensors: dict = {}
    for f in sorted(directory.glob("model*.safetensors")):
        tensors.update(load_file(str(f)))
    return tensors


def _run(tmp_path: Path, args: list[str]) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([*MMLW, "train", *args, *FLAGS], capture_output=True, text=True,
                            env=_env(tmp_path), timeout=900)
    assert result.returncode == 0, result.stderr[-4000:]
    return result


def _assert_partitioned(out: Path, log: str) -> None:
    report = json.loads((out / "engine_report.json").read_text())
    assert report["backend"] == "deepspeed" and report["world_size"] == 2
    total = report["parameters"]
    # each rank held only its half while loading: the model was never whole on any rank
    assert len(report["held_at_load"]) == 2 and all(0 < held <= total // 2 + 1024 for held in
                                                    report["held_at_load"]), report
    assert sum(report["held_at_load"]) >= total
    for rank in (0, 1):
        assert f"rank {rank}/2 holds" in log and "at load (deepspeed" in log


def test_zero3_sft_partitions_at_load_and_saves_in_hub_layout(tmp_path: Path, tiny_model_dir: Path) -> None:
    out = tmp_path / "z3-sft"
    result = _run(tmp_path, ["sft", "--model", str(tiny_model_dir), "--data", str(sft_file(tmp_path, n=4)),
                             "--output", str(out)])
    _assert_partitioned(out, result.stderr)
    assert [m["step"] for m in read_metrics(out)] == [1, 2]
    before, after = _tensors(tiny_model_dir), _tensors(out)
    assert after.keys() == before.keys()  # the hub's weight names, not the engine's model.model.*
    assert any(not (before[k] == after[k]).all() for k in before)
    from transformers import AutoModelForImageTextToText

    _, info = AutoModelForImageTextToText.from_pretrained(out, output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"]


def test_zero3_lora_dpo_saves_a_merged_checkpoint(tmp_path: Path, tiny_model_dir: Path) -> None:
    pairs = tmp_path / "pairs.jsonl"
    main(["data", "iterdpo-pairs", "--revisions", str(revision_dir(tmp_path)), "--output", str(pairs),
          "--skip-identical"])
    out = tmp_path / "z3-dpo"
    result = _run(tmp_path, ["dpo", "--model", str(tiny_model_dir), "--iterdpo", str(pairs), "--output", str(out),
                             "--lora", "--lora-r", "4"])
    _assert_partitioned(out, result.stderr)
    metrics = read_metrics(out)
    assert [m["step"] for m in metrics] == [1, 2] and all("reward_margin" in m for m in metrics)
    assert (out / "lora-adapter" / "adapter_model.safetensors").is_file()
    before, merged = _tensors(tiny_model_dir), _tensors(out)
    assert merged.keys() == before.keys() and not any("lora" in k for k in merged)
    assert any(not (before[k] == merged[k]).all() for k in before)  # the adapter was merged in
