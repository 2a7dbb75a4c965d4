"""The model adapter protocol, model specs and presets.

An adapter turns :class:`~mmlongbench_write.schema.Request` objects into
:class:`~mmlongbench_write.schema.Generation` objects. It knows nothing of tasks or judges. It yields
generations as they finish (in any order), so the runner can journal each one at once and a crash loses
at most what is in flight.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mmlongbench_write.errors import ConfigError
from mmlongbench_write.schema import Generation, GenerationConfig, Request


@dataclass(frozen=True)
class BatchOptions:
    """``--batch``: send OpenAI/Anthropic requests through the provider's batch API (docs/batch.md).

    ``journal_dir`` is the run folder, where ``batches.jsonl`` records every batch the moment it exists, so
    a killed run re-attaches to its pending batches instead of submitting the requests again.
    ``max_requests`` / ``max_bytes`` lower the provider's per-batch limits (None: the provider's own).
    ``reuse_closed``: also take successful answers from batches already read (their results stay at the
    provider for weeks) — for callers without a journal of their own (``mmlw data ...``), whose re-run
    asks again for what a killed run had already received.
    """

    journal_dir: str
    journal_name: str = "batches.jsonl"
    reuse_closed: bool = False
    fallback: str = "batch"  # "batch": retry failed items in a later batch; "live": retry them live
    poll_s: float = 30.0
    max_rounds: int = 3
    max_requests: int | None = None
    max_bytes: int | None = None
    progress: Callable[[str], None] | None = field(default=None, compare=False)  # batch states; None: stderr


@dataclass(frozen=True)
class RuntimeOptions:
    """How to run, as opposed to what to run: these never change an output, so they are not in cache keys."""

    concurrency: int = 8
    batch_size: int = 8
    requests_per_minute: float | None = None
    tokens_per_minute: float | None = None
    max_retries: int = 6
    timeout_s: float = 600.0
    batch: BatchOptions | None = None  # --batch: provider batch APIs instead of live requests


class ModelAdapter(ABC):
    """A model that answers chat requests with images.

    Subclasses take their model args as keyword arguments (strings from ``--model-args`` are already
    converted to int/float/bool where they look like one).
    """

    #: registry name of the adapter (``hf``, ``openai``, ...)
    adapter_name: str = "base"
    #: model args that do not change outputs (device, paths to caches, keys): left out of identity
    non_identity_args: frozenset[str] = frozenset({"base_url", "device", "device_map", "timeout"})
    #: whether outputs are worth keeping in the response cache (False for adapters that cost nothing)
    cacheable: bool = True
    #: the model args this adapter reads; any other is refused with a did-you-mean. None: not checked
    #: (an adapter that passes its args on to a backend which checks them itself, like vLLM's engine)
    accepted_args: frozenset[str] | None = None

    def __init__(self, runtime: RuntimeOptions | None = None, **model_args: Any) -> None:
        self.runtime = runtime or RuntimeOptions()
        self.model_args = model_args
        self.check_args(model_args)

    @classmethod
    def check_args(cls, model_args: dict[str, Any]) -> None:
        """Refuse model args this adapter does not read, with a did-you-mean (no-op when unchecked)."""
        if cls.accepted_args is not None:
            from mmlongbench_write.arg_checks import check_model_args

            check_model_args(f"{cls.adapter_name} adapter", model_args, cls.accepted_args)

    @property
    def model_name(self) -> str:
        """Human-readable model name (``pretrained`` or ``model`` arg)."""
        return str(self.model_args.get("pretrained") or self.model_args.get("model") or self.adapter_name)

    def identity(self) -> dict[str, Any]:
        """What determines outputs: adapter + model + output-changing args. Used in cache keys and run.json.

        A ``pretrained`` that is a local directory also contributes a fingerprint of its files, so a
        checkpoint retrained in place never hits responses cached for its previous weights.
        """
        args = {k: v for k, v in sorted(self.model_args.items()) if k not in self.non_identity_args}
        identity: dict[str, Any] = {"adapter": self.adapter_name, "model": self.model_name, "args": args}
        checkpoint = local_checkpoint_fingerprint(self.model_args.get("pretrained"))
        if checkpoint is not None:
            identity["checkpoint"] = checkpoint
        return identity

    @abstractmethod
    def generate(self, requests: Sequence[Request]) -> Iterator[Generation]:
        """Answer every request; yield each :class:`Generation` as soon as it is done (any order).

        A request that fails after retries yields ``Generation.failure(...)``. An error that makes every
        further request pointless (bad credentials, model not found) raises
        :class:`~mmlongbench_write.errors.AdapterError` instead, so a wrong key cannot burn a data set.
        """

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources (GPU memory, HTTP clients)."""

    def __enter__(self) -> ModelAdapter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def local_checkpoint_fingerprint(pretrained: object) -> str | None:
    """Hash of the names, sizes and modification times of a local checkpoint's files (None if not local).

    Cheap (no file is read) and errs on the safe side: a copy of the same weights counts as different.
    """
    if not isinstance(pretrained, str) or not pretrained or ":" in pretrained.split("/", 1)[0]:
        return None
    path = Path(pretrained).expanduser()
    if not path.is_dir():
        return None
    stats = sorted((f.name, f.stat().st_size, f.stat().st_mtime_ns) for f in path.iterdir() if f.is_file())
    return hashlib.sha256(repr(stats).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Preset:
    """A named model: an adapter plus default model args and generation settings, all overridable."""

    name: str
    adapter: str
    model_args: dict[str, Any]
    gen_kwargs: dict[str, Any] = field(default_factory=dict)
    description: str = ""


@dataclass(frozen=True)
class ModelSpec:
    """``--model NAME --model-args k=v,...`` resolved: the adapter to build and its final arguments."""

    adapter: str
    model_args: dict[str, Any]
    gen_defaults: GenerationConfig = field(default_factory=GenerationConfig)
    preset: str | None = None


def resolve_model_spec(name: str, model_args: dict[str, Any] | None = None) -> ModelSpec:
    """Resolve a model name (an adapter or a preset) plus user args into a :class:`ModelSpec`."""
    from mmlongbench_write.registry import models
    from mmlongbench_write.secrets import check_args

    user_args = dict(model_args or {})
    check_args(f"model args of {name}", user_args)  # a key given here would be recorded: refused
    target = models.get(name)
    if isinstance(target, Preset):
        args = {**target.model_args, **user_args}
        # a preset may name another preset's backend, e.g. longwriter-v-7b with backend=vllm
        adapter = str(args.pop("backend", target.adapter))
        return ModelSpec(adapter, args, GenerationConfig().merged(**target.gen_kwargs), preset=target.name)
    if isinstance(target, type) and issubclass(target, ModelAdapter):
        return ModelSpec(name, user_args)
    raise ConfigError(f"model {name!r} is registered as {type(target).__name__}, not an adapter or a preset")


def adapter_class(spec: ModelSpec) -> type[ModelAdapter]:
    """The adapter class a spec names (imported, not built)."""
    from mmlongbench_write.registry import models

    cls = models.get(spec.adapter)
    if not (isinstance(cls, type) and issubclass(cls, ModelAdapter)):
        raise ConfigError(f"{spec.adapter!r} is not a model adapter")
    return cls


def check_spec_args(spec: ModelSpec) -> None:
    """Refuse model args the adapter does not read before anything is written (building it comes later)."""
    adapter_class(spec).check_args(spec.model_args)


def create_model(spec: ModelSpec, runtime: RuntimeOptions | None = None) -> ModelAdapter:
    """Build the adapter a spec names."""
    adapter: ModelAdapter = adapter_class(spec)(runtime=runtime, **spec.model_args)
    if runtime is not None and runtime.batch is not None:  # --batch: behind the provider's batch API
        from .batch import with_batch

        adapter = with_batch(adapter, runtime.batch)
    return adapter
