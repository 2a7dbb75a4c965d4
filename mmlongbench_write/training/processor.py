"""The training processor, with its image pixel budget applied where the processor honours it.

Why at load time: Qwen2-VL-family image processors of the transformers release in use keep their budget
in ``size`` (a ``SizeDict`` with ``longest_edge``/``shortest_edge``), filled from ``max_pixels`` /
``min_pixels`` only when those are passed to ``from_pretrained`` (as LLaMA-Factory's ``image_max_pixels``
does). Setting attributes on a loaded processor is silently ignored by some releases, so a 280x280
budget did nothing and a 1280x720 slide still cost ~1,200 visual tokens. The budget is therefore passed
when loading and then checked by measuring a probe image: a budget that does not take effect is an error,
never a silent no-op.
"""

from __future__ import annotations

from typing import Any

from mmlongbench_write.errors import ConfigError

#: the probe for the check: a 1280x720 slide, the common lecture-slide size
_PROBE_SIZE = (1280, 720)


def _budget_kwargs(max_pixels: int | None, min_pixels: int | None) -> dict[str, int]:
    kwargs: dict[str, int] = {}
    if max_pixels is not None:
        if max_pixels <= 0:
            raise ConfigError(f"--image-pixels must be positive, not {max_pixels}")
        kwargs["max_pixels"] = int(max_pixels)
    if min_pixels is not None:
        if min_pixels <= 0:
            raise ConfigError(f"--image-min-pixels must be positive, not {min_pixels}")
        kwargs["min_pixels"] = int(min_pixels)
    if max_pixels is not None and min_pixels is not None and min_pixels > max_pixels:
        raise ConfigError(f"--image-min-pixels ({min_pixels}) is above --image-pixels ({max_pixels})")
    return kwargs


def image_patch_area(image_processor: Any) -> int:
    """Pixels one visual token stands for: (patch size x merge size) squared (28x28 for Qwen2.5-VL)."""
    patch = int(getattr(image_processor, "patch_size", 14) or 14)
    merge = int(getattr(image_processor, "merge_size", 2) or 2)
    return (patch * merge) ** 2


def visual_tokens(image_processor: Any, image: Any) -> int:
    """Visual tokens ``image`` (a PIL image) costs: merged patches of its ``image_grid_thw``."""
    enc = image_processor(images=[image], return_tensors="np")
    grid = enc["image_grid_thw"][0]
    merge = int(getattr(image_processor, "merge_size", 2) or 2)
    return int(grid[0]) * int(grid[1]) * int(grid[2]) // (merge * merge)


def probe_tokens(image_processor: Any, size: tuple[int, int] = _PROBE_SIZE) -> int:
    """Visual tokens of a plain ``size`` image (the budget check's measurement)."""
    from PIL import Image

    return visual_tokens(image_processor, Image.new("RGB", size, (128, 128, 128)))


def load_processor(path: str, max_pixels: int | None = None, min_pixels: int | None = None) -> Any:
    """The processor of ``path`` with at most ``max_pixels`` (at least ``min_pixels``) pixels per image.

    Raises :class:`ConfigError` when the processor ignores the budget (a probe 1280x720 image costs more
    visual tokens than ``max_pixels`` allows), instead of training silently at full resolution.
    """
    from mmlongbench_write.model_adapters.tiny import load_processor as load_any

    kwargs = _budget_kwargs(max_pixels, min_pixels)
    processor = load_any(path, **kwargs)
    image_processor = getattr(processor, "image_processor", None)
    if max_pixels is not None:
        if image_processor is None:
            raise ConfigError(f"--image-pixels: the processor of {path} has no image processor")
        limit = max(1, max_pixels // image_patch_area(image_processor))
        # smart_resize rounds each side to a multiple of the patch area, so allow one row/column of slack
        measured = probe_tokens(image_processor)
        if measured > limit * 1.1 + 2:
            raise ConfigError(
                f"--image-pixels {max_pixels}: the processor of {path} ({type(image_processor).__name__}) "
                f"ignores the budget (a 1280x720 image costs {measured} visual tokens, the budget allows {limit})"
            )
    return processor


def budget_of(processor: Any) -> dict[str, int | None]:
    """The effective ``max_pixels`` / ``min_pixels`` of a loaded processor (for the run's records)."""
    ip = getattr(processor, "image_processor", None)
    size = getattr(ip, "size", None)

    def pick(key: str, edge: str) -> int | None:
        value = getattr(ip, key, None)
        if value is None and size is not None:
            value = size.get(edge) if isinstance(size, dict) else getattr(size, edge, None)
        return None if value is None else int(value)

    return {"max_pixels": pick("max_pixels", "longest_edge"), "min_pixels": pick("min_pixels", "shortest_edge")}
