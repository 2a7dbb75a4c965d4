"""The Anthropic Message Batches wire protocol.

``POST /v1/messages/batches`` takes ``{"requests": [{"custom_id", "params"}]}`` (``params`` is a Messages
API body); the batch's ``processing_status`` goes ``in_progress`` -> ``ended`` (``canceling`` on the way
when cancelled); then ``results_url`` serves a jsonl of ``{"custom_id", "result": {"type": "succeeded" |
"errored" | "canceled" | "expired", ...}}``. The key is sent to ``results_url`` only on the API's own
origin; elsewhere the results are read from ``/v1/messages/batches/{id}/results``.

Limits (Anthropic's documentation): 100,000 requests and 256 MB per batch; results within 24 hours.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from mmlongbench_write.schema import Generation

from .batch import BatchProvider, BatchState, ItemResult, http_for

#: error types of an ``errored`` result that are the request's own fault (not retried)
FINAL_ERRORS = {"invalid_request_error", "authentication_error", "permission_error", "not_found_error",
                "request_too_large"}


class AnthropicBatch(BatchProvider):
    name = "anthropic"
    max_requests = 100_000
    max_bytes = 256 * 1024 * 1024
    overhead_bytes = len(b'{"requests":[]}')

    @classmethod
    def for_adapter(cls, adapter: Any) -> AnthropicBatch:
        key = adapter._api_key()  # the live adapter's address (base_url, ANTHROPIC_BASE_URL, default) and headers
        return cls(http_for(adapter, adapter.base_url, adapter.auth_headers(key)))

    def item(self, custom_id: str, body: dict[str, Any]) -> bytes:
        entry = {"custom_id": custom_id, "params": body}
        return json.dumps(entry, ensure_ascii=False, separators=(",", ":")).encode("utf-8")

    def create(self, items: list[bytes], ref: dict[str, Any]) -> str:
        payload = b'{"requests":[' + b",".join(items) + b"]}"
        batch = self.http.json("POST", "v1/messages/batches", attempts=1, content=payload,
                               headers={"content-type": "application/json"})
        batch_id = batch.get("id")
        if not isinstance(batch_id, str):
            from mmlongbench_write.errors import AdapterError

            raise AdapterError("anthropic batch API: creating the batch answered no id")
        return batch_id

    def recover(self, ref: dict[str, Any], n: int) -> str | None:
        """The one batch of ``n`` requests created since the staging time (batches carry no tag of ours, so
        an ambiguous match counts as none)."""
        since = float(ref.get("at") or 0) - 5.0
        listing = self.http.json("GET", "v1/messages/batches", params={"limit": 20})
        matches = []
        for batch in listing.get("data") or []:
            if not isinstance(batch, dict) or not isinstance(batch.get("id"), str):
                continue
            counts = batch.get("request_counts") or {}
            total = sum(int(v or 0) for v in counts.values()) if isinstance(counts, dict) else -1
            if total == n and _epoch(batch.get("created_at")) >= since:
                matches.append(str(batch["id"]))
        return matches[0] if len(matches) == 1 else None

    def _batch(self, batch_id: str) -> dict[str, Any]:
        return self.http.json("GET", f"v1/messages/batches/{batch_id}", missing_ok=True)

    def state(self, batch_id: str) -> BatchState:
        batch = self._batch(batch_id)
        status = str(batch.get("processing_status") or "unknown")
        counts = batch.get("request_counts") or {}
        line = ""
        if isinstance(counts, dict) and counts:
            total = sum(int(v or 0) for v in counts.values())
            done = total - int(counts.get("processing") or 0)
            line = f"{done}/{total} done"
            bad = {k: counts[k] for k in ("errored", "expired", "canceled") if counts.get(k)}
            if bad:
                line += ", " + ", ".join(f"{v} {k}" for k, v in bad.items())
        return BatchState(status, status == "ended", line)

    def results(self, batch_id: str) -> Iterator[ItemResult]:
        batch = self._batch(batch_id)
        own = f"{self.http.base_url}/v1/messages/batches/{batch_id}/results"
        url = batch.get("results_url")
        if not isinstance(url, str) or not url.startswith(self.http.base_url + "/"):
            url = own  # never send the key to another origin
        text = self.http.request("GET", url).content.decode("utf-8", "replace")
        for raw in text.splitlines():
            if raw.strip():
                yield parse_line(raw)

    def parse(self, request_id: str, body: dict[str, Any], model_name: str) -> Generation:
        from .anthropic import parse_reply

        return parse_reply(request_id, body, model_name)


def parse_line(raw: str) -> ItemResult:
    """One results line as an :class:`ItemResult`."""
    try:
        line = json.loads(raw)
    except json.JSONDecodeError:
        return ItemResult("", error="unreadable result line")
    if not isinstance(line, dict):
        return ItemResult("", error="unreadable result line")
    cid = str(line.get("custom_id") or "")
    raw_result = line.get("result")
    result: dict[str, Any] = raw_result if isinstance(raw_result, dict) else {}
    kind = result.get("type")
    if kind == "succeeded" and isinstance(result.get("message"), dict):
        return ItemResult(cid, body=result["message"])
    if kind == "errored":
        error = result.get("error") or {}
        inner = error.get("error") if isinstance(error.get("error"), dict) else error
        etype = str(inner.get("type") or "error") if isinstance(inner, dict) else "error"
        message = inner.get("message") if isinstance(inner, dict) else None
        return ItemResult(cid, error=f"{etype}: {message or 'no reason given'}", retry=etype not in FINAL_ERRORS)
    if kind in ("canceled", "expired"):
        return ItemResult(cid, error=f"request {kind}", retry=True)
    return ItemResult(cid, error=f"result of unknown type {kind!r}", retry=True)


def _epoch(stamp: Any) -> float:
    """An RFC 3339 time (``2024-08-20T18:37:24.100435Z``) as seconds since the epoch; 0 when unreadable."""
    from datetime import datetime

    try:
        return datetime.fromisoformat(str(stamp).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0
