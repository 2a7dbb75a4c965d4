"""Training formats: project jsonl and LLaMA-Factory sharegpt rows read into one shape; bad rows counted."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from training_helpers import make_png

from mmlongbench_write.errors import DataError
from mmlongbench_write.training.formats import load_training_rows, to_sharegpt


def _write(path: Path, rows: list[dict], as_json: bool = False) -> Path:
    path.write_text(json.dumps(rows) if as_json else "".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_project_and_sharegpt_rows_agree(tmp_path: Path) -> None:
    make_png(tmp_path / "a.png", 1)
    make_png(tmp_path / "b.png", 2)
    project = _write(tmp_path / "p.jsonl", [{"images": ["a.png", "b.png"], "instruction": "Describe.",
                                              "output": "Two squares."}])
    sharegpt = _write(tmp_path / "s.json", [{"messages": [{"role": "user", "content": "<image><image>Describe."},
                                                          {"role": "assistant", "content": "Two squares."}],
                                             "images": ["a.png", "b.png"]}], as_json=True)
    (p_rows, p_rep), (s_rows, s_rep) = (load_training_rows([f], "sft") for f in (project, sharegpt))
    assert p_rep.kept == s_rep.kept == 1
    assert p_rows == s_rows
    row = p_rows[0]
    assert row["images"] == [{"bytes": None, "path": str(tmp_path / n)} for n in ("a.png", "b.png")]
    assert [part["type"] for part in row["prompt"][0]["content"]] == ["image", "image", "text"]
    assert row["completion"] == [{"role": "assistant", "content": [{"type": "text", "text": "Two squares."}]}]


def test_interleaved_placeholders_and_dpo_rows(tmp_path: Path) -> None:
    make_png(tmp_path / "a.png", 1)
    make_png(tmp_path / "b.png", 2)
    rows = [
        {"conversations": [{"from": "human", "value": "First <image> then <image> write."}],
         "chosen": {"from": "gpt", "value": "good"}, "rejected": {"from": "gpt", "value": "bad"},
         "images": ["a.png", "b.png"]},
        {"images": ["a.png"], "prompt": "Write.", "chosen": "good", "rejected": "bad", "course": "x", "page": 1},
    ]
    out, report = load_training_rows([_write(tmp_path / "d.jsonl", rows)], "dpo")
    assert report.kept == 2
    assert [p["type"] for p in out[0]["prompt"][0]["content"]] == ["text", "image", "text", "image", "text"]
    assert out[1]["chosen"][0]["content"][0]["text"] == "good"


def test_bad_rows_are_rejected_with_a_count(tmp_path: Path) -> None:
    make_png(tmp_path / "a.png", 1)
    rows = [
        {"messages": [{"role": "user", "content": "<image><image>Describe."},
                      {"role": "assistant", "content": "x"}], "images": ["a.png"]},  # 2 placeholders, 1 image
        {"images": ["a.png"] * 3, "instruction": "Describe.", "output": "x"},  # too many images
        {"images": ["missing.png"], "instruction": "Describe.", "output": "x"},
        {"images": ["a.png"], "instruction": "Describe."},  # no output
        {"images": ["a.png"], "instruction": "Describe.", "output": "fine"},
    ]
    out, report = load_training_rows([_write(tmp_path / "bad.jsonl", rows)], "sft", max_images=2)
    assert len(out) == 1 and report.read == 5 and report.kept == 1
    assert report.rejected["image placeholder count != image count"] == 1
    assert report.rejected["more than 2 images"] == 1
    assert report.rejected["image file not found"] == 1
    assert "4 rejected" not in report.summary() and "1/5 rows kept" in report.summary()


def test_missing_file_and_sharegpt_export(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not found"):
        load_training_rows([tmp_path / "nope.jsonl"], "sft")
    pair = {"images": ["a.png", "b.png"], "prompt": "Write.", "chosen": "good", "rejected": "bad"}
    share = to_sharegpt(pair)
    assert share["conversations"][0]["value"] == "<image><image>Write."
    assert share["chosen"] == {"from": "gpt", "value": "good"}
