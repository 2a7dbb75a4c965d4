"""`mmlw train sft` on the tiny Qwen2.5-VL: loss falls, metrics.jsonl and a loadable checkpoint are written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from training_helpers import sft_file

from mmlongbench_write.cli import main
from mmlongbench_write.errors import ConfigError, DataError
from mmlongbench_write.training.metrics import read_metrics
from mmlongbench_write.training.presets import TRAIN_PRESETS, resolve_settings

pytestmark = pytest.mark.slow

CPU_FLAGS = [
    "--lr",
    "1e-3",
    "--batch-size",
    "2",
    "--no-bf16",
    "--cpu",
    "--warmup-ratio",
    "0",
    "--lr-scheduler",
    "constant",
    "--max-length",
    "2048",
]


def test_sft_lowers_the_loss(tmp_path: Path, tiny_model_dir: Path) -> None:
    data = sft_file(tmp_path, n=4, images_per_row=2)
    out = tmp_path / "sft-out"
    main(
        [
            "train",
            "sft",
            "--model",
            str(tiny_model_dir),
            "--data",
            str(data),
            "--output",
            str(out),
            "--max-steps",
            "6",
            *CPU_FLAGS,
        ]
    )
    metrics = read_metrics(out)
    assert [m["step"] for m in metrics] == [1, 2, 3, 4, 5, 6]
    assert metrics[-1]["loss"] < metrics[0]["loss"]
    for name in ("config.json", "model.safetensors", "preprocessor_config.json", "tokenizer.json"):
        assert (out / name).is_file(), name
    assert not (out / "processor_config.json").exists()  # the hub layout, loadable by AutoProcessor
    assert json.loads((out / "data_report.json").read_text())["kept"] == 4
    assert json.loads((out / "train_settings.json").read_text())["max_steps"] == 6

    from transformers import AutoModelForImageTextToText

    from mmlongbench_write.model_adapters.tiny import load_processor

    load_processor(out)
    AutoModelForImageTextToText.from_pretrained(out)


def test_over_long_rows_are_rejected_not_truncated(
    tmp_path: Path, tiny_model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = sft_file(tmp_path, n=2)
    args = ["train", "sft", "--model", str(tiny_model_dir), "--data", str(data), "--output", str(tmp_path / "o")]
    with pytest.raises(SystemExit) as exit_info:
        main([*args, "--max-steps", "1", *CPU_FLAGS, "--max-length", "20"])
    assert exit_info.value.code == 2
    assert "0/2 rows kept; 2 rejected: longer than max_length=20 tokens" in capsys.readouterr().err


def test_count_tokens_includes_image_tokens(tmp_path: Path, tiny_model_dir: Path) -> None:
    from mmlongbench_write.training.formats import load_training_rows
    from mmlongbench_write.training.trainer import build_dataset, count_tokens, load_processor_for

    processor = load_processor_for(str(tiny_model_dir), None)
    one = load_training_rows([sft_file(tmp_path / "a", n=1, images_per_row=1)], "sft")[0][0]
    two = load_training_rows([sft_file(tmp_path / "b", n=1, images_per_row=2)], "sft")[0][0]
    # a 56x56 image is 4 image tokens plus its vision start/end markers
    assert count_tokens(processor, two, "sft") - count_tokens(processor, one, "sft") == 6
    settings = resolve_settings("sft", "m", [str(tmp_path / "a" / "sft.jsonl")], "o", overrides={"max_length": 5})
    with pytest.raises(DataError, match="no usable training rows"):
        build_dataset(settings, processor)


def test_presets_and_overrides() -> None:
    s = resolve_settings("sft", "longwriter-v-7b", ["d.jsonl"], "out")
    assert s.model == "Qwen/Qwen2.5-VL-7B-Instruct" and s.learning_rate == 1e-5 and s.epochs == 3
    assert (s.lr_scheduler, s.warmup_ratio, s.bf16, s.max_length) == ("cosine", 0.1, True, 32768)
    assert (s.max_images, s.image_pixels, s.freeze_vision) == (30, 280 * 280, True)
    big = resolve_settings(
        "dpo",
        "./ckpt",
        ["d.jsonl"],
        "out",
        preset="longwriter-v-72b",
        overrides={"learning_rate": 1e-6, "epochs": None},
    )
    # DPO's own single epoch wins over the preset's 3 SFT epochs (docs/training.md: DPO defaults)
    assert big.model == "./ckpt" and big.learning_rate == 1e-6 and big.epochs == 1
    assert TRAIN_PRESETS["longwriter-v-72b"]["learning_rate"] == 7e-6
    with pytest.raises(ConfigError, match="unknown training preset"):
        resolve_settings("sft", "m", ["d"], "o", preset="longwriter-v-8b")
