"""Loopback fake API servers speaking the OpenAI chat-completions and Anthropic messages wire formats.

The official SDKs run on their own HTTP stack, so request mocks do not intercept them; a real HTTP server
on 127.0.0.1 does. :class:`FakeAPIServer` records every request (path, headers, JSON body, time), counts
them, replies with text of the word count the prompt asks for ("a 300-word essay"; else ``words``), and
plays a scripted fault plan first: a status code (optionally with ``Retry-After``), a dropped connection,
a slow reply, a malformed JSON body, a stream that stalls, a reply trickled a byte at a time, or a raw
event stream. A request with ``"stream": true`` is answered with the provider's real server-sent events
(chunked transfer encoding): OpenAI ``chat.completion.chunk`` objects ending in ``data: [DONE]`` (usage in
a last chunk when ``stream_options.include_usage``), Anthropic ``message_start`` ... ``message_stop``.
Use it as a context manager or through the ``fake_api`` fixture::

    with FakeAPIServer(delay=0.2) as server:
        server.add_faults(Fault.status(429, retry_after="1"), Fault.drop())
        client = OpenAI(base_url=server.openai_url, api_key="sk-fake")
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

_LENGTH = re.compile(r"(\d[\d,]*)\s*-?\s*(?:words?|字)", re.IGNORECASE)
_FILLER = "the image shows a quiet scene described here in plain careful words".split()


@dataclass(frozen=True)
class Fault:
    """One scripted misbehaviour, consumed by the next incoming request."""

    kind: str  # "status" | "drop" | "slow" | "malformed" | "stall" | "trickle" | "sse"
    status: int = 500
    retry_after: str | None = None
    seconds: float = 0.0
    body: str | None = None

    @classmethod
    def status_code(cls, status: int, retry_after: str | None = None, body: str | None = None) -> Fault:
        return cls("status", status=status, retry_after=retry_after, body=body)

    @classmethod
    def drop(cls) -> Fault:
        """Close the socket without sending a response."""
        return cls("drop")

    @classmethod
    def slow(cls, seconds: float) -> Fault:
        """Answer normally, but only after ``seconds`` (beyond the client's timeout, typically)."""
        return cls("slow", seconds=seconds)

    @classmethod
    def stall(cls, seconds: float) -> Fault:
        """Stream the first events of the reply, then send nothing for ``seconds``, then the rest."""
        return cls("stall", seconds=seconds)

    @classmethod
    def trickle(cls, seconds: float) -> Fault:
        """Send a valid reply one byte every ``seconds`` (never idle long, never done soon)."""
        return cls("trickle", seconds=seconds)

    @classmethod
    def sse(cls, body: str) -> Fault:
        """A 200 ``text/event-stream`` reply with exactly this body."""
        return cls("sse", body=body)

    @classmethod
    def malformed(cls) -> Fault:
        """A 200 reply whose body is not valid JSON."""
        return cls("malformed")


@dataclass
class RecordedRequest:
    path: str
    headers: dict[str, str]  # lower-cased names
    body: dict[str, Any]
    time: float
    fault: str | None = None

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    @property
    def prompt_text(self) -> str:
        """All text the request carries (system prompt and text parts), in order."""
        texts: list[str] = []
        system = self.body.get("system")
        if isinstance(system, str):
            texts.append(system)
        for message in self.body.get("messages", []):
            content = message.get("content")
            if isinstance(content, str):
                texts.append(content)
            elif isinstance(content, list):
                texts.extend(p.get("text", "") for p in content if p.get("type") == "text")
        return "\n".join(texts)


@dataclass
class FakeAPIServer:
    """A threaded HTTP server on 127.0.0.1:0 speaking both providers' formats (see module docstring).

    Args:
        delay: seconds every reply waits before it is sent (simulates model latency).
        words: reply length when the prompt names none.
        model: the model name reported back (``{requested}-snapshot`` when None).
        require_key: when set, a request whose key (``Authorization: Bearer`` or ``x-api-key``) differs
            gets a 401.
        event_delay: seconds between the events of a streamed reply (a long generation).
        fail_status: when set, every request after the first ``fail_after`` is answered with this status
            (a server that is down).
        reply_text: when set, every reply's text (instead of filler of the asked length).
        echo_key: append the key the request carried to every reply (a hostile or buggy server).
    """

    delay: float = 0.0
    words: int = 20
    model: str | None = None
    require_key: str | None = None
    event_delay: float = 0.0
    fail_status: int | None = None
    fail_after: int = 0
    reply_text: str | None = None
    echo_key: bool = False
    requests: list[RecordedRequest] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.in_flight = 0
        self.max_in_flight = 0

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> FakeAPIServer:
        server = self

        class Handler(_Handler):
            owner = server

        httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler, bind_and_activate=False)
        httpd.daemon_threads = True
        httpd.request_queue_size = 256
        httpd.allow_reuse_address = True
        httpd.server_bind()
        httpd.server_activate()
        self._httpd = httpd
        self._thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> FakeAPIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- addresses and bookkeeping -------------------------------------------------------------
    @property
    def port(self) -> int:
        assert self._httpd is not None, "server not started"
        return int(self._httpd.server_address[1])

    @property
    def openai_url(self) -> str:
        """``base_url`` for the OpenAI SDK (with ``/v1``)."""
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def anthropic_url(self) -> str:
        """``base_url`` for the Anthropic SDK (without ``/v1``; the SDK appends ``/v1/messages``)."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def count(self) -> int:
        with self._lock:
            return len(self.requests)

    def add_faults(self, *faults: Fault) -> None:
        with self._lock:
            self.faults.extend(faults)

    def prompts(self) -> list[str]:
        with self._lock:
            return [r.prompt_text for r in self.requests]

    def _next_fault(self) -> Fault | None:
        with self._lock:
            return self.faults.pop(0) if self.faults else None

    def _record(self, req: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(req)


def reply_words(prompt: str, default: int) -> int:
    """The last "N-word" / "N words" / "N字" in the prompt, else ``default``."""
    matches = _LENGTH.findall(prompt)
    return int(matches[-1].replace(",", "")) if matches else default


def filler(n: int) -> str:
    return " ".join(_FILLER[i % len(_FILLER)] for i in range(n))


class _Handler(BaseHTTPRequestHandler):
    owner: FakeAPIServer
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - silence stderr access logs
        pass

    def do_POST(self) -> None:  # noqa: N802 - http.server naming
        owner = self.owner
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw or b"{}")
        except json.JSONDecodeError:
            body = {"_raw": raw.decode("utf-8", "replace")}
        headers = {k.lower(): v for k, v in self.headers.items()}
        fault = owner._next_fault()
        owner._record(RecordedRequest(self.path, headers, body, time.monotonic(), fault.kind if fault else None))
        with owner._lock:
            owner.in_flight += 1
            owner.max_in_flight = max(owner.max_in_flight, owner.in_flight)
        try:
            self._respond(owner, body, headers, fault)
        finally:
            with owner._lock:
                owner.in_flight -= 1

    def _respond(
        self, owner: FakeAPIServer, body: dict[str, Any], headers: dict[str, str], fault: Fault | None
    ) -> None:
        anthropic = self.path.rstrip("/").endswith("/messages")
        if not anthropic and not self.path.rstrip("/").endswith("/chat/completions"):
            self._send(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})
            return
        if owner.require_key is not None:
            if _given_key(headers) != owner.require_key:
                self._send(401, _error(anthropic, "authentication_error", "invalid api key"))
                return
        if owner.fail_status is not None and fault is None:
            with owner._lock:
                failing = len(owner.requests) > owner.fail_after
            if failing:
                payload = json.dumps(_error(anthropic, "api_error", f"server failing ({owner.fail_status})"))
                self._send_raw(owner.fail_status, payload.encode(), {})
                return
        if fault is not None:
            if fault.kind == "drop":
                self.close_connection = True
                try:
                    self.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                return
            if fault.kind == "status":
                extra = {"Retry-After": fault.retry_after} if fault.retry_after is not None else {}
                payload = fault.body or json.dumps(_error(anthropic, "api_error", f"scripted {fault.status}"))
                self._send_raw(fault.status, payload.encode(), extra)
                return
            if fault.kind == "malformed":
                self._send_raw(200, b'{"id": "x", "choices": [ {"message": ', {})
                return
            if fault.kind == "sse":
                self._send_events([(fault.body or "").encode()], 0.0, None)
                return
            if fault.kind == "slow":
                time.sleep(fault.seconds)
        if owner.delay:
            time.sleep(owner.delay)
        reply = _reply(owner, body, anthropic)
        if owner.echo_key:
            _echo(reply, _given_key(headers), anthropic)
        if fault is not None and fault.kind == "trickle":
            self._trickle(json.dumps(reply).encode(), fault.seconds)
        elif body.get("stream") is True:
            events = _anthropic_events(reply) if anthropic else _openai_events(reply, body)
            stall = fault.seconds if fault is not None and fault.kind == "stall" else None
            self._send_events(events, owner.event_delay, stall)
        else:
            self._send(200, reply)

    def _send_events(self, events: list[bytes], delay: float, stall: float | None) -> None:
        """A ``text/event-stream`` reply, one chunk (chunked transfer encoding) per event."""
        try:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream; charset=utf-8")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for i, event in enumerate(events):
                if stall is not None and i == min(2, len(events) - 1):
                    self.wfile.flush()
                    time.sleep(stall)
                elif delay and i:
                    time.sleep(delay)
                self.wfile.write(b"%x\r\n%s\r\n" % (len(event), event))
                if delay or stall is not None:
                    self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _trickle(self, data: bytes, seconds: float) -> None:
        try:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.flush()
            for i in range(len(data)):
                self.wfile.write(data[i : i + 1])
                self.wfile.flush()
                time.sleep(seconds)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _send(self, status: int, payload: dict[str, Any]) -> None:
        self._send_raw(status, json.dumps(payload).encode(), {})

    def _send_raw(self, status: int, data: bytes, extra: dict[str, str]) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for key, value in extra.items():
                self.send_header(key, value)
            # headers and body in one write: two small writes meet Nagle + delayed ACK (a 40 ms stall)
            self._headers_buffer.append(b"\r\n" + data)
            self.flush_headers()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True


def _given_key(headers: dict[str, str]) -> str:
    return headers.get("x-api-key") or headers.get("authorization", "").removeprefix("Bearer ").strip()


def _error(anthropic: bool, kind: str, message: str) -> dict[str, Any]:
    if anthropic:
        return {"type": "error", "error": {"type": kind, "message": message}}
    return {"error": {"message": message, "type": kind, "code": None}}


def _echo(payload: dict[str, Any], key: str, anthropic: bool) -> None:
    """Append ``key`` to the reply text, as a server that reflects its request would."""
    note = f"\n(request authorised with {key})"
    if anthropic:
        payload["content"][0]["text"] += note
    else:
        payload["choices"][0]["message"]["content"] += note


def _reply(owner: FakeAPIServer, body: dict[str, Any], anthropic: bool) -> dict[str, Any]:
    record = RecordedRequest("", {}, body, 0.0)
    prompt = record.prompt_text
    n = reply_words(prompt, owner.words)
    limit = body.get("max_tokens") or body.get("max_completion_tokens")
    truncated = False
    if isinstance(limit, int) and limit < n:
        truncated, n = True, limit
    text = filler(n) if owner.reply_text is None else owner.reply_text
    model = owner.model or f"{body.get('model', 'fake')}-snapshot"
    prompt_tokens = max(1, len(prompt) // 4)
    if anthropic:
        return {
            "id": "msg_fake",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [{"type": "text", "text": text}],
            "stop_reason": "max_tokens" if truncated else "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": prompt_tokens, "output_tokens": n},
        }
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": "length" if truncated else "stop",
            }
        ],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": n, "total_tokens": prompt_tokens + n},
    }


def sse(data: Any, event: str | None = None) -> bytes:
    """One server-sent event: ``event:`` line (when given), ``data:`` line, blank line."""
    text = data if isinstance(data, str) else json.dumps(data)
    return (f"event: {event}\n" if event else "").encode() + f"data: {text}\n\n".encode()


def _openai_events(reply: dict[str, Any], body: dict[str, Any]) -> list[bytes]:
    """The streamed form of a chat completion: a role chunk, one chunk per word, a finish chunk, usage."""
    base = {"id": reply["id"], "object": "chat.completion.chunk", "created": reply["created"], "model": reply["model"]}
    choice = reply["choices"][0]
    words = choice["message"]["content"].split(" ")
    pieces = [w if i == 0 else " " + w for i, w in enumerate(words)]
    chunks = [{**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]}]
    chunks += [{**base, "choices": [{"index": 0, "delta": {"content": p}, "finish_reason": None}]} for p in pieces]
    chunks.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": choice["finish_reason"]}]})
    options = body.get("stream_options")
    if isinstance(options, dict) and options.get("include_usage"):
        chunks.append({**base, "choices": [], "usage": reply["usage"]})
    return [sse(c) for c in chunks] + [sse("[DONE]")]


def _anthropic_events(reply: dict[str, Any]) -> list[bytes]:
    """The streamed form of a message: message_start, one text block of word deltas, message_delta, stop."""
    start = {**reply, "content": [], "stop_reason": None,
             "usage": {"input_tokens": reply["usage"]["input_tokens"], "output_tokens": 1}}
    text = reply["content"][0]["text"]
    words = text.split(" ")
    events = [sse({"type": "message_start", "message": start}, "message_start"),
              sse({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
                  "content_block_start"),
              sse({"type": "ping"}, "ping")]
    for i, word in enumerate(words):
        delta = {"type": "text_delta", "text": word if i == 0 else " " + word}
        events.append(sse({"type": "content_block_delta", "index": 0, "delta": delta}, "content_block_delta"))
    events += [sse({"type": "content_block_stop", "index": 0}, "content_block_stop"),
               sse({"type": "message_delta", "delta": {"stop_reason": reply["stop_reason"], "stop_sequence": None},
                    "usage": {"output_tokens": reply["usage"]["output_tokens"]}}, "message_delta"),
               sse({"type": "message_stop"}, "message_stop")]
    return events


@pytest.fixture
def fake_api() -> Iterator[FakeAPIServer]:
    """A started :class:`FakeAPIServer`, stopped after the test (import it into a test module to use)."""
    with FakeAPIServer() as server:
        yield server
