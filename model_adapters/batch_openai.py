"""The OpenAI Batch API wire protocol (also served by some OpenAI-compatible servers).

A batch is a jsonl file, one ``{"custom_id", "method": "POST", "url": "/v1/chat/completions", "body"}``
line per request, uploaded to ``/files`` (multipart, ``purpose=batch``) and started with ``/batches``
(``completion_window=24h``). Its ``status`` goes ``validating`` -> ``in_progress`` -> ``finalizing`` ->
``completed`` (or ``failed`` at validation, ``expired`` after the window, ``cancelled``); the results are
in ``output_file_id`` (replies) and ``error_file_id`` (failed requests), read from ``/files/{id}/content``.

Limits (OpenAI's documentation): 50,000 requests and 200 MB per input file.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, NoReturn

from mmlongbench_write.schema import Generation

from .batch import _RETRY_STATUS, BatchHTTP, BatchProvider, BatchState, ItemResult, http_for

ENDPOINT = "/v1/chat/completions"
ENDED = {"completed", "failed", "expired", "cancelled"}
#: per-request error codes worth another try (everything else is the request's own fault)
RETRY_CODES = {"batch_expired", "batch_cancelled", "server_error", "rate_limit_exceeded", "timeout"}


class OpenAIBatch(BatchProvider):
    name = "openai"
    max_requests = 50_000
    max_bytes = 200 * 1024 * 1024

    @classmethod
    def for_adapter(cls, adapter: Any) -> OpenAIBatch:
        key = adapter._api_key()  # the live adapter's address (base_url, OPENAI_BASE_URL, default) and headers
        return cls(http_for(adapter, adapter.base_url, adapter.auth_headers(key)))

    def __init__(self, http: BatchHTTP) -> None:
        super().__init__(http)

    def item(self, custom_id: str, body: dict[str, Any]) -> bytes:
        line = {"custom_id": custom_id, "method": "POST", "url": ENDPOINT, "body": body}
        return json.dumps(line, ensure_ascii=False, separators=(",", ":")).encode("utf-8")

    def prepare(self, items: list[bytes]) -> dict[str, Any]:
        """Upload the jsonl; the file id is what finds the batch again (its ``input_file_id``)."""
        data = b"".join(line + b"\n" for line in items)
        upload = self.http.json("POST", "files", data={"purpose": "batch"},
                                files={"file": ("mmlw-batch.jsonl", data, "application/jsonl")})
        file_id = upload.get("id")
        if not isinstance(file_id, str):
            raise_malformed(self.http, "the file upload answered no id")
        return {"file_id": file_id}

    def create(self, items: list[bytes], ref: dict[str, Any]) -> str:
        batch = self.http.json("POST", "batches", attempts=1,
                               json_body={"input_file_id": ref["file_id"], "endpoint": ENDPOINT,
                                          "completion_window": "24h", "metadata": {"created_by": "mmlw"}})
        batch_id = batch.get("id")
        if not isinstance(batch_id, str):
            raise_malformed(self.http, "creating the batch answered no id")
        return str(batch_id)

    def recover(self, ref: dict[str, Any], n: int) -> str | None:
        """The batch made from the uploaded file, among the most recent 100."""
        file_id = ref.get("file_id")
        if not file_id:
            return None
        listing = self.http.json("GET", "batches", params={"limit": 100})
        for batch in listing.get("data") or []:
            if isinstance(batch, dict) and batch.get("input_file_id") == file_id and isinstance(batch.get("id"), str):
                return str(batch["id"])
        return None

    def _batch(self, batch_id: str) -> dict[str, Any]:
        return self.http.json("GET", f"batches/{batch_id}", missing_ok=True)

    def state(self, batch_id: str) -> BatchState:
        batch = self._batch(batch_id)
        status = str(batch.get("status") or "unknown")
        counts = batch.get("request_counts") or {}
        line = ""
        if isinstance(counts, dict) and counts.get("total"):
            line = f"{counts.get('completed', 0)}/{counts.get('total')} done"
            if counts.get("failed"):
                line += f", {counts['failed']} failed"
        failure = None
        if status == "failed":
            errors = (batch.get("errors") or {}).get("data") or []
            failure = "; ".join(f"{e.get('code')}: {e.get('message')}" + (f" (line {e['line']})" if e.get("line")
                                                                         else "")
                                for e in errors[:3] if isinstance(e, dict)) or "the provider gave no reason"
        return BatchState(status, status in ENDED, line, failure)

    def results(self, batch_id: str) -> Iterator[ItemResult]:
        batch = self._batch(batch_id)
        for key in ("output_file_id", "error_file_id"):
            file_id = batch.get(key)
            if not isinstance(file_id, str) or not file_id:
                continue
            text = self.http.request("GET", f"files/{file_id}/content").content.decode("utf-8", "replace")
            for raw in text.splitlines():
                if raw.strip():
                    yield parse_line(raw)

    def parse(self, request_id: str, body: dict[str, Any], model_name: str) -> Generation:
        from .openai import parse_reply

        return parse_reply(request_id, body, model_name)


def parse_line(raw: str) -> ItemResult:
    """One line of an output or error file as an :class:`ItemResult`."""
    try:
        line = json.loads(raw)
    except json.JSONDecodeError:
        return ItemResult("", error="unreadable result line")
    if not isinstance(line, dict):
        return ItemResult("", error="unreadable result line")
    cid = str(line.get("custom_id") or "")
    error = line.get("error")
    if isinstance(error, dict) and error:
        code = str(error.get("code") or "error")
        return ItemResult(cid, error=f"{code}: {error.get('message') or ''}".strip(), retry=code in RETRY_CODES)
    raw_response = line.get("response")
    response: dict[str, Any] = raw_response if isinstance(raw_response, dict) else {}
    status = int(response.get("status_code") or 0)
    body = response.get("body")
    if status == 200 and isinstance(body, dict):
        return ItemResult(cid, body=body)
    detail = body.get("error") if isinstance(body, dict) else None
    message = detail.get("message") if isinstance(detail, dict) else None
    return ItemResult(cid, error=f"HTTP {status}: {message or 'no reason given'}",
                      retry=status in _RETRY_STATUS or status >= 500 or status == 0)


def raise_malformed(http: BatchHTTP, what: str) -> NoReturn:
    from mmlongbench_write.errors import AdapterError

    raise AdapterError(f"{http.name} batch API: {what}")
