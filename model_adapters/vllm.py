"""The ``vllm`` adapter: an offline ``vllm.LLM`` engine fed whole chunks of the data set at once.

vLLM schedules continuously, so throughput comes from handing it many requests per call. The adapter
submits requests in chunks of ``chunk_size`` (default 256: the whole 120-sample benchmark or the
32-prompt ruler in one ``llm.chat`` call; ``chunk_size=0`` means everything at once) and yields each
chunk's generations when it completes, so larger sets are journalled progressively and a crash loses at
most one chunk. A chunk that raises (e.g. a prompt over ``max_model_len``) is retried one request at a
time, so only the culprits are recorded as failures.

Model args: ``pretrained`` (or ``model``), ``tensor_parallel_size``, ``max_model_len``,
``gpu_memory_utilization``, ``limit_mm_per_prompt`` (images per prompt; default: the most any request
has, at least 1), ``min_pixels``/``max_pixels`` (passed as ``mm_processor_kwargs``; 78400 = 280x280 is
the LongWriter-V training resolution), ``dtype``, ``seed``, ``trust_remote_code``, ``chunk_size``. Other
args go to ``vllm.LLM`` unchanged (``enforce_eager``, ``quantization``, ``max_num_seqs``, ...), except the
transformers-only ``device``, ``device_map``, ``attn_implementation``, ``batch_size`` (dropped, so an hf
preset runs with ``backend=vllm``).

The request building below is pure and unit-tested without vLLM; vLLM itself is imported only when the
engine starts.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from typing import Any

from mmlongbench_write.errors import AdapterError, ConfigError
from mmlongbench_write.registry import register_model
from mmlongbench_write.schema import FinishReason, Generation, GenerationConfig, Request, Usage

from .base import ModelAdapter, RuntimeOptions
from .chat_format import chunked, group_by_config, openai_style_messages
from .tiny import TINY_MODEL_ALIAS, TINY_MODEL_NAME, ensure_tiny_model

DEFAULT_MAX_TOKENS = 8192
DEFAULT_CHUNK_SIZE = 256
#: Model args the adapter handles itself rather than passing to ``vllm.LLM``.
_OWN_ARGS = frozenset({"pretrained", "model", "min_pixels", "max_pixels", "limit_mm_per_prompt", "chunk_size"})
#: transformers-only args a preset may carry (``longwriter-v-7b``); dropped so ``backend=vllm`` just works.
HF_ONLY_ARGS = frozenset({"device", "device_map", "attn_implementation", "batch_size"})
#: ``SamplingParams`` fields accepted from ``GenerationConfig.extra`` when vLLM cannot be introspected.
SAMPLING_EXTRA_FIELDS = frozenset(
    {"repetition_penalty", "presence_penalty", "frequency_penalty", "min_p", "stop", "stop_token_ids",
     "ignore_eos", "skip_special_tokens", "include_stop_str_in_output", "length_penalty", "n"}
)  # fmt: skip


def sampling_kwargs(config: GenerationConfig, allowed_extra: frozenset[str] | set[str] | None = None) -> dict[str, Any]:
    """``SamplingParams`` keyword args for ``config``: greedy (temperature 0) unless temperature > 0.

    Maps ``max_new_tokens`` -> ``max_tokens`` (default 8192, the paper's setting) and ``min_new_tokens``
    -> ``min_tokens``; ``extra`` keys pass through when ``SamplingParams`` has such a field.
    """
    kwargs: dict[str, Any] = {
        "temperature": float(config.temperature or 0.0) if config.is_sampled else 0.0,
        "max_tokens": int(config.max_new_tokens or DEFAULT_MAX_TOKENS),
    }
    if config.is_sampled:
        if config.top_p is not None:
            kwargs["top_p"] = float(config.top_p)
        if config.top_k is not None:
            kwargs["top_k"] = int(config.top_k)
    if config.min_new_tokens:
        kwargs["min_tokens"] = int(config.min_new_tokens)
    if config.seed is not None:
        kwargs["seed"] = int(config.seed)
    allowed = SAMPLING_EXTRA_FIELDS if allowed_extra is None else allowed_extra
    kwargs.update({k: v for k, v in config.extra.items() if k in allowed and k not in kwargs})
    return kwargs


def max_images(requests: Sequence[Request]) -> int:
    """The most images any one request carries."""
    return max((len(r.images) for r in requests), default=0)


def engine_kwargs(model_args: dict[str, Any], requests: Sequence[Request]) -> dict[str, Any]:
    """``vllm.LLM(...)`` keyword args from the model args and the requests it will serve."""
    model = model_args.get("pretrained") or model_args.get("model")
    if not model:
        raise ConfigError("vllm adapter: model arg 'pretrained' (or 'model') is required")
    kwargs: dict[str, Any] = {"model": str(model)}
    kwargs.update({k: v for k, v in model_args.items() if k not in _OWN_ARGS | HF_ONLY_ARGS and v is not None})
    limit = model_args.get("limit_mm_per_prompt")
    if limit is None and max_images(requests) > 0:
        limit = max_images(requests)
    if limit is not None:
        kwargs["limit_mm_per_prompt"] = {"image": max(1, int(limit))}
    mm = {k: int(model_args[k]) for k in ("min_pixels", "max_pixels") if model_args.get(k) is not None}
    if mm:
        kwargs["mm_processor_kwargs"] = mm
    return kwargs


def chat_inputs(requests: Sequence[Request]) -> list[list[dict[str, Any]]]:
    """One OpenAI-style conversation per request (images as base64 data URLs), for ``llm.chat``."""
    return [openai_style_messages(r.messages) for r in requests]


def finish_reason(raw: Any) -> FinishReason:
    """vLLM's ``finish_reason`` ("stop", "length", "abort", None) mapped to ours."""
    return raw if raw in ("stop", "length") else "unknown"


def generation_from_output(request: Request, output: Any, model: str, latency_s: float) -> Generation:
    """A :class:`Generation` from one ``vllm.RequestOutput``; empty or aborted outputs become failures."""
    if not getattr(output, "outputs", None):
        return Generation.failure(request.id, "vLLM returned no completion", latency_s)
    completion = output.outputs[0]
    if completion.finish_reason not in ("stop", "length"):
        return Generation.failure(request.id, f"vLLM finished with {completion.finish_reason!r}", latency_s)
    usage = Usage(len(output.prompt_token_ids or ()), len(completion.token_ids or ()))
    return Generation(
        request_id=request.id,
        text=completion.text,
        finish_reason=finish_reason(completion.finish_reason),
        usage=usage,
        latency_s=latency_s,
        model=model,
    )


@register_model("vllm", "offline vLLM engine (tensor parallel, multi-image chat, whole-dataset batching)")
class VLLMAdapter(ModelAdapter):
    """A vLLM engine; see the module docstring for its model args."""

    adapter_name = "vllm"
    non_identity_args = ModelAdapter.non_identity_args | {
        "tensor_parallel_size", "gpu_memory_utilization", "limit_mm_per_prompt", "chunk_size", "enforce_eager",
        "max_num_seqs", "download_dir", "swap_space",
    }  # fmt: skip

    def __init__(self, runtime: RuntimeOptions | None = None, **model_args: Any) -> None:
        super().__init__(runtime, **model_args)
        if not (model_args.get("pretrained") or model_args.get("model")):
            raise ConfigError("vllm adapter: model arg 'pretrained' (or 'model') is required")
        chunk = model_args.get("chunk_size", DEFAULT_CHUNK_SIZE)
        self.chunk_size = int(chunk) if chunk else 0
        self.llm: Any = None
        self._sampling_fields: frozenset[str] | None = None

    @property
    def model_name(self) -> str:
        name = str(self.model_args.get("pretrained") or self.model_args.get("model"))
        return TINY_MODEL_NAME if name == TINY_MODEL_ALIAS else name

    def start(self, requests: Sequence[Request]) -> None:
        """Start the engine (once), sized for ``requests``; one-line :class:`AdapterError` when it cannot."""
        if self.llm is not None:
            return
        from mmlongbench_write.extras import require

        torch = require("torch", "the vllm adapter (on a CUDA machine)", extra="vllm")
        vllm = require("vllm", "the vllm adapter (on a CUDA machine)")
        if not torch.cuda.is_available():
            raise AdapterError("the vllm adapter needs a CUDA GPU and none is available; use --model hf on CPU")
        kwargs = engine_kwargs(self.model_args, requests)
        if kwargs["model"] == TINY_MODEL_ALIAS:
            kwargs["model"] = str(ensure_tiny_model())
        try:
            self.llm = vllm.LLM(**kwargs)
        except (OSError, ValueError, RuntimeError) as exc:
            lines = str(exc).strip().splitlines()
            detail = lines[0] if lines else type(exc).__name__
            raise AdapterError(f"vllm adapter: cannot start the engine for {kwargs['model']!r}: {detail}") from None
        fields = getattr(vllm.SamplingParams, "__struct_fields__", None)
        self._sampling_fields = frozenset(fields) if fields else None

    def generate(self, requests: Sequence[Request]) -> Iterator[Generation]:
        if not requests:
            return
        self.start(requests)
        for group in group_by_config(requests):
            size = self.chunk_size or len(group)
            for chunk in chunked(group, size):
                yield from self._generate_chunk(chunk)

    def _generate_chunk(self, chunk: list[Request]) -> Iterator[Generation]:
        from vllm import SamplingParams  # type: ignore[import-not-found]

        params = SamplingParams(**sampling_kwargs(chunk[0].config, self._sampling_fields))
        start = time.perf_counter()
        try:
            outputs = self.llm.chat(chat_inputs(chunk), sampling_params=params, use_tqdm=False)
        except Exception as exc:  # noqa: BLE001 - isolate the request(s) at fault
            if len(chunk) > 1:
                for request in chunk:
                    yield from self._generate_chunk([request])
                return
            lines = str(exc).strip().splitlines()
            message = f"{type(exc).__name__}: {lines[0] if lines else ''}"
            yield Generation.failure(chunk[0].id, message, time.perf_counter() - start)
            return
        share = (time.perf_counter() - start) / len(chunk)
        outputs = list(outputs)
        for index, request in enumerate(chunk):
            if index < len(outputs):
                yield generation_from_output(request, outputs[index], self.model_name, share)
            else:
                yield Generation.failure(request.id, "vLLM returned fewer outputs than requests", share)

    def close(self) -> None:
        self.llm = None
