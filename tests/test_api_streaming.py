"""Streaming, idle and overall bounds, capped Retry-After, against loopback servers speaking real SSE."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from servers import FakeAPIServer, Fault, sse

from mmlongbench_write.model_adapters.anthropic import AnthropicAdapter
from mmlongbench_write.model_adapters.api_base import APIAdapter
from mmlongbench_write.model_adapters.base import RuntimeOptions
from mmlongbench_write.model_adapters.openai import OpenAIAdapter
from mmlongbench_write.schema import GenerationConfig, Message, Request

pytestmark = pytest.mark.api

KEY = "sk-stream-test-key-0000111"
KINDS = ["openai", "anthropic"]


@pytest.fixture(autouse=True)
def _keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)


@pytest.fixture
def server() -> Iterator[FakeAPIServer]:
    with FakeAPIServer(require_key=KEY) as s:
        yield s


def make(kind: str, server: FakeAPIServer, runtime: dict[str, Any] | None = None, **args: Any) -> APIAdapter:
    options = RuntimeOptions(**{"concurrency": 1, "max_retries": 2, "timeout_s": 10, **(runtime or {})})
    args = {"retry_base_s": 0.01, **args}
    if kind == "openai":
        return OpenAIAdapter(options, model="gpt-test", base_url=server.openai_url, **args)
    return AnthropicAdapter(options, model="claude-test", base_url=server.anthropic_url, **args)


def request(words: int = 12, **config: Any) -> Request:
    return Request("r", (Message.user(f"write {words} words"),), GenerationConfig(**config))


@pytest.mark.parametrize("kind", KINDS)
def test_streams_by_default_and_reads_text_usage_and_finish_from_events(kind: str, server: FakeAPIServer) -> None:
    with make(kind, server) as adapter:
        [done] = adapter.generate([request(12)])
        [cut] = adapter.generate([request(50, max_new_tokens=10)])
    body = server.requests[0].body
    assert body["stream"] is True
    if kind == "openai":
        assert body["stream_options"] == {"include_usage": True}
    assert done.ok and len(done.text.split()) == 12 and done.finish_reason == "stop"
    assert done.usage.output_tokens == 12 and done.usage.input_tokens > 0
    assert done.model == ("gpt-test-snapshot" if kind == "openai" else "claude-test-snapshot")
    assert cut.ok and cut.finish_reason == "length" and cut.usage.output_tokens == 10


@pytest.mark.parametrize("kind", KINDS)
def test_stream_false_sends_a_plain_request(kind: str, server: FakeAPIServer) -> None:
    with make(kind, server, stream="false") as adapter:
        [gen] = adapter.generate([request(7)])
    assert gen.ok and len(gen.text.split()) == 7
    assert "stream" not in server.requests[0].body and "stream_options" not in server.requests[0].body


@pytest.mark.parametrize("kind", KINDS)
def test_a_generation_streaming_longer_than_the_timeout_completes(kind: str, server: FakeAPIServer) -> None:
    server.event_delay = 0.1  # ~25 events: 2.5 s of generation, never silent for 0.5 s
    started = time.monotonic()
    with make(kind, server, {"timeout_s": 0.5}) as adapter:
        [gen] = adapter.generate([request(20)])
    assert gen.ok and len(gen.text.split()) == 20
    assert server.count == 1 and time.monotonic() - started > 1.5


@pytest.mark.parametrize("kind", KINDS)
def test_a_stalled_stream_is_cut_after_the_timeout_and_retried(kind: str, server: FakeAPIServer) -> None:
    server.add_faults(Fault.stall(5.0))
    started = time.monotonic()
    with make(kind, server, {"timeout_s": 0.5}) as adapter:
        [gen] = adapter.generate([request(6)])
    assert gen.ok and len(gen.text.split()) == 6 and server.count == 2
    assert time.monotonic() - started < 3.0


@pytest.mark.parametrize("stream", ["true", "false"])
def test_a_trickling_reply_is_cut_at_max_request_s(stream: str, server: FakeAPIServer) -> None:
    # one byte every 0.3 s: never idle for --timeout, and ~100 s to finish; max_request_s ends it
    server.add_faults(Fault.trickle(0.3), Fault.trickle(0.3))
    started = time.monotonic()
    with make("openai", server, {"timeout_s": 1.0, "max_retries": 1}, stream=stream, max_request_s=1.5) as adapter:
        [gen] = adapter.generate([request(6)])
    elapsed = time.monotonic() - started
    assert not gen.ok and "max_request_s" in (gen.error or "") and server.count == 2
    assert elapsed < 6.0


def test_max_request_s_is_never_below_the_timeout(server: FakeAPIServer) -> None:
    assert make("openai", server, {"timeout_s": 30.0}, max_request_s=1).max_request_s == 30.0


def test_anthropic_large_max_tokens_streams_and_completes(server: FakeAPIServer) -> None:
    with make("anthropic", server) as adapter:
        [gen] = adapter.generate([request(30, max_new_tokens=128_000)])
    assert gen.ok and len(gen.text.split()) == 30
    assert server.requests[0].body["max_tokens"] == 128_000 and server.requests[0].body["stream"] is True


@pytest.mark.parametrize("kind", KINDS)
def test_huge_retry_after_is_capped_and_announced(kind: str, server: FakeAPIServer,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    server.add_faults(Fault.status_code(429, retry_after="999999"))
    started = time.monotonic()
    with make(kind, server, retry_after_max_s=1.0) as adapter:
        [gen] = adapter.generate([request(4)])
    assert gen.ok and 0.9 <= time.monotonic() - started < 5
    err = capsys.readouterr().err
    assert "999999" in err and "capped" in err and err.count("\n") == 1 and KEY not in err


@pytest.mark.parametrize("kind", KINDS)
def test_a_server_that_ignores_stream_and_sends_json_is_read(kind: str, server: FakeAPIServer) -> None:
    reply = (
        {"model": "m", "choices": [{"message": {"content": "plain json reply"}, "finish_reason": "stop"}]}
        if kind == "openai"
        else {"model": "m", "content": [{"type": "text", "text": "plain json reply"}], "stop_reason": "end_turn"}
    )
    server.add_faults(Fault.status_code(200, body=json.dumps(reply)))
    with make(kind, server) as adapter:
        [gen] = adapter.generate([request(4)])
    assert gen.ok and gen.text == "plain json reply"


OPENAI_CUT = sse({"model": "m", "choices": [{"index": 0, "delta": {"content": "half"}, "finish_reason": None}]})
ANTHROPIC_CUT = sse({"type": "message_start", "message": {"model": "m", "content": [], "usage": {}}})
ANTHROPIC_OVERLOADED = sse({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})


@pytest.mark.parametrize(
    ("kind", "body", "expected"),
    [
        ("openai", OPENAI_CUT, "malformed"),
        ("openai", sse({"error": {"message": "upstream died"}}), "upstream died"),
        ("openai", "data: {not json\n\n", "malformed"),
        ("anthropic", ANTHROPIC_CUT, "message_stop"),
        ("anthropic", ANTHROPIC_CUT + ANTHROPIC_OVERLOADED, "Overloaded"),
        ("anthropic", sse({"type": "content_block_delta", "index": 0, "delta": {"text": "x"}}), "malformed"),
    ],
)
def test_broken_streams_are_retried_then_recorded(kind: str, body: bytes, expected: str,
                                                  server: FakeAPIServer) -> None:
    text = body.decode() if isinstance(body, bytes) else body
    server.add_faults(Fault.sse(text), Fault.sse(text))
    with make(kind, server, {"max_retries": 1}) as adapter:
        [gen] = adapter.generate([request(4)])
        assert not gen.ok and expected in (gen.error or "") and server.count == 2
        [again] = adapter.generate([request(4)])
    assert again.ok


@pytest.mark.parametrize("kind", KINDS)
def test_many_streamed_requests_in_parallel(kind: str, server: FakeAPIServer) -> None:
    requests = [Request(f"r{i}", (Message.user(f"write {5 + i % 7} words"),)) for i in range(60)]
    with make(kind, server, {"concurrency": 16}) as adapter:
        gens = {g.request_id: g for g in adapter.generate(requests)}
    assert len(gens) == 60 and all(g.ok for g in gens.values())
    assert all(len(gens[f"r{i}"].text.split()) == 5 + i % 7 for i in range(60))
