"""The training image budget (--image-pixels) takes effect: visual tokens are measured, not assumed."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image
from training_helpers import full_budget_model_dir

from mmlongbench_write.errors import ConfigError
from mmlongbench_write.training.processor import budget_of, load_processor, visual_tokens
from mmlongbench_write.training.trainer import load_processor_for


def _slide() -> Image.Image:
    return Image.new("RGB", (1280, 720), (200, 30, 90))


def test_280x280_budget_caps_a_1280x720_slide_at_100_visual_tokens(tmp_path: Path, tiny_model_dir: Path) -> None:
    model = full_budget_model_dir(tiny_model_dir, tmp_path / "qwen-budget")
    full = visual_tokens(load_processor(str(model)).image_processor, _slide())
    assert full > 1000  # the real Qwen2.5-VL budget: ~1,200 tokens per slide (30 slides > 32k)
    budget = load_processor_for(str(model), 280 * 280)  # what the trainer calls
    capped = visual_tokens(budget.image_processor, _slide())
    assert 50 < capped <= 100
    assert budget_of(budget)["max_pixels"] == 280 * 280


def test_budget_counts_in_the_prompt_tokens(tmp_path: Path, tiny_model_dir: Path) -> None:
    model = full_budget_model_dir(tiny_model_dir, tmp_path / "qwen-budget")
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Explain the slide."}]}]
    lengths = []
    for pixels in (None, 280 * 280):
        processor = load_processor_for(str(model), pixels)
        text = processor.apply_chat_template(messages, tokenize=False)
        lengths.append(processor(text=[text], images=[_slide()], return_tensors="np")["input_ids"].shape[1])
    assert lengths[0] > 1000 and lengths[1] < 130


def test_min_pixels_raises_small_images(tmp_path: Path, tiny_model_dir: Path) -> None:
    model = full_budget_model_dir(tiny_model_dir, tmp_path / "qwen-budget")
    small = Image.new("RGB", (56, 56))
    assert visual_tokens(load_processor(str(model)).image_processor, small) == 4
    assert visual_tokens(load_processor(str(model), min_pixels=224 * 224).image_processor, small) == 64


def test_bad_budgets_are_refused(tiny_model_dir: Path) -> None:
    with pytest.raises(ConfigError, match="must be positive"):
        load_processor(str(tiny_model_dir), max_pixels=0)
    with pytest.raises(ConfigError, match="is above --image-pixels"):
        load_processor(str(tiny_model_dir), max_pixels=100 * 100, min_pixels=200 * 200)
