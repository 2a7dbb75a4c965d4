"""Fault tolerance of the API engine against a loopback server that misbehaves on cue."""

from __future__ import annotations

import asyncio
import email.utils
import time
from collections.abc import Iterator

import pytest
from servers import FakeAPIServer, Fault

from mmlongbench_write.errors import AdapterError
from mmlongbench_write.model_adapters.anthropic import AnthropicAdapter
from mmlongbench_write.model_adapters.api_base import APIAdapter, TokenBucket, parse_retry_after
from mmlongbench_write.model_adapters.base import RuntimeOptions
from mmlongbench_write.model_adapters.openai import OpenAIAdapter
from mmlongbench_write.schema import Message, Request

pytestmark = pytest.mark.api

KEY = "sk-fault-test-key-000111222"


@pytest.fixture(autouse=True)
def _keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)


@pytest.fixture
def server() -> Iterator[FakeAPIServer]:
    with FakeAPIServer() as s:
        yield s


def make(kind: str, server: FakeAPIServer, **runtime: object) -> APIAdapter:
    options = RuntimeOptions(**{"concurrency": 1, "max_retries": 3, "timeout_s": 10, **runtime})  # type: ignore[arg-type]
    if kind == "openai":
        return OpenAIAdapter(options, model="gpt-test", base_url=server.openai_url, retry_base_s=0.01)
    return AnthropicAdapter(options, model="claude-test", base_url=server.anthropic_url, retry_base_s=0.01)


def reqs(n: int = 1) -> list[Request]:
    return [Request(f"r{i}", (Message.user("write 4 words"),)) for i in range(n)]


KINDS = ["openai", "anthropic"]


@pytest.mark.parametrize("kind", KINDS)
def test_429_retry_after_seconds_is_honoured(kind: str, server: FakeAPIServer) -> None:
    server.add_faults(Fault.status_code(429, retry_after="1"))
    [gen] = make(kind, server).generate(reqs())
    assert gen.ok and server.count == 2
    waited = server.requests[1].time - server.requests[0].time
    assert 0.95 <= waited < 3.0


def test_429_retry_after_http_date_is_honoured(server: FakeAPIServer) -> None:
    server.add_faults(Fault.status_code(429, retry_after=email.utils.formatdate(time.time() + 2, usegmt=True)))
    [gen] = make("openai", server).generate(reqs())
    assert gen.ok
    assert server.requests[1].time - server.requests[0].time >= 0.9  # date has 1 s resolution


@pytest.mark.parametrize("kind", KINDS)
def test_500_and_dropped_connection_are_retried(kind: str, server: FakeAPIServer) -> None:
    server.add_faults(Fault.status_code(500), Fault.drop(), Fault.status_code(503))
    [gen] = make(kind, server).generate(reqs())
    assert gen.ok and len(gen.text.split()) == 4 and server.count == 4


def test_timeout_is_retried(server: FakeAPIServer) -> None:
    server.add_faults(Fault.slow(3.0))
    [gen] = make("openai", server, timeout_s=0.5).generate(reqs())
    assert gen.ok and server.count == 2


@pytest.mark.parametrize("kind", KINDS)
def test_malformed_body_is_an_error_not_output(kind: str, server: FakeAPIServer) -> None:
    server.add_faults(Fault.malformed())
    [gen] = make(kind, server, max_retries=0).generate(reqs())
    assert not gen.ok and gen.text == "" and gen.finish_reason == "error"
    assert "malformed" in (gen.error or "")
    server.add_faults(Fault.malformed())
    [gen] = make(kind, server, max_retries=2).generate(reqs())  # and it is retried
    assert gen.ok and len(gen.text.split()) == 4


def test_exhausted_retries_yield_a_failure_with_the_reason(server: FakeAPIServer) -> None:
    server.add_faults(*[Fault.status_code(502)] * 3)
    [gen] = make("openai", server, max_retries=2).generate(reqs())
    assert not gen.ok and gen.error is not None
    assert "502" in gen.error and "3 attempts" in gen.error and server.count == 3


def test_400_is_this_requests_failure_not_retried(server: FakeAPIServer) -> None:
    server.add_faults(Fault.status_code(400))
    gens = {g.request_id: g for g in make("openai", server).generate(reqs(3))}
    assert server.count == 3  # the bad one was sent once, the others went on
    assert sum(not g.ok for g in gens.values()) == 1
    assert any("400" in (g.error or "") for g in gens.values())


@pytest.mark.parametrize("kind", KINDS)
def test_401_stops_at_once(kind: str, server: FakeAPIServer) -> None:
    server.require_key = "the-right-key"
    with pytest.raises(AdapterError, match="401") as info:
        list(make(kind, server).generate(reqs(10)))
    assert server.count == 1
    assert "API_KEY" in str(info.value) and KEY not in str(info.value)


@pytest.mark.parametrize("status", [401, 403, 404])
def test_fatal_statuses_with_concurrency_stop_in_flight_work(status: int, server: FakeAPIServer) -> None:
    server.delay = 0.05
    server.add_faults(Fault.status_code(status))
    started = time.monotonic()
    with pytest.raises(AdapterError, match=str(status)):
        list(make("openai", server, concurrency=4).generate(reqs(40)))
    assert server.count <= 4  # only what was already in flight; nothing new started
    assert time.monotonic() - started < 5


def test_concurrency_is_bounded_and_used(server: FakeAPIServer) -> None:
    server.delay = 0.2
    gens = list(make("openai", server, concurrency=5).generate(reqs(20)))
    assert len(gens) == 20 and all(g.ok for g in gens)
    assert server.max_in_flight == 5
    assert sorted(g.request_id for g in gens) == sorted(r.id for r in reqs(20))


def test_requests_per_minute_limit_spaces_requests(server: FakeAPIServer) -> None:
    started = time.monotonic()
    gens = list(make("openai", server, concurrency=8, requests_per_minute=240).generate(reqs(8)))
    assert all(g.ok for g in gens)
    # 4 per second with a 1-second burst: 4 at once, then one every 0.25 s
    assert time.monotonic() - started >= 0.9


def test_token_bucket_waits_for_tokens() -> None:
    async def run() -> float:
        bucket = TokenBucket(per_minute=600, capacity=100)  # 10 tokens per second
        start = time.monotonic()
        await bucket.acquire(100)
        await bucket.acquire(10)
        return time.monotonic() - start

    assert 0.9 <= asyncio.run(run()) < 2.0


def test_tokens_per_minute_limit_runs(server: FakeAPIServer) -> None:
    gens = list(make("openai", server, concurrency=4, tokens_per_minute=100_000).generate(reqs(6)))
    assert len(gens) == 6 and all(g.ok for g in gens)


def test_stopping_early_cancels_the_rest(server: FakeAPIServer) -> None:
    server.delay = 0.1
    iterator = make("openai", server, concurrency=2).generate(reqs(50))
    first = next(iterator)
    assert first.ok
    iterator.close()  # type: ignore[attr-defined]
    time.sleep(0.3)
    assert server.count <= 5


def test_parse_retry_after() -> None:
    assert parse_retry_after({"retry-after": "3"}) == 3.0
    assert parse_retry_after({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5
    assert parse_retry_after({}) is None and parse_retry_after(None) is None
    assert parse_retry_after({"retry-after": "soon"}) is None
    future = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 28 <= (parse_retry_after({"retry-after": future}) or 0) <= 31


@pytest.mark.parametrize("kind", KINDS)
def test_valid_json_of_the_wrong_shape_is_malformed(kind: str, server: FakeAPIServer) -> None:
    server.add_faults(Fault.status_code(200, body='{"unexpected": true}'))
    [gen] = make(kind, server, max_retries=0).generate(reqs())
    assert not gen.ok and "malformed" in (gen.error or "") and gen.text == ""


def test_close_stops_the_loop_and_a_new_call_starts_again(server: FakeAPIServer) -> None:
    adapter = make("openai", server)
    assert [g.ok for g in adapter.generate(reqs(2))] == [True, True]
    loop_thread = adapter._loop_thread
    adapter.close()
    assert loop_thread is not None and not loop_thread.is_alive()
    assert [g.ok for g in adapter.generate(reqs(1))] == [True]
    adapter.close()


def test_reasoning_is_kept_inside_think_tags() -> None:
    from mmlongbench_write.model_adapters.anthropic import parse_reply as parse_anthropic
    from mmlongbench_write.model_adapters.openai import parse_reply as parse_openai

    reply = {"choices": [{"message": {"content": "Answer.", "reasoning_content": "Let me think."}}], "model": "r1"}
    gen = parse_openai("x", reply, "fallback")
    assert gen.text == "<think>Let me think.</think>\nAnswer." and gen.model == "r1" and gen.finish_reason == "unknown"
    blocks = {"content": [{"type": "thinking", "thinking": "Hmm."}, {"type": "text", "text": "Done."}]}
    assert parse_anthropic("x", blocks, "m").text == "<think>Hmm.</think>\nDone."
