"""Helpers for the training tests: page images drawn with Pillow, the annotation-platform fixture, SFT rows."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

FIXTURES = Path(__file__).parent / "fixtures" / "training"


def make_png(path: Path, seed: int, size: int = 56) -> Path:
    """A small distinct image (56x56 -> 4 image tokens with the tiny processor)."""
    from PIL import Image, ImageDraw

    path.parent.mkdir(parents=True, exist_ok=True)
    img = Image.new("RGB", (size, size), ((37 * seed) % 256, (91 * seed) % 256, (53 * seed + 80) % 256))
    ImageDraw.Draw(img).rectangle((seed % 20, 8, seed % 20 + 20, 40), fill=(255, 255, 255))
    img.save(path)
    return path


def revision_dir(tmp_path: Path) -> Path:
    """The two-script fixture copied to ``tmp_path/revisions`` with ``pngs/{i}.png`` for every page."""
    root = tmp_path / "revisions"
    shutil.copytree(FIXTURES / "revisions", root)
    seed = 0
    for scripts in sorted(root.rglob("scripts")):
        for page in sorted(scripts.glob("*.txt")):
            seed += 1
            make_png(scripts.parent / "pngs" / f"{page.stem}.png", seed)
    return root


def sft_file(tmp_path: Path, n: int = 4, images_per_row: int = 2) -> Path:
    """``n`` multi-image SFT rows (project format, relative image paths) in ``tmp_path/sft.jsonl``."""
    rows = []
    for i in range(n):
        paths = [make_png(tmp_path / "img" / f"{i}_{j}.png", 10 * i + j).relative_to(tmp_path).as_posix()
                 for j in range(images_per_row)]
        rows.append({"id": f"r{i}", "images": paths, "instruction": f"Describe picture {i} in detail.",
                     "output": "The picture shows a red square on a blue background with a small green circle."})
    path = tmp_path / "sft.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


#: the image budget of the published Qwen2.5-VL-7B-Instruct preprocessor_config.json
QWEN25VL_MAX_PIXELS = 12845056
QWEN25VL_MIN_PIXELS = 3136


def full_budget_model_dir(tiny_model_dir: Path, dest: Path) -> Path:
    """The tiny model with the real Qwen2.5-VL pixel budget (the tiny one caps images at 112x112)."""
    shutil.copytree(tiny_model_dir, dest)
    cfg_path = dest / "preprocessor_config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg.update(max_pixels=QWEN25VL_MAX_PIXELS, min_pixels=QWEN25VL_MIN_PIXELS,
               size={"longest_edge": QWEN25VL_MAX_PIXELS, "shortest_edge": QWEN25VL_MIN_PIXELS})
    cfg_path.write_text(json.dumps(cfg, indent=2))
    return dest


def _pil(seed: int, size: tuple[int, int] = (56, 56)):  # noqa: ANN202 - a PIL image
    from PIL import Image, ImageDraw

    img = Image.new("RGB", size, ((37 * seed) % 256, (91 * seed) % 256, (53 * seed + 80) % 256))
    ImageDraw.Draw(img).rectangle((seed % 20, 8, seed % 20 + 20, 40), fill=(255, 255, 255))
    return img


def longwriter_v_22k_rows(n: int, images_per_row: int = 2, placeholders: bool = False) -> dict[str, list]:
    """Columns shaped as THU-KEG/LongWriter-V-22K: ``id``, ``messages`` (strings, user first), ``images``."""
    ids, messages, images = [], [], []
    for i in range(n):
        ids.append(1000 + i)
        marks = "<image>" * images_per_row if placeholders else ""
        messages.append([f"{marks}请为这{images_per_row}张幻灯片写讲稿 {i}: describe each slide.",
                         f"第1页：这是一张红色的幻灯片。Slide one is red. 第2页：蓝色。Row {i}."])
        images.append([_pil(10 * i + j) for j in range(images_per_row)])
    return {"id": ids, "messages": messages, "images": images}


def longwriter_v_22k_shards(dest: Path, n: int = 4, shards: int = 2, **kwargs: object) -> Path:
    """A hub-snapshot folder ``dest/data/train-0000k-of-0000n.parquet`` written by ``datasets`` with the
    22K features (``Sequence(Image())`` embeds each image's bytes, as on the hub)."""
    from datasets import Dataset, Features, Image, Sequence, Value

    features = Features({"id": Value("int64"), "messages": Sequence(Value("string")), "images": Sequence(Image())})
    ds = Dataset.from_dict(longwriter_v_22k_rows(n, **kwargs), features=features)  # type: ignore[arg-type]
    (dest / "data").mkdir(parents=True, exist_ok=True)
    for k in range(shards):
        ds.shard(shards, k, contiguous=True).to_parquet(str(dest / "data" / f"train-{k:05d}-of-{shards:05d}.parquet"))
    (dest / "README.md").write_text("---\ndataset_info:\n  features: [id, messages, images]\n---\n")
    return dest
