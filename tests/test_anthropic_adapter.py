"""The ``anthropic`` adapter against a loopback Messages API server."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator

import pytest
from servers import FakeAPIServer, Fault

from mmlongbench_write.errors import AdapterError
from mmlongbench_write.model_adapters.anthropic import AnthropicAdapter
from mmlongbench_write.model_adapters.base import RuntimeOptions
from mmlongbench_write.registry import models
from mmlongbench_write.schema import GenerationConfig, ImagePart, ImageRef, Message, Request

pytestmark = pytest.mark.api

KEY = "sk-ant-fake-key-9876543210"


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)


@pytest.fixture
def server() -> Iterator[FakeAPIServer]:
    with FakeAPIServer() as s:
        yield s


def adapter(server: FakeAPIServer, **args: object) -> AnthropicAdapter:
    runtime = RuntimeOptions(concurrency=4, max_retries=2, timeout_s=10)
    return AnthropicAdapter(
        runtime, **{"model": "claude-test", "base_url": server.anthropic_url, "retry_base_s": 0.01, **args}
    )


def test_registered() -> None:
    assert models.get("anthropic") is AnthropicAdapter


def test_base64_blocks_with_media_type_in_order_and_system_param(server: FakeAPIServer) -> None:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), "red").save(buffer, format="BMP")
    jpg = ImageRef.from_bytes(b"\xff\xd8jpeg-bytes", "a.jpg", media_type="image/jpeg")
    bmp = ImageRef.from_bytes(buffer.getvalue(), "b.bmp", media_type="image/bmp")
    request = Request(
        "s1", (Message.system("Be thorough."), Message.user(ImagePart(jpg), ImagePart(bmp), "write 9 words"))
    )
    [gen] = list(adapter(server).generate([request]))
    assert gen.ok and len(gen.text.split()) == 9
    body = server.requests[0].body
    assert body["system"] == "Be thorough."
    assert [m["role"] for m in body["messages"]] == ["user"]
    parts = body["messages"][0]["content"]
    assert [p["type"] for p in parts] == ["image", "image", "text"]
    assert parts[0]["source"] == {
        "type": "base64",
        "media_type": "image/jpeg",
        "data": base64.b64encode(b"\xff\xd8jpeg-bytes").decode(),
    }
    # BMP is not accepted by the API: re-encoded as PNG
    assert parts[1]["source"]["media_type"] == "image/png"
    assert base64.b64decode(parts[1]["source"]["data"]).startswith(b"\x89PNG")
    headers = server.requests[0].headers
    assert KEY in (headers.get("x-api-key", "") + headers.get("authorization", ""))


def test_max_tokens_always_sent(server: FakeAPIServer) -> None:
    requests = [
        Request("default", (Message.user("hi"),)),
        Request(
            "set", (Message.user("hi"),), GenerationConfig(max_new_tokens=123, temperature=0.6, top_p=0.95, top_k=5)
        ),
    ]
    list(adapter(server, **{}).generate(requests))
    bodies = {r.body["max_tokens"]: r.body for r in server.requests}
    assert set(bodies) == {4096, 123}
    assert bodies[123]["temperature"] == 0.6 and bodies[123]["top_p"] == 0.95 and bodies[123]["top_k"] == 5
    assert "system" not in bodies[4096]


def test_stop_reason_and_usage(server: FakeAPIServer) -> None:
    requests = [
        Request("cut", (Message.user("write 40 words"),), GenerationConfig(max_new_tokens=8)),
        Request("done", (Message.user("write 6 words"),), GenerationConfig(max_new_tokens=100)),
    ]
    gens = {g.request_id: g for g in adapter(server).generate(requests)}
    assert gens["cut"].finish_reason == "length" and gens["cut"].usage.output_tokens == 8
    assert gens["done"].finish_reason == "stop" and gens["done"].usage.output_tokens == 6
    assert gens["done"].usage.input_tokens > 0 and gens["done"].model == "claude-test-snapshot"


def test_stop_reason_mapping() -> None:
    from mmlongbench_write.model_adapters.anthropic import finish_reason

    assert finish_reason("max_tokens") == "length"
    assert finish_reason("end_turn") == "stop" and finish_reason("stop_sequence") == "stop"
    assert finish_reason("tool_use") == "unknown"


def test_401_fails_fast_with_clear_message(server: FakeAPIServer) -> None:
    server.add_faults(Fault.status_code(401))
    a = AnthropicAdapter(RuntimeOptions(concurrency=1, max_retries=5), model="claude-x", base_url=server.anthropic_url)
    with pytest.raises(AdapterError, match=r"401.*ANTHROPIC_API_KEY") as info:
        list(a.generate([Request(f"r{i}", (Message.user("hi"),)) for i in range(5)]))
    assert server.count == 1 and KEY not in str(info.value)


def test_missing_key(server: FakeAPIServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    with pytest.raises(AdapterError, match="ANTHROPIC_API_KEY"):
        list(adapter(server).generate([Request("r", (Message.user("hi"),))]))
    assert server.count == 0


def test_dropped_connection_and_500_retried(server: FakeAPIServer) -> None:
    server.add_faults(Fault.drop(), Fault.status_code(529))
    [gen] = adapter(server).generate([Request("r", (Message.user("write 3 words"),))])
    assert gen.ok and gen.text and server.count == 3
