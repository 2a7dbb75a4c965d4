"""`mmlw train dpo` on IterDPO pairs from the annotation fixture: margin rises, accuracy 1.0, vision frozen."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from training_helpers import revision_dir

from mmlongbench_write.cli import main
from mmlongbench_write.training.metrics import read_metrics
from mmlongbench_write.training.trainer import is_vision_param

pytestmark = pytest.mark.slow

CPU_FLAGS = ["--lr", "1e-3", "--batch-size", "2", "--no-bf16", "--cpu", "--warmup-ratio", "0",
             "--lr-scheduler", "constant", "--max-length", "2048"]


def _pairs(tmp_path: Path) -> Path:
    out = tmp_path / "pairs.jsonl"
    main(["data", "iterdpo-pairs", "--revisions", str(revision_dir(tmp_path)), "--output", str(out),
          "--skip-identical"])
    return out


def _tensors(directory: Path) -> dict:
    from safetensors.torch import load_file

    tensors: dict = {}
    for f in sorted(directory.glob("*.safetensors")):
        tensors.update(load_file(str(f)))
    return tensors


def test_dpo_on_iterdpo_pairs(tmp_path: Path, tiny_model_dir: Path) -> None:
    pairs = _pairs(tmp_path)
    assert len(pairs.read_text().splitlines()) == 6
    out = tmp_path / "dpo-out"
    main(["train", "dpo", "--model", str(tiny_model_dir), "--iterdpo", str(pairs), "--output", str(out),
          "--max-steps", "6", "--beta", "0.1", *CPU_FLAGS])
    metrics = read_metrics(out / "metrics.jsonl")
    assert len(metrics) == 6 and all({"step", "loss", "reward_margin", "reward_accuracy"} <= set(m) for m in metrics)
    assert metrics[-1]["reward_margin"] > metrics[0]["reward_margin"]
    assert metrics[-1]["reward_accuracy"] == 1.0
    assert metrics[-1]["loss"] < metrics[0]["loss"]

    before, after = _tensors(tiny_model_dir), _tensors(out)
    assert before.keys() == after.keys()
    vision = [k for k in before if is_vision_param(k)]
    assert vision and any("merger" in k for k in vision)  # the projector is part of the frozen set
    for key in vision:
        assert before[key].dtype == after[key].dtype and bool((before[key] == after[key]).all()), key
    assert any(not (before[k] == after[k]).all() for k in before if not is_vision_param(k))  # the LM did train


def test_mix_and_lora(tmp_path: Path, tiny_model_dir: Path) -> None:
    pairs = _pairs(tmp_path)
    extra = tmp_path / "ai.jsonl"
    first = json.loads(pairs.read_text().splitlines()[0])
    extra.write_text(json.dumps({**first, "chosen": "A vivid, careful description.", "rejected": "meh"}) + "\n")
    out = tmp_path / "lora-out"
    main(["train", "dpo", "--model", str(tiny_model_dir), "--iterdpo", str(pairs), "--mix", str(extra),
          "--output", str(out), "--max-steps", "2", "--lora", "--lora-r", "4", *CPU_FLAGS])
    assert json.loads((out / "data_report.json").read_text())["kept"] == 7
    assert (out / "lora-adapter" / "adapter_config.json").is_file()
    merged = _tensors(out)
    assert not any("lora" in k for k in merged)  # merged: a plain checkpoint
    assert merged.keys() == _tensors(tiny_model_dir).keys()
    assert len(read_metrics(out)) == 2


def test_iterdpo_flag_is_for_dpo_only(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["train", "sft", "--model", "m", "--iterdpo", "p.jsonl", "--output", str(tmp_path / "o")])
    assert "use them with `mmlw train dpo`" in capsys.readouterr().err
