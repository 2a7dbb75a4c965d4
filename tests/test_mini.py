"""The bundled mini set: schema, coverage, length bins, deterministic images."""

from __future__ import annotations

import io
from collections import Counter

from mmlongbench_write.data import load_samples, mini
from mmlongbench_write.data.inference import infer_task, parse_length
from mmlongbench_write.data.mini_images import DRAWERS, draw_png
from mmlongbench_write.schema import BENCHMARK_TASKS, LENGTH_BIN_NAMES

PAPER_CATEGORIES = {"ppt_script": "professional", "medical_report": "professional", "travel_guide": "professional",
                    "story_generation": "creative", "scenery_copywriting": "creative", "movie_review": "creative"}


def test_mini_schema_and_coverage() -> None:
    data = load_samples("mini")
    samples = data.samples
    assert len(samples) == 12 and data.name == "mini" and data.skipped == [] and data.unclassified == 0
    assert len({s.id for s in samples}) == 12
    assert Counter((s.task, s.language) for s in samples) == {
        (t, lang): 1 for t in BENCHMARK_TASKS for lang in ("en", "zh")
    }
    bins = Counter(s.length_bin for s in samples)
    assert set(bins) == set(LENGTH_BIN_NAMES) and min(bins.values()) >= 2
    for s in samples:
        assert 1 <= len(s.images) <= 6
        assert parse_length(s.instruction) == s.required_length  # the length is stated in the instruction
        assert infer_task(s.instruction) == s.task  # and the instruction names its task's genre
        assert s.category == PAPER_CATEGORIES[s.task or ""]
    assert data.task_inferred == 0 and data.length_parsed == 0


def test_mini_images_are_small_valid_and_distinct() -> None:
    from PIL import Image

    samples = load_samples("mini").samples
    hashes = [img.sha256 for s in samples for img in s.images]
    assert len(hashes) == len(set(hashes))
    for s in samples:
        for ref in s.images:
            img = Image.open(io.BytesIO(ref.read_bytes()))
            assert img.format == "PNG" and 320 <= img.width <= 448 and 240 <= img.height <= 336
            assert ref.media_type == "image/png"


def test_every_image_kind_is_used() -> None:
    kinds = {spec["kind"] for s in mini.mini_spec()["samples"] for spec in s["images"]}
    assert kinds == set(DRAWERS)


def test_scans_are_greyscale() -> None:
    from PIL import Image, ImageChops

    scans = [spec for s in mini.mini_spec()["samples"] for spec in s["images"] if spec["kind"] == "scan"]
    assert scans
    for spec in scans:
        red, green, blue = Image.open(io.BytesIO(draw_png(spec))).convert("RGB").split()
        assert ImageChops.difference(red, green).getbbox() is None
        assert ImageChops.difference(red, blue).getbbox() is None


def test_images_are_byte_identical_across_builds() -> None:
    first = load_samples("mini")
    first_bytes = [img.read_bytes() for s in first.samples for img in s.images]
    mini.mini_spec.cache_clear()
    mini._images.cache_clear()
    second = load_samples("mini")
    assert [img.read_bytes() for s in second.samples for img in s.images] == first_bytes
    assert second.fingerprint == first.fingerprint


def test_same_fingerprint_in_a_fresh_process() -> None:
    import subprocess
    import sys

    code = "from mmlongbench_write.data import load_samples; print(load_samples('mini').fingerprint)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.strip() == load_samples("mini").fingerprint


def test_png_has_no_metadata_chunks() -> None:
    data = draw_png({"kind": "scenery", "palette": "day", "seed": 1})
    for chunk in (b"tIME", b"tEXt", b"iTXt", b"zTXt"):
        assert chunk not in data
