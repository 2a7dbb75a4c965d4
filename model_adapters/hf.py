"""The ``hf`` adapter: a local transformers checkpoint, batched ``generate`` with images.

Real checkpoints (``THU-KEG/LongWriter-V-7B``, ``Qwen/Qwen2.5-VL-7B-Instruct``) and the tiny random
model take the same path: ``AutoModelForImageTextToText.from_pretrained`` + the processor's chat
template, PIL images in message order, left-padded batches. Text-only checkpoints (the caption+LLM
writers, e.g. ``THUDM/glm-4-9b-chat``) fall back to ``AutoModelForCausalLM`` + the tokenizer.

Model args: ``pretrained`` (hub id, directory, or ``mmlw:tiny-random-qwen2.5-vl``), ``dtype``
(auto|bfloat16|float16|float32), ``device`` (default cuda when available), ``device_map`` (e.g. ``auto``
to spread a 72B model over GPUs), ``attn_implementation``, ``min_pixels``/``max_pixels``,
``trust_remote_code``, ``revision``, ``batch_size`` (overrides ``--batch-size``). vLLM engine args
(``tensor_parallel_size``, ``max_model_len``, ...) are accepted and ignored, so a vLLM preset runs with
``backend=hf``.

Defaults that matter: temperature 0 or unset means greedy; ``max_new_tokens`` unset means 8192 (the
paper's setting) rather than transformers' 20. torch/transformers are imported only when loading.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from mmlongbench_write.errors import AdapterError, ConfigError
from mmlongbench_write.hub import hub_unavailable
from mmlongbench_write.registry import register_model
from mmlongbench_write.schema import FinishReason, Generation, GenerationConfig, Request, Usage

from .base import ModelAdapter, RuntimeOptions
from .chat_format import chunked, group_by_config, hf_chat_messages
from .tiny import TINY_MODEL_ALIAS, TINY_MODEL_NAME, ensure_tiny_model, load_processor

DEFAULT_MAX_NEW_TOKENS = 8192
#: vLLM engine args a preset may carry (``longwriter-v-72b``); ignored here so ``backend=hf`` just works.
VLLM_ONLY_ARGS = frozenset(
    {"tensor_parallel_size", "max_model_len", "gpu_memory_utilization", "limit_mm_per_prompt", "chunk_size",
     "enforce_eager", "max_num_seqs", "seed"}
)  # fmt: skip
_DTYPES = ("auto", "bfloat16", "float16", "float32")
_KNOWN_ARGS = frozenset(
    {"pretrained", "dtype", "device", "device_map", "attn_implementation", "min_pixels", "max_pixels",
     "trust_remote_code", "revision", "batch_size"}
)  # fmt: skip


def first_line(exc: BaseException) -> str:
    """``Type: first line of the message`` — failures are stored as one line."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


@register_model("hf", "local transformers checkpoint (Qwen2.5-VL family and others), batched generate")
class HFAdapter(ModelAdapter):
    """A transformers model; see the module docstring for its model args."""

    adapter_name = "hf"
    non_identity_args = ModelAdapter.non_identity_args | {"batch_size", "attn_implementation"}
    accepted_args = _KNOWN_ARGS | VLLM_ONLY_ARGS  # a vLLM preset's engine args are accepted and ignored

    def __init__(self, runtime: RuntimeOptions | None = None, **model_args: Any) -> None:
        super().__init__(runtime, **model_args)
        if not model_args.get("pretrained"):
            raise ConfigError("hf adapter: model arg 'pretrained' is required (a hub id or a checkpoint directory)")
        self.dtype_name = str(model_args.get("dtype", "auto"))
        if self.dtype_name not in _DTYPES:
            raise ConfigError(f"hf adapter: dtype must be one of {', '.join(_DTYPES)}, got {self.dtype_name!r}")
        self.batch_size = int(model_args.get("batch_size") or self.runtime.batch_size)
        self.model: Any = None
        self.processor: Any = None
        self.tokenizer: Any = None
        self.vision = True
        self.device: Any = None

    # ---------------------------------------------------------------- loading
    @property
    def model_name(self) -> str:
        """The ``pretrained`` arg; the tiny model's preset name, never its cache path on this machine."""
        name = str(self.model_args["pretrained"])
        return TINY_MODEL_NAME if name == TINY_MODEL_ALIAS else name

    def _checkpoint_path(self) -> str:
        """Where ``from_pretrained`` loads from; fails with one line when that cannot work."""
        name = str(self.model_args["pretrained"])
        if name == TINY_MODEL_ALIAS:
            return str(ensure_tiny_model())
        path = Path(name).expanduser()
        if path.is_dir():
            return str(path)
        if name.startswith(("/", ".", "~")) or name.count("/") > 1:  # a path, not an "org/name" hub id
            raise AdapterError(f"hf adapter: model directory {name!r} does not exist")
        if hub_unavailable() and not _in_hub_cache(name, self.model_args.get("revision")):
            raise AdapterError(
                f"hf adapter: {name!r} is not in the Hugging Face cache and the hub is offline; "
                "download it first or pass pretrained=/path/to/checkpoint"
            )
        return name

    def load(self) -> None:
        """Load processor and model (once). Raises :class:`AdapterError` with one line on failure."""
        if self.model is not None:
            return
        from mmlongbench_write.extras import require

        torch = require("torch", "the hf adapter")
        transformers = require("transformers", "the hf adapter")
        path = self._checkpoint_path()
        common: dict[str, Any] = {"trust_remote_code": bool(self.model_args.get("trust_remote_code", False))}
        if not Path(path).is_dir() and hub_unavailable():
            common["local_files_only"] = True  # cached hub id, no network: skip the hub client's retries
        if self.model_args.get("revision"):
            common["revision"] = str(self.model_args["revision"])
        dtype = "auto" if self.dtype_name == "auto" else getattr(torch, self.dtype_name)
        dtype_key = "dtype" if int(transformers.__version__.split(".")[0]) >= 5 else "torch_dtype"
        model_kwargs: dict[str, Any] = {**common, dtype_key: dtype}
        if self.model_args.get("attn_implementation"):
            model_kwargs["attn_implementation"] = str(self.model_args["attn_implementation"])
        if self.model_args.get("device_map"):
            model_kwargs["device_map"] = self.model_args["device_map"]
        try:
            self.model, self.vision = _load_model(path, model_kwargs)
            if self.vision:
                self.processor = load_processor(path, **common)
                self.tokenizer = self.processor.tokenizer
                _set_pixel_limits(self.processor, self.model_args.get("min_pixels"), self.model_args.get("max_pixels"))
            else:
                self.tokenizer = transformers.AutoTokenizer.from_pretrained(path, **common)
                self.processor = self.tokenizer
        except (OSError, ValueError, ImportError) as exc:
            raise AdapterError(
                f"hf adapter: cannot load {self.model_args['pretrained']!r}: {first_line(exc)}"
            ) from None
        if not self.model_args.get("device_map"):
            device = self.model_args.get("device") or ("cuda" if torch.cuda.is_available() else "cpu")
            if str(device).startswith("cuda") and not torch.cuda.is_available():
                raise AdapterError(f"hf adapter: device {device!r} requested but CUDA is not available")
            self.model.to(device)
        self.device = next(self.model.parameters()).device
        self.model.eval()
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token

    # ---------------------------------------------------------------- generation
    def generate(self, requests: Sequence[Request]) -> Iterator[Generation]:
        if not requests:
            return
        self.load()
        for group in group_by_config(requests):
            # similar prompt sizes share a batch: less padding, same results
            group = sorted(group, key=lambda r: (len(r.images), sum(len(m.text) for m in r.messages)))
            for batch in chunked(group, self.batch_size):
                yield from self._generate_batch(batch)

    def _generate_batch(self, batch: list[Request]) -> Iterator[Generation]:
        """One batch; on an error (out of memory, a bad image) split it, so only the culprits fail."""
        start = time.perf_counter()
        try:
            results = self._run(batch)
        except AdapterError:
            raise
        except Exception as exc:  # noqa: BLE001 - any per-batch failure becomes data, not a crash
            _free_cuda_memory()
            if len(batch) > 1:
                half = len(batch) // 2
                yield from self._generate_batch(batch[:half])
                yield from self._generate_batch(batch[half:])
                return
            yield Generation.failure(batch[0].id, first_line(exc), time.perf_counter() - start)
            return
        share = (time.perf_counter() - start) / len(batch)
        for generation in results:
            yield replace(generation, latency_s=share)

    def _run(self, batch: list[Request]) -> list[Generation]:
        import torch

        config = batch[0].config
        texts: list[str] = []
        images: list[list[Any]] = []
        for request in batch:
            messages, refs = hf_chat_messages(request.messages)
            if refs and not self.vision:
                raise AdapterError(
                    f"{self.model_args['pretrained']!r} is a text-only model and cannot see images; "
                    "use it as a writer with --mode caption-llm"
                )
            texts.append(self.processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True))
            images.append([ref.open() for ref in refs])
        if self.vision:
            kwargs: dict[str, Any] = {"text": texts, "return_tensors": "pt", "padding": True}
            if any(images):
                kwargs["images"] = [img for per_request in images for img in per_request]
            inputs = self.processor(**kwargs)
        else:
            inputs = self.tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
        inputs = inputs.to(self.device)
        gen_kwargs = self.generate_kwargs(config)
        if config.seed is not None:
            torch.manual_seed(int(config.seed))
        with torch.inference_mode():
            output = self.model.generate(**inputs, **gen_kwargs)
        prompt_len = inputs["input_ids"].shape[1]
        new_tokens = output[:, prompt_len:].tolist()
        eos_ids = _eos_ids(self.model.generation_config, self.tokenizer)
        max_new = gen_kwargs["max_new_tokens"]
        results = []
        for i, request in enumerate(batch):
            tokens = new_tokens[i]
            end = next((j for j, t in enumerate(tokens) if t in eos_ids), None)
            n = len(tokens) if end is None else end + 1
            text = self.tokenizer.decode(tokens[:n], skip_special_tokens=True)
            finish: FinishReason = "length" if end is None and n >= max_new else "stop"
            usage = Usage(int(inputs["attention_mask"][i].sum()), n)
            results.append(
                Generation(request_id=request.id, text=text, finish_reason=finish, usage=usage, model=self.model_name)
            )
        return results

    def generate_kwargs(self, config: GenerationConfig) -> dict[str, Any]:
        """``model.generate`` keyword args for ``config`` (greedy unless temperature > 0)."""
        from transformers import GenerationConfig as HFGenerationConfig

        kwargs: dict[str, Any] = {
            "max_new_tokens": int(config.max_new_tokens or DEFAULT_MAX_NEW_TOKENS),
            "pad_token_id": self.tokenizer.pad_token_id,
        }
        if config.min_new_tokens:
            kwargs["min_new_tokens"] = int(config.min_new_tokens)
        if config.is_sampled:
            kwargs.update(do_sample=True, temperature=float(config.temperature or 1.0))
            if config.top_p is not None:
                kwargs["top_p"] = float(config.top_p)
            if config.top_k is not None:
                kwargs["top_k"] = int(config.top_k)
        else:  # greedy: neutralise sampling settings a checkpoint's generation_config may carry
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        known = HFGenerationConfig().to_dict()
        kwargs.update({k: v for k, v in config.extra.items() if k in known and k not in kwargs})
        return kwargs

    def close(self) -> None:
        self.model = None
        self.processor = None
        _free_cuda_memory()


def _load_model(path: str, kwargs: dict[str, Any]) -> tuple[Any, bool]:
    """The model and whether it takes images: image-text-to-text first, causal LM for text-only configs."""
    from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForImageTextToText

    config = AutoConfig.from_pretrained(
        path, **{k: v for k, v in kwargs.items() if k in ("trust_remote_code", "revision")}
    )
    try:
        from transformers.models.auto.modeling_auto import MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING

        vision = type(config) in MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING
    except ImportError:  # pragma: no cover - very old transformers
        vision = True
    if vision:
        return AutoModelForImageTextToText.from_pretrained(path, **kwargs), True
    return AutoModelForCausalLM.from_pretrained(path, **kwargs), False


def _set_pixel_limits(processor: Any, min_pixels: Any, max_pixels: Any) -> None:
    """Apply ``min_pixels``/``max_pixels`` (Qwen2-VL image processors) after loading, across versions."""
    image_processor = getattr(processor, "image_processor", None)
    if image_processor is None or (min_pixels is None and max_pixels is None):
        return
    size = dict(getattr(image_processor, "size", None) or {})
    for key, value, size_key in (
        ("min_pixels", min_pixels, "shortest_edge"),
        ("max_pixels", max_pixels, "longest_edge"),
    ):
        if value is not None:
            if hasattr(image_processor, key):  # transformers 4.x reads the attributes; 5.x only `size`
                setattr(image_processor, key, int(value))
            size[size_key] = int(value)
    try:
        image_processor.size = (
            type(image_processor.size)(**size) if not isinstance(image_processor.size, dict) else size
        )
    except TypeError:
        image_processor.size = size


def _eos_ids(generation_config: Any, tokenizer: Any) -> set[int]:
    ids = generation_config.eos_token_id if generation_config is not None else None
    eos = set(ids if isinstance(ids, list) else [ids] if ids is not None else [])
    if tokenizer.eos_token_id is not None:
        eos.add(tokenizer.eos_token_id)
    return eos


def _in_hub_cache(repo_id: str, revision: Any = None) -> bool:
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return True  # let from_pretrained decide
    found = try_to_load_from_cache(repo_id, "config.json", revision=str(revision) if revision else None)
    return isinstance(found, str)


def _free_cuda_memory() -> None:
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except ImportError:
        pass
