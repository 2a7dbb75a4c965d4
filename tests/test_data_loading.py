"""load_samples on local files and directories, column mapping, bad input, skip_invalid and hub ids."""

from __future__ import annotations

import base64
import io
import json
import time
from pathlib import Path
from typing import Any

import pytest

from mmlongbench_write.data import export_mini, load_samples
from mmlongbench_write.data import readers as readers_mod
from mmlongbench_write.errors import DataError


def png(color: tuple[int, int, int] = (200, 30, 30), size: tuple[int, int] = (16, 12)) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="PNG")
    return buffer.getvalue()


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture
def image_dir(tmp_path: Path) -> Path:
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "a.png").write_bytes(png((10, 20, 30)))
    (tmp_path / "images" / "b.png").write_bytes(png((40, 50, 60)))
    return tmp_path


def rows_with_paths() -> list[dict[str, Any]]:
    return [
        {
            "id": "s1",
            "question": "Write a 1,500-word lecture script for these slides.",
            "images": ["images/a.png"],
            "L": 1500,
            "task": "ppt_script",
            "language": "en",
        },
        {
            "id": "s2",
            "question": "请根据这些风景照写一篇800字的小红书文案。",
            "images": ["images/a.png", "images/b.png"],
            "L": 800,
        },
    ]


def one_line_error(exc: pytest.ExceptionInfo[DataError], *needles: str) -> str:
    message = str(exc.value)
    assert "\n" not in message
    for needle in needles:
        assert needle in message, message
    return message


def test_jsonl_with_relative_image_paths(image_dir: Path) -> None:
    path = write_jsonl(image_dir / "data.jsonl", rows_with_paths())
    data = load_samples(str(path))
    assert [s.id for s in data.samples] == ["s1", "s2"]
    first, second = data.samples
    assert first.images[0].read_bytes() == (image_dir / "images" / "a.png").read_bytes()
    assert first.images[0].path == str((image_dir / "images" / "a.png").resolve())
    assert first.images[0].media_type == "image/png"
    assert second.task == "scenery_copywriting" and second.language == "zh" and second.required_length == 800
    assert data.task_inferred == 1 and data.language_detected == 1 and data.unclassified == 0
    assert data.name == image_dir.name and len(data.fingerprint) == 64


def test_directory_finds_data_file_and_same_as_file(image_dir: Path) -> None:
    path = write_jsonl(image_dir / "data.jsonl", rows_with_paths())
    assert load_samples(str(image_dir)).fingerprint == load_samples(str(path)).fingerprint


def test_directory_with_one_other_named_file(image_dir: Path) -> None:
    write_jsonl(image_dir / "bench.jsonl", rows_with_paths())
    assert len(load_samples(str(image_dir)).samples) == 2


def test_directory_with_several_files_is_ambiguous(image_dir: Path) -> None:
    write_jsonl(image_dir / "one.jsonl", rows_with_paths())
    write_jsonl(image_dir / "two.jsonl", rows_with_paths())
    with pytest.raises(DataError) as exc:
        load_samples(str(image_dir))
    one_line_error(exc, "one.jsonl", "two.jsonl")


def test_empty_directory(tmp_path: Path) -> None:
    with pytest.raises(DataError) as exc:
        load_samples(str(tmp_path))
    one_line_error(exc, "no data file")


def test_json_list_and_data_object(image_dir: Path) -> None:
    (image_dir / "a.json").write_text(json.dumps(rows_with_paths()), encoding="utf-8")
    (image_dir / "sub").mkdir()
    (image_dir / "b.json").write_text(json.dumps({"data": rows_with_paths()}), encoding="utf-8")
    a = load_samples(str(image_dir / "a.json"))
    b = load_samples(str(image_dir / "b.json"))
    assert a.fingerprint == b.fingerprint and len(a.samples) == 2


def test_parquet_with_embedded_bytes_as_datasets_writes_them(tmp_path: Path) -> None:
    import pandas as pd

    rows = [
        {
            "question": "Write a 2200-word film review of these stills.",
            "images": [{"bytes": png((1, 2, 3)), "path": "x.png"}, {"bytes": png((4, 5, 6)), "path": None}],
            "L": 2200,
        },
        {"question": "根据漫画写一个1600字的故事。", "images": [{"bytes": png((7, 8, 9)), "path": None}], "L": 1600},
    ]
    pd.DataFrame(rows).to_parquet(tmp_path / "train.parquet")
    data = load_samples(str(tmp_path / "train.parquet"))
    assert [s.id for s in data.samples] == ["0", "1"]  # row index when there is no id column
    assert [len(s.images) for s in data.samples] == [2, 1]
    assert data.samples[0].images[1].read_bytes() == png((4, 5, 6))
    assert [s.task for s in data.samples] == ["movie_review", "story_generation"]


def test_parquet_plain_bytes_column_and_hub_snapshot_layout(tmp_path: Path) -> None:
    import pandas as pd

    (tmp_path / "data").mkdir()
    frame = pd.DataFrame([{"id": "p1", "question": "Write a 1000-word travel guide.", "images": [png()], "L": 1000}])
    frame.to_parquet(tmp_path / "data" / "train-00000-of-00001.parquet")
    (tmp_path / "README.md").write_text("card", encoding="utf-8")
    data = load_samples(str(tmp_path))
    assert data.samples[0].id == "p1" and data.samples[0].images[0].read_bytes() == png()


def noisy_png() -> bytes:
    """A PNG big enough (seeded noise) that its base64 form is read as embedded bytes, not a path."""
    import random

    from PIL import Image

    rng = random.Random(7)
    img = Image.frombytes("RGB", (32, 32), bytes(rng.randrange(256) for _ in range(32 * 32 * 3)))
    buffer = io.BytesIO()
    img.save(buffer, format="PNG")
    return buffer.getvalue()


def test_base64_and_data_uri_images_in_jsonl(tmp_path: Path) -> None:
    raw = noisy_png()
    b64 = base64.b64encode(raw).decode()
    assert len(b64) > 512
    small = base64.b64encode(png()).decode()
    path = write_jsonl(
        tmp_path / "d.jsonl",
        [
            {"id": "b", "question": "Write 1200 words about the x-ray.", "images": [b64]},
            {"id": "u", "question": "Write 1200 words about the x-ray.", "images": ["data:image/png;base64," + small]},
        ],
    )
    data = load_samples(str(path))
    assert data.samples[0].images[0].read_bytes() == raw
    assert data.samples[1].images[0].read_bytes() == png()


def test_bad_base64_is_a_data_error(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "d.jsonl", [{"id": "b", "question": "Write 10 words.", "images": ["data:x,@@@"]}])
    with pytest.raises(DataError) as exc:
        load_samples(str(path))
    one_line_error(exc, "sample 'b'", "field 'images'", "base64")


def test_column_mapping(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "d.jsonl",
        [{"key": "k1", "text": "Describe the pictures.", "words": "2,000", "kind": "Movie Review", "pics": []}],
    )
    data = load_samples(
        str(path), columns={"id": "key", "question": "text", "L": "words", "task": "kind", "images": "pics"}
    )
    sample = data.samples[0]
    assert (sample.id, sample.required_length, sample.task, sample.category) == ("k1", 2000, "movie_review", "creative")
    assert data.columns["question"] == "text"


def test_mapping_unknown_field_or_column(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "d.jsonl", [{"prompt": "Write 500 words."}])
    with pytest.raises(DataError) as exc:
        load_samples(str(path), columns={"questoin": "prompt"})
    one_line_error(exc, "questoin", "question")
    with pytest.raises(DataError) as exc:
        load_samples(str(path), columns={"question": "nope"})
    one_line_error(exc, "'nope'", "prompt")


def test_custom_jsonl_other_columns_no_images(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "custom.jsonl",
        [
            {"prompt": "Write an essay about gardening, about 900 words.", "length": 900, "note": "x"},
            {"prompt": "写一篇关于秋天的散文。", "length": 1200},
        ],
    )
    data = load_samples(str(path), columns={"question": "prompt", "L": "length"})
    assert [s.images for s in data.samples] == [(), ()]
    assert [s.language for s in data.samples] == ["en", "zh"]
    assert [s.task for s in data.samples] == [None, None]
    assert [s.category for s in data.samples] == ["custom", "custom"]
    assert data.unclassified == 2 and data.task_inferred == 2
    assert data.samples[0].metadata["note"] == "x"


def test_length_forms(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "d.jsonl",
        [
            {"id": "a", "question": "q", "L": 1500.0},
            {"id": "b", "question": "q", "L": "1800 words"},
            {"id": "c", "question": "Write a 2200-word story."},
            {"id": "d", "question": "写一篇1600字的游记。", "L": None},
        ],
    )
    data = load_samples(str(path))
    assert [s.required_length for s in data.samples] == [1500, 1800, 2200, 1600]
    assert data.length_parsed == 2


@pytest.mark.parametrize(
    ("row", "field"),
    [
        ({"id": "x", "images": []}, "question"),
        ({"id": "x", "question": "   "}, "question"),
        ({"id": "x", "question": "Write 100 words.", "images": ["images/missing.png"]}, "images"),
        ({"id": "x", "question": "Write 100 words.", "images": ["images/corrupt.png"]}, "images"),
        ({"id": "x", "question": "Write 100 words.", "images": ["../outside.png"]}, "images"),
        ({"id": "x", "question": "Write 100 words.", "images": [12]}, "images"),
        ({"id": "x", "question": "q", "L": 0}, "L"),
        ({"id": "x", "question": "q", "L": -5}, "L"),
        ({"id": "x", "question": "q", "L": "lots"}, "L"),
        ({"id": "x", "question": "q", "L": 12.5}, "L"),
        ({"id": "x", "question": "Write an essay."}, "L"),
        ({"id": "x", "question": "Write 100 words.", "language": "fr"}, "language"),
    ],
)
def test_bad_sample_names_id_and_field(tmp_path: Path, row: dict[str, Any], field: str) -> None:
    data_dir = tmp_path / "ds"
    (data_dir / "images").mkdir(parents=True)
    (data_dir / "images" / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really a png")
    (tmp_path / "outside.png").write_bytes(png())
    good = {"id": "ok", "question": "Write 100 words.", "images": [], "L": 100, "language": "en"}
    path = write_jsonl(data_dir / "data.jsonl", [good, row])
    with pytest.raises(DataError) as exc:
        load_samples(str(path))
    one_line_error(exc, "sample 'x'", f"field '{field}'")
    assert exc.value.sample_id == "x" and exc.value.field == field


def test_no_instruction_column_at_all(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "d.jsonl", [{"text": "Write 100 words."}])
    with pytest.raises(DataError) as exc:
        load_samples(str(path))
    one_line_error(exc, "field 'question'", "--data-columns question=COLUMN")


def test_absolute_path_outside_and_symlink_escape_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside.png"
    outside.write_bytes(png())
    data_dir = tmp_path / "ds"
    data_dir.mkdir()
    (data_dir / "link.png").symlink_to(outside)
    for image in (str(outside), "link.png"):
        path = write_jsonl(data_dir / "data.jsonl", [{"id": "e", "question": "Write 100 words.", "images": [image]}])
        with pytest.raises(DataError) as exc:
            load_samples(str(path))
        one_line_error(exc, "sample 'e'", "outside the data directory")


def test_absolute_path_inside_is_fine(image_dir: Path) -> None:
    inside = str((image_dir / "images" / "a.png").resolve())
    path = write_jsonl(image_dir / "data.jsonl", [{"id": "i", "question": "Write 100 words.", "images": [inside]}])
    assert load_samples(str(path)).samples[0].images[0].path == inside


def test_duplicate_id(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "d.jsonl", [{"id": "d", "question": "q", "L": 5}, {"id": "d", "question": "q", "L": 6}]
    )
    with pytest.raises(DataError) as exc:
        load_samples(str(path))
    one_line_error(exc, "sample 'd'", "field 'id'", "duplicate")


def test_skip_invalid_records_and_continues(image_dir: Path) -> None:
    rows = rows_with_paths() + [
        {"id": "bad-l", "question": "q", "L": -1},
        {"id": "bad-img", "question": "Write 10 words.", "images": ["images/none.png"]},
        {"question": ""},
    ]
    path = write_jsonl(image_dir / "data.jsonl", rows)
    data = load_samples(str(path), skip_invalid=True)
    assert [s.id for s in data.samples] == ["s1", "s2"]
    assert [sid for sid, _ in data.skipped] == ["bad-l", "bad-img", "4"]
    assert "field 'L'" in data.skipped[0][1] and "field 'question'" in data.skipped[2][1]
    assert data.summary()["skipped"][1]["id"] == "bad-img"


def test_skip_invalid_with_nothing_left(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "d.jsonl", [{"id": "a", "question": "", "L": 3}])
    with pytest.raises(DataError) as exc:
        load_samples(str(path), skip_invalid=True)
    one_line_error(exc, "every sample is invalid")


@pytest.mark.parametrize(
    ("name", "content", "needle"),
    [
        ("d.jsonl", b'{"question": "q", "L": 5}\n{not json\n', "line 2"),
        ("d.jsonl", b"[1, 2]\n", "not a JSON object"),
        ("d.json", b"{broken", "not valid JSON"),
        ("d.json", b'{"other": 1}', "expected a JSON list"),
        ("d.jsonl", b"\xff\xfe\x00bad", "UTF-8"),
        ("d.parquet", b"not parquet at all", "cannot read parquet"),
        ("d.jsonl", b"\n\n", "no rows"),
    ],
)
def test_unreadable_files(tmp_path: Path, name: str, content: bytes, needle: str) -> None:
    (tmp_path / name).write_bytes(content)
    with pytest.raises(DataError) as exc:
        load_samples(str(tmp_path / name))
    one_line_error(exc, needle)


def test_missing_local_path_is_not_taken_for_a_hub_id(tmp_path: Path) -> None:
    with pytest.raises(DataError) as exc:
        load_samples(str(tmp_path / "nope.jsonl"))
    one_line_error(exc, "does not exist")


def test_fingerprint_stable_and_sensitive(image_dir: Path) -> None:
    rows = rows_with_paths()
    path = write_jsonl(image_dir / "data.jsonl", rows)
    first = load_samples(str(path)).fingerprint
    assert load_samples(str(path)).fingerprint == first
    rows[1]["question"] += " "
    write_jsonl(image_dir / "data.jsonl", rows)
    assert load_samples(str(path)).fingerprint != first
    (image_dir / "images" / "b.png").write_bytes(png((1, 1, 1)))
    rows[1]["question"] = rows[1]["question"][:-1]
    write_jsonl(image_dir / "data.jsonl", rows)
    assert load_samples(str(path)).fingerprint != first  # same text, different image bytes


def test_mini_export_round_trips_through_directory_loading(tmp_path: Path) -> None:
    export_mini(tmp_path / "mini")
    mini = load_samples("mini")
    exported = load_samples(str(tmp_path / "mini"))
    assert exported.fingerprint == mini.fingerprint

    def key(s: Any) -> tuple[Any, ...]:
        return (s.id, s.instruction, s.required_length, s.task, s.language)

    assert [key(s) for s in exported.samples] == [key(s) for s in mini.samples]
    assert [[i.sha256 for i in s.images] for s in exported.samples] == [
        [i.sha256 for i in s.images] for s in mini.samples
    ]


def _hub_error(monkeypatch: pytest.MonkeyPatch) -> tuple[str, float]:
    start = time.monotonic()
    with pytest.raises(DataError) as exc:
        load_samples("THU-KEG/MMLongBench-Write")
    elapsed = time.monotonic() - start
    return one_line_error(exc, "--data PATH", "THU-KEG/MMLongBench-Write"), elapsed


def test_hub_id_offline_env_fails_fast(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    message, elapsed = _hub_error(monkeypatch)
    assert "offline" in message and elapsed < 5


def test_hub_id_without_network_fails_fast(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # discard port: connection refused at once
    message, elapsed = _hub_error(monkeypatch)
    assert "offline" in message and elapsed < 5


def test_hub_load_failure_is_one_data_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Even when a cache copy seems present, a failing ``load_dataset`` becomes a DataError naming --data."""
    import huggingface_hub.constants as hub_constants

    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "ds-cache"))
    monkeypatch.setattr(readers_mod, "_in_local_cache", lambda dataset_id: True)
    message, elapsed = _hub_error(monkeypatch)
    assert elapsed < 30 and "Error" in message


def test_hub_rows_are_read_undecoded(tmp_path: Path) -> None:
    """What ``read_hub`` does after ``load_dataset``: image columns cast to raw bytes, then the common checks."""
    import datasets

    from mmlongbench_write.data.loading import build
    from mmlongbench_write.data.readers import RawData, undecoded_images

    features = datasets.Features(
        {
            "question": datasets.Value("string"),
            "images": datasets.List(datasets.Image()),
            "L": datasets.Value("int64"),
            "cover": datasets.Image(),
        }
    )
    ds = datasets.Dataset.from_dict(
        {
            "question": ["Write a 1600-word story from this comic."],
            "images": [[{"bytes": png(), "path": None}]],
            "L": [1600],
            "cover": [{"bytes": png((0, 0, 255)), "path": None}],
        },
        features=features,
    )
    rows = [dict(r) for r in undecoded_images(ds)]
    assert isinstance(rows[0]["images"][0], dict) and rows[0]["images"][0]["bytes"] == png()
    data = build(RawData(rows=rows, name="hub"), "org/hub")
    assert data.samples[0].images[0].read_bytes() == png() and data.samples[0].task == "story_generation"


def test_decoded_pil_images_are_accepted(tmp_path: Path) -> None:
    from PIL import Image

    from mmlongbench_write.data.loading import build
    from mmlongbench_write.data.readers import RawData

    img = Image.open(io.BytesIO(png()))
    data = build(RawData(rows=[{"question": "Write 100 words.", "images": [img]}], name="pil"), "pil")
    assert Image.open(io.BytesIO(data.samples[0].images[0].read_bytes())).size == (16, 12)


def test_path_images_are_not_kept_in_memory(image_dir: Path) -> None:
    path = write_jsonl(image_dir / "data.jsonl", rows_with_paths())
    ref = load_samples(str(path)).samples[0].images[0]
    assert ref.data is None and ref.read_bytes() == (image_dir / "images" / "a.png").read_bytes()


def test_unknown_relative_path_looks_like_hub_id_and_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    import huggingface_hub.constants as hub_constants

    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(DataError) as exc:
        load_samples("mydata/bench")
    one_line_error(exc, "no local path 'mydata/bench'", "--data PATH")
