"""``--batch``: OpenAI and Anthropic requests through the providers' batch APIs, at their batch prices.

:class:`BatchAdapter` wraps a live API adapter (same ``identity()``, so run ids, cache keys and resume are
those of a live run). ``generate(requests)`` builds each request's body with the adapter's own
``build_params``, packs the bodies into as few batches as the provider's limits allow (request count and
bytes), submits them, polls, and yields one :class:`Generation` per request as each batch's results are
read — so the runner journals them like live answers.

**Crash safety.** Every batch is appended to ``batches.jsonl`` in the run folder (fsynced) the moment the
provider returns its id, with the ids of the requests it carries; a batch is marked closed only after all
its results were handed on (and so journalled). A re-run (after Ctrl-C, SIGKILL or a reboot) finds the
open batches whose requests it still needs and polls them instead of submitting those requests again.

**Per-request outcomes.** A request that expired, was cancelled, hit a server error or rate limit, or got
no result line is retried in a later batch (``max_rounds`` batches per request in all) or, with
``fallback="live"``, through the live adapter; a rejected request (invalid parameters) is a failure with
the provider's reason, like a 400 live. Either way the reason reaches the journal.
"""

from __future__ import annotations

import http.client
import json
import os
import random
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from mmlongbench_write.errors import AdapterError
from mmlongbench_write.kvstore import stable_hash
from mmlongbench_write.schema import Generation, Request

from .base import BatchOptions, ModelAdapter

BATCHES = "batches.jsonl"
GONE = "gone"  # the state of a batch the provider answers 404 for
FALLBACKS = ("batch", "live")
#: body keys of the live transport that a batch item must not carry
_LIVE_ONLY_KEYS = ("stream", "stream_options")
_RETRY_STATUS = {408, 409, 425, 429}
_FATAL_STATUS = {401: "authentication failed", 403: "permission denied", 404: "not found"}


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# -- what providers hand back ------------------------------------------------------------------------
@dataclass(frozen=True)
class ItemResult:
    """One request's outcome in a batch: the reply ``body`` or an ``error``; ``retry`` when worth retrying."""

    custom_id: str
    body: dict[str, Any] | None = None
    error: str | None = None
    retry: bool = False


@dataclass(frozen=True)
class BatchState:
    """A batch as last polled: the provider's ``status`` word, whether it ``ended``, a count line."""

    status: str
    ended: bool
    counts: str = ""
    failure: str | None = None  # a whole-batch failure (e.g. OpenAI's validation ``failed``)


# -- HTTP --------------------------------------------------------------------------------------------
class TransientBatchError(AdapterError):
    """A batch-API call that kept failing in a way worth trying again later (5xx, 429, dropped connection)."""


class BatchGone(AdapterError):
    """The provider answered 404 for a batch we hold an id of (deleted, another key or organisation)."""


@dataclass(frozen=True)
class Response:
    """A 2xx reply of the batch API."""

    status: int
    content: bytes

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    def json(self) -> Any:
        return json.loads(self.content)


class BatchHTTP:
    """A plain (standard-library) HTTP client for the batch endpoints: a few calls a minute, so no pooling;
    transient failures retried, fatal ones one line. Proxies come from the environment, as for live calls.

    The key is sent only to ``base_url``'s own origin and scrubbed from every message.
    """

    def __init__(self, base_url: str, headers: dict[str, str], *, timeout_s: float, max_retries: int,
                 retry_base_s: float, scrub: Callable[[str], str], name: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.name = name
        self.max_retries = max_retries
        self.retry_base_s = retry_base_s
        self.scrub = scrub
        self.timeout_s = timeout_s
        self._headers = dict(headers)

    @staticmethod
    def _origin(url: str) -> tuple[str, str, int | None]:
        parsed = urllib.parse.urlsplit(url)
        port = parsed.port or {"http": 80, "https": 443}.get(parsed.scheme)
        return parsed.scheme, (parsed.hostname or "").lower(), port

    def _build(self, method: str, url: str, *, json_body: Any = None, content: bytes | None = None,
               data: dict[str, str] | None = None, files: dict[str, tuple[str, bytes, str]] | None = None,
               params: dict[str, Any] | None = None,
               headers: dict[str, str] | None = None) -> urllib.request.Request:
        if not url.startswith(("http://", "https://")):
            url = f"{self.base_url}/{url.lstrip('/')}"
        if params:
            url += ("&" if "?" in url else "?") + urllib.parse.urlencode(params)
        own = self._origin(url) == self._origin(self.base_url)
        head = {**(self._headers if own else {}), **(headers or {})}  # no key for another origin
        body: bytes | None = content
        if json_body is not None:
            body = json.dumps(json_body, ensure_ascii=False).encode("utf-8")
            head["Content-Type"] = "application/json"
        elif files is not None:
            body, head["Content-Type"] = multipart(data or {}, files)
        head.setdefault("Accept", "application/json")
        return urllib.request.Request(url, data=body, headers=head, method=method)

    def request(self, method: str, url: str, *, attempts: int | None = None, missing_ok: bool = False,
                **kwargs: Any) -> Response:
        """The response (2xx) of ``method url``, tried up to ``attempts`` times (default: 1 + max_retries);
        raises :class:`TransientBatchError` once they are spent, :class:`AdapterError` for a refusal
        (:class:`BatchGone` for a 404 when ``missing_ok``). ``kwargs``: json_body, content, data + files
        (multipart), params, headers."""
        tries = attempts if attempts is not None else self.max_retries + 1
        prepared = self._build(method, url, **kwargs)
        where = f"{method} {prepared.full_url.split('?')[0]}"
        reason = "no attempt made"
        for attempt in range(tries):
            wait: float | None = None
            try:
                with urllib.request.urlopen(prepared, timeout=self.timeout_s) as reply:  # noqa: S310 - http(s) only
                    return Response(reply.status, reply.read())
            except urllib.error.HTTPError as exc:
                status = exc.code
                text = exc.read().decode("utf-8", "replace").strip() if exc.fp is not None else ""
                message = self.scrub(text.splitlines()[0][:300] if text else "")
                if status == 404 and missing_ok:
                    raise BatchGone(f"{self.name} batch API: {where} is not there (404)") from None
                if status in _FATAL_STATUS:
                    raise AdapterError(f"{self.name} batch API: {where} answered {status} "
                                       f"({_FATAL_STATUS[status]}); stopping. Server said: {message}") from None
                if status not in _RETRY_STATUS and status < 500:
                    raise AdapterError(f"{self.name} batch API: {where} was rejected ({status}): {message}") from None
                reason = f"HTTP {status}: {message}"
                retry_after = exc.headers.get("retry-after") if exc.headers is not None else None
                wait = float(retry_after) if retry_after and retry_after.replace(".", "", 1).isdigit() else None
            except (OSError, http.client.HTTPException) as exc:  # refused, dropped, timed out, torn replies
                reason = f"{type(exc).__name__}: {self.scrub(str(exc))[:200]}"
            if attempt < tries - 1:
                self.backoff(attempt, wait)
        raise TransientBatchError(self.scrub(f"{self.name} batch API: {where} failed after "
                                             f"{tries} attempt(s): {reason}"))

    def backoff(self, attempt: int, wait: float | None = None) -> None:
        """Sleep before retry ``attempt + 1``: ``Retry-After`` when given, else full-jitter exponential."""
        time.sleep(min(600.0, wait if wait is not None else random.uniform(0, self.retry_base_s * 2**attempt)))

    def json(self, method: str, url: str, *, attempts: int | None = None, missing_ok: bool = False,
             **kwargs: Any) -> dict[str, Any]:
        response = self.request(method, url, attempts=attempts, missing_ok=missing_ok, **kwargs)
        try:
            data = response.json()
        except ValueError:
            raise AdapterError(f"{self.name} batch API: {method} {url} answered a body that is not JSON") from None
        if not isinstance(data, dict):
            raise AdapterError(f"{self.name} batch API: {method} {url} answered JSON that is not an object")
        return data

    def close(self) -> None:
        """Nothing held between calls."""


def multipart(fields: dict[str, str], files: dict[str, tuple[str, bytes, str]]) -> tuple[bytes, str]:
    """A ``multipart/form-data`` body and its content type (RFC 7578)."""
    boundary = f"mmlw-{uuid.uuid4().hex}"
    parts: list[bytes] = []
    for name, value in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
                     .encode())
    for name, (filename, data, ctype) in files.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
                     f"Content-Type: {ctype}\r\n\r\n".encode() + data + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


# -- providers ---------------------------------------------------------------------------------------
class BatchProvider(ABC):
    """One provider's batch wire protocol (see batch_openai.py, batch_anthropic.py)."""

    name: str = "base"
    #: the provider's documented per-batch limits
    max_requests: int = 0
    max_bytes: int = 0
    #: bytes of the batch envelope around the items (counted against ``max_bytes``)
    overhead_bytes: int = 0

    def __init__(self, http: BatchHTTP) -> None:
        self.http = http

    @abstractmethod
    def item(self, custom_id: str, body: dict[str, Any]) -> bytes:
        """One request as it travels in the batch (a jsonl line, or one entry of the requests list)."""

    def submit(self, items: list[bytes], stage: Callable[[dict[str, Any]], None]) -> str:
        """Create a batch of ``items`` and return its id.

        ``stage(ref)`` is called (and journalled) before the create call with what :meth:`recover` needs to
        find the batch should the reply never arrive (a dropped connection, a kill). A create call that
        fails transiently is retried only after :meth:`recover` found no batch, so no retry doubles one.
        """
        ref = self.prepare(items)
        stage(ref)
        for attempt in range(self.http.max_retries + 1):
            try:
                return self.create(items, ref)
            except TransientBatchError:
                found = self.recover(ref, len(items))
                if found is not None:
                    return found
                if attempt == self.http.max_retries:
                    raise
                self.http.backoff(attempt)
        raise AssertionError("unreachable")

    def prepare(self, items: list[bytes]) -> dict[str, Any]:
        """Work before the create call (OpenAI: the file upload); returns the staging reference."""
        return {"at": time.time()}

    @abstractmethod
    def create(self, items: list[bytes], ref: dict[str, Any]) -> str:
        """One create call (a single HTTP attempt); the batch id."""

    @abstractmethod
    def recover(self, ref: dict[str, Any], n: int) -> str | None:
        """The id of the batch a create call with staging ``ref`` made, when the provider shows one."""

    @abstractmethod
    def state(self, batch_id: str) -> BatchState:
        """Poll the batch."""

    @abstractmethod
    def results(self, batch_id: str) -> Iterator[ItemResult]:
        """The per-request outcomes of an ended batch."""

    @abstractmethod
    def parse(self, request_id: str, body: dict[str, Any], model_name: str) -> Generation:
        """A successful reply body as a Generation (the live adapter's own ``parse_reply``)."""


def batch_limits(provider: BatchProvider, options: BatchOptions) -> tuple[int, int]:
    """(requests, bytes) per batch: the provider's limits, lowered by the options when they ask."""
    requests = min(provider.max_requests, options.max_requests or provider.max_requests)
    size = min(provider.max_bytes, options.max_bytes or provider.max_bytes)
    return max(1, requests), max(1, size)


# -- the journal of batches --------------------------------------------------------------------------
class BatchJournal:
    """``batches.jsonl``: one fsynced line per batch created and per batch closed (a torn line is skipped)."""

    def __init__(self, folder: str | Path, name: str = BATCHES) -> None:
        self.path = Path(folder) / name

    def _lines(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        rows = []
        for line in self.path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:  # a line torn by a kill: the batch it names was never returned
                continue
            if isinstance(row, dict):
                rows.append(row)
        return rows

    def open_batches(self, provider: str, endpoint: str) -> list[dict[str, Any]]:
        """Batches created for ``provider`` at ``endpoint`` and not yet closed, oldest first; a ``staged``
        row whose create call never returned (no ``created`` row, not abandoned) is listed too."""
        rows = self._lines()
        closed = {r.get("batch_id") for r in rows if r.get("event") == "closed"}
        settled = {r.get("stage_id") for r in rows if r.get("event") in ("created", "abandoned")}
        return [r for r in rows if r.get("provider") == provider and r.get("endpoint") == endpoint
                and isinstance(r.get("custom_ids"), list)
                and ((r.get("event") == "created" and r.get("batch_id") not in closed)
                     or (r.get("event") == "staged" and r.get("stage_id") not in settled))]

    def closed_batches(self, provider: str, endpoint: str) -> list[dict[str, Any]]:
        """``created`` rows of batches that ended and were read, newest first."""
        rows = self._lines()
        closed = {r.get("batch_id") for r in rows if r.get("event") == "closed" and r.get("status") != GONE}
        return [r for r in reversed(rows) if r.get("event") == "created" and r.get("provider") == provider
                and r.get("endpoint") == endpoint and r.get("batch_id") in closed
                and isinstance(r.get("custom_ids"), list)]

    def append(self, row: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps(row, ensure_ascii=False) + "\n"
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(line)
            fh.flush()
            os.fsync(fh.fileno())

    def staged(self, stage_id: str, provider: str, endpoint: str, model: str, custom_ids: list[str],
               attempt: int, ref: dict[str, Any]) -> None:
        self.append({"event": "staged", "stage_id": stage_id, "provider": provider, "endpoint": endpoint,
                     "model": model, "at": _now(), "attempt": attempt, "n": len(custom_ids), "ref": ref,
                     "custom_ids": custom_ids})

    def created(self, batch_id: str, provider: str, endpoint: str, model: str, custom_ids: list[str],
                attempt: int, stage_id: str | None = None) -> None:
        self.append({"event": "created", "batch_id": batch_id, "stage_id": stage_id, "provider": provider,
                     "endpoint": endpoint, "model": model, "at": _now(), "attempt": attempt,
                     "n": len(custom_ids), "custom_ids": custom_ids})

    def abandoned(self, stage_id: str) -> None:
        self.append({"event": "abandoned", "stage_id": stage_id, "at": _now()})

    def closed(self, batch_id: str, status: str) -> None:
        self.append({"event": "closed", "batch_id": batch_id, "status": status, "at": _now()})


def _now() -> str:
    from mmlongbench_write.runstore import now

    return now()


def custom_id(identity: dict[str, Any], request: Request) -> str:
    """The id a request travels under: a hash of the model identity, the request id and what the request
    is made of, so a re-run recognises its own pending requests and nothing else (``[0-9a-f]{40}``, which
    both providers accept)."""
    from mmlongbench_write.journal import request_hash

    return stable_hash({"model": identity, "id": request.id, "request": request_hash(request)})[:40]


# -- the adapter -------------------------------------------------------------------------------------
@dataclass
class _Active:
    batch_id: str
    ids: set[str]
    submitted: float = field(default_factory=time.monotonic)
    last: str = ""


class BatchAdapter(ModelAdapter):
    """A live OpenAI/Anthropic adapter whose requests go through the provider's batch API."""

    def __init__(self, inner: Any, provider_factory: Callable[[Any], BatchProvider], options: BatchOptions,
                 say: Callable[[str], None] = _say) -> None:
        if options.fallback not in FALLBACKS:
            raise AdapterError(f"--batch-fallback must be one of {', '.join(FALLBACKS)}, not {options.fallback!r}")
        super().__init__(inner.runtime, **inner.model_args)
        self.inner = inner
        self.adapter_name = inner.adapter_name
        self.options = options
        self.journal = BatchJournal(options.journal_dir, options.journal_name)
        self._factory = provider_factory
        self._provider: BatchProvider | None = None
        self.say = options.progress or say
        self.batches_created: list[str] = []

    @property
    def model_name(self) -> str:
        return str(self.inner.model_name)

    def identity(self) -> dict[str, Any]:
        return dict(self.inner.identity())

    def __repr__(self) -> str:
        return f"BatchAdapter({self.inner!r})"

    @property
    def endpoint(self) -> str:
        """The server the batches live on (journalled: a batch is re-attached only on the same server)."""
        return str(getattr(self.inner, "base_url", None) or self.inner.model_args.get("base_url") or "default")

    def provider(self) -> BatchProvider:
        if self._provider is None:
            self._provider = self._factory(self.inner)
        return self._provider

    def body(self, request: Request) -> dict[str, Any]:
        params = dict(self.inner.build_params(request))
        for key in _LIVE_ONLY_KEYS:
            params.pop(key, None)
        return dict(params)

    # -- generate ----------------------------------------------------------------------------------
    def generate(self, requests: Sequence[Request]) -> Iterator[Generation]:
        requests = list(requests)
        if not requests:
            return
        provider = self.provider()
        identity = self.identity()
        by_cid: dict[str, Request] = {}
        for request in requests:
            by_cid[custom_id(identity, request)] = request
        attempts = dict.fromkeys(by_cid, 1)
        active = self._reattach(provider, set(by_cid), attempts)
        if self.options.reuse_closed:
            claimed = {cid for batch in active for cid in batch.ids}
            reused = list(self._reuse(provider, {c: r for c, r in by_cid.items() if c not in claimed}))
            for cid, _generation in reused:
                by_cid.pop(cid)
            yield from (generation for _cid, generation in reused)
        claimed = {cid for batch in active for cid in batch.ids}
        todo = [cid for cid in by_cid if cid not in claimed]
        started = time.monotonic()
        while todo or active:
            if todo:
                submitted, refused = self._submit(provider, [(cid, by_cid[cid]) for cid in todo], attempts)
                active.extend(submitted)
                todo = []
                yield from refused
            if not active:  # everything left was refused before submission
                break
            ended = self._wait(provider, active)
            for batch, state in ended:
                active.remove(batch)
                retry: list[str] = []
                yield from self._read(provider, batch, state, by_cid, attempts, retry, started)
                self.journal.closed(batch.batch_id, state.status)
                if not retry:
                    continue
                if self.options.fallback == "live":
                    self.say(f"  batch {batch.batch_id}: {len(retry)} request(s) to retry: sending them live")
                    yield from self.inner.generate([by_cid[cid] for cid in retry])
                    continue
                self.say(f"  batch {batch.batch_id}: {len(retry)} request(s) to retry in a new batch")
                for cid in retry:
                    attempts[cid] += 1
                todo.extend(retry)

    def _reuse(self, provider: BatchProvider, wanted: dict[str, Request]) -> Iterator[tuple[str, Generation]]:
        """Successful answers to ``wanted`` requests in batches already read (``reuse_closed``)."""
        left = dict(wanted)
        for entry in self.journal.closed_batches(provider.name, self.endpoint):
            ids = left.keys() & set(entry["custom_ids"])
            if not ids:
                continue
            found = 0
            try:
                for result in provider.results(str(entry["batch_id"])):
                    if result.custom_id in ids and result.custom_id in left and result.body is not None:
                        request = left.pop(result.custom_id)
                        try:
                            generation = provider.parse(request.id, result.body, self.model_name)
                        except Exception:  # noqa: BLE001 - unusable: asked again
                            left[result.custom_id] = request
                            continue
                        found += 1
                        yield result.custom_id, generation
            except AdapterError as exc:  # the results are gone (expired, deleted): asked again
                self.say(f"  batch {entry['batch_id']}: earlier results unavailable ({exc}); asking again")
                continue
            if found:
                self.say(f"batch {entry['batch_id']} ({provider.name}): {found} answer(s) reused from this earlier "
                         "batch")

    def _reattach(self, provider: BatchProvider, wanted: set[str], attempts: dict[str, int]) -> list[_Active]:
        active: list[_Active] = []
        for entry in self.journal.open_batches(provider.name, self.endpoint):
            ids = wanted.intersection(entry["custom_ids"])
            if not ids:
                continue
            if entry.get("event") == "staged":  # killed inside the create call: did the provider make it?
                found = provider.recover(entry.get("ref") or {}, int(entry.get("n") or 0))
                stage_id = str(entry.get("stage_id"))
                if found is None:
                    self.journal.abandoned(stage_id)
                    continue
                self.journal.created(found, provider.name, self.endpoint, self.model_name, entry["custom_ids"],
                                     int(entry.get("attempt") or 1), stage_id)
                entry = {**entry, "batch_id": found}
            wanted -= ids
            for cid in ids:
                attempts[cid] = int(entry.get("attempt") or 1)
            active.append(_Active(str(entry["batch_id"]), ids))
            self.say(f"batch {entry['batch_id']} ({provider.name}): re-attaching to the pending batch of "
                     f"{entry.get('n', len(ids))} request(s) submitted at {entry.get('at')} ({len(ids)} still needed)")
        return active

    def _submit(self, provider: BatchProvider, items: list[tuple[str, Request]],
                attempts: dict[str, int]) -> tuple[list[_Active], list[Generation]]:
        """Pack ``items`` into batches under the limits, submitting each as it fills (so at most one
        batch's bodies are in memory); a single request over the byte limit is that request's failure."""
        max_requests, max_bytes = batch_limits(provider, self.options)
        created: list[_Active] = []
        refused: list[Generation] = []
        chunk: list[tuple[str, bytes]] = []
        size = provider.overhead_bytes

        def flush() -> None:
            nonlocal chunk, size
            if chunk:
                created.append(self._create(provider, chunk, attempts))
            chunk, size = [], provider.overhead_bytes

        for cid, request in items:
            line = provider.item(cid, self.body(request))
            if len(line) + 1 + provider.overhead_bytes > max_bytes:
                refused.append(Generation.failure(request.id, f"request is {len(line) / 1e6:.1f} MB, over the "
                                                  f"{provider.name} batch limit of {max_bytes / 1e6:.0f} MB"))
                continue
            if len(chunk) >= max_requests or size + len(line) + 1 > max_bytes:
                flush()
            chunk.append((cid, line))
            size += len(line) + 1
        flush()
        return created, refused

    def _create(self, provider: BatchProvider, chunk: list[tuple[str, bytes]], attempts: dict[str, int]) -> _Active:
        ids = [cid for cid, _ in chunk]
        attempt = max(attempts[cid] for cid in ids)
        stage_id = uuid.uuid4().hex

        def stage(ref: dict[str, Any]) -> None:
            self.journal.staged(stage_id, provider.name, self.endpoint, self.model_name, ids, attempt, ref)

        batch_id = provider.submit([line for _, line in chunk], stage)
        self.journal.created(batch_id, provider.name, self.endpoint, self.model_name, ids, attempt, stage_id)
        self.batches_created.append(batch_id)
        size = sum(len(line) + 1 for _, line in chunk)
        self.say(f"batch {batch_id} ({provider.name}): submitted {len(ids)} request(s), {size / 1e6:.2f} MB"
                 + (f" (attempt {attempt})" if attempt > 1 else ""))
        return _Active(batch_id, set(ids))

    def _wait(self, provider: BatchProvider, active: list[_Active]) -> list[tuple[_Active, BatchState]]:
        """Poll every active batch until at least one has ended; print each change of state."""
        while True:
            ended = []
            for batch in active:
                try:
                    state = provider.state(batch.batch_id)
                except BatchGone:  # deleted at the provider, or another key: its requests are sent again
                    state = BatchState(GONE, True, "the provider no longer has it")
                line = f"{state.status}" + (f", {state.counts}" if state.counts else "")
                if line != batch.last:
                    batch.last = line
                    waited = time.monotonic() - batch.submitted
                    self.say(f"  batch {batch.batch_id}: {line} ({waited:.0f}s)")
                if state.ended:
                    ended.append((batch, state))
            if ended:
                return ended
            try:
                time.sleep(max(0.0, self.options.poll_s))
            except KeyboardInterrupt:
                ids = ", ".join(b.batch_id for b in active)
                self.say(f"interrupted: batch(es) {ids} keep running at {provider.name}; run the same command "
                         f"again to collect their results (they are recorded in {self.journal.path})")
                raise

    def _read(self, provider: BatchProvider, batch: _Active, state: BatchState, by_cid: dict[str, Request],
              attempts: dict[str, int], retry: list[str], started: float) -> Iterator[Generation]:
        seen: set[str] = set()
        last_reason: dict[str, str] = {}
        if state.failure is None and state.status != GONE:
            for result in provider.results(batch.batch_id):
                cid = result.custom_id
                if cid not in batch.ids or cid in seen:  # not needed now (journalled before a crash) or a repeat
                    continue
                seen.add(cid)
                request = by_cid[cid]
                latency = time.monotonic() - started
                if result.body is not None:
                    try:
                        generation = provider.parse(request.id, result.body, self.model_name)
                    except Exception as exc:  # noqa: BLE001 - a malformed reply is retried like live
                        reason = f"malformed reply in batch {batch.batch_id} ({type(exc).__name__}: {exc})"
                        if attempts[cid] < self.options.max_rounds or self.options.fallback == "live":
                            retry.append(cid)
                            continue
                        yield Generation.failure(request.id, reason, latency)
                        continue
                    yield replace(generation, latency_s=latency)
                    continue
                reason = f"batch {batch.batch_id}: {result.error or 'failed'}"
                if result.retry and (attempts[cid] < self.options.max_rounds or self.options.fallback == "live"):
                    retry.append(cid)
                    last_reason[cid] = reason
                    continue
                yield Generation.failure(request.id, reason + (f" (after {attempts[cid]} batch(es))"
                                                               if result.retry else ""), latency)
        for cid in sorted(batch.ids - seen):
            request = by_cid[cid]
            if state.failure is not None:  # the provider refused the batch as a whole: not retried here
                yield Generation.failure(request.id, f"batch {batch.batch_id} {state.status}: {state.failure}")
            elif attempts[cid] < self.options.max_rounds or self.options.fallback == "live":
                retry.append(cid)
            else:
                yield Generation.failure(request.id, f"batch {batch.batch_id} ({state.status}) returned no result "
                                         f"for this request (after {attempts[cid]} batch(es))")

    def close(self) -> None:
        if self._provider is not None:
            self._provider.http.close()
            self._provider = None
        self.inner.close()


def provider_factory(adapter_name: str) -> Callable[[Any], BatchProvider] | None:
    """The batch protocol of an adapter (``openai``, ``anthropic``), or None when it has none."""
    if adapter_name == "openai":
        from .batch_openai import OpenAIBatch

        return OpenAIBatch.for_adapter
    if adapter_name == "anthropic":
        from .batch_anthropic import AnthropicBatch

        return AnthropicBatch.for_adapter
    return None


def with_batch(adapter: ModelAdapter, options: BatchOptions) -> ModelAdapter:
    """``adapter`` behind its provider's batch API; adapters without one (local models) are returned as is."""
    factory = provider_factory(adapter.adapter_name)
    if factory is None or not hasattr(adapter, "build_params"):
        (options.progress or _say)(f"--batch: {adapter.adapter_name} ({adapter.model_name}) has no batch API; "
                                   "its requests go live")
        return adapter
    return BatchAdapter(adapter, factory, options)


def http_for(adapter: Any, base_url: str, headers: dict[str, str]) -> BatchHTTP:
    """A :class:`BatchHTTP` with the adapter's key, timeout and retry settings."""
    return BatchHTTP(base_url, headers, timeout_s=adapter.runtime.timeout_s, max_retries=adapter.runtime.max_retries,
                     retry_base_s=adapter.retry_base_s, scrub=adapter.scrub, name=adapter.adapter_name)


def batch_summary(folder: str | Path, fallback: str) -> dict[str, Any]:
    """For run.json / results.json: that batch mode was used, and every batch the run created, with its state."""
    rows = BatchJournal(folder)._lines()
    closed = {r.get("batch_id"): r.get("status") for r in rows if r.get("event") == "closed"}
    batches = [{"id": r.get("batch_id"), "provider": r.get("provider"), "model": r.get("model"), "n": r.get("n"),
                "attempt": r.get("attempt"), "created_at": r.get("at"),
                "status": closed.get(r.get("batch_id"), "pending")}
               for r in rows if r.get("event") == "created"]
    return {"requested": True, "used": bool(batches), "fallback": fallback, "journal": BATCHES, "batches": batches}
