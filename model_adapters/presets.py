"""Named models: every model of the LongWriter-V paper's Table 1, plus the offline tiny model.

A preset is an adapter plus default model args and the paper's generation settings (temperature 0.6,
top_p 0.95, 8192 new tokens; Claude 3 Opus 4096), all overridable: ``--model-args`` and ``--gen-kwargs``
win over the preset. Local checkpoints run on the ``hf`` adapter by default; ``--model-args backend=vllm``
switches to vLLM with the same checkpoint (the 72B/123B presets default to vLLM with tensor parallelism).

API presets read keys from the environment only: ``gpt-4o-2024-08-06`` ``OPENAI_API_KEY``,
``claude-3-opus-20240229`` ``ANTHROPIC_API_KEY``, ``gemini-1.5-pro`` ``GEMINI_API_KEY`` (Google's
OpenAI-compatible endpoint), ``deepseek-r1`` ``DEEPSEEK_API_KEY``; the ``api_key_env`` model arg names
the variable the ``openai`` adapter reads instead of ``OPENAI_API_KEY``.

The caption+LLM writers (``glm-4-9b-chat``, ``mistral-large-2407``, ``deepseek-r1``) are text-only: use
them with ``--mode caption-llm --captioner SPEC`` (listed in :data:`TEXT_ONLY_PRESETS`).
"""

from __future__ import annotations

from typing import Any

from mmlongbench_write.registry import models

from .base import Preset
from .tiny import TINY_MODEL_ALIAS, TINY_MODEL_NAME

#: The paper's VLM generation settings (docs/benchmark.md).
PAPER_GEN_KWARGS: dict[str, Any] = {"temperature": 0.6, "top_p": 0.95, "max_new_tokens": 8192}
#: Claude 3 Opus allows at most 4096 output tokens; the paper used that.
CLAUDE_GEN_KWARGS: dict[str, Any] = {**PAPER_GEN_KWARGS, "max_new_tokens": 4096}

#: Presets of text-only LLMs, meant as writers in the caption+LLM setting (``--mode caption-llm``).
TEXT_ONLY_PRESETS: frozenset[str] = frozenset({"glm-4-9b-chat", "mistral-large-2407", "deepseek-r1"})

#: 72B VLMs in bf16 need ~150 GB of weights: 4 x 80 GB GPUs with room for a 32k-token KV cache.
_TP_72B = 4
#: Mistral-Large-2407 (123B) needs 8 x 80 GB.
_TP_123B = 8
_VLLM_LONG = {"max_model_len": 32768}

PRESETS: tuple[Preset, ...] = (
    Preset(
        TINY_MODEL_NAME,
        "hf",
        {"pretrained": TINY_MODEL_ALIAS, "dtype": "float32", "device": "cpu"},
        {"temperature": 0, "max_new_tokens": 64, "min_new_tokens": 16},
        "hf: random-weight Qwen2.5-VL (~210k params) built offline into the cache; fp32 CPU, greedy, "
        "16-64 new tokens (demos and tests, not a real model)",
    ),
    Preset(
        "longwriter-v-7b",
        "hf",
        {"pretrained": "THU-KEG/LongWriter-V-7B", "dtype": "bfloat16"},
        dict(PAPER_GEN_KWARGS),
        "hf: THU-KEG/LongWriter-V-7B, bf16 (backend=vllm for vLLM)",
    ),
    Preset(
        "longwriter-v-7b-dpo",
        "hf",
        {"pretrained": "THU-KEG/LongWriter-V-7B-DPO", "dtype": "bfloat16"},
        dict(PAPER_GEN_KWARGS),
        "hf: THU-KEG/LongWriter-V-7B-DPO, bf16 (backend=vllm for vLLM)",
    ),
    Preset(
        "longwriter-v-72b",
        "vllm",
        {"pretrained": "THU-KEG/LongWriter-V-72B", "dtype": "bfloat16", "tensor_parallel_size": _TP_72B, **_VLLM_LONG},
        dict(PAPER_GEN_KWARGS),
        f"vllm: THU-KEG/LongWriter-V-72B, bf16, tensor_parallel_size={_TP_72B} (backend=hf,device_map=auto for hf)",
    ),
    Preset(
        "qwen2.5-vl-7b",
        "hf",
        {"pretrained": "Qwen/Qwen2.5-VL-7B-Instruct", "dtype": "bfloat16"},
        dict(PAPER_GEN_KWARGS),
        "hf: Qwen/Qwen2.5-VL-7B-Instruct, bf16 (backend=vllm for vLLM)",
    ),
    Preset(
        "qwen2.5-vl-72b",
        "vllm",
        {
            "pretrained": "Qwen/Qwen2.5-VL-72B-Instruct",
            "dtype": "bfloat16",
            "tensor_parallel_size": _TP_72B,
            **_VLLM_LONG,
        },
        dict(PAPER_GEN_KWARGS),
        f"vllm: Qwen/Qwen2.5-VL-72B-Instruct, bf16, tensor_parallel_size={_TP_72B}",
    ),  # fmt: skip
    Preset(
        "minicpm-v-2.6",
        "vllm",
        {"pretrained": "openbmb/MiniCPM-V-2_6", "dtype": "bfloat16", "trust_remote_code": True},
        dict(PAPER_GEN_KWARGS),
        "vllm: openbmb/MiniCPM-V-2_6, trust_remote_code (its remote code has no generic transformers "
        "generate path, so vLLM is the default backend)",
    ),
    Preset(
        "gpt-4o-2024-08-06",
        "openai",
        {"model": "gpt-4o-2024-08-06"},
        dict(PAPER_GEN_KWARGS),
        "openai: gpt-4o-2024-08-06 (key from OPENAI_API_KEY)",
    ),
    Preset(
        "claude-3-opus-20240229",
        "anthropic",
        {"model": "claude-3-opus-20240229"},
        dict(CLAUDE_GEN_KWARGS),
        "anthropic: claude-3-opus-20240229, max 4096 new tokens (key from ANTHROPIC_API_KEY)",
    ),
    Preset(
        "gemini-1.5-pro",
        "openai",
        {
            "model": "gemini-1.5-pro",
            "base_url": "https://generativelanguage.googleapis.com/v1beta/openai/",
            "api_key_env": "GEMINI_API_KEY",
        },
        dict(PAPER_GEN_KWARGS),
        "openai: gemini-1.5-pro via Google's OpenAI-compatible endpoint (key from GEMINI_API_KEY)",
    ),
    Preset(
        "glm-4-9b-chat",
        "hf",
        {"pretrained": "THUDM/glm-4-9b-chat", "dtype": "bfloat16", "trust_remote_code": True},
        dict(PAPER_GEN_KWARGS),
        "hf: THUDM/glm-4-9b-chat, text-only writer for --mode caption-llm (backend=vllm for vLLM)",
    ),
    Preset(
        "mistral-large-2407",
        "vllm",
        {
            "pretrained": "mistralai/Mistral-Large-Instruct-2407",
            "dtype": "bfloat16",
            "tensor_parallel_size": _TP_123B,
            **_VLLM_LONG,
        },
        dict(PAPER_GEN_KWARGS),
        f"vllm: mistralai/Mistral-Large-Instruct-2407, tensor_parallel_size={_TP_123B}; text-only writer for "
        "--mode caption-llm",
    ),  # fmt: skip
    Preset(
        "deepseek-r1",
        "openai",
        {"model": "deepseek-reasoner", "base_url": "https://api.deepseek.com", "api_key_env": "DEEPSEEK_API_KEY"},
        dict(PAPER_GEN_KWARGS),
        "openai: deepseek-reasoner at api.deepseek.com (key from DEEPSEEK_API_KEY); text-only writer for "
        "--mode caption-llm",
    ),
)

for _preset in PRESETS:
    models.register(_preset.name, _preset, _preset.description)
