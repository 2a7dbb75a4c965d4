"""Bring your own data the ways people do: csv, save_to_disk folders, parquet shards, and in the Python
API a datasets.Dataset, a pandas DataFrame or a list of dicts — one set of checks, one-line errors."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import run_cli
from PIL import Image

from mmlongbench_write import EvalConfig, evaluate, load_run, load_samples
from mmlongbench_write.errors import DataError

QUESTIONS = [
    "Write a 300-word film review of these stills.",
    "根据这组漫画写一个400字的故事。",
    "Write a 500-word travel guide from these photos.",
    "Write a 200-word lecture script for these slides.",
]


def picture(seed: int) -> Image.Image:
    return Image.new("RGB", (12 + seed, 10), (seed * 40 % 256, 80, 160))


def png_bytes(seed: int) -> bytes:
    buffer = io.BytesIO()
    picture(seed).save(buffer, format="PNG")
    return buffer.getvalue()


def hub_like_dataset() -> Any:
    """A Dataset as the hub serves the benchmark: ``images`` is ``Sequence(Image())``, no task column."""
    import datasets

    features = datasets.Features({
        "id": datasets.Value("string"),
        "question": datasets.Value("string"),
        "images": datasets.Sequence(datasets.Image()),
        "L": datasets.Value("int64"),
    })
    return datasets.Dataset.from_dict({
        "id": [f"h{i}" for i in range(4)],
        "question": QUESTIONS,
        "images": [[picture(i), picture(i + 10)] for i in range(4)],
        "L": [300, 400, 500, 200],
    }, features=features)


def image_hashes(data: Any) -> list[list[str]]:
    return [[i.sha256 for i in s.images] for s in load_samples(data).samples]


def cli_eval(capsys: pytest.CaptureFixture[str], data: Path | str, out: Path) -> dict[str, Any]:
    capsys.readouterr()  # drop what the test itself printed (the progress bars of save_to_disk)
    code, _, err = run_cli(["eval", "--model", "scripted", "--data", str(data), "--output", str(out), "--cache",
                            "off"], capsys)
    assert code == 0, err
    (run_dir,) = out.iterdir()
    return {"run": load_run(run_dir), "err": err}


def test_save_to_disk_folder_with_sequence_of_images(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ds = hub_like_dataset()
    ds.save_to_disk(str(tmp_path / "saved"))
    loaded = load_samples(str(tmp_path / "saved"))
    assert [s.id for s in loaded.samples] == ["h0", "h1", "h2", "h3"]
    assert [len(s.images) for s in loaded.samples] == [2, 2, 2, 2]
    assert loaded.samples[1].language == "zh" and loaded.samples[1].task == "story_generation"
    assert image_hashes(str(tmp_path / "saved")) == image_hashes(ds)  # same bytes as the in-memory Dataset
    result = cli_eval(capsys, tmp_path / "saved", tmp_path / "runs")
    assert [r["id"] for r in result["run"].samples] == ["h0", "h1", "h2", "h3"]
    assert "Saving" not in result["err"] and "Casting" not in result["err"]  # no progress bars of datasets


def test_save_to_disk_dataset_dict_picks_the_split(tmp_path: Path) -> None:
    import datasets

    ds = hub_like_dataset()
    datasets.DatasetDict({"train": ds.select(range(3)), "test": ds.select([3])}).save_to_disk(str(tmp_path / "dd"))
    assert len(load_samples(str(tmp_path / "dd")).samples) == 3
    assert [s.id for s in load_samples(str(tmp_path / "dd"), split="test").samples] == ["h3"]
    with pytest.raises(DataError, match="has splits train, test but no 'dev'"):
        load_samples(str(tmp_path / "dd"), split="dev")


def test_folder_of_parquet_shards(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ds = hub_like_dataset()
    shards = tmp_path / "shards"
    shards.mkdir()
    for index in range(2):
        ds.shard(num_shards=2, index=index, contiguous=True).to_parquet(str(shards / f"part-{index}.parquet"))
    loaded = load_samples(str(shards))
    assert [s.id for s in loaded.samples] == ["h0", "h1", "h2", "h3"]
    assert image_hashes(str(shards)) == image_hashes(ds)
    assert len(cli_eval(capsys, shards, tmp_path / "runs")["run"].samples) == 4


def test_csv_with_one_path_or_a_json_list_relative_to_the_csv(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "mine"
    (folder / "pics").mkdir(parents=True)
    for i in range(3):
        picture(i).save(folder / "pics" / f"p{i}.png")
    (folder / "bench.csv").write_text(
        "id,question,images,L\n"
        'c1,"Write a 300-word film review, with care, of this still.",pics/p0.png,300\n'
        'c2,"Write a story of 400 words.","[""pics/p1.png"", ""pics/p2.png""]",400\n'
        "c3,Write 120 words about spring.,,120\n",
        encoding="utf-8",
    )
    loaded = load_samples(str(folder / "bench.csv"))
    assert [len(s.images) for s in loaded.samples] == [1, 2, 0]
    assert loaded.samples[1].images[1].read_bytes() == (folder / "pics" / "p2.png").read_bytes()
    assert [s.required_length for s in loaded.samples] == [300, 400, 120]
    assert load_samples(str(folder)).fingerprint == loaded.fingerprint  # the folder finds its only csv
    assert [r["id"] for r in cli_eval(capsys, folder / "bench.csv", tmp_path / "runs")["run"].samples] == [
        "c1", "c2", "c3"]


def test_csv_bad_image_is_one_line_naming_sample_and_field(tmp_path: Path) -> None:
    (tmp_path / "d.csv").write_text("id,question,images,L\nx,Write 100 words.,missing.png,100\n", encoding="utf-8")
    with pytest.raises(DataError) as exc:
        load_samples(str(tmp_path / "d.csv"))
    assert "sample 'x', field 'images'" in str(exc.value) and "\n" not in str(exc.value)


def in_memory_shapes() -> dict[str, Any]:
    import pandas as pd

    rows = [{"id": f"m{i}", "question": q, "images": [{"bytes": png_bytes(i), "path": None}], "L": L}
            for i, (q, L) in enumerate(zip(QUESTIONS, (300, 400, 500, 200), strict=True))]
    return {"dataset": hub_like_dataset(), "frame": pd.DataFrame(rows), "list": rows}


@pytest.mark.parametrize("shape", ["dataset", "frame", "list"])
def test_python_api_evaluates_in_memory_data(shape: str, tmp_path: Path) -> None:
    data = in_memory_shapes()[shape]
    config = EvalConfig(model="scripted", data=data, output=str(tmp_path), cache="off")
    first = evaluate(config, progress=None)
    run = load_run(first.run_dir)
    assert len(run.samples) == 4 and all(len(r["images"]) in (1, 2) for r in run.samples)
    description = {"dataset": "<datasets.Dataset 4 rows>", "frame": "<pandas.DataFrame 4 rows>",
                   "list": "<list of 4 dicts>"}[shape]
    assert run.run["config"]["data"] == description and run.run["dataset"]["source"] == description
    json.dumps(run.run)  # run.json holds no object, only its description
    again = evaluate(EvalConfig(model="scripted", data=data, output=str(tmp_path), cache="off"), progress=None)
    assert again.run_dir == first.run_dir and again.generated == 0  # same content: the same run, resumed


def test_different_in_memory_content_is_a_different_run(tmp_path: Path) -> None:
    rows = in_memory_shapes()["list"]
    changed = [dict(r) for r in rows]
    changed[2] = {**changed[2], "images": [{"bytes": png_bytes(9), "path": None}]}  # one image differs
    ids = {EvalConfig(model="scripted", data=d).default_run_id() for d in (rows, changed, [dict(r) for r in rows])}
    assert len(ids) == 2


def test_in_memory_run_cannot_be_rejudged_from_run_json_and_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    outcome = evaluate(EvalConfig(model="scripted", data=in_memory_shapes()["list"], output=str(tmp_path),
                                  cache="off"), progress=None)
    code, _, err = run_cli(["score", str(outcome.run_dir), "--judge", "length"], capsys)
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and "in-memory data set" in lines[0], err


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        ([{"question": "Write 100 words.", "L": 100}, "not a row"], "item 1 of the list is str"),
        (42, "data must be a path, a hub id"),
        ([], "has no rows"),
        ([{"id": "r", "question": "Write 100 words.", "images": ["relative.png"]}], "is relative but the data has"),
        ([{"id": "z", "question": "Write 100 words.", "L": float("inf")}], "sample 'z', field 'L'"),
    ],
)
def test_in_memory_errors_are_one_line(data: Any, needle: str, tmp_path: Path) -> None:
    with pytest.raises(DataError) as exc:
        evaluate(EvalConfig(model="scripted", data=data, output=str(tmp_path), cache="off"), progress=None)
    assert needle in str(exc.value) and "\n" not in str(exc.value)


def test_dataframe_with_missing_values_as_pandas_writes_them(tmp_path: Path) -> None:
    import pandas as pd

    frame = pd.DataFrame([{"question": "Write a 150-word story.", "L": None, "task": None},
                          {"question": "Write 80 words.", "L": 80, "task": "movie_review"}])
    samples = load_samples(frame).samples
    assert [s.required_length for s in samples] == [150, 80]
    assert [s.task for s in samples] == ["story_generation", "movie_review"]


def test_streaming_dataset_is_refused_with_a_hint() -> None:
    import datasets

    stream = datasets.Dataset.from_dict({"question": ["Write 100 words."]}).to_iterable_dataset()
    with pytest.raises(DataError, match="from_list"):
        load_samples(stream)
