"""Replies of the wrong shape (status 200, valid JSON) are MalformedResponse, never a crash.

Fuzzed with hypothesis over arbitrary JSON substituted at every level of a valid reply, for both
providers' parsers; the engine-level tests send such bodies through a real loopback server.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from servers import FakeAPIServer, Fault

from mmlongbench_write.model_adapters.anthropic import AnthropicAdapter
from mmlongbench_write.model_adapters.anthropic import parse_reply as parse_anthropic
from mmlongbench_write.model_adapters.base import RuntimeOptions
from mmlongbench_write.model_adapters.openai import OpenAIAdapter
from mmlongbench_write.model_adapters.openai import parse_reply as parse_openai
from mmlongbench_write.model_adapters.wire import MalformedResponse
from mmlongbench_write.schema import Generation, Message, Request

pytestmark = pytest.mark.api

KEY = "sk-malformed-test-0000000"

OPENAI_OK: dict[str, Any] = {
    "id": "c",
    "model": "m",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 3, "completion_tokens": 1},
}
ANTHROPIC_OK: dict[str, Any] = {
    "id": "m",
    "type": "message",
    "model": "m",
    "content": [{"type": "text", "text": "hi"}],
    "stop_reason": "end_turn",
    "usage": {"input_tokens": 3, "output_tokens": 1},
}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 10**20) | st.floats(allow_nan=True) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every path into a JSON value (dict keys and list indexes), the root included."""
    yield prefix
    if isinstance(value, dict):
        for key, child in value.items():
            yield from paths(child, (*prefix, key))
    elif isinstance(value, list):
        for i, child in enumerate(value):
            yield from paths(child, (*prefix, i))


def replaced(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    copy = json.loads(json.dumps(value))
    target = copy
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = new
    return copy


def check(parse: Any, body: Any) -> None:
    try:
        gen = parse("r", body, "fallback")
    except MalformedResponse as exc:
        assert str(exc)  # says what is wrong
        return
    assert isinstance(gen, Generation) and isinstance(gen.text, str) and isinstance(gen.model, str)
    assert isinstance(gen.usage.input_tokens, int) and gen.usage.input_tokens >= 0
    assert isinstance(gen.usage.output_tokens, int) and gen.usage.output_tokens >= 0
    assert gen.finish_reason in {"stop", "length", "unknown"}


@pytest.mark.parametrize(("parse", "valid"), [(parse_openai, OPENAI_OK), (parse_anthropic, ANTHROPIC_OK)])
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_value_anywhere_is_a_generation_or_malformed(parse: Any, valid: dict[str, Any], data: Any) -> None:
    path = data.draw(st.sampled_from(list(paths(valid))))
    check(parse, replaced(valid, path, data.draw(json_values)))


@pytest.mark.parametrize(
    "body",
    [
        {"choices": [{"message": "hello"}]},
        {**OPENAI_OK, "usage": "lots"},
        {**OPENAI_OK, "usage": {"prompt_tokens": "abc"}},
        {**OPENAI_OK, "usage": {"prompt_tokens": -1}},
        {**OPENAI_OK, "usage": {"completion_tokens": 1.5}},
        {**OPENAI_OK, "model": 7},
        {"choices": []},
        {"choices": "many"},
        {"error": {"message": "overloaded"}},
        [OPENAI_OK],
        "hello",
    ],
)
def test_openai_wrong_shapes_are_malformed(body: Any) -> None:
    with pytest.raises(MalformedResponse):
        parse_openai("r", body, "m")


@pytest.mark.parametrize(
    "body",
    [
        {**ANTHROPIC_OK, "content": "hello"},
        {**ANTHROPIC_OK, "content": ["hello"]},
        {**ANTHROPIC_OK, "content": [{"type": "text", "text": 5}]},
        {**ANTHROPIC_OK, "usage": "lots"},
        {**ANTHROPIC_OK, "usage": {"input_tokens": "abc"}},
        {**ANTHROPIC_OK, "stop_reason": ["end_turn"]},
        {"type": "error", "error": {"type": "overloaded_error", "message": "busy"}},
    ],
)
def test_anthropic_wrong_shapes_are_malformed(body: Any) -> None:
    with pytest.raises(MalformedResponse):
        parse_anthropic("r", body, "m")


def test_valid_replies_and_list_content_parse() -> None:
    gen = parse_openai("r", OPENAI_OK, "m")
    assert (gen.text, gen.usage.input_tokens, gen.usage.output_tokens) == ("hi", 3, 1)
    content = [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]
    parts = {**OPENAI_OK, "choices": [{"message": {"content": content}}]}
    assert parse_openai("r", parts, "m").text == "ab"
    no_usage = {k: v for k, v in OPENAI_OK.items() if k != "usage"}
    assert parse_openai("r", no_usage, "m").usage.output_tokens == 0
    assert parse_anthropic("r", ANTHROPIC_OK, "m").text == "hi"


@pytest.fixture(autouse=True)
def _keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize(
    "bad",
    [
        {"choices": [{"message": "hello"}], "content": "hello"},
        {**OPENAI_OK, **ANTHROPIC_OK, "usage": "lots"},
        {**OPENAI_OK, **ANTHROPIC_OK, "usage": {"prompt_tokens": "abc", "input_tokens": "abc"}},
    ],
)
def test_engine_retries_then_records_malformed_replies(kind: str, stream: bool, bad: dict[str, Any]) -> None:
    with FakeAPIServer() as server:
        server.add_faults(*[Fault.status_code(200, body=json.dumps(bad))] * 2)
        options = RuntimeOptions(concurrency=1, max_retries=1, timeout_s=10)
        args = {"retry_base_s": 0.01, "stream": stream}
        if kind == "openai":
            adapter: Any = OpenAIAdapter(options, model="gpt-test", base_url=server.openai_url, **args)
        else:
            adapter = AnthropicAdapter(options, model="claude-test", base_url=server.anthropic_url, **args)
        with adapter:
            [gen] = adapter.generate([Request("r", (Message.user("write 4 words"),))])
            assert not gen.ok and "malformed" in (gen.error or "") and server.count == 2
            [gen] = adapter.generate([Request("r", (Message.user("write 4 words"),))])  # and healthy again
            assert gen.ok and len(gen.text.split()) == 4


# -- streamed replies: the same promise for every event of both providers' streams -------------------------
OPENAI_EVENTS: list[Any] = [
    {"model": "m", "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]},
    {"model": "m", "choices": [{"index": 0, "delta": {"content": "hi", "reasoning_content": "hm"}}]},
    {"model": "m", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
    {"model": "m", "choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 1}},
    "[DONE]",
]
ANTHROPIC_EVENTS: list[Any] = [
    {"type": "message_start", "message": {"model": "m", "content": [], "usage": {"input_tokens": 3}}},
    {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
    {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "hi"}},
    {"type": "content_block_stop", "index": 0},
    {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 1}},
    {"type": "message_stop"},
]


def read_events(kind: str, events: list[Any]) -> Generation:
    from mmlongbench_write.model_adapters.anthropic import AnthropicStream
    from mmlongbench_write.model_adapters.openai import OpenAIStream

    reader: Any = OpenAIStream("r", "fallback") if kind == "openai" else AnthropicStream("r", "fallback")
    for event in events:
        reader.feed("message", event if isinstance(event, str) else json.dumps(event))
    return reader.result()


@pytest.mark.parametrize(("kind", "valid"), [("openai", OPENAI_EVENTS), ("anthropic", ANTHROPIC_EVENTS)])
@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_any_value_in_any_event_is_a_generation_or_malformed(kind: str, valid: list[Any], data: Any) -> None:
    from mmlongbench_write.model_adapters.wire import TransientError

    events = list(valid)
    how = data.draw(st.sampled_from(["replace", "drop", "repeat"]))
    i = data.draw(st.integers(0, len(events) - 1))
    if how == "replace":
        events[i] = replaced(events[i], data.draw(st.sampled_from(list(paths(events[i])))), data.draw(json_values))
    elif how == "drop":
        del events[i]
    else:
        events.insert(i, events[i])
    try:
        gen = read_events(kind, events)
    except TransientError as exc:  # MalformedResponse, or an error the stream itself reported
        assert str(exc)
        return
    check(lambda *_: gen, None)


@pytest.mark.parametrize(("kind", "valid"), [("openai", OPENAI_EVENTS), ("anthropic", ANTHROPIC_EVENTS)])
def test_valid_streams_read_as_the_reply(kind: str, valid: list[Any]) -> None:
    gen = read_events(kind, valid)
    assert gen.text.endswith("hi") and gen.usage.input_tokens == 3 and gen.usage.output_tokens == 1
    assert gen.finish_reason == "stop" and gen.model == "m"
    if kind == "openai":
        assert gen.text == "<think>hm</think>\nhi"


@pytest.mark.parametrize("value", [float("inf"), float("-inf"), float("nan"), 1e400, 2.5, -1, 2**60])
def test_a_token_count_that_is_not_a_count_is_malformed(value: float) -> None:
    """Found by the fuzz test: an infinite count once raised OverflowError instead of MalformedResponse."""
    from mmlongbench_write.model_adapters.wire import MalformedResponse, count

    with pytest.raises(MalformedResponse, match="is not a token count"):
        count({"input_tokens": value}, "input_tokens", "usage")
