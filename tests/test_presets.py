"""Model presets: every paper model resolves, carries the paper's settings, and user args win."""

from __future__ import annotations

import pytest

from mmlongbench_write.model_adapters.base import Preset, create_model, resolve_model_spec
from mmlongbench_write.model_adapters.presets import PRESETS, TEXT_ONLY_PRESETS
from mmlongbench_write.model_adapters.vllm import engine_kwargs
from mmlongbench_write.registry import models

PAPER_MODELS = {
    "longwriter-v-7b": ("hf", "pretrained", "THU-KEG/LongWriter-V-7B"),
    "longwriter-v-7b-dpo": ("hf", "pretrained", "THU-KEG/LongWriter-V-7B-DPO"),
    "longwriter-v-72b": ("vllm", "pretrained", "THU-KEG/LongWriter-V-72B"),
    "qwen2.5-vl-7b": ("hf", "pretrained", "Qwen/Qwen2.5-VL-7B-Instruct"),
    "qwen2.5-vl-72b": ("vllm", "pretrained", "Qwen/Qwen2.5-VL-72B-Instruct"),
    "minicpm-v-2.6": ("vllm", "pretrained", "openbmb/MiniCPM-V-2_6"),
    "gpt-4o-2024-08-06": ("openai", "model", "gpt-4o-2024-08-06"),
    "claude-3-opus-20240229": ("anthropic", "model", "claude-3-opus-20240229"),
    "gemini-1.5-pro": ("openai", "model", "gemini-1.5-pro"),
    "glm-4-9b-chat": ("hf", "pretrained", "THUDM/glm-4-9b-chat"),
    "mistral-large-2407": ("vllm", "pretrained", "mistralai/Mistral-Large-Instruct-2407"),
    "deepseek-r1": ("openai", "model", "deepseek-reasoner"),
}


@pytest.mark.parametrize("name", sorted(PAPER_MODELS))
def test_every_paper_model_resolves_with_the_paper_settings(name: str) -> None:
    adapter, key, model = PAPER_MODELS[name]
    spec = resolve_model_spec(name)
    assert spec.preset == name and spec.adapter == adapter and spec.adapter in models
    assert spec.model_args[key] == model
    gen = spec.gen_defaults
    assert (gen.temperature, gen.top_p) == (0.6, 0.95)
    assert gen.max_new_tokens == (4096 if name.startswith("claude") else 8192)
    entry = models.entry(name)
    assert isinstance(entry.load(), Preset) and model in entry.description and adapter in entry.description


def test_backend_switch_and_user_overrides() -> None:
    spec = resolve_model_spec("longwriter-v-7b", {"backend": "vllm", "tensor_parallel_size": 2, "max_pixels": 78400})
    assert spec.adapter == "vllm" and "backend" not in spec.model_args
    assert spec.model_args == {"pretrained": "THU-KEG/LongWriter-V-7B", "dtype": "bfloat16",
                               "tensor_parallel_size": 2, "max_pixels": 78400}  # fmt: skip
    spec = resolve_model_spec("longwriter-v-72b", {"backend": "hf", "device_map": "auto"})
    assert spec.adapter == "hf" and spec.model_args["device_map"] == "auto"
    # the preset's vLLM engine args do not stop the hf adapter (nor hf args the vllm one)
    create_model(spec)
    vllm_spec = resolve_model_spec("tiny-random-qwen2.5-vl", {"backend": "vllm"})
    assert engine_kwargs(vllm_spec.model_args, []) == {"model": "mmlw:tiny-random-qwen2.5-vl", "dtype": "float32"}
    local = resolve_model_spec("longwriter-v-7b", {"pretrained": "/models/lwv7b"})
    assert local.model_args["pretrained"] == "/models/lwv7b"
    # generation overrides on top of the preset's defaults (what `--gen-kwargs` does)
    merged = resolve_model_spec("claude-3-opus-20240229").gen_defaults.merged(temperature=0.0, max_new_tokens=1024)
    assert (merged.temperature, merged.top_p, merged.max_new_tokens) == (0.0, 0.95, 1024)


def test_api_presets_name_their_key_variables() -> None:
    gemini = resolve_model_spec("gemini-1.5-pro").model_args
    assert gemini["base_url"] == "https://generativelanguage.googleapis.com/v1beta/openai/"
    assert gemini["api_key_env"] == "GEMINI_API_KEY"
    deepseek = resolve_model_spec("deepseek-r1").model_args
    assert (deepseek["base_url"], deepseek["api_key_env"]) == ("https://api.deepseek.com", "DEEPSEEK_API_KEY")


def test_large_models_default_to_tensor_parallel_vllm() -> None:
    for name in ("longwriter-v-72b", "qwen2.5-vl-72b", "mistral-large-2407"):
        args = resolve_model_spec(name).model_args
        assert args["tensor_parallel_size"] in (4, 8) and args["max_model_len"] == 32768


def test_text_only_writers_are_marked() -> None:
    assert TEXT_ONLY_PRESETS == {"glm-4-9b-chat", "mistral-large-2407", "deepseek-r1"}
    for name in TEXT_ONLY_PRESETS:
        assert "caption-llm" in models.entry(name).description


def test_tiny_preset() -> None:
    spec = resolve_model_spec("tiny-random-qwen2.5-vl")
    assert spec.adapter == "hf"
    assert spec.model_args == {"pretrained": "mmlw:tiny-random-qwen2.5-vl", "dtype": "float32", "device": "cpu"}
    gen = spec.gen_defaults
    assert (gen.temperature, gen.max_new_tokens, gen.min_new_tokens) == (0, 64, 16)


def test_presets_do_not_share_mutable_settings() -> None:
    gens = [p.gen_kwargs for p in PRESETS]
    assert len({id(g) for g in gens}) == len(gens)
    assert len({p.name for p in PRESETS}) == len(PRESETS)
