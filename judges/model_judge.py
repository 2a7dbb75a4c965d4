"""What every judge that asks a model shares: its settings, prompt template, fence, cache and provenance.

The quality judge (S_q) and the pairwise judge both send a judge model a template filled with the
sample's instruction and response(s) beside the sample's images (images first; text first under
``--protocol authors``), retry unusable replies, cache their verdicts in ``judgements.sqlite`` (one
namespace each) and record the same provenance. This module holds that common part; the judges add their
request and their reply parsing.

**Fence.** The texts a judge is shown come from strangers (the data set) and from the systems under test
(the responses), so the built-in templates enclose them between marker lines carrying a code
(``$BOUNDARY$``) that none of them contains: a response cannot close its block early and pose as the
prompt. The code is derived from the texts themselves (:func:`fence_code`), so it cannot be known when
the response is written, and the request stays reproducible. A user template gets ``$BOUNDARY$`` too when
it uses the placeholder; otherwise it is substituted verbatim as before.

**Cache.** A stored verdict is checked when read (:meth:`ModelJudgeBase.cached`): one that fails the
judge's validation is reported in one line and judged again, and a cache file that cannot be opened,
read or written is reported in one line and judging goes on without it.
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
from collections.abc import Callable, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from mmlongbench_write.errors import ConfigError
from mmlongbench_write.kvstore import KVStore, default_cache_dir
from mmlongbench_write.model_adapters.base import ModelAdapter, ModelSpec, resolve_model_spec
from mmlongbench_write.protocol import TEXT_FIRST, default_judge_attempts, judge_part_order
from mmlongbench_write.schema import ContentPart, GenerationConfig, ImagePart, ImageRef, TextPart
from mmlongbench_write.secrets import check_args, is_secret_name
from mmlongbench_write.specs import parse_kv
from mmlongbench_write.templates import fill_template, prompt_hash, read_template

from .base import JudgeOptions
from .rounds import check_cache_mode

DEFAULT_JUDGE_MODEL = "gpt-4o-2024-08-06"
DEFAULT_TEMPERATURE = 0.5
DEFAULT_MAX_NEW_TOKENS = 1024
DEFAULT_MAX_ATTEMPTS = 3
BOUNDARY = "$BOUNDARY$"
log = logging.getLogger(__name__)


def fence_code(*texts: str) -> str:
    """A 24-hex-digit code that occurs in none of ``texts``, derived from them (so reproducible).

    A text cannot contain a hash of itself except by astronomically unlikely chance, and that chance is
    checked for: the code is re-derived until it is absent from every text.
    """
    digest = hashlib.sha256("\x00".join(texts).encode("utf-8"))
    while True:
        code = digest.hexdigest()[:24]
        if not any(code in text for text in texts):
            return code
        digest = hashlib.sha256(digest.digest())


def judge_parts(images: Sequence[ImageRef], text: str, order: str) -> tuple[ContentPart, ...]:
    """The parts of a judge message: the images in sample order and the prompt text, in ``order``."""
    image_parts = tuple(ImagePart(img) for img in images)
    return (TextPart(text), *image_parts) if order == TEXT_FIRST else (*image_parts, TextPart(text))


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
    check_args("--judge-gen-kwargs", overrides)
    return GenerationConfig(temperature=DEFAULT_TEMPERATURE, max_new_tokens=DEFAULT_MAX_NEW_TOKENS,
                            seed=options.seed).merged(**overrides)


def max_attempts_from(options: JudgeOptions) -> int:
    """The user's ``max_attempts`` when given, else the protocol's (3, or 5 under ``--protocol authors``)."""
    value = options.extra.get("max_attempts", options.extra.get("judge_max_attempts"))
    if value is None:
        return default_judge_attempts(options.protocol)
    try:
        attempts = int(value)
    except (TypeError, ValueError):
        raise ConfigError(f"judge max_attempts must be an integer, got {value!r}") from None
    if attempts < 1:
        raise ConfigError(f"judge max_attempts must be >= 1, got {attempts}")
    return attempts


def model_identity(adapter: ModelAdapter) -> dict[str, Any]:
    """The judge model's identity (adapter, model, output-changing args, and the ``server`` that answers,
    so two servers that both call their model ``default`` never share verdicts), secret-named args left out."""
    ident = adapter.identity()
    args = {k: v for k, v in (ident.get("args") or {}).items() if not is_secret_name(k)}
    out = {"model": ident.get("model", adapter.model_name), "adapter": ident.get("adapter", adapter.adapter_name),
           "model_args": args}
    out.update({k: v for k, v in ident.items() if k not in ("model", "adapter", "args")})
    return out


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
                 owns_adapter: bool = False, protocol: str = "mmlw") -> None:
        if max_attempts < 1:
            raise ConfigError(f"judge max_attempts must be >= 1, got {max_attempts}")
        self.adapter = adapter
        self.template, self.prompt_name = load_template(prompt_file, self.placeholders, builtin=self.builtin_prompt)
        self.prompt_hash = prompt_hash(self.template)
        self.protocol = protocol
        self.part_order = judge_part_order(protocol)
        self.config = config or GenerationConfig(temperature=DEFAULT_TEMPERATURE,
                                                 max_new_tokens=DEFAULT_MAX_NEW_TOKENS)
        self.max_attempts = max_attempts
        self.cache_mode = check_cache_mode(cache_mode)
        self.cache_dir = Path(cache_dir) if cache_dir else None
        self._store: KVStore | None = None
        self._cache_broken = False
        self._owns_adapter = owns_adapter

    def setting_identity(self) -> dict[str, Any]:
        """What the protocol adds to the identity: the part order, only when it is not the default."""
        return {"part_order": self.part_order} if self.part_order == TEXT_FIRST else {}

    def fill(self, values: dict[str, str]) -> str:
        """The template with ``values`` and a fence code absent from all of them (see the module docstring)."""
        return fill_template(self.template, {**values, BOUNDARY: fence_code(*values.values())})

    @property
    def cache_path(self) -> Path:
        return (self.cache_dir or default_cache_dir()) / "judgements.sqlite"

    def _cache(self) -> KVStore | None:
        """The verdict cache (opened on first use), or None with ``--cache off`` or once it proved unusable."""
        if self.cache_mode == "off" or self._cache_broken:
            return None
        if self._store is None:
            try:
                self._store = KVStore(self.cache_path, namespace=self.cache_namespace)
            except (sqlite3.Error, OSError) as exc:
                self._cache_failed(exc)
        return self._store

    def _cache_failed(self, exc: BaseException) -> None:
        log.warning("judge cache %s is unusable (%s: %s); judging goes on without it", self.cache_path,
                    type(exc).__name__, exc)
        self._cache_broken = True
        if self._store is not None:
            try:
                self._store.close()
            except sqlite3.Error:
                pass
            self._store = None

    def cached(self, key: str, validate: Callable[[Any], str | None]) -> dict[str, Any] | None:
        """The stored verdict under ``key`` when reading is on and it passes ``validate`` (None = valid).

        A verdict that fails is reported in one line and treated as absent: it is judged again (and the
        new verdict replaces it).
        """
        store = self._cache() if self.cache_mode in ("read", "readwrite") else None
        if store is None:
            return None
        problem: str | None
        try:
            value = store.get(key)
        except ValueError as exc:  # a value that is not JSON
            value, problem = None, f"not JSON ({exc})"
        except (sqlite3.Error, OSError) as exc:
            self._cache_failed(exc)
            return None
        else:
            if value is None:
                return None
            problem = validate(value)
        if problem is None and isinstance(value, dict):
            return dict(value)
        log.warning("judge cache %s: ignoring a stored %s verdict that is invalid (%s); judging it again",
                    self.cache_path, self.cache_namespace, problem)
        return None

    def remember(self, key: str, value: dict[str, Any]) -> None:
        """Store a verdict when writing is on; a failing cache is reported once and then left alone."""
        store = self._cache() if self.cache_mode in ("write", "readwrite") else None
        if store is None:
            return
        try:
            store.put(key, value)
        except (sqlite3.Error, OSError) as exc:
            self._cache_failed(exc)

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None
        if self._owns_adapter:
            self.adapter.close()
