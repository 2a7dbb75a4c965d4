"""What every judge that asks a model shares: its settings, prompt template, cache and provenance.

The quality judge (S_q) and the pairwise judge both send a judge model a template filled with the
sample's instruction and response(s) after the sample's images, retry unusable replies, cache their
verdicts in ``judgements.sqlite`` (one namespace each) and record the same provenance. This module holds
that common part; the judges add their request and their reply parsing.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from mmlongbench_write.errors import ConfigError
from mmlongbench_write.kvstore import KVStore, default_cache_dir
from mmlongbench_write.model_adapters.base import ModelAdapter, ModelSpec, resolve_model_spec
from mmlongbench_write.schema import GenerationConfig
from mmlongbench_write.specs import parse_kv
from mmlongbench_write.templates import prompt_hash, read_template

from .base import JudgeOptions
from .rounds import check_cache_mode

DEFAULT_JUDGE_MODEL = "gpt-4o-2024-08-06"
DEFAULT_TEMPERATURE = 0.5
DEFAULT_MAX_NEW_TOKENS = 1024
DEFAULT_MAX_ATTEMPTS = 3
_SECRET_ARG = re.compile(r"key|token|secret|password", re.IGNORECASE)


def builtin_template(name: str = "quality") -> str:
    """The text of a built-in prompt (``judges/prompts/<name>.txt``)."""
    return resources.files("mmlongbench_write.judges").joinpath("prompts", f"{name}.txt").read_text("utf-8")


def load_template(path: str | None, placeholders: Sequence[str] = ("$INST$", "$RESPONSE$"),
                  builtin: str = "quality") -> tuple[str, str]:
    """(template text, its name): the built-in one, or the user's file, which must hold every placeholder."""
    if path is None:
        return builtin_template(builtin), f"builtin:{builtin}"
    template = read_template(path, placeholders, flag="--judge-prompt")
    return template.text, template.source


def default_judge_spec() -> ModelSpec:
    """The paper's judge: the ``gpt-4o-2024-08-06`` preset when registered, else the OpenAI adapter."""
    from mmlongbench_write.registry import models

    if DEFAULT_JUDGE_MODEL in models:
        return resolve_model_spec(DEFAULT_JUDGE_MODEL)
    return ModelSpec("openai", {"model": DEFAULT_JUDGE_MODEL})


def judge_gen_config(options: JudgeOptions) -> GenerationConfig:
    """Temperature 0.5, 1024 new tokens, the run's seed; ``extra["judge_gen_kwargs"]`` overrides."""
    overrides = options.extra.get("judge_gen_kwargs") or {}
    if isinstance(overrides, str):
        overrides = parse_kv(overrides, flag="--judge-gen-kwargs")
    return GenerationConfig(temperature=DEFAULT_TEMPERATURE, max_new_tokens=DEFAULT_MAX_NEW_TOKENS,
                            seed=options.seed).merged(**overrides)


def max_attempts_from(options: JudgeOptions) -> int:
    value = options.extra.get("max_attempts", options.extra.get("judge_max_attempts", DEFAULT_MAX_ATTEMPTS))
    try:
        attempts = int(value)
    except (TypeError, ValueError):
        raise ConfigError(f"judge max_attempts must be an integer, got {value!r}") from None
    if attempts < 1:
        raise ConfigError(f"judge max_attempts must be >= 1, got {attempts}")
    return attempts


def model_identity(adapter: ModelAdapter) -> dict[str, Any]:
    """The judge model's identity with anything secret-looking left out."""
    ident = adapter.identity()
    args = {k: v for k, v in (ident.get("args") or {}).items() if not _SECRET_ARG.search(k)}
    return {"model": ident.get("model", adapter.model_name), "adapter": ident.get("adapter", adapter.adapter_name),
            "model_args": args}


class ModelJudgeBase:
    """Settings and resources of a model-backed judge: adapter, template, sampling, attempts, cache.

    Subclasses set ``builtin_prompt``, ``placeholders`` and ``cache_namespace``.
    """

    builtin_prompt = "quality"
    placeholders: tuple[str, ...] = ("$INST$", "$RESPONSE$")
    cache_namespace = "quality"

    def __init__(self, adapter: ModelAdapter, *, prompt_file: str | None = None,
                 config: GenerationConfig | None = None, max_attempts: int = DEFAULT_MAX_ATTEMPTS,
                 cache_mode: str = "readwrite", cache_dir: str | Path | None = None,
                 owns_adapter: bool = False) -> None:
        if max_attempts < 1:
            raise ConfigError(f"judge max_attempts must be >= 1, got {max_attempts}")
        self.adapter = adapter
        self.template, self.prompt_name = load_template(prompt_file, self.placeholders, builtin=self.builtin_prompt)
        self.prompt_hash = prompt_hash(self.template)
        self.config = config or GenerationConfig(temperature=DEFAULT_TEMPERATURE,
                                                 max_new_tokens=DEFAULT_MAX_NEW_TOKENS)
        self.max_attempts = max_attempts
        self.cache_mode = check_cache_mode(cache_mode)
        self.cache_dir = Path(cache_dir) if cache_dir else None
        self._store: KVStore | None = None
        self._owns_adapter = owns_adapter

    def _cache(self) -> KVStore | None:
        """The verdict cache (opened on first use), or None with ``--cache off``."""
        if self.cache_mode == "off":
            return None
        if self._store is None:
            self._store = KVStore((self.cache_dir or default_cache_dir()) / "judgements.sqlite",
                                  namespace=self.cache_namespace)
        return self._store

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None
        if self._owns_adapter:
            self.adapter.close()
