"""Published training data read as published: LongWriter-V-22K shards, TRL and LLaMA-Factory rows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from training_helpers import longwriter_v_22k_rows, longwriter_v_22k_shards, make_png

from mmlongbench_write.training.formats import load_training_rows


def _jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def _types(message: dict) -> list[str]:
    return [part["type"] for part in message["content"]]


def test_longwriter_v_22k_shard_folder_keeps_every_row(tmp_path: Path) -> None:
    root = longwriter_v_22k_shards(tmp_path / "LongWriter-V-22K", n=5, shards=2)
    rows, report = load_training_rows([root], "sft")
    assert (report.read, report.kept, dict(report.rejected)) == (5, 5, {})
    first = rows[0]
    assert [ref["path"] for ref in first["images"]] == [None, None]  # bytes embedded, not looked up as files
    assert all(ref["bytes"].startswith(b"\x89PNG") for ref in first["images"])
    assert _types(first["prompt"][0]) == ["image", "image", "text"]
    assert first["prompt"][0]["content"][2]["text"].startswith("请为这2张幻灯片写讲稿 0")
    assert first["completion"][0]["role"] == "assistant"
    assert "第1页" in first["completion"][0]["content"][0]["text"]


def test_22k_rows_with_placeholders_from_a_save_to_disk_folder(tmp_path: Path) -> None:
    from datasets import Dataset, Features, Image, Sequence, Value

    features = Features({"id": Value("int64"), "messages": Sequence(Value("string")), "images": Sequence(Image())})
    Dataset.from_dict(longwriter_v_22k_rows(3, images_per_row=3, placeholders=True),
                      features=features).save_to_disk(str(tmp_path / "saved"))  # type: ignore[arg-type]
    rows, report = load_training_rows([tmp_path / "saved"], "sft")
    assert report.kept == 3
    assert _types(rows[0]["prompt"][0]) == ["image", "image", "image", "text"]
    assert all(ref["bytes"] for ref in rows[0]["images"])


def test_trl_conversational_rows_use_typed_parts_not_their_repr(tmp_path: Path) -> None:
    make_png(tmp_path / "a.png", 1)
    row = {"messages": [
        {"role": "system", "content": [{"type": "text", "text": "You write lecture scripts."}]},
        {"role": "user", "content": [{"type": "text", "text": "Before"}, {"type": "image"},
                                     {"type": "text", "text": "after."}]},
        {"role": "assistant", "content": [{"type": "text", "text": "The script."}]}], "images": ["a.png"]}
    rows, report = load_training_rows([_jsonl(tmp_path / "trl.jsonl", [row])], "sft")
    assert report.kept == 1
    user = rows[0]["prompt"][1]
    assert _types(user) == ["text", "image", "text"]
    assert user["content"][0]["text"] == "Before"
    assert rows[0]["completion"][0]["content"] == [{"type": "text", "text": "The script."}]
    assert "{'type'" not in json.dumps(rows[0], ensure_ascii=False)


def test_trl_prompt_completion_and_preference_rows(tmp_path: Path) -> None:
    make_png(tmp_path / "a.png", 1)
    user = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Write."}]}]
    sft = {"prompt": user, "completion": [{"role": "assistant", "content": "Done."}], "images": ["a.png"]}
    sft_rows, sft_report = load_training_rows([_jsonl(tmp_path / "pc.jsonl", [sft])], "sft")
    assert sft_report.kept == 1 and sft_rows[0]["completion"][0]["content"][0]["text"] == "Done."
    explicit = {"prompt": user, "chosen": [{"role": "assistant", "content": "good"}],
                "rejected": [{"role": "assistant", "content": "bad"}], "images": ["a.png"]}
    implicit = {"chosen": [*user, {"role": "assistant", "content": "good"}],
                "rejected": [*user, {"role": "assistant", "content": "bad"}], "images": ["a.png"]}
    rows, report = load_training_rows([_jsonl(tmp_path / "pref.jsonl", [explicit, implicit])], "dpo")
    assert (report.kept, dict(report.rejected)) == (2, {})
    assert rows[0] == rows[1]
    assert _types(rows[1]["prompt"][0]) == ["image", "text"]
    assert rows[1]["chosen"] == [{"role": "assistant", "content": [{"type": "text", "text": "good"}]}]
    assert rows[1]["rejected"][0]["content"][0]["text"] == "bad"


def test_llamafactory_sharegpt_and_mllm_rows(tmp_path: Path) -> None:
    make_png(tmp_path / "幻灯片 1.png", 1)
    make_png(tmp_path / "b.png", 2)
    rows = [{"conversations": [{"from": "human", "value": "<image>\n<image>\n写一篇讲稿。"},
                               {"from": "gpt", "value": "讲稿正文。"}],
             "system": "你是老师。", "images": ["幻灯片 1.png", "b.png"]}]
    (tmp_path / "mllm.json").write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
    out, report = load_training_rows([tmp_path / "mllm.json"], "sft")
    assert report.kept == 1
    assert [m["role"] for m in out[0]["prompt"]] == ["system", "user"]
    assert _types(out[0]["prompt"][1]) == ["image", "image", "text"]
    assert out[0]["images"][0] == {"bytes": None, "path": str(tmp_path / "幻灯片 1.png")}


def test_unusable_rows_are_named_by_file_row_and_field(tmp_path: Path) -> None:
    make_png(tmp_path / "a.png", 1)
    rows = [
        {"id": "ok", "messages": ["Describe.", "Fine."], "images": ["a.png"]},
        {"id": "r2", "messages": [{"role": "wizard", "content": "hi"}], "images": []},
        {"id": "r3", "messages": [{"role": "user", "content": [{"type": "audio"}]},
                                  {"role": "assistant", "content": "x"}]},
        {"id": "r4", "images": [{"bytes": None, "path": None}], "instruction": "x", "output": "y"},
        {"id": "r5", "messages": ["Only a question."], "images": []},
    ]
    out, report = load_training_rows([_jsonl(tmp_path / "bad.jsonl", rows)], "sft")
    assert report.kept == 1 and out[0]["completion"][0]["content"][0]["text"] == "Fine."
    assert report.examples["malformed row: unknown role"] == "bad.jsonl row 2 (id r2), field 'messages[0]': 'wizard'"
    assert report.examples["malformed row: unknown content part type"].startswith("bad.jsonl row 3 (id r3)")
    assert "field 'images'" in report.examples["malformed row: unusable image entry"]
    assert "row 5 (id r5)" in report.examples["malformed row: conversation does not end with an assistant turn"]
    assert "(first: bad.jsonl row 2 (id r2), field 'messages[0]': 'wizard')" in report.summary()


@pytest.mark.parametrize("seed", [0, 7])
def test_max_samples_draws_the_same_seeded_subset(tmp_path: Path, seed: int) -> None:
    make_png(tmp_path / "a.png", 1)
    data = _jsonl(tmp_path / "many.jsonl", [{"id": i, "images": ["a.png"], "instruction": f"q{i}",
                                             "output": f"a{i}"} for i in range(50)])

    def drawn(s: int) -> list[str]:
        rows, report = load_training_rows([data], "sft", max_samples=10, sample_seed=s)
        assert report.kept == 10 and report.sampled == {"max_samples": 10, "seed": s, "from": 50}
        return [r["prompt"][0]["content"][1]["text"] for r in rows]

    assert drawn(seed) == drawn(seed)
    assert drawn(seed) != drawn(seed + 1)
    assert len(set(drawn(seed))) == 10


def test_parquet_file_of_sharegpt_dicts_and_an_empty_answer(tmp_path: Path) -> None:
    import pandas as pd

    make_png(tmp_path / "a.png", 1)
    frame = pd.DataFrame([
        {"id": 1, "conversations": [{"from": "human", "value": "<image>Write."}, {"from": "gpt", "value": "Done."}],
         "images": ["a.png"]},
        {"id": 2, "conversations": [{"from": "human", "value": "Write."}, {"from": "gpt", "value": None}],
         "images": ["a.png"]},
    ])
    frame.to_parquet(tmp_path / "train.parquet")
    rows, report = load_training_rows([tmp_path / "train.parquet"], "sft")
    assert report.read == 2 and report.kept == 1  # numpy arrays from pandas are read as lists
    assert dict(report.rejected) == {"malformed row: empty answer": 1}
    assert report.examples["malformed row: empty answer"] == "train.parquet row 2 (id 2), field 'conversations'"
