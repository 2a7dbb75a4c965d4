"""A tiny random-weight Qwen2.5-VL, built offline and saved in the hub checkpoint layout.

Why: tests and ``make demo`` must exercise the real ``hf`` adapter path (``AutoModelForImageTextToText``
+ the processor's chat template + images + ``generate``) without downloading weights. The checkpoint is
the LongWriter-V architecture (Qwen2.5-VL) with ~210k parameters, a byte-level BPE tokenizer trained
in-process with the Qwen special tokens, and the file layout of ``THU-KEG/LongWriter-V-7B``
(``preprocessor_config.json`` + ``chat_template.json``), so it loads with ``from_pretrained`` like a real one.

It is rebuilt per transformers major version rather than committed: files saved by one major version do
not always load in another. ``ensure_tiny_model`` builds it once into the cache, atomically.

torch / transformers / tokenizers are imported inside the functions.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

#: Preset name; also the ``pretrained`` alias ``mmlw:tiny-random-qwen2.5-vl`` the hf adapter resolves.
TINY_MODEL_NAME = "tiny-random-qwen2.5-vl"
TINY_MODEL_ALIAS = f"mmlw:{TINY_MODEL_NAME}"

# Qwen2 pre-tokenizer regex (as in transformers' Qwen2 tokenizer).
_PRETOKENIZE_REGEX = r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""  # noqa: E501

# Same special tokens, same order, as the real Qwen2.5-VL tokenizer (ids follow the BPE vocab).
SPECIAL_TOKENS = [
    "<|endoftext|>", "<|im_start|>", "<|im_end|>",
    "<|object_ref_start|>", "<|object_ref_end|>", "<|box_start|>", "<|box_end|>",
    "<|quad_start|>", "<|quad_end|>", "<|vision_start|>", "<|vision_end|>",
    "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>",
]  # fmt: skip

# ChatML in the Qwen2.5-VL layout: default system turn, each image part rendered as
# <|vision_start|><|image_pad|><|vision_end|> (the processor expands <|image_pad|> to the image's tokens).
CHAT_TEMPLATE = (
    "{% for m in messages %}"
    "{% if loop.first and m['role'] != 'system' %}<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
    "{% endif %}"
    "<|im_start|>{{ m['role'] }}\n"
    "{% if m['content'] is string %}{{ m['content'] }}"
    "{% else %}{% for part in m['content'] %}"
    "{% if part['type'] == 'image' or 'image' in part or 'image_url' in part %}"
    "<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif 'text' in part %}{{ part['text'] }}{% endif %}"
    "{% endfor %}{% endif %}<|im_end|>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

_CORPUS = [
    "You are a helpful assistant.",
    "Describe the image in detail. Write a long, well structured essay about the picture.",
    "The quick brown fox jumps over the lazy dog. 0123456789",
    "A photo of a red square on a blue background, with a small green circle.",
    "Please write a 10000 word article. Paragraph one. Paragraph two. Conclusion.",
    "user assistant system image video picture chart table figure diagram",
    "幻灯片 讲稿 旅行 攻略 故事 风景 文案 电影 影评 医学 报告 请写一篇字的文章",
] * 20

# 56x56 image -> 4x4 patches of 14 px -> 4 merged image tokens; larger images are capped at 112x112.
_MIN_PIXELS = 56 * 56
_MAX_PIXELS = 112 * 112


def _build_tokenizer() -> Any:
    """Byte-level BPE with the Qwen2 pre-tokenizer, wrapped as transformers' Qwen2 tokenizer."""
    import transformers
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

    tok_cls = getattr(transformers, "Qwen2TokenizerFast", None) or transformers.Qwen2Tokenizer
    tok = Tokenizer(
        models.BPE(unk_token=None, continuing_subword_prefix="", end_of_word_suffix="", fuse_unk=False,
                   byte_fallback=False)
    )  # fmt: skip
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(_PRETOKENIZE_REGEX), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), special_tokens=[], show_progress=False
    )
    tok.train_from_iterator(_CORPUS, trainer=trainer)
    tok.add_special_tokens(SPECIAL_TOKENS)
    hf_tok = tok_cls(
        tokenizer_object=tok, unk_token=None, bos_token=None, eos_token="<|im_end|>", pad_token="<|endoftext|>",  # type: ignore[arg-type]
        model_max_length=32768,
    )  # fmt: skip
    hf_tok.add_special_tokens({"additional_special_tokens": SPECIAL_TOKENS[1:]})
    return hf_tok


def image_only_processor_class() -> type:
    """``Qwen2_5_VLProcessor`` without its video processor.

    transformers makes ``video_processor`` mandatory for Qwen2.5-VL and the video processor needs
    torchvision, which cannot be installed next to the CPU torch wheel. Image and text processing are the
    same code (``Qwen2_5_VLProcessor.__call__``).
    """
    from transformers import Qwen2_5_VLProcessor

    class Qwen2_5_VLImageOnlyProcessor(Qwen2_5_VLProcessor):  # type: ignore[misc,valid-type]
        attributes = ["image_processor", "tokenizer"]  # transformers 4.x reads this list

        # transformers 5.x derives the sub-processors from the __init__ signature
        def __init__(self, image_processor: Any = None, tokenizer: Any = None, chat_template: Any = None,
                     **kwargs: Any) -> None:  # fmt: skip
            super().__init__(
                image_processor=image_processor, tokenizer=tokenizer, video_processor=None,
                chat_template=chat_template, **kwargs,
            )  # fmt: skip

    return Qwen2_5_VLImageOnlyProcessor


def _torchvision_available() -> bool:
    from transformers.utils import is_torchvision_available

    return bool(is_torchvision_available())


def load_processor(path: str | Path, **kwargs: Any) -> Any:
    """``AutoProcessor`` when torchvision is importable, else the image-only Qwen2.5-VL processor.

    Without torchvision the fallback applies only to Qwen2-VL-family checkpoints; others go through
    ``AutoProcessor`` unchanged.
    """
    from transformers import AutoProcessor

    if _torchvision_available():
        return AutoProcessor.from_pretrained(path, **kwargs)
    try:
        return AutoProcessor.from_pretrained(path, **kwargs)
    except (ImportError, ValueError, TypeError, OSError) as exc:
        if not _is_qwen_vl_dir(path):
            raise
        first_error = exc
    try:
        return image_only_processor_class().from_pretrained(path, **kwargs)  # type: ignore[attr-defined]
    except Exception:
        raise first_error from None


def _is_qwen_vl_dir(path: str | Path) -> bool:
    """True for local dirs and cached hub ids whose config names a Qwen2-VL / Qwen2.5-VL model."""
    cfg = Path(path) / "config.json"
    if cfg.is_file():
        model_type = str(json.loads(cfg.read_text()).get("model_type", ""))
    else:
        try:
            from transformers import AutoConfig

            model_type = str(AutoConfig.from_pretrained(path).model_type)
        except Exception:
            return False
    return model_type.startswith(("qwen2_vl", "qwen2_5_vl"))


def _build_processor(tokenizer: Any) -> Any:
    import transformers
    from transformers import Qwen2_5_VLProcessor

    tv = _torchvision_available()
    if transformers.__version__.startswith("4.") or tv:
        from transformers import Qwen2VLImageProcessor as ImgProc
    else:  # transformers 5 without torchvision: the PIL backend
        from transformers import Qwen2VLImageProcessorPil as ImgProc  # type: ignore[assignment]
    image_processor = ImgProc(
        min_pixels=_MIN_PIXELS, max_pixels=_MAX_PIXELS, patch_size=14, temporal_patch_size=2, merge_size=2
    )
    if tv:
        from transformers import Qwen2VLVideoProcessor

        return Qwen2_5_VLProcessor(
            image_processor=image_processor, tokenizer=tokenizer, video_processor=Qwen2VLVideoProcessor(),
            chat_template=CHAT_TEMPLATE,
        )  # fmt: skip
    return image_only_processor_class()(image_processor=image_processor, tokenizer=tokenizer,
                                        chat_template=CHAT_TEMPLATE)  # fmt: skip


def _build_config(tokenizer: Any) -> Any:
    from transformers import Qwen2_5_VLConfig

    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS}
    text_config = dict(
        vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=4096, rms_norm_eps=1e-6,
        # head_dim 16 -> mrope_section sums to 8; legacy spelling as in the real config.json
        rope_theta=1_000_000.0, rope_scaling={"type": "mrope", "mrope_section": [2, 3, 3]},
        bos_token_id=ids["<|endoftext|>"], eos_token_id=ids["<|im_end|>"], pad_token_id=ids["<|endoftext|>"],
        tie_word_embeddings=False,
    )  # fmt: skip
    vision_config = dict(
        depth=2, hidden_size=32, intermediate_size=64, num_heads=2, patch_size=14, spatial_merge_size=2,
        temporal_patch_size=2, window_size=112, fullatt_block_indexes=[1], out_hidden_size=64, in_channels=3,
        tokens_per_second=2,
    )  # fmt: skip
    return Qwen2_5_VLConfig(
        text_config=text_config, vision_config=vision_config, image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"], vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"], tie_word_embeddings=False,
    )  # fmt: skip


def _to_legacy_layout(out_dir: Path) -> None:
    """Rewrite processor files into the hub layout (``preprocessor_config.json`` + ``chat_template.json``).

    transformers 5 saves a nested ``processor_config.json`` that ``AutoProcessor`` cannot load without a
    video entry; the layout of the real repos loads under transformers 4.x and 5.x alike.
    """
    pc = out_dir / "processor_config.json"
    if pc.exists():
        img = json.loads(pc.read_text()).get("image_processor", {})
        pc.unlink()
    else:
        img = json.loads((out_dir / "preprocessor_config.json").read_text())
    img.pop("video_processor", None)
    size = img.get("size") or {}
    img.update(
        {
            "min_pixels": size.get("shortest_edge", _MIN_PIXELS),
            "max_pixels": size.get("longest_edge", _MAX_PIXELS),
            "image_processor_type": "Qwen2VLImageProcessor",
            "processor_class": "Qwen2_5_VLProcessor",
        }
    )
    (out_dir / "preprocessor_config.json").write_text(json.dumps(img, indent=2))
    (out_dir / "video_preprocessor_config.json").unlink(missing_ok=True)
    tc = out_dir / "tokenizer_config.json"
    d = json.loads(tc.read_text())
    if "processor_class" in d:
        d["processor_class"] = "Qwen2_5_VLProcessor"
        tc.write_text(json.dumps(d, indent=2))
    jinja = out_dir / "chat_template.jinja"
    if jinja.exists():
        (out_dir / "chat_template.json").write_text(json.dumps({"chat_template": jinja.read_text()}, indent=2))
        jinja.unlink()


def build_tiny_qwen25vl(out_dir: str | Path, seed: int = 0) -> Path:
    """Build the tiny random Qwen2.5-VL into ``out_dir`` (created) in the hub layout; return the path."""
    import torch
    from transformers import GenerationConfig, Qwen2_5_VLForConditionalGeneration

    out = Path(out_dir)
    torch.manual_seed(seed)
    tokenizer = _build_tokenizer()
    processor = _build_processor(tokenizer)
    config = _build_config(tokenizer)
    model = Qwen2_5_VLForConditionalGeneration(config).eval()
    model.generation_config = GenerationConfig(
        bos_token_id=config.text_config.bos_token_id,
        eos_token_id=[config.text_config.eos_token_id, config.text_config.bos_token_id],
        pad_token_id=config.text_config.pad_token_id,
        do_sample=False,
    )
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    processor.save_pretrained(out)
    _to_legacy_layout(out)
    return out


def tiny_model_cache_path(cache_dir: Path | None = None) -> Path:
    """Where ``ensure_tiny_model`` keeps the checkpoint: one per transformers major version."""
    import transformers

    from mmlongbench_write.kvstore import default_cache_dir

    major = transformers.__version__.split(".")[0]
    base = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    return base / "models" / f"{TINY_MODEL_NAME}-{major}"


def ensure_tiny_model(cache_dir: Path | None = None) -> Path:
    """The tiny checkpoint's directory, building it on first use.

    Built in a temporary sibling directory and renamed into place, so a concurrent process sees either
    no checkpoint or a whole one; when two processes race, the loser discards its copy.
    """
    try:
        target = tiny_model_cache_path(cache_dir)
    except ImportError as exc:
        from mmlongbench_write.extras import MissingExtra

        raise MissingExtra(exc.name or "transformers", "the tiny model", extra="hf") from None
    if (target / "config.json").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        build_tiny_qwen25vl(tmp)
        try:
            os.rename(tmp, target)
        except OSError:
            if not (target / "config.json").is_file():  # not a lost race: a real failure
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target
