"""The ``openai`` adapter against a loopback chat-completions server: wire format, mapping, secrets."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import pytest
from servers import FakeAPIServer

from mmlongbench_write.errors import AdapterError
from mmlongbench_write.model_adapters.base import RuntimeOptions
from mmlongbench_write.model_adapters.openai import OpenAIAdapter
from mmlongbench_write.registry import models
from mmlongbench_write.schema import GenerationConfig, ImagePart, ImageRef, Message, Request

pytestmark = pytest.mark.api

KEY = "sk-fake-openai-key-0123456789"


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)


@pytest.fixture
def server() -> Iterator[FakeAPIServer]:
    with FakeAPIServer(require_key=KEY) as s:
        yield s


def adapter(server: FakeAPIServer, **args: object) -> OpenAIAdapter:
    runtime = RuntimeOptions(concurrency=4, max_retries=2, timeout_s=10)
    return OpenAIAdapter(runtime, **{"model": "gpt-4o-2024-08-06", "base_url": server.openai_url, **args})


def test_registered() -> None:
    assert models.get("openai") is OpenAIAdapter


def test_images_as_data_urls_in_order_with_system_prompt(server: FakeAPIServer) -> None:
    png = ImageRef.from_bytes(b"\x89PNG-first", "a.png")
    jpg = ImageRef.from_bytes(b"\xff\xd8JPEG-second", "b.jpg", media_type="image/jpeg")
    request = Request(
        "s1",
        (
            Message.system("You write long."),
            Message.user("Look:", ImagePart(png), "and", ImagePart(jpg), "write 12 words"),
        ),
    )
    [gen] = list(adapter(server).generate([request]))
    assert gen.ok and len(gen.text.split()) == 12
    body = server.requests[0].body
    assert body["messages"][0] == {"role": "system", "content": "You write long."}
    parts = body["messages"][1]["content"]
    assert [p["type"] for p in parts] == ["text", "image_url", "text", "image_url", "text"]
    assert parts[1]["image_url"]["url"] == "data:image/png;base64," + base64.b64encode(b"\x89PNG-first").decode()
    assert parts[3]["image_url"]["url"].startswith("data:image/jpeg;base64,")
    assert base64.b64decode(parts[3]["image_url"]["url"].split(",", 1)[1]) == b"\xff\xd8JPEG-second"
    assert server.requests[0].header("authorization") == f"Bearer {KEY}"


def test_usage_finish_reason_and_model_snapshot(server: FakeAPIServer) -> None:
    requests = [
        Request("long", (Message.user("write 50 words"),), GenerationConfig(max_new_tokens=10)),
        Request("short", (Message.user("write 5 words"),), GenerationConfig(max_new_tokens=100)),
    ]
    gens = {g.request_id: g for g in adapter(server).generate(requests)}
    assert gens["long"].finish_reason == "length" and gens["long"].usage.output_tokens == 10
    assert gens["short"].finish_reason == "stop" and gens["short"].usage.output_tokens == 5
    assert gens["short"].usage.input_tokens > 0
    assert gens["short"].model == "gpt-4o-2024-08-06-snapshot"  # what the provider reported


def test_generation_config_sent(server: FakeAPIServer) -> None:
    config = GenerationConfig(temperature=0.6, top_p=0.95, max_new_tokens=64, seed=7, top_k=20, extra={"foo": 1})
    list(adapter(server).generate([Request("r", (Message.user("hi"),), config)]))
    body = server.requests[0].body
    assert body["temperature"] == 0.6 and body["top_p"] == 0.95 and body["seed"] == 7
    assert body["max_tokens"] == 64 and "max_completion_tokens" not in body
    assert body["top_k"] == 20 and body["foo"] == 1  # extra keys travel in the body


@pytest.mark.parametrize(
    ("model", "args", "expected"),
    [
        ("gpt-4o", {}, "max_tokens"),
        ("o1-preview", {}, "max_completion_tokens"),
        ("o3-mini", {}, "max_completion_tokens"),
        ("gpt-5-mini", {}, "max_completion_tokens"),
        ("gpt-4o", {"max_tokens_param": "max_completion_tokens"}, "max_completion_tokens"),
        ("o1", {"max_tokens_param": "max_tokens"}, "max_tokens"),
    ],
)
def test_max_tokens_parameter(server: FakeAPIServer, model: str, args: dict[str, str], expected: str) -> None:
    request = Request("r", (Message.user("hi"),), GenerationConfig(max_new_tokens=32))
    list(adapter(server, model=model, **args).generate([request]))
    body = server.requests[0].body
    other = {"max_tokens", "max_completion_tokens"} - {expected}
    assert body[expected] == 32 and not other & set(body)


def test_missing_key_names_the_variable(server: FakeAPIServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY")
    with pytest.raises(AdapterError, match="OPENAI_API_KEY"):
        list(adapter(server).generate([Request("r", (Message.user("hi"),))]))
    monkeypatch.setenv("GEMINI_API_KEY", KEY)
    [gen] = adapter(server, api_key_env="GEMINI_API_KEY").generate([Request("r", (Message.user("hi"),))])
    assert gen.ok
    assert server.count == 1


def test_key_as_model_arg_is_refused(server: FakeAPIServer) -> None:
    with pytest.raises(AdapterError, match="OPENAI_API_KEY") as info:
        adapter(server, api_key="sk-in-args")
    assert "sk-in-args" not in str(info.value)


def test_key_never_in_repr_identity_or_errors(server: FakeAPIServer) -> None:
    server.require_key = "another-key"
    a = adapter(server)
    with pytest.raises(AdapterError) as info:
        list(a.generate([Request("r", (Message.user("hi"),))]))
    for text in (repr(a), str(a.identity()), str(info.value), repr(info.value)):
        assert KEY not in text
    assert "base_url" not in a.identity()["args"] and "api_key_env" not in a.identity()["args"]


def test_error_messages_are_scrubbed(server: FakeAPIServer) -> None:
    from servers import Fault

    server.add_faults(Fault.status_code(400, body='{"error": {"message": "bad key ' + KEY + ' echoed"}}'))
    [gen] = adapter(server).generate([Request("r", (Message.user("hi"),))])
    assert not gen.ok and "400" in (gen.error or "") and KEY not in (gen.error or "")


def test_listing_and_importing_adapters_imports_no_sdk() -> None:
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from mmlongbench_write.registry import models\n"
        "models.names()\n"
        "import mmlongbench_write.model_adapters.openai, mmlongbench_write.model_adapters.anthropic\n"
        "import mmlongbench_write.model_adapters.cache, mmlongbench_write.model_adapters.caption\n"
        "print(sorted(m for m in ('openai', 'anthropic', 'torch') if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
