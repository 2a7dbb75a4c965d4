"""The shared engine of the HTTP API adapters: concurrency, rate limits, retries, error classes, secrets.

``generate`` is a plain iterator (the runner journals each result as it arrives) over an asyncio loop in a
background thread, with at most ``runtime.concurrency`` requests in flight. Transient failures (429, 408,
409, 5xx, timeouts, dropped connections, malformed bodies) are retried with exponential backoff and full
jitter, honouring ``Retry-After``; a request still failing after ``runtime.max_retries`` retries becomes
``Generation.failure``. A 400-class reply is that request's failure, not retried. 401/403/404 mean every
further request would fail the same way (bad key, no access, unknown model), so they raise
:class:`AdapterError` at once and stop the run before it burns through the data set.

API keys are read from the environment only, kept off ``model_args``/``identity()``/``repr``, and scrubbed
from every message this module stores or raises.
"""

from __future__ import annotations

import asyncio
import base64
import email.utils
import json
import os
import queue
import random
import threading
import time
from abc import abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

from mmlongbench_write import secrets
from mmlongbench_write.errors import AdapterError
from mmlongbench_write.schema import Generation, ImageRef, Request

from .base import ModelAdapter, RuntimeOptions
from .endpoint import server_identity

_FATAL_STATUS = {401: "authentication failed", 403: "permission denied", 404: "not found"}
_RETRY_STATUS = {408, 409, 425, 429}
_DONE = object()
#: the longest a Retry-After is honoured for; a server asking for more is waited on this long, then retried
MAX_RETRY_AFTER_S = 600.0


class TransientError(Exception):
    """A failure worth retrying (raised by adapters for replies they cannot use, e.g. no choices)."""


class MalformedResponse(TransientError):
    """A reply whose body is not what the wire format promises."""


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
    """

    default_key_env: str = "API_KEY"
    non_identity_args = frozenset(
        {"base_url", "device", "device_map", "timeout", "api_key_env", "retry_base_s", "retry_max_s"}
    )

    def __init__(self, runtime: RuntimeOptions | None = None, **model_args: Any) -> None:
        super().__init__(runtime, **model_args)
        secrets.check_key_env(model_args.get("api_key_env"), f"{self.adapter_name}: api_key_env")
        if "api_key" in model_args:
            raise AdapterError(
                f"{self.adapter_name}: do not pass api_key as a model arg (it would be recorded); "
                f"set {self.key_env} in the environment instead"
            )
        if "model" not in model_args:
            raise AdapterError(f"{self.adapter_name}: the model arg `model` is required (e.g. model=NAME)")
        self.retry_base_s = float(model_args.get("retry_base_s", 1.0))
        self.retry_max_s = float(model_args.get("retry_max_s", 60.0))
        self._secret: str | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: threading.Thread | None = None
        self._client: Any = None
        self._client_key: str | None = None
        self._rpm: TokenBucket | None = None
        self._tpm: TokenBucket | None = None

    # -- subclass hooks ------------------------------------------------------------------------
    @abstractmethod
    def _make_client(self, api_key: str) -> Any:
        """An async SDK client with its own retries off (``max_retries=0``) and ``runtime.timeout_s``."""

    @abstractmethod
    async def _call(self, client: Any, request: Request) -> Generation:
        """Send one request and turn the reply into a Generation (raise MalformedResponse if unusable)."""

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
            close = getattr(self._client, "close", None)
            if close is not None:
                try:
                    asyncio.run_coroutine_threadsafe(close(), loop).result(timeout=10)
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
        if self._client is None or self._client_key != api_key:
            self._client = self._make_client(api_key)
            self._client_key = api_key
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

    async def _with_retries(
        self, client: Any, request: Request, rpm: TokenBucket | None, tpm: TokenBucket | None
    ) -> Generation:
        start = time.perf_counter()
        estimate = self._estimate_tokens(request)
        reason = "no attempt made"
        for attempt in range(self.runtime.max_retries + 1):
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
                if verdict == "fail" or attempt == self.runtime.max_retries:
                    break
                if wait is None:  # exponential backoff with full jitter
                    wait = random.uniform(0, min(self.retry_max_s, self.retry_base_s * 2**attempt))
                wait = min(wait, MAX_RETRY_AFTER_S)
                await asyncio.sleep(wait)
                continue
            if tpm is not None:
                tpm.refund(estimate - (gen.usage.input_tokens + gen.usage.output_tokens))
            return replace(gen, latency_s=time.perf_counter() - start)
        attempts = f" after {attempt + 1} attempt{'s' if attempt else ''}"
        return Generation.failure(request.id, self.scrub(reason + attempts), time.perf_counter() - start)

    def _classify(self, exc: BaseException) -> tuple[str, str, float | None]:
        """``(verdict, reason, wait)``.

        verdict: ``retry``; ``fail`` (this request, not retried); ``fatal`` (stop the run); ``bug`` (not an
        API failure at all: re-raised with its traceback).
        """
        name = type(exc).__name__
        message = self.scrub(str(exc).strip().splitlines()[0] if str(exc).strip() else name)[:500]
        status = getattr(exc, "status_code", None)
        if "ResponseValidation" in name:  # a 2xx whose body does not fit the schema
            return "retry", f"malformed response ({name}): {message}", None
        if isinstance(status, int):
            headers = getattr(getattr(exc, "response", None), "headers", None)
            if status in _FATAL_STATUS:
                where = f" at {self.model_args['base_url']}" if self.model_args.get("base_url") else ""
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
                return "retry", f"HTTP {status}: {message}", parse_retry_after(headers)
            return "fail", f"HTTP {status} (request rejected, not retried): {message}", None
        if isinstance(exc, TransientError | json.JSONDecodeError | UnicodeDecodeError):
            return "retry", f"malformed response ({name}): {message}", None
        if "Timeout" in name or isinstance(exc, asyncio.TimeoutError | TimeoutError):
            return "retry", f"timed out after {self.runtime.timeout_s:g}s ({name})", None
        if "Connection" in name or isinstance(exc, ConnectionError | OSError):
            return "retry", f"connection error ({name}): {message}", None
        if "APIError" in {c.__name__ for c in type(exc).__mro__}:  # any other SDK error: this request's failure
            return "fail", f"{name}: {message}", None
        return "bug", f"{name}: {message}", None
