"""The whole loop: a scripted run -> `annotate init` -> revisions through the studio's API -> `annotate export`
-> `train dpo` on the tiny Qwen2.5-VL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from annotate_helpers import Studio, new_user, page_path

from mmlongbench_write.cli import main
from mmlongbench_write.training.metrics import read_metrics

pytestmark = pytest.mark.slow

LECTURE = "\n\n".join(f"## Slide {i}\nOn this slide we look at part {i} of urban rainwater." for i in range(1, 5))
CPU_FLAGS = ["--lr", "1e-3", "--batch-size", "1", "--no-bf16", "--cpu", "--warmup-ratio", "0",
             "--lr-scheduler", "constant", "--max-length", "2048", "--image-pixels", "3136"]


def test_run_to_annotation_to_dpo(tmp_path: Path, tiny_model_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump({"model": "scripted", "model_args": {"reply": LECTURE}, "data": "mini",
                                      "tasks": "ppt_script", "output": str(tmp_path / "runs")}))
    main(["eval", "--config", str(config)])
    (run,) = [p.parent for p in (tmp_path / "runs").glob("*/run.json")]
    root = tmp_path / "studio"
    main(["annotate", "init", str(root), "--from-run", str(run), "--major", "rain"])
    assert "1 courses created, 1 samples skipped" in capsys.readouterr().out  # the 5-slide zh deck has 4 markers

    with Studio(root) as studio:
        api = studio.client(new_user(root, "alice"))
        for number, text in [(2, "## Slide 2\nHard surfaces send the rain straight into the drains."),
                             (4, "## Slide 4\nTo sum up: give the water somewhere to go.")]:
            _, _, page = api.get(page_path("rain", "mini-ppt_script-en", number))
            assert api.put(page_path("rain", "mini-ppt_script-en", number), text, base=page["version"])[0] == 200

    pairs = tmp_path / "pairs.jsonl"
    main(["annotate", "export", str(root), "--output", str(pairs)])
    assert "3 pairs from 1 scripts (4 pages, 2 revised), 1 identical pairs skipped" in capsys.readouterr().out
    rows = [json.loads(line) for line in pairs.read_text().splitlines()]
    assert [r["page"] for r in rows] == [2, 3, 4]
    assert rows[0]["prompt"].startswith("You are giving a class on how cities manage rainwater")
    assert "straight into the drains" in rows[0]["chosen"] and "part 2 of urban rainwater" in rows[0]["rejected"]
    assert all(Path(image).is_file() for r in rows for image in r["images"])

    out = tmp_path / "dpo-out"
    main(["train", "dpo", "--model", str(tiny_model_dir), "--iterdpo", str(pairs), "--output", str(out),
          "--max-steps", "3", "--beta", "0.1", *CPU_FLAGS])
    metrics = read_metrics(out / "metrics.jsonl")
    assert len(metrics) == 3 and all("reward_margin" in m and "loss" in m for m in metrics)
    assert json.loads((out / "data_report.json").read_text())["kept"] == 3
    assert list(out.glob("*.safetensors"))
