"""Real tiny-model runs: the 22K schema trains with every row kept, and every run reports its data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image
from training_helpers import full_budget_model_dir, longwriter_v_22k_shards, make_png

from mmlongbench_write.cli import main
from mmlongbench_write.training.metrics import read_metrics

pytestmark = pytest.mark.slow

CPU_FLAGS = ["--lr", "1e-3", "--batch-size", "2", "--no-bf16", "--cpu", "--warmup-ratio", "0",
             "--lr-scheduler", "constant", "--max-length", "4096"]


def test_longwriter_v_22k_shards_train_with_every_row_kept(
    tmp_path: Path, tiny_model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = longwriter_v_22k_shards(tmp_path / "LongWriter-V-22K", n=4, shards=2)
    out = tmp_path / "sft-22k"
    main(["train", "sft", "--model", str(tiny_model_dir), "--data", str(data), "--output", str(out),
          "--max-steps", "2", *CPU_FLAGS])
    assert [m["step"] for m in read_metrics(out)] == [1, 2]
    report = json.loads((out / "train_settings.json").read_text())["data_report"]
    assert (report["read"], report["kept"], report["rejected"]) == (4, 4, {})
    assert report["tokens_per_image"] == {"mean": 4.0, "max": 4}  # 56x56 -> 4 visual tokens each
    assert 20 < report["tokens_per_row"]["mean"] <= report["tokens_per_row"]["max"] < 4096
    printed = capsys.readouterr().out
    assert "training data:" in printed and "rows kept" in printed
    assert any(line.split() == ["tokens", "per", "image", "mean", "4.0,", "max", "4"] for line in printed.splitlines())
    assert printed.index("training data:") < printed.index("trained:")


def test_report_counts_rejections_and_budgeted_image_tokens(
    tmp_path: Path, tiny_model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = full_budget_model_dir(tiny_model_dir, tmp_path / "qwen-budget")
    Image.new("RGB", (1280, 720), (20, 90, 160)).save(tmp_path / "slide.png")
    make_png(tmp_path / "small.png", 3)
    rows = [
        {"id": "slide", "images": ["slide.png"], "instruction": "Explain the slide.", "output": "It is blue."},
        {"id": "small", "images": ["small.png"], "instruction": "Explain.", "output": "Small."},
        {"id": "gone", "images": ["missing.png"], "instruction": "Explain.", "output": "?"},
    ]
    data = tmp_path / "mixed.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "sft-budget"
    main(["train", "sft", "--model", str(model), "--data", str(data), "--output", str(out), "--max-steps", "1",
          "--image-pixels", str(280 * 280), *CPU_FLAGS])
    report = json.loads((out / "train_settings.json").read_text())["data_report"]
    assert (report["read"], report["kept"]) == (3, 2)
    assert report["rejected"] == {"image file not found": 1}
    assert report["first_rejected"]["image file not found"].startswith("mixed.jsonl row 3 (id gone), field 'images[0]'")
    assert report["tokens_per_image"]["max"] <= 100  # the 1280x720 slide under the 280x280 budget
    assert report["tokens_per_image"]["max"] > 50
    assert report == json.loads((out / "data_report.json").read_text())
    table = capsys.readouterr().out
    assert "rejected: image file not found" in table


def test_max_samples_from_the_command_line(tmp_path: Path, tiny_model_dir: Path) -> None:
    data = longwriter_v_22k_shards(tmp_path / "LongWriter-V-22K", n=6, shards=3)
    reports = []
    for run in ("a", "b"):
        out = tmp_path / run
        main(["train", "sft", "--model", str(tiny_model_dir), "--data", str(data), "--output", str(out),
              "--max-steps", "1", "--max-samples", "3", "--sample-seed", "11", *CPU_FLAGS])
        settings = json.loads((out / "train_settings.json").read_text())
        assert (settings["max_samples"], settings["sample_seed"]) == (3, 11)
        reports.append(settings["data_report"])
    assert reports[0] == reports[1]
    assert (reports[0]["read"], reports[0]["kept"]) == (6, 3)
    assert reports[0]["sampled"] == {"max_samples": 3, "seed": 11, "from": 6}
