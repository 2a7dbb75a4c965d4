"""vLLM request building, output mapping and chunking, tested without vLLM installed (a fake engine)."""

from __future__ import annotations

import base64
import importlib.util
import sys
import types
from types import SimpleNamespace
from typing import Any

import pytest

from mmlongbench_write.errors import AdapterError, ConfigError
from mmlongbench_write.model_adapters.base import create_model, resolve_model_spec
from mmlongbench_write.model_adapters.vllm import (
    VLLMAdapter,
    chat_inputs,
    engine_kwargs,
    generation_from_output,
    sampling_kwargs,
)
from mmlongbench_write.schema import GenerationConfig, ImagePart, ImageRef, Message, Request


def _img(tag: bytes, media_type: str = "image/png") -> ImagePart:
    return ImagePart(ImageRef.from_bytes(b"\x89PNG" + tag, tag.decode(), media_type))


def _request(rid: str, n_images: int, config: GenerationConfig | None = None) -> Request:
    parts = [_img(f"{rid}{i}".encode()) for i in range(n_images)]
    return Request(
        rid,
        (Message.system("Be long."), Message.user("Intro", *parts, "Write 500 words.")),
        config or GenerationConfig(),
    )


def test_sampling_kwargs_from_the_paper_settings() -> None:
    config = GenerationConfig(temperature=0.6, top_p=0.95, top_k=40, max_new_tokens=8192, min_new_tokens=100, seed=3,
                              extra={"repetition_penalty": 1.05, "stop": ["</s>"], "bogus": 1})  # fmt: skip
    assert sampling_kwargs(config) == {
        "temperature": 0.6, "top_p": 0.95, "top_k": 40, "max_tokens": 8192, "min_tokens": 100, "seed": 3,
        "repetition_penalty": 1.05, "stop": ["</s>"],
    }  # fmt: skip


def test_sampling_kwargs_greedy_default_and_introspected_fields() -> None:
    assert sampling_kwargs(GenerationConfig()) == {"temperature": 0.0, "max_tokens": 8192}
    # temperature 0 ignores top_p/top_k, as greedy decoding does
    assert sampling_kwargs(GenerationConfig(temperature=0, top_p=0.9)) == {"temperature": 0.0, "max_tokens": 8192}
    config = GenerationConfig(extra={"bogus": 1, "repetition_penalty": 1.1})
    assert sampling_kwargs(config, allowed_extra={"bogus"})["bogus"] == 1
    assert "repetition_penalty" not in sampling_kwargs(config, allowed_extra={"bogus"})


def test_engine_kwargs() -> None:
    requests = [_request("a", 1), _request("b", 3), _request("c", 0)]
    args = {"pretrained": "THU-KEG/LongWriter-V-7B", "tensor_parallel_size": 2, "max_model_len": 32768,
            "gpu_memory_utilization": 0.85, "min_pixels": 78400, "max_pixels": 78400, "dtype": "bfloat16",
            "seed": 0, "trust_remote_code": True, "chunk_size": 16, "enforce_eager": True}  # fmt: skip
    assert engine_kwargs(args, requests) == {
        "model": "THU-KEG/LongWriter-V-7B", "tensor_parallel_size": 2, "max_model_len": 32768,
        "gpu_memory_utilization": 0.85, "dtype": "bfloat16", "seed": 0, "trust_remote_code": True,
        "enforce_eager": True, "limit_mm_per_prompt": {"image": 3},
        "mm_processor_kwargs": {"min_pixels": 78400, "max_pixels": 78400},
    }  # fmt: skip
    # explicit limit wins; text-only requests set no multimodal limit (text-only models reject one)
    assert engine_kwargs({"model": "m", "limit_mm_per_prompt": 30}, requests)["limit_mm_per_prompt"] == {"image": 30}
    assert engine_kwargs({"model": "m"}, [_request("t", 0)]) == {"model": "m"}
    with pytest.raises(ConfigError, match="pretrained"):
        engine_kwargs({}, requests)


def test_chat_inputs_keep_image_order_as_data_urls() -> None:
    request = Request(
        "x", (Message.user("A", _img(b"one"), "B", _img(b"two", "image/jpeg"), "C"), Message("assistant", ()))
    )
    (conversation,) = chat_inputs([request])
    user = conversation[0]
    assert [p["type"] for p in user["content"]] == ["text", "image_url", "text", "image_url", "text"]
    urls = [p["image_url"]["url"] for p in user["content"] if p["type"] == "image_url"]
    assert urls[0].startswith("data:image/png;base64,") and urls[1].startswith("data:image/jpeg;base64,")
    assert base64.b64decode(urls[1].split(",", 1)[1]) == b"\x89PNGtwo"
    assert conversation[1] == {"role": "assistant", "content": ""}
    sys_conv = chat_inputs([_request("s", 0)])[0]
    assert sys_conv[0] == {"role": "system", "content": "Be long."}
    assert sys_conv[1] == {"role": "user", "content": "IntroWrite 500 words."}


def _output(text: str, reason: Any, prompt: int = 7, out: int = 3) -> SimpleNamespace:
    completion = SimpleNamespace(text=text, finish_reason=reason, token_ids=list(range(out)))
    return SimpleNamespace(prompt_token_ids=list(range(prompt)), outputs=[completion])


def test_generation_from_output() -> None:
    request = _request("r", 1)
    g = generation_from_output(request, _output("hello", "length", 11, 5), "m", 0.5)
    assert (g.text, g.finish_reason, g.usage.input_tokens, g.usage.output_tokens, g.model) == (
        "hello",
        "length",
        11,
        5,
        "m",
    )
    assert generation_from_output(request, _output("x", "stop"), "m", 0).finish_reason == "stop"
    aborted = generation_from_output(request, _output("x", "abort"), "m", 0)
    assert not aborted.ok and "abort" in (aborted.error or "")
    assert not generation_from_output(request, SimpleNamespace(outputs=[]), "m", 0).ok


class _FakeLLM:
    """Answers like vllm.LLM.chat; raises for a conversation whose text contains "poison"."""

    def __init__(self, **kwargs: Any) -> None:
        self.kwargs = kwargs
        self.calls: list[int] = []

    def chat(self, conversations: list[Any], sampling_params: Any = None, use_tqdm: bool = True) -> list[Any]:
        self.calls.append(len(conversations))
        if any("poison" in str(c) for c in conversations):
            raise ValueError("prompt is longer than max_model_len\nsecond line")
        n = sampling_params.kwargs["max_tokens"]
        return [_output(f"answer {i}", "length", 5, n) for i in range(len(conversations))]


@pytest.fixture
def fake_vllm(monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    module = types.ModuleType("vllm")
    module.LLM = _FakeLLM  # type: ignore[attr-defined]
    module.SamplingParams = lambda **kw: SimpleNamespace(kwargs=kw)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "vllm", module)
    fake_torch = types.ModuleType("torch")
    fake_torch.cuda = SimpleNamespace(is_available=lambda: True)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "torch", fake_torch)
    return module


def test_chunks_and_isolates_failures(fake_vllm: types.ModuleType) -> None:
    config = GenerationConfig(max_new_tokens=9)
    requests = [_request(f"r{i}", i % 3, config) for i in range(5)]
    poison = Request("bad", (Message.user("poison"),), config)
    other = _request("other", 1, GenerationConfig(max_new_tokens=4))
    adapter = VLLMAdapter(pretrained="THU-KEG/LongWriter-V-7B", chunk_size=3)
    gens = {g.request_id: g for g in adapter.generate([*requests, poison, other])}
    assert adapter.llm.kwargs["limit_mm_per_prompt"] == {"image": 2}
    assert all(gens[r.id].ok and gens[r.id].usage.output_tokens == 9 for r in requests)
    assert gens["other"].usage.output_tokens == 4  # its own SamplingParams group
    assert not gens["bad"].ok and gens["bad"].error == "ValueError: prompt is longer than max_model_len"
    # chunks of 3: [r0 r1 r2] [r3 r4 bad] -> retried one by one, then the other config's group
    assert adapter.llm.calls == [3, 3, 1, 1, 1, 1]


@pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="vLLM is installed here")
def test_without_vllm_one_clear_line() -> None:
    model = create_model(resolve_model_spec("longwriter-v-7b", {"backend": "vllm"}))
    assert isinstance(model, VLLMAdapter)
    with pytest.raises(AdapterError) as err:
        list(model.generate([_request("a", 1)]))
    assert "vllm" in str(err.value) and "mmlongbench-write[vllm]" in str(err.value) and "\n" not in str(err.value)


def test_without_cuda_one_clear_line(fake_vllm: types.ModuleType) -> None:
    sys.modules["torch"].cuda = SimpleNamespace(is_available=lambda: False)  # type: ignore[attr-defined]
    with pytest.raises(AdapterError, match="needs a CUDA GPU"):
        list(VLLMAdapter(pretrained="m").generate([_request("a", 0)]))


def test_identity_leaves_out_parallelism() -> None:
    a = VLLMAdapter(pretrained="m", tensor_parallel_size=4, gpu_memory_utilization=0.9, max_model_len=32768)
    b = VLLMAdapter(pretrained="m", tensor_parallel_size=8, max_model_len=32768)
    assert (
        a.identity()
        == b.identity()
        == {"adapter": "vllm", "model": "m", "args": {"max_model_len": 32768, "pretrained": "m"}}
    )
