"""The ruler data set itself is evaluated row by row, as it is; only a base set is expanded into 4 lengths.

A local copy of the ruler (8 image sets x 4 lengths, each row with its own question, L and images, no
task column) run with ``--tasks ruler`` against a loopback OpenAI-compatible server must send exactly
those 32 requests: each row's own text and images, 8 distinct image sets, at the ruler's temperature.
"""

from __future__ import annotations

import base64
import hashlib
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from servers import FakeAPIServer

from mmlongbench_write import EvalConfig, evaluate, load_run, load_samples
from mmlongbench_write.data.loading import build
from mmlongbench_write.data.readers import RawData
from mmlongbench_write.data.sources import RULER_HUB_ID, hub_id, implied_task
from mmlongbench_write.tasks.ruler import RULER_LENGTHS, RulerTask, is_ruler_shaped

pytestmark = pytest.mark.api

KEY = "sk-fake-ruler-key-0123456789"
EN = "Please write an article of {L} words about what these pictures show."
ZH = "请根据这组图片写一篇{L}字左右的文章。"


def png(seed: int, index: int) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (10 + index, 8 + seed), (seed * 30 % 256, index * 60 % 256, 90)).save(buffer, format="PNG")
    return buffer.getvalue()


def ruler_rows() -> list[dict[str, Any]]:
    """32 rows as the ruler publishes them: 8 image sets (4 EN, 4 ZH) x L in 500..4000, no task column."""
    rows = []
    for image_set in range(8):
        images = [{"bytes": png(image_set, k), "path": None} for k in range(1 + image_set % 3)]
        template = EN if image_set < 4 else ZH
        for length in RULER_LENGTHS:
            rows.append({"question": template.format(L=length), "images": images, "L": length})
    return rows


def write_copy(folder: Path) -> Path:
    """The rows as a hub snapshot lays them out: data/train-00000-of-00001.parquet beside a README."""
    import pandas as pd

    (folder / "data").mkdir(parents=True)
    pd.DataFrame(ruler_rows()).to_parquet(folder / "data" / "train-00000-of-00001.parquet")
    (folder / "README.md").write_text("ruler copy", encoding="utf-8")
    return folder


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeAPIServer]:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    with FakeAPIServer(require_key=KEY) as s:
        yield s


def sent(server: FakeAPIServer) -> list[tuple[str, tuple[str, ...], float]]:
    """(text, image hashes in order, temperature) of every chat request the server received."""
    out = []
    for request in server.requests:
        (message,) = request.body["messages"]
        texts = [p["text"] for p in message["content"] if p["type"] == "text"]
        images = tuple(hashlib.sha256(base64.b64decode(p["image_url"]["url"].split(",", 1)[1])).hexdigest()
                       for p in message["content"] if p["type"] == "image_url")
        out.append(("".join(texts), images, request.body["temperature"]))
    return out


def run_ruler(server: FakeAPIServer, data: Path, tmp_path: Path, tasks: str | None) -> Any:
    config = EvalConfig(model="openai", model_args={"model": "ruler-test", "base_url": server.openai_url},
                        data=str(data), tasks=tasks, output=str(tmp_path / "runs"), cache="off", concurrency=4)
    return evaluate(config, progress=None)


def expected_requests() -> list[tuple[str, tuple[str, ...], float]]:
    return [(r["question"], tuple(hashlib.sha256(i["bytes"]).hexdigest() for i in r["images"]), 0.9)
            for r in ruler_rows()]


def test_local_copy_of_the_ruler_is_32_requests_over_8_image_sets(server: FakeAPIServer, tmp_path: Path) -> None:
    outcome = run_ruler(server, write_copy(tmp_path / "LongWrite-V-Ruler"), tmp_path, "ruler")
    requests = sent(server)
    assert sorted(requests) == sorted(expected_requests())  # each row's own text and images, temperature 0.9
    assert len(requests) == 32 and len({images for _, images, _ in requests}) == 8
    rows = load_run(outcome.run_dir).samples
    assert len(rows) == 32 and {r["category"] for r in rows} == {"ruler"}
    assert sorted(r["required_length"] for r in rows) == sorted(RULER_LENGTHS * 8)  # one curve point per row


def test_hub_cache_copy_is_ruler_rows_without_naming_the_task(server: FakeAPIServer, tmp_path: Path) -> None:
    snapshot = tmp_path / "hub" / "datasets--THU-KEG--LongWrite-V-Ruler" / "snapshots" / "0123abcd"
    run_ruler(server, write_copy(snapshot), tmp_path, None)
    assert sorted(sent(server)) == sorted(expected_requests())
    assert {s.metadata["task_source"] for s in load_samples(str(snapshot)).samples} == {"source"}


def test_rows_of_the_ruler_hub_id_are_ruler_rows() -> None:
    """What ``read_hub`` hands on after ``load_dataset``: rows named by the ruler's id are ruler rows."""
    loaded = build(RawData(rows=ruler_rows(), name="LongWrite-V-Ruler", implied_task=implied_task(RULER_HUB_ID)),
                   RULER_HUB_ID)
    assert {s.task for s in loaded.samples} == {"ruler"}
    assert RulerTask().select(loaded.samples) == loaded.samples


@pytest.mark.parametrize(
    "spelling",
    ["THU-KEG/LongWrite-V-Ruler", "thu-keg/longwrite-v-ruler", "hf://datasets/THU-KEG/LongWrite-V-Ruler",
     "https://huggingface.co/datasets/THU-KEG/LongWrite-V-Ruler/", "datasets/THU-KEG/LongWrite-V-Ruler",
     "THU-KEG/LongWrite-V-Ruler@main"],
)
def test_ruler_hub_id_spellings(spelling: str) -> None:
    assert implied_task(spelling) == "ruler"
    assert hub_id(spelling) is not None and hub_id(spelling).lower() == RULER_HUB_ID.lower()  # type: ignore[union-attr]


@pytest.mark.parametrize("other", ["THU-KEG/MMLongBench-Write", "someone/LongWrite-V-Ruler-copy", "mini",
                                   "./THU-KEG/LongWrite-V-Ruler.jsonl"])
def test_other_sources_imply_no_task(other: str) -> None:
    assert implied_task(other) is None


def test_base_sets_are_still_expanded_and_the_modes_can_be_forced(tmp_path: Path) -> None:
    mini = load_samples("mini").samples
    assert not is_ruler_shaped(mini)
    assert len(RulerTask().select(mini)) == 32 and len({s.metadata["base_id"] for s in RulerTask().select(mini)}) == 8
    copy = load_samples(str(write_copy(tmp_path / "copy"))).samples
    assert is_ruler_shaped(copy) and [s.instruction for s in RulerTask().select(copy)] == [s.instruction for s in copy]
    assert len(RulerTask.from_arg("rows").select(mini)) == 12  # ruler:rows takes any data as it is
    assert len(RulerTask.from_arg("all").select(copy)) == 32 * 4  # ruler:all expands even a ruler-shaped set
