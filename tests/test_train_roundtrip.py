"""A trained tiny checkpoint evaluates with `mmlw eval --model hf` as is; multi-process launching works."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from training_helpers import revision_dir, sft_file

from mmlongbench_write.cli import main
from mmlongbench_write.training.launch import (
    ACCELERATE_CONFIGS,
    LAUNCHED_ENV,
    Nodes,
    launch_command,
    materialize_config,
    needs_launch,
    shipped_config,
)
from mmlongbench_write.training.metrics import read_metrics

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
MMLW = [sys.executable, "-m", "mmlongbench_write"]
CPU_FLAGS = ["--lr", "1e-3", "--batch-size", "2", "--no-bf16", "--cpu", "--warmup-ratio", "0",
             "--max-length", "2048"]


def _env(tmp_path: Path) -> dict[str, str]:
    env = {**os.environ, "MMLW_CACHE_DIR": str(tmp_path / "cache"), "HF_HUB_OFFLINE": "1",
           "TRANSFORMERS_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    env.pop(LAUNCHED_ENV, None)
    return env


def test_trained_checkpoint_evaluates_with_mmlw_eval(tmp_path: Path, tiny_model_dir: Path) -> None:
    out = tmp_path / "sft-ckpt"
    main(["train", "sft", "--model", str(tiny_model_dir), "--data", str(sft_file(tmp_path, n=2)), "--output",
          str(out), "--max-steps", "2", *CPU_FLAGS])
    runs = tmp_path / "runs"
    result = subprocess.run(
        [*MMLW, "eval", "--model", "hf", "--model-args", f"pretrained={out}", "--data", "mini", "--limit", "2",
         "--judge", "length", "--gen-kwargs", "max_new_tokens=8,min_new_tokens=4", "--output", str(runs)],
        capture_output=True, text=True, env=_env(tmp_path), timeout=300, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    samples = list(runs.rglob("samples.jsonl"))
    assert len(samples) == 1
    rows = [json.loads(line) for line in samples[0].read_text().splitlines()]
    assert len(rows) == 2
    for row in rows:
        assert row["error"] is None and row["finish_reason"] in {"stop", "length"} and row["prediction"]
        assert row["length_score"] is not None


def test_shipped_accelerate_configs(tmp_path: Path) -> None:
    for name in ACCELERATE_CONFIGS:
        config = yaml.safe_load(shipped_config(name).read_text())
        assert config["distributed_type"] in {"DEEPSPEED", "FSDP"}
        materialized = yaml.safe_load(materialize_config(name, tmp_path, num_processes=4).read_text())
        assert materialized["num_processes"] == 4
        if name != "fsdp":
            ds_file = Path(materialized["deepspeed_config"]["deepspeed_config_file"])
            assert ds_file.is_absolute() and ds_file.is_file()
            stage = json.loads(ds_file.read_text())["zero_optimization"]["stage"]
            assert stage == (2 if name == "zero2" else 3)
    assert "offload_param" in json.loads((shipped_config("zero3").parent / "zero3-offload.json").read_text())[
        "zero_optimization"]


def test_launch_commands(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = tmp_path / "train_settings.json"
    cmd = launch_command(settings, nproc=2, accelerate_config=None)
    assert cmd[1:7] == ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m"]
    assert cmd[-2:] == ["mmlongbench_write.training.launch", str(settings)]
    acc = launch_command(settings, nproc=8, accelerate_config="zero3")
    assert acc[1:5] == ["-m", "accelerate.commands.launch", "--config_file", str(tmp_path / "accelerate-zero3.yaml")]
    monkeypatch.delenv(LAUNCHED_ENV, raising=False)
    assert needs_launch(2, None) and needs_launch(None, "fsdp") and not needs_launch(1, None)
    monkeypatch.setenv(LAUNCHED_ENV, "1")  # a worker never launches again
    assert not needs_launch(2, "zero3")


def test_two_process_dpo_with_torchrun(tmp_path: Path, tiny_model_dir: Path) -> None:
    pairs = tmp_path / "pairs.jsonl"
    main(["data", "iterdpo-pairs", "--revisions", str(revision_dir(tmp_path)), "--output", str(pairs),
          "--skip-identical"])
    out = tmp_path / "ddp-out"
    result = subprocess.run(
        [*MMLW, "train", "dpo", "--model", str(tiny_model_dir), "--iterdpo", str(pairs), "--output", str(out),
         "--max-steps", "2", "--nproc", "2", "--batch-size", "1", *CPU_FLAGS[2:]],
        capture_output=True, text=True, env=_env(tmp_path), timeout=400)
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = read_metrics(out)
    assert [m["step"] for m in metrics] == [1, 2] and all("reward_margin" in m for m in metrics)
    settings = json.loads((out / "train_settings.json").read_text())
    assert settings["kind"] == "dpo" and settings["data"] == [str(pairs)]
    assert (out / "model.safetensors").is_file() and (out / "preprocessor_config.json").is_file()
    # both ranks ran: each logs its rank at start (see mmlongbench_write.training.launch)
    assert "rank 0/2" in result.stdout + result.stderr and "rank 1/2" in result.stdout + result.stderr


def test_module_entry_requires_a_settings_file() -> None:
    result = subprocess.run([sys.executable, "-m", "mmlongbench_write.training.launch"], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 2 and "usage" in result.stderr


def test_any_accelerate_config_path_and_per_node_commands(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # a user's own config next to its own DeepSpeed JSON (relative path), under a non-ASCII folder
    mine = tmp_path / "配置"
    mine.mkdir()
    (mine / "ds.json").write_text(json.dumps({"zero_optimization": {"stage": 3}, "train_batch_size": "auto"}))
    (mine / "mine.yaml").write_text(shipped_config("zero3").read_text().replace("zero3.json", "ds.json"))
    out = tmp_path / "out"
    main(["train", "sft", "--model", "m", "--data", "d.jsonl", "--output", str(out), "--accelerate-config",
          str(mine / "mine.yaml"), "--nproc", "4", "--num-machines", "2", "--machine-rank", "1",
          "--main-process-ip", "10.1.2.3", "--main-process-port", "29555", "--dry-run"])
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":", 1)[0] for line in lines] == ["node 0/2", "node 1/2"]
    for rank, line in enumerate(lines):
        assert f"--machine_rank {rank} " in line and "--num_machines 2" in line
        assert "--num_processes 8" in line  # 4 per node x 2 nodes
        assert "--main_process_ip 10.1.2.3 --main_process_port 29555" in line
        assert "--deepspeed_multinode_launcher standard" in line
    materialized = yaml.safe_load((out / "accelerate-mine.yaml").read_text())
    assert materialized["deepspeed_config"]["deepspeed_config_file"] == str(mine / "ds.json")
    torchrun = launch_command(out / "train_settings.json", nproc=2, accelerate_config=None,
                              nodes=Nodes.from_flags(3, 2, "10.0.0.9", None))
    assert "--standalone" not in torchrun
    assert torchrun[3:15] == ["--nproc_per_node", "2", "--nnodes", "3", "--node_rank", "2", "--master_addr",
                              "10.0.0.9", "--master_port", "29500", "-m", "mmlongbench_write.training.launch"]


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_two_machines_meet_at_the_rendezvous(tmp_path: Path, tiny_model_dir: Path) -> None:
    """Two `mmlw train` commands, machine ranks 0 and 1 on 127.0.0.1, train one DDP job together."""
    data = sft_file(tmp_path, n=4)
    out = tmp_path / "two-nodes"
    port = str(_free_port())
    procs = [subprocess.Popen(
        [*MMLW, "train", "sft", "--model", str(tiny_model_dir), "--data", str(data), "--output", str(out),
         "--max-steps", "2", "--batch-size", "1", "--nproc", "1", "--num-machines", "2", "--machine-rank", str(rank),
         "--main-process-ip", "127.0.0.1", "--main-process-port", port, *CPU_FLAGS[4:]],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(tmp_path)) for rank in (0, 1)]
    logs = [p.communicate(timeout=600) for p in procs]
    for proc, (_stdout, stderr) in zip(procs, logs, strict=True):
        assert proc.returncode == 0, stderr[-3000:]
    everything = "".join(a + b for a, b in logs)
    assert "node 0/2:" in logs[0][0] and "<- this node" in logs[1][0]
    assert "rank 0/2" in everything and "rank 1/2" in everything
    assert [m["step"] for m in read_metrics(out)] == [1, 2]
    assert json.loads((out / "engine_report.json").read_text())["backend"] == "ddp"
    # find_unused_parameters is off with the vision tower frozen: no per-step search (nor its warning)
    assert "find_unused_parameters=True" not in everything
