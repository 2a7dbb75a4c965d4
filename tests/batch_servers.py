"""A loopback server speaking both providers' batch wire protocols (and their live endpoints, counted).

OpenAI: ``POST /v1/files`` (multipart/form-data, ``purpose=batch``), ``POST /v1/batches``,
``GET /v1/batches/{id}`` (``validating`` -> ``in_progress`` -> ``finalizing`` -> ``completed``, one step per
poll), ``GET /v1/files/{id}/content`` (output and error files). Anthropic: ``POST /v1/messages/batches``,
``GET /v1/messages/batches/{id}`` (``in_progress`` -> ``ended``), ``GET {results_url}`` (jsonl of
succeeded/errored/canceled/expired results). Replies are those of :mod:`servers` (text of the length the
prompt asks for). Live ``/v1/chat/completions`` and ``/v1/messages`` are answered too and counted in
``live``, so a test can assert batch mode sent none.

Scripted outcomes: ``fail_items(kind, n)`` makes the next ``n`` items processed fail with ``kind``
(``server_error``, ``expired``, ``invalid``); ``hold`` (an Event, set by default) keeps every batch
``in_progress`` while cleared, so a test can kill the client with a batch pending.
"""

from __future__ import annotations

import email.parser
import email.policy
import itertools
import json
import re
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from servers import FakeAPIServer, _reply

_CUSTOM_ID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
OPENAI_STEPS = ("validating", "in_progress", "finalizing", "completed")


@dataclass
class Batch:
    id: str
    provider: str  # "openai" | "anthropic"
    items: list[dict[str, Any]]  # {"custom_id", "body"}
    polls: int = 0
    status: str = ""
    output: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    output_file: str | None = None
    error_file: str | None = None
    created_at: float = field(default_factory=time.time)
    input_file: str | None = None
    errors_data: list[dict[str, Any]] | None = None


@dataclass
class FakeBatchServer:
    """Threaded HTTP server on 127.0.0.1:0; see the module docstring."""

    key: str | None = None
    #: ``reply(body) -> text`` overrides the reply text of a request (None: the usual filler)
    reply: Callable[[dict[str, Any]], str | None] | None = None
    batches: dict[str, Batch] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)
    live: list[dict[str, Any]] = field(default_factory=list)
    log: list[tuple[str, str, str, bool]] = field(default_factory=list)  # (method, path, Host, carried a key)
    #: where Anthropic's ``results_url`` points (None: this server); another origin must get no key
    results_origin: str | None = None
    #: OpenAI batches fail validation (status ``failed``, with ``errors``) while this is set
    fail_validation: str | None = None

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._failures: list[str] = []
        self.drop_creates = 0  # create calls that make the batch, then drop the connection unanswered
        self.stall_creates = threading.Event()  # while set, a create call makes the batch, then hangs
        self.hold = threading.Event()
        self.hold.set()
        self._httpd: ThreadingHTTPServer | None = None
        self._words = FakeAPIServer()  # reply settings of the live fake (words, model)

    # -- lifecycle --------------------------------------------------------------------------------
    def __enter__(self) -> FakeBatchServer:
        server = self

        class Handler(_Handler):
            owner = server

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()

    @property
    def port(self) -> int:
        assert self._httpd is not None
        return int(self._httpd.server_address[1])

    @property
    def openai_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def anthropic_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def fail_items(self, kind: str, n: int = 1) -> None:
        with self._lock:
            self._failures.extend([kind] * n)

    def new_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):04d}"

    # -- batch processing -------------------------------------------------------------------------
    def advance(self, batch: Batch) -> None:
        """One poll: the next status (held at ``in_progress`` while ``hold`` is clear); results at the end."""
        if batch.status in ("completed", "ended"):
            return
        if not self.hold.is_set():
            batch.status = "validating" if batch.provider == "openai" and batch.polls == 0 else "in_progress"
            batch.polls += 1
            return
        batch.polls += 1
        if batch.provider == "openai" and self.fail_validation is not None and batch.status == "validating":
            batch.status = "failed"
            batch.errors_data = [{"code": "invalid_request", "message": self.fail_validation, "line": 1}]
            return
        if batch.status == "failed":
            return
        if batch.provider == "openai":
            step = OPENAI_STEPS.index(batch.status) + 1 if batch.status in OPENAI_STEPS else 1
            batch.status = OPENAI_STEPS[min(step, len(OPENAI_STEPS) - 1)]
            if batch.status == "completed":
                self._finish(batch)
        else:
            batch.status = "ended"
            self._finish(batch)

    def _finish(self, batch: Batch) -> None:
        for item in batch.items:
            with self._lock:
                failure = self._failures.pop(0) if self._failures else None
            cid, body = item["custom_id"], item["body"]
            anthropic = batch.provider == "anthropic"
            if failure is None:
                reply = self.answer(body, anthropic)
                if anthropic:
                    batch.output.append({"custom_id": cid, "result": {"type": "succeeded", "message": reply}})
                else:
                    batch.output.append({"id": self.new_id("req_"), "custom_id": cid, "error": None,
                                         "response": {"status_code": 200, "request_id": "r", "body": reply}})
                continue
            if anthropic:
                if failure == "expired":
                    result: dict[str, Any] = {"type": "expired"}
                else:
                    etype = "invalid_request_error" if failure == "invalid" else "api_error"
                    result = {"type": "errored", "error": {"type": "error", "error": {
                        "type": etype, "message": f"scripted {failure}"}}}
                batch.output.append({"custom_id": cid, "result": result})
            elif failure == "expired":
                batch.errors.append({"id": self.new_id("req_"), "custom_id": cid, "response": None,
                                     "error": {"code": "batch_expired", "message": "This request could not be "
                                               "executed before the completion window expired."}})
            else:
                status = 400 if failure == "invalid" else 500
                batch.errors.append({"id": self.new_id("req_"), "custom_id": cid, "error": None, "response": {
                    "status_code": status, "request_id": "r", "body": {"error": {
                        "message": f"scripted {failure}", "type": "invalid_request_error" if status == 400
                        else "server_error"}}}})
        if batch.provider == "openai":
            if batch.output:
                batch.output_file = self._store_file(batch.output)
            if batch.errors:
                batch.error_file = self._store_file(batch.errors)

    def answer(self, body: dict[str, Any], anthropic: bool) -> dict[str, Any]:
        """The reply body of one request, with the text of ``reply`` when it gives one."""
        reply = _reply(self._words, body, anthropic)
        text = self.reply(body) if self.reply is not None else None
        if text is not None:
            if anthropic:
                reply["content"] = [{"type": "text", "text": text}]
            else:
                reply["choices"][0]["message"]["content"] = text
        return reply

    def _store_file(self, rows: list[dict[str, Any]]) -> str:
        file_id = self.new_id("file-out")
        self.files[file_id] = "".join(json.dumps(r) + "\n" for r in rows).encode()
        return file_id

    def openai_object(self, batch: Batch) -> dict[str, Any]:
        done = len(batch.output) if batch.status == "completed" else 0
        return {"id": batch.id, "object": "batch", "endpoint": "/v1/chat/completions", "status": batch.status,
                "input_file_id": batch.input_file, "completion_window": "24h",
                "created_at": int(batch.created_at), "output_file_id": batch.output_file,
                "error_file_id": batch.error_file,
                "errors": {"object": "list", "data": batch.errors_data} if batch.errors_data else None,
                "request_counts": {"total": len(batch.items), "completed": done,
                                   "failed": len(batch.errors) if batch.status == "completed" else 0}}

    def anthropic_object(self, batch: Batch) -> dict[str, Any]:
        ended = batch.status == "ended"
        kinds = [o["result"]["type"] for o in batch.output]
        counts = {"processing": 0 if ended else len(batch.items), "succeeded": kinds.count("succeeded"),
                  "errored": kinds.count("errored"), "canceled": kinds.count("canceled"),
                  "expired": kinds.count("expired")}
        return {"id": batch.id, "type": "message_batch", "processing_status": batch.status or "in_progress",
                "request_counts": counts, "ended_at": None,
                "created_at": datetime.fromtimestamp(batch.created_at, timezone.utc).isoformat().replace("+00:00", "Z"),
                "results_url": f"{self.results_origin or self.anthropic_url}/v1/messages/batches/{batch.id}/results"
                if ended else None}

    def created(self, provider: str | None = None) -> list[Batch]:
        with self._lock:
            return [b for b in self.batches.values() if provider is None or b.provider == provider]


class _Handler(BaseHTTPRequestHandler):
    owner: FakeBatchServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass

    def _send(self, status: int, payload: Any, raw: bytes | None = None) -> None:
        data = raw if raw is not None else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json" if raw is None else "application/binary")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _carries_key(self) -> bool:
        return bool(self.headers.get("x-api-key") or self.headers.get("authorization"))

    def _authorised(self) -> bool:
        key = self.owner.key
        given = self.headers.get("x-api-key") or (self.headers.get("authorization") or "").removeprefix("Bearer ")
        if key is not None and given != key:
            self._send(401, {"error": {"message": "invalid api key", "type": "authentication_error"}})
            return False
        return True

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def do_GET(self) -> None:  # noqa: N802
        owner = self.owner
        owner.log.append(("GET", self.path, self.headers.get("Host") or "", self._carries_key()))
        if not self._authorised():
            return
        parts = self.path.split("?", 1)[0].strip("/").split("/")
        with owner._lock:
            batches = dict(owner.batches)
        newest = sorted(batches.values(), key=lambda b: b.created_at, reverse=True)
        if parts == ["v1", "batches"]:
            self._send(200, {"object": "list", "data": [owner.openai_object(b) for b in newest
                                                        if b.provider == "openai"]})
        elif parts == ["v1", "messages", "batches"]:
            self._send(200, {"data": [owner.anthropic_object(b) for b in newest if b.provider == "anthropic"],
                             "has_more": False})
        elif parts[:2] == ["v1", "batches"] and len(parts) == 3 and parts[2] in batches:
            batch = batches[parts[2]]
            owner.advance(batch)
            self._send(200, owner.openai_object(batch))
        elif parts[:2] == ["v1", "files"] and len(parts) == 4 and parts[3] == "content" and parts[2] in owner.files:
            self._send(200, None, raw=owner.files[parts[2]])
        elif parts[:3] == ["v1", "messages", "batches"] and len(parts) >= 4 and parts[3] in batches:
            batch = batches[parts[3]]
            if len(parts) == 4:
                owner.advance(batch)
                self._send(200, owner.anthropic_object(batch))
            elif batch.status == "ended":
                self._send(200, None, raw="".join(json.dumps(o) + "\n" for o in batch.output).encode())
            else:
                self._send(409, {"type": "error", "error": {"type": "invalid_request_error",
                                                            "message": "batch has not ended"}})
        else:
            self._send(404, {"error": {"message": f"no route GET {self.path}", "type": "not_found"}})

    def do_POST(self) -> None:  # noqa: N802
        owner = self.owner
        owner.log.append(("POST", self.path, self.headers.get("Host") or "", self._carries_key()))
        raw = self._body()
        if not self._authorised():
            return
        path = self.path.rstrip("/")
        if path in ("/v1/chat/completions", "/v1/messages"):
            body = json.loads(raw or b"{}")
            with owner._lock:
                owner.live.append(body)
            self._send(200, owner.answer(body, path == "/v1/messages"))
        elif path == "/v1/files":
            self._upload(raw)
        elif path == "/v1/batches":
            self._create_openai(json.loads(raw or b"{}"))
        elif path == "/v1/messages/batches":
            self._create_anthropic(json.loads(raw or b"{}"))
        else:
            self._send(404, {"error": {"message": f"no route POST {self.path}", "type": "not_found"}})

    def _upload(self, raw: bytes) -> None:
        ctype = self.headers.get("Content-Type") or ""
        if not ctype.startswith("multipart/form-data"):
            self._send(400, {"error": {"message": f"expected multipart/form-data, got {ctype!r}"}})
            return
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            f"Content-Type: {ctype}\r\n\r\n".encode() + raw)
        fields: dict[str, bytes] = {}
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            fields[str(name)] = part.get_payload(decode=True) or b""
        if fields.get("purpose") != b"batch" or "file" not in fields:
            self._send(400, {"error": {"message": "need purpose=batch and a file part"}})
            return
        file_id = self.owner.new_id("file-in")
        self.owner.files[file_id] = fields["file"]
        self._send(200, {"id": file_id, "object": "file", "bytes": len(fields["file"]), "purpose": "batch"})

    def _create_openai(self, body: dict[str, Any]) -> None:
        owner = self.owner
        data = owner.files.get(str(body.get("input_file_id")))
        if data is None or body.get("endpoint") != "/v1/chat/completions" or body.get("completion_window") != "24h":
            self._send(400, {"error": {"message": f"bad batch create {body}"}})
            return
        items = []
        for line in data.decode().splitlines():
            row = json.loads(line)
            if row.get("method") != "POST" or row.get("url") != "/v1/chat/completions":
                self._send(400, {"error": {"message": f"bad line {line[:100]}"}})
                return
            items.append({"custom_id": row["custom_id"], "body": row["body"]})
        if len({i["custom_id"] for i in items}) != len(items):
            self._send(400, {"error": {"message": "duplicate custom_id"}})
            return
        batch = Batch(owner.new_id("batch_"), "openai", items, status="validating",
                      input_file=str(body["input_file_id"]))
        self._created(batch, owner.openai_object)

    def _create_anthropic(self, body: dict[str, Any]) -> None:
        owner = self.owner
        requests = body.get("requests")
        if not isinstance(requests, list) or not requests:
            self._send(400, {"type": "error", "error": {"type": "invalid_request_error", "message": "no requests"}})
            return
        ids = [r.get("custom_id") for r in requests]
        if len(set(ids)) != len(ids) or not all(isinstance(i, str) and _CUSTOM_ID.match(i) for i in ids):
            self._send(400, {"type": "error", "error": {"type": "invalid_request_error", "message": "bad custom_id"}})
            return
        items = [{"custom_id": r["custom_id"], "body": r["params"]} for r in requests]
        batch = Batch(owner.new_id("msgbatch_"), "anthropic", items, status="in_progress")
        self._created(batch, owner.anthropic_object)

    def _created(self, batch: Batch, render: Callable[[Batch], dict[str, Any]]) -> None:
        owner = self.owner
        with owner._lock:
            owner.batches[batch.id] = batch
            drop = owner.drop_creates > 0
            owner.drop_creates -= drop
        while owner.stall_creates.is_set():  # the batch exists; the reply waits (a client killed meanwhile)
            time.sleep(0.02)
        if drop:  # the batch exists, but its id never reaches the client
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self._send(200, render(batch))
