"""The tiny random Qwen2.5-VL: hub layout, loads through the real from_pretrained path, cached atomically."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from mmlongbench_write.model_adapters import tiny  # noqa: E402


def _png(size: tuple[int, int]) -> object:
    from PIL import Image

    return Image.new("RGB", size, (200, 30, 30))


def test_hub_layout(tiny_model_dir: Path) -> None:
    names = {p.name for p in tiny_model_dir.iterdir()}
    assert {
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "preprocessor_config.json",
        "chat_template.json",
    } <= names
    # transformers 5's nested processor file would not load without a video processor: it must be gone
    assert "processor_config.json" not in names
    pre = json.loads((tiny_model_dir / "preprocessor_config.json").read_text())
    assert pre["processor_class"] == "Qwen2_5_VLProcessor"
    assert json.loads((tiny_model_dir / "config.json").read_text())["model_type"] == "qwen2_5_vl"


def test_loads_like_a_hub_checkpoint(tiny_model_dir: Path) -> None:
    import torch
    from transformers import AutoModelForImageTextToText

    processor = tiny.load_processor(tiny_model_dir)
    model = AutoModelForImageTextToText.from_pretrained(tiny_model_dir)
    assert type(model).__name__ == "Qwen2_5_VLForConditionalGeneration"
    assert sum(p.numel() for p in model.parameters()) < 500_000
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Describe it."}]}]
    text = processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert "<|vision_start|><|image_pad|><|vision_end|>Describe it." in text
    assert text.endswith("<|im_start|>assistant\n")
    inputs = processor(text=[text], images=[_png((56, 56))], return_tensors="pt")
    image_pad = processor.tokenizer.convert_tokens_to_ids("<|image_pad|>")
    assert int((inputs["input_ids"] == image_pad).sum()) == 4  # 56x56 -> 4 merged image tokens
    with torch.inference_mode():
        out = model.generate(**inputs, max_new_tokens=5, min_new_tokens=5, do_sample=False)
    assert out.shape[1] == inputs["input_ids"].shape[1] + 5


def test_build_is_deterministic(tiny_model_dir: Path, tmp_path: Path) -> None:
    again = tiny.build_tiny_qwen25vl(tmp_path / "again", seed=0)
    assert (again / "model.safetensors").read_bytes() == (tiny_model_dir / "model.safetensors").read_bytes()
    assert (again / "tokenizer.json").read_text() == (tiny_model_dir / "tokenizer.json").read_text()


def test_ensure_tiny_model_builds_once_into_the_cache(
    tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import transformers

    monkeypatch.setenv("MMLW_CACHE_DIR", str(tmp_path))
    builds: list[Path] = []

    def fake_build(out_dir: str | Path, seed: int = 0) -> Path:
        import shutil

        builds.append(Path(out_dir))
        shutil.copytree(tiny_model_dir, out_dir, dirs_exist_ok=True)
        return Path(out_dir)

    monkeypatch.setattr(tiny, "build_tiny_qwen25vl", fake_build)
    first = tiny.ensure_tiny_model()
    major = transformers.__version__.split(".")[0]
    assert first == tmp_path / "models" / f"tiny-random-qwen2.5-vl-{major}"
    assert (first / "config.json").is_file()
    assert builds and builds[0] != first  # built elsewhere, then renamed into place
    assert tiny.ensure_tiny_model() == first
    assert len(builds) == 1
    # no temporary build directories are left behind
    assert [p.name for p in first.parent.iterdir()] == [first.name]


def test_ensure_tiny_model_losing_a_race_keeps_the_winner(
    tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    target = tiny.tiny_model_cache_path(tmp_path)

    def racing_build(out_dir: str | Path, seed: int = 0) -> Path:
        shutil.copytree(tiny_model_dir, out_dir, dirs_exist_ok=True)
        shutil.copytree(tiny_model_dir, target)  # another process finished first
        (target / "winner").write_text("1")
        return Path(out_dir)

    monkeypatch.setattr(tiny, "build_tiny_qwen25vl", racing_build)
    assert tiny.ensure_tiny_model(tmp_path) == target
    assert (target / "winner").exists()
    assert [p.name for p in target.parent.iterdir()] == [target.name]


def test_image_only_processor_expands_image_tokens_by_grid(tiny_model_dir: Path) -> None:
    """The image-only processor (no torchvision) expands one <|image_pad|> to grid_t*grid_h*grid_w/4 tokens."""
    processor = tiny.image_only_processor_class().from_pretrained(tiny_model_dir)
    text = "<|vision_start|><|image_pad|><|vision_end|>hi"
    inputs = processor(text=[text], images=[_png((112, 56))], return_tensors="pt")
    image_pad = processor.tokenizer.convert_tokens_to_ids("<|image_pad|>")
    grid = inputs["image_grid_thw"][0].tolist()
    assert int((inputs["input_ids"] == image_pad).sum()) == grid[0] * grid[1] * grid[2] // 4
