"""The shared engine of the HTTP API adapters: concurrency, rate limits, retries, bounds, circuit breaker.

Requests go through our own transport (:mod:`.transport`, aiohttp) and stream by default (server-sent
events), so ``runtime.timeout_s`` bounds the silence between bytes, not the whole generation; each
attempt as a whole is bounded by ``max_request_s`` (docs/api.md, "Timeouts and bounds").

``generate`` is a plain iterator (the runner journals each result as it arrives) over an asyncio loop in a
background thread, with at most ``runtime.concurrency`` requests in flight. Transient failures (429, 408,
409, 5xx, timeouts, dropped connections, malformed bodies) are retried with exponential backoff and full
jitter, honouring ``Retry-After``; a request still failing after ``runtime.max_retries`` retries becomes
``Generation.failure``. A 400-class reply is that request's failure, not retried. 401/403/404 mean every
further request would fail the same way (bad key, no access, unknown model), so they raise
:class:`AdapterError` at once and stop the run before it burns through the data set. When
``circuit_breaker`` attempts in a row fail with server errors (5xx) or connection failures, the server is
down: :class:`~mmlongbench_write.errors.ServerFailing` stops the run (resumable) instead of grinding on.

API keys are read from the environment only, kept off ``model_args``/``identity()``/``repr``, and scrubbed
from every message this module stores or raises.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import email.utils
import json
import os
import queue
import random
import sys
import threading
import time
from abc import abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

from mmlongbench_write import secrets
from mmlongbench_write.errors import AdapterError, ServerFailing
from mmlongbench_write.schema import Generation, ImageRef, Request

from .base import ModelAdapter, RuntimeOptions
from .endpoint import server_identity
from .transport import ConnectionFailed, HTTPStatusError, IdleTimeout, Transport
from .wire import MalformedResponse, StreamError, TransientError

__all__ = ["APIAdapter", "MalformedResponse", "TokenBucket", "TransientError", "parse_retry_after"]

_FATAL_STATUS = {401: "authentication failed", 403: "permission denied", 404: "not found"}
_RETRY_STATUS = {408, 409, 425, 429}
_DONE = object()
#: the longest a Retry-After is honoured for by default (model arg ``retry_after_max_s``); a server asking
#: for more is waited on this long (announced), then retried
MAX_RETRY_AFTER_S = 60.0
#: waits at least this long are announced on stderr
ANNOUNCE_WAIT_S = 5.0
#: default bound on one attempt as a whole, from the request to the last byte (``max_request_s``)
DEFAULT_MAX_REQUEST_S = 3600.0
#: default number of attempts in a row failing with 5xx or connection errors that stops the run
DEFAULT_CIRCUIT_BREAKER = 10


@dataclass(frozen=True)
class _Fatal:
    error: BaseException


class TokenBucket:
    """Async token bucket: ``rate_per_s`` refill, ``capacity`` burst; ``acquire(n)`` waits for ``n`` tokens.

    Used for requests-per-minute (n=1) and tokens-per-minute (n=estimated tokens; clamped to capacity so
    a single big request can always go). ``refund`` corrects an estimate once the real usage is known.
    """

    def __init__(self, per_minute: float, capacity: float | None = None) -> None:
        if per_minute <= 0:
            raise AdapterError(f"rate limit must be positive, got {per_minute}")
        self.rate = per_minute / 60.0
        self.capacity = capacity if capacity is not None else per_minute
        self.tokens = self.capacity
        self.updated = time.monotonic()
        self._lock = asyncio.Lock()

    def _refill(self) -> None:
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now

    async def acquire(self, n: float = 1.0) -> None:
        n = min(n, self.capacity)
        async with self._lock:  # FIFO: one waiter at a time takes its tokens
            while True:
                self._refill()
                if self.tokens >= n:
                    self.tokens -= n
                    return
                await asyncio.sleep((n - self.tokens) / self.rate)

    def refund(self, n: float) -> None:
        """Give back (n > 0) or charge (n < 0) tokens after the fact; may go into debt."""
        self._refill()
        self.tokens = min(self.capacity, self.tokens + n)


def parse_retry_after(headers: Any) -> float | None:
    """Seconds to wait from ``retry-after-ms`` / ``Retry-After`` (seconds or an HTTP date), else None."""
    if headers is None:
        return None
    try:
        ms = headers.get("retry-after-ms")
        if ms is not None:
            return max(0.0, float(ms) / 1000.0)
        value = headers.get("retry-after")
    except Exception:  # noqa: BLE001 - odd header containers: treat as absent
        return None
    if value is None:
        return None
    value = str(value).strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def b64(image: ImageRef) -> str:
    return base64.b64encode(image.read_bytes()).decode("ascii")


class APIAdapter(ModelAdapter):
    """Base of the HTTP adapters: subclasses build a client and make one call; this class does the rest.

    Model args common to all API adapters (none of them changes outputs, so none is in ``identity()``):
        base_url: server address (any compatible server).
        api_key_env: the environment variable holding the key (default :attr:`default_key_env`).
        retry_base_s / retry_max_s: backoff base and cap in seconds (default 1 and 60).
        retry_after_max_s: the longest ``Retry-After`` honoured (default 60; longer asks are capped).
        stream: stream replies as server-sent events (default true; false for servers that cannot).
        max_request_s: bound on one attempt as a whole (default 3600, never below ``--timeout``).
        circuit_breaker: attempts in a row failing with 5xx/connection errors that stop the run
            (default 10; 0 turns the breaker off).
    """

    default_key_env: str = "API_KEY"
    default_base_url: str = ""
    base_url_env: str = ""
    non_identity_args = frozenset(
        {"base_url", "device", "device_map", "timeout", "api_key_env", "retry_base_s", "retry_max_s",
         "stream", "max_request_s", "circuit_breaker", "retry_after_max_s"}
    )
    #: request-body parameters a server takes beyond these go in ``--gen-kwargs`` (``extra.KEY=...``)
    accepted_args: frozenset[str] | None = frozenset(
        {"model", "base_url", "api_key_env", "retry_base_s", "retry_max_s", "retry_after_max_s", "stream",
         "max_request_s", "circuit_breaker"}
    )

    def __init__(self, runtime: RuntimeOptions | None = None, **model_args: Any) -> None:
        if "api_key" in model_args:  # before the unknown-arg check: this one says what to do instead
            key_env = model_args.get("api_key_env") or self.default_key_env
            raise AdapterError(
                f"{self.adapter_name}: do not pass api_key as a model arg (it would be recorded); "
                f"set {key_env} in the environment instead"
            )
        super().__init__(runtime, **model_args)
        secrets.check_key_env(model_args.get("api_key_env"), f"{self.adapter_name}: api_key_env")
        if "model" not in model_args:
            raise AdapterError(f"{self.adapter_name}: the model arg `model` is required (e.g. model=NAME)")
        self.retry_base_s = float(model_args.get("retry_base_s", 1.0))
        self.retry_max_s = float(model_args.get("retry_max_s", 60.0))
        self.retry_after_max_s = float(model_args.get("retry_after_max_s", MAX_RETRY_AFTER_S))
        self.stream = _flag(model_args.get("stream", True), "stream")
        self.max_request_s = max(float(model_args.get("max_request_s", DEFAULT_MAX_REQUEST_S)), self.runtime.timeout_s)
        self.breaker_threshold = int(model_args.get("circuit_breaker", DEFAULT_CIRCUIT_BREAKER))
        self._failing = 0  # attempts in a row that failed with a server error or a broken connection
        self._last_failure = ""
        self._announced = 0.0
        self._secret: str | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: threading.Thread | None = None
        self._client: Transport | None = None
        self._headers: dict[str, str] = {}
        self._rpm: TokenBucket | None = None
        self._tpm: TokenBucket | None = None

    # -- subclass hooks ------------------------------------------------------------------------
    @abstractmethod
    def endpoint(self) -> str:
        """Path appended to the base URL (``/chat/completions``, ``/v1/messages``)."""

    @abstractmethod
    def auth_headers(self, api_key: str) -> dict[str, str]:
        """The headers that carry the key (and the API version)."""

    @abstractmethod
    def build_params(self, request: Request) -> dict[str, Any]:
        """The JSON body of one non-streaming call."""

    @abstractmethod
    def stream_params(self) -> dict[str, Any]:
        """Keys added to the body to ask for a stream."""

    @abstractmethod
    def parse_body(self, request_id: str, body: Any) -> Generation:
        """A non-streaming JSON body as a Generation (MalformedResponse when unusable)."""

    @abstractmethod
    def read_stream(self, request_id: str) -> StreamReader:
        """A fresh accumulator for one streamed reply."""

    @property
    def base_url(self) -> str:
        url = self.model_args.get("base_url") or os.environ.get(self.base_url_env or "_", "") or self.default_base_url
        return str(url).rstrip("/")

    def _estimate_tokens(self, request: Request) -> int:
        """Rough prompt + completion tokens, for the tokens-per-minute limiter."""
        chars = sum(len(m.text) for m in request.messages)
        return chars // 4 + 800 * len(request.images) + (request.config.max_new_tokens or 1024)

    # -- secrets -------------------------------------------------------------------------------
    @property
    def key_env(self) -> str:
        return str(self.model_args.get("api_key_env") or self.default_key_env)

    def _api_key(self) -> str:
        key = os.environ.get(self.key_env, "").strip()
        if not key:
            raise AdapterError(
                f"{self.adapter_name}: no API key: set the environment variable {self.key_env}"
                " (any non-empty value for a local server that checks none)"
            )
        self._secret = key
        secrets.register(key)  # scrubbed from every file, cache, log and message from now on
        return key

    def scrub(self, text: str) -> str:
        """``text`` with the API key (if it appears) replaced by ``***``."""
        if self._secret and len(self._secret) >= 4:
            text = text.replace(self._secret, "***")
        return text

    def identity(self) -> dict[str, Any]:
        """The base identity plus the ``server`` that answers (see :mod:`.endpoint`)."""
        return {**super().identity(), "server": server_identity(self.adapter_name, self.model_args.get("base_url"))}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(model={self.model_name!r}, key_env={self.key_env!r})"

    # -- the engine ----------------------------------------------------------------------------
    def generate(self, requests: Sequence[Request]) -> Iterator[Generation]:
        requests = list(requests)
        if not requests:
            return
        api_key = self._api_key()
        out: queue.Queue[Any] = queue.Queue()
        stop = threading.Event()
        future = asyncio.run_coroutine_threadsafe(self._drive(requests, api_key, out, stop), self._event_loop())
        try:
            while True:
                item = out.get()
                if item is _DONE:
                    break
                if isinstance(item, _Fatal):
                    raise item.error
                yield item
        finally:  # also when the consumer stops early: cancel what is in flight, start nothing new
            stop.set()
            future.cancel()
            try:
                future.result(timeout=30)
            except BaseException:  # noqa: BLE001 - already reported through the queue, or cancelled
                pass

    def _event_loop(self) -> asyncio.AbstractEventLoop:
        """The adapter's own event loop, in a daemon thread; kept across calls with its HTTP client."""
        if self._loop is None or self._loop.is_closed():
            loop = asyncio.new_event_loop()
            thread = threading.Thread(target=loop.run_forever, name=f"mmlw-{self.adapter_name}", daemon=True)
            thread.start()
            self._loop, self._loop_thread = loop, thread
        return self._loop

    def close(self) -> None:
        """Close the HTTP client and stop the event loop thread."""
        loop, thread = self._loop, self._loop_thread
        if loop is None or loop.is_closed():
            return
        if self._client is not None:
            try:
                asyncio.run_coroutine_threadsafe(self._client.close(), loop).result(timeout=10)
            except Exception:  # noqa: BLE001 - closing is best effort
                pass
            self._client = None
        self._rpm = self._tpm = None  # their locks belong to this loop
        loop.call_soon_threadsafe(loop.stop)
        if thread is not None:
            thread.join(timeout=10)
        loop.close()
        self._loop = self._loop_thread = None

    async def _drive(self, requests: list[Request], api_key: str, out: queue.Queue[Any], stop: threading.Event) -> None:
        try:
            await self._run_all(requests, api_key, out, stop)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # noqa: BLE001 - hand every failure to the consumer thread
            out.put(_Fatal(exc))
        finally:
            out.put(_DONE)

    async def _run_all(
        self, requests: list[Request], api_key: str, out: queue.Queue[Any], stop: threading.Event
    ) -> None:
        if self._client is None:
            self._client = Transport(self.runtime.timeout_s, self.runtime.concurrency)
        self._headers = {"Content-Type": "application/json", "Accept": "application/json", **self.auth_headers(api_key)}
        client = self._client
        rt = self.runtime
        if self._rpm is None and rt.requests_per_minute:
            self._rpm = TokenBucket(rt.requests_per_minute, max(1.0, rt.requests_per_minute / 60))
        if self._tpm is None and rt.tokens_per_minute:
            self._tpm = TokenBucket(rt.tokens_per_minute)
        rpm, tpm = self._rpm, self._tpm
        pending: asyncio.Queue[Request] = asyncio.Queue()
        for request in requests:
            pending.put_nowait(request)

        async def worker() -> None:
            while not stop.is_set():
                try:
                    request = pending.get_nowait()
                except asyncio.QueueEmpty:
                    return
                out.put(await self._with_retries(client, request, rpm, tpm))

        workers = [asyncio.create_task(worker()) for _ in range(max(1, min(rt.concurrency, len(requests))))]
        try:
            await asyncio.gather(*workers)
        finally:
            for w in workers:
                w.cancel()
            await asyncio.gather(*workers, return_exceptions=True)

    async def _call(self, client: Transport, request: Request) -> Generation:
        """One attempt, bounded as a whole by ``max_request_s`` (the transport bounds silence by --timeout)."""
        try:
            if sys.version_info >= (3, 11):
                async with asyncio.timeout(self.max_request_s):
                    return await self._attempt(client, request)
            return await asyncio.wait_for(self._attempt(client, request), self.max_request_s)
        except asyncio.TimeoutError:
            limit = f"{self.max_request_s:g}s (max_request_s)"
            raise RequestTooLong(f"the reply was still not complete after {limit}") from None

    async def _attempt(self, client: Transport, request: Request) -> Generation:
        """Send the request and read the reply, streamed or whole."""
        body = self.build_params(request)
        if self.stream:
            body = {**body, **self.stream_params()}
        data = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        url = self.base_url + self.endpoint()
        if not self.stream:
            return self.parse_body(request.id, await client.post_json(url, self._headers, data))
        reader = self.read_stream(request.id)
        complete, whole = False, None
        async with contextlib.aclosing(client.post_events(url, self._headers, data)) as events:
            async for event, payload in events:  # read to the end, so the connection is reused
                if event == "json":  # the server ignored ``stream`` and sent the whole reply
                    whole = payload
                elif not complete:
                    complete = reader.feed(event, payload)
        return self.parse_body(request.id, _json(whole)) if whole is not None else reader.result()

    async def _with_retries(
        self, client: Transport, request: Request, rpm: TokenBucket | None, tpm: TokenBucket | None
    ) -> Generation:
        start = time.perf_counter()
        estimate = self._estimate_tokens(request)
        reason = "no attempt made"
        attempts = self.runtime.max_retries + 1
        for attempt in range(attempts):
            if rpm is not None:
                await rpm.acquire(1)
            if tpm is not None:
                await tpm.acquire(estimate)
            try:
                gen = await self._call(client, request)
            except AdapterError:
                raise
            except Exception as exc:  # noqa: BLE001 - classified below
                verdict, reason, wait = self._classify(exc)
                if verdict == "fatal":
                    raise AdapterError(reason) from None
                if verdict == "bug":  # not an API failure: a defect here, which must not pass as data
                    raise
                self._note_failure(exc, reason)
                if verdict == "fail" or attempt == self.runtime.max_retries:
                    break
                asked = wait
                if wait is None:  # exponential backoff with full jitter
                    wait = random.uniform(0, min(self.retry_max_s, self.retry_base_s * 2**attempt))
                wait = min(wait, self.retry_after_max_s)
                if wait >= ANNOUNCE_WAIT_S or (asked is not None and asked > wait):
                    why = "backing off" if asked is None else f"the server asked for {asked:.0f}s"
                    capped = f" (capped at retry_after_max_s={wait:g})" if asked is not None and asked > wait else ""
                    self._announce(f"{reason}; waiting {wait:.0f}s ({why}){capped} before attempt "
                                   f"{attempt + 2} of {attempts} for {request.id}")
                await asyncio.sleep(wait)
                continue
            self._failing = 0
            if tpm is not None:
                tpm.refund(estimate - (gen.usage.input_tokens + gen.usage.output_tokens))
            return replace(gen, latency_s=time.perf_counter() - start)
        tries = f" after {attempt + 1} attempt{'s' if attempt else ''}"
        return Generation.failure(request.id, self.scrub(reason + tries), time.perf_counter() - start)

    def _note_failure(self, exc: BaseException, reason: str) -> None:
        """Count attempts in a row that failed because the server is down; trip the breaker at the threshold."""
        status = getattr(exc, "status_code", None)
        if isinstance(exc, ConnectionFailed) or (isinstance(status, int) and status >= 500):
            self._failing += 1
            self._last_failure = reason
        else:  # a rate limit, a bad request or a malformed reply: the server is up
            self._failing = 0
        if self.breaker_threshold > 0 and self._failing >= self.breaker_threshold:
            where = self.base_url or self.adapter_name
            raise ServerFailing(
                f"{self.adapter_name}: the server at {where} is failing: {self._failing} attempts in a row failed "
                f"(last: {self.scrub(self._last_failure)}); finished work is saved, run the same command again "
                "to resume"
            )

    def _announce(self, message: str) -> None:
        """One line on stderr for a long wait (at most one every few seconds, so 32 workers do not flood it)."""
        now = time.monotonic()
        if now - self._announced < ANNOUNCE_WAIT_S:
            return
        self._announced = now
        print(f"mmlw: {self.adapter_name}: {self.scrub(message)}", file=sys.stderr, flush=True)

    def _classify(self, exc: BaseException) -> tuple[str, str, float | None]:
        """``(verdict, reason, wait)``.

        verdict: ``retry``; ``fail`` (this request, not retried); ``fatal`` (stop the run); ``bug`` (not an
        API failure at all: re-raised with its traceback).
        """
        name = type(exc).__name__
        message = self.scrub(str(exc).strip().splitlines()[0] if str(exc).strip() else name)[:500]
        if isinstance(exc, HTTPStatusError):
            status = exc.status_code
            if status in _FATAL_STATUS:
                where = f" at {self.base_url}" if self.model_args.get("base_url") else ""
                hint = {
                    401: f"check {self.key_env}",
                    403: f"the key in {self.key_env} has no access to this model",
                    404: f"check the model name {self.model_name!r} and base_url",
                }[status]
                return (
                    "fatal",
                    (
                        f"{self.adapter_name}: the server{where} answered {status} ({_FATAL_STATUS[status]}): "
                        f"{hint}; stopping the run. Server said: {message}"
                    ),
                    None,
                )
            if status in _RETRY_STATUS or status >= 500:
                return "retry", f"HTTP {status}: {message}", parse_retry_after(exc.headers)
            return "fail", f"HTTP {status} (request rejected, not retried): {message}", None
        if isinstance(exc, IdleTimeout):
            return "retry", f"timed out: {message} (--timeout)", None
        if isinstance(exc, RequestTooLong):
            return "retry", f"timed out: {message}", None
        if isinstance(exc, ConnectionFailed):
            return "retry", f"connection error: {message}", None
        if isinstance(exc, StreamError):
            return "retry", f"server error in the stream: {message}", None
        if isinstance(exc, TransientError):
            return "retry", f"malformed response: {message}", None
        return "bug", f"{name}: {message}", None


class RequestTooLong(TransientError):
    """One attempt ran past ``max_request_s`` (the server kept sending, but never finished)."""


class StreamReader:
    """Accumulates one streamed reply: ``feed`` each event (True once the stream is complete), then ``result``."""

    def feed(self, event: str, data: str) -> bool:
        raise NotImplementedError

    def result(self) -> Generation:
        raise NotImplementedError


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise MalformedResponse(f"not JSON ({str(exc)[:80]})") from None


def _flag(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off"}:
        return False
    raise AdapterError(f"model arg {name} must be true or false, not {value!r}")
