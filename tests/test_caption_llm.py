"""Caption+LLM: each image captioned once, the writer gets instruction + numbered captions, text only."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from servers import FakeAPIServer, Fault

from mmlongbench_write.model_adapters.anthropic import AnthropicAdapter
from mmlongbench_write.model_adapters.base import ModelAdapter, RuntimeOptions
from mmlongbench_write.model_adapters.cache import with_response_cache
from mmlongbench_write.model_adapters.caption import CAPTION_PROMPT, CaptionLLMAdapter
from mmlongbench_write.model_adapters.openai import OpenAIAdapter
from mmlongbench_write.model_adapters.scripted import ScriptedAdapter
from mmlongbench_write.schema import Generation, ImagePart, ImageRef, Message, Request

IMG_A = ImageRef.from_bytes(b"image-a", "a.png")
IMG_B = ImageRef.from_bytes(b"image-b", "b.jpg", media_type="image/jpeg")
IMG_C = ImageRef.from_bytes(b"image-c", "c.png")


class Describer(ModelAdapter):
    """A captioner that names the image it was shown, and can be told to fail on one."""

    adapter_name = "describer"

    def __init__(self, fail_on: str | None = None, **args: Any) -> None:
        super().__init__(None, **args)
        self.fail_on = fail_on
        self.calls: list[Request] = []

    def generate(self, requests: Sequence[Request]) -> Iterator[Generation]:
        for request in requests:
            self.calls.append(request)
            [image] = request.images
            if image.source == self.fail_on:
                yield Generation.failure(request.id, "describer refused")
            else:
                yield Generation(request.id, f"<think>hmm</think>A picture named {image.source}.")


def sample(rid: str, *images: ImageRef, words: int = 20) -> Request:
    return Request(rid, (Message.user(*(ImagePart(i) for i in images), f"Write a {words}-word story."),))


def test_each_image_captioned_once_and_writer_gets_text_only() -> None:
    captioner, writer = Describer(), ScriptedAdapter()
    adapter = CaptionLLMAdapter(captioner, writer)
    gens = {g.request_id: g for g in adapter.generate([sample("1", IMG_A, IMG_B), sample("2", IMG_B, IMG_C)])}
    assert all(g.ok for g in gens.values()) and len(gens["1"].text.split()) == 20
    assert sorted(r.images[0].source for r in captioner.calls) == ["a.png", "b.jpg", "c.png"]
    assert all(r.messages[0].text == CAPTION_PROMPT for r in captioner.calls)
    assert all(r.config.max_new_tokens == 1024 for r in captioner.calls)

    by_id = {r.id: r for r in writer.calls}
    assert all(not r.images for r in writer.calls)  # text only
    text = by_id["1"].messages[0].text
    assert "[Image 1]\nA picture named a.png." in text and "[Image 2]\nA picture named b.jpg." in text
    assert text.index("[Image 1]") < text.index("[Image 2]") < text.index("Write a 20-word story.")
    assert "<think>" not in text
    assert "[Image 1]\nA picture named b.jpg." in by_id["2"].messages[0].text

    list(adapter.generate([sample("3", IMG_C, IMG_A)]))  # already described: no new captioning
    assert len(captioner.calls) == 3


def test_caption_failure_fails_only_that_request() -> None:
    adapter = CaptionLLMAdapter(Describer(fail_on="b.jpg"), ScriptedAdapter())
    gens = {g.request_id: g for g in adapter.generate([sample("ok", IMG_A), sample("bad", IMG_A, IMG_B)])}
    assert gens["ok"].ok
    assert (
        not gens["bad"].ok and "b.jpg" in (gens["bad"].error or "") and "describer refused" in (gens["bad"].error or "")
    )


def test_identity_combines_both_sides() -> None:
    identity = CaptionLLMAdapter(Describer(model="cap"), ScriptedAdapter(model="writer-x")).identity()
    assert identity["adapter"] == "caption-llm" and identity["model"] == "writer-x"
    assert identity["args"]["captioner"]["adapter"] == "describer"
    assert identity["args"]["writer"]["model"] == "writer-x"
    other = CaptionLLMAdapter(
        Describer(model="cap"), ScriptedAdapter(model="writer-x"), caption_prompt="short"
    ).identity()
    assert other != identity


def test_captions_come_from_the_captioners_cache_across_instances(tmp_path: Path) -> None:
    first = Describer()
    list(
        CaptionLLMAdapter(with_response_cache(first, "readwrite", tmp_path), ScriptedAdapter()).generate(
            [sample("1", IMG_A)]
        )
    )
    second = Describer()
    adapter = CaptionLLMAdapter(with_response_cache(second, "readwrite", tmp_path), ScriptedAdapter())
    [gen] = adapter.generate([sample("2", IMG_A)])
    assert gen.ok and len(first.calls) == 1 and second.calls == []


@pytest.mark.api
def test_over_loopback_servers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-cap-test-1")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-cap-test-2")
    runtime = RuntimeOptions(concurrency=4, max_retries=2, timeout_s=10)
    with FakeAPIServer(words=15) as server:
        server.add_faults(Fault.status_code(500))  # a captioning hiccup is retried like any other
        captioner = OpenAIAdapter(runtime, model="gpt-4o", base_url=server.openai_url, retry_base_s=0.01)
        writer = AnthropicAdapter(runtime, model="claude-writer", base_url=server.anthropic_url)
        adapter = CaptionLLMAdapter(captioner, writer)
        gens = list(adapter.generate([sample("1", IMG_A, IMG_B, words=30), sample("2", IMG_A, words=25)]))
        assert {g.request_id: len(g.text.split()) for g in gens} == {"1": 30, "2": 25}
        caption_calls = [r for r in server.requests if r.path.endswith("/chat/completions") and r.fault is None]
        writer_calls = [r for r in server.requests if r.path.endswith("/messages")]
        assert len(caption_calls) == 2  # two distinct images
        for call in caption_calls:
            parts = call.body["messages"][0]["content"]
            assert [p["type"] for p in parts] == ["image_url", "text"] and call.body["max_tokens"] == 1024
        assert len(writer_calls) == 2
        for call in writer_calls:
            content = call.body["messages"][0]["content"]
            assert [p["type"] for p in content] == ["text"]
            assert "[Image 1]" in content[0]["text"] and "-word story" in content[0]["text"]
