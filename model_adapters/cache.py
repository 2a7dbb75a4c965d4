"""A response cache shared across runs: a wrapping adapter over the SQLite-WAL :class:`KVStore`.

The key is the full request as far as it can change the output: the adapter's identity (adapter, model,
output-changing args and, for API adapters, the normalised ``server`` that answers — two servers that both
call their model ``default`` never share entries), the messages with images by SHA-256, the generation
config and seed — not the request id, so the same prompt hits across data sets and runs. Sampled outputs
(temperature > 0) are cached only when a seed is set: without one, a cached answer would pass off one draw
as every draw.
Only successful generations are stored. Misses go to the inner adapter in one ``generate`` call, so its
concurrency is kept. SQLite's WAL plus a busy timeout lets concurrent processes share one file.

The cache is never trusted: a stored answer that is not a well-formed successful generation is reported
(once) and treated as a miss, and the fresh answer replaces it. A cache file that cannot be opened, read
or written (corrupt, locked by another process past the busy timeout, read-only, disk full) is one line
on stderr, and the run goes on without the cache.
"""

from __future__ import annotations

import logging
import math
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from mmlongbench_write.errors import ConfigError
from mmlongbench_write.kvstore import KVStore, default_cache_dir, stable_hash
from mmlongbench_write.schema import Generation, Request

from .base import ModelAdapter

CACHE_MODES = ("off", "read", "write", "readwrite")
CACHE_FILE = "responses.sqlite"
#: bump when the key recipe changes, so old entries are not misread (2: the server is part of the key)
KEY_VERSION = 2
_FINISH = {"stop", "length", "unknown"}
log = logging.getLogger(__name__)


def cache_key(identity: dict[str, Any], request: Request) -> str:
    """The cache key of ``request`` sent to the adapter with ``identity`` (request id excluded)."""
    payload = request.to_dict()
    payload.pop("id", None)
    return stable_hash({"v": KEY_VERSION, "model": identity, "request": payload})


def stored_generation_problem(value: Any) -> str | None:
    """Why a stored answer cannot be used (None when it can): a successful generation of the right shape."""
    if not isinstance(value, dict):
        return f"a {type(value).__name__}, not an object"
    if not isinstance(value.get("text"), str):
        return "its text is not a string"
    if value.get("error") is not None:
        return "it records an error"
    if value.get("finish_reason", "stop") not in _FINISH:
        return f"finish_reason {value.get('finish_reason')!r} is not one of {sorted(_FINISH)}"
    usage = value.get("usage") or {}
    if not isinstance(usage, dict) or set(usage) - {"input_tokens", "output_tokens"}:
        return f"usage {usage!r} is not input_tokens/output_tokens"
    for name, count in usage.items():
        if not isinstance(count, int) or isinstance(count, bool) or count < 0:
            return f"usage.{name} = {count!r} is not a non-negative integer"
    if value.get("model") is not None and not isinstance(value["model"], str):
        return "model is not a string"
    latency = value.get("latency_s", 0.0)
    if not isinstance(latency, int | float) or isinstance(latency, bool) or not math.isfinite(latency):
        return f"latency_s {latency!r} is not a number"
    return None


def cacheable(request: Request) -> bool:
    """Greedy requests always; sampled ones only with a seed."""
    return not request.config.is_sampled or request.config.seed is not None


class CachedAdapter(ModelAdapter):
    """Wraps another adapter; looks a request up before sending it, stores successful answers."""

    def __init__(self, inner: ModelAdapter, mode: str, cache_dir: str | Path | None = None) -> None:
        if mode not in CACHE_MODES or mode == "off":
            raise ConfigError(f"--cache: expected one of read, write, readwrite here, got {mode!r}")
        super().__init__(inner.runtime, **inner.model_args)
        self.inner = inner
        self.mode = mode
        self.adapter_name = inner.adapter_name
        self.path = Path(cache_dir or default_cache_dir()) / CACHE_FILE
        self.store: KVStore | None = None
        self.hits = 0
        self.misses = 0
        self.invalid = 0
        try:
            self.store = KVStore(self.path, namespace="responses")
        except (sqlite3.Error, OSError) as exc:
            self._failed(exc)

    def _failed(self, exc: BaseException) -> None:
        """Report an unusable cache file in one line and go on without it."""
        log.warning("response cache %s is unusable (%s: %s); the run goes on without it", self.path,
                    type(exc).__name__, str(exc).splitlines()[0] if str(exc) else "")
        if self.store is not None:
            try:
                self.store.close()
            except sqlite3.Error:
                pass
        self.store = None

    def _lookup(self, key: str) -> Generation | None:
        if self.store is None or not self.reads:
            return None
        problem: str | None
        try:
            value = self.store.get(key)
        except ValueError as exc:  # a value that is not JSON
            value, problem = None, f"not JSON ({exc})"
        except (sqlite3.Error, OSError) as exc:
            self._failed(exc)
            return None
        else:
            if value is None:
                return None
            problem = stored_generation_problem(value)
        if problem is None and isinstance(value, dict):
            try:
                return Generation.from_dict({**value, "request_id": ""})
            except (TypeError, ValueError) as exc:
                problem = f"{type(exc).__name__}: {exc}"
        self.invalid += 1
        if self.invalid == 1:
            log.warning("response cache %s: ignoring a stored answer that is invalid (%s); asking the model again "
                        "(further invalid entries are counted, not reported)", self.path, problem)
        return None

    def _store(self, key: str, generation: Generation) -> None:
        if self.store is None or not self.writes:
            return
        try:
            self.store.put(key, replace(generation, cached=False).to_dict())
        except (sqlite3.Error, OSError) as exc:
            self._failed(exc)

    @property
    def model_name(self) -> str:
        return self.inner.model_name

    def identity(self) -> dict[str, Any]:
        return self.inner.identity()

    def __repr__(self) -> str:
        return f"CachedAdapter({self.inner!r}, mode={self.mode!r})"

    @property
    def reads(self) -> bool:
        return self.mode in ("read", "readwrite")

    @property
    def writes(self) -> bool:
        return self.mode in ("write", "readwrite")

    def generate(self, requests: Sequence[Request]) -> Iterator[Generation]:
        identity = self.inner.identity()
        keys: dict[str, str] = {}
        misses: list[Request] = []
        for request in requests:
            if not cacheable(request):
                misses.append(request)
                continue
            key = keys[request.id] = cache_key(identity, request)
            hit = self._lookup(key)
            if hit is None:
                misses.append(request)
                continue
            self.hits += 1
            yield replace(hit, request_id=request.id, cached=True, latency_s=0.0)
        self.misses += len(misses)
        if not misses:
            return
        for gen in self.inner.generate(misses):
            new_key = keys.get(gen.request_id)
            if new_key is not None and gen.ok:
                self._store(new_key, gen)
            yield gen

    def close(self) -> None:
        self.inner.close()
        if self.store is not None:
            self.store.close()


def with_response_cache(adapter: ModelAdapter, mode: str, cache_dir: str | Path | None = None) -> ModelAdapter:
    """``adapter`` behind the response cache in ``mode`` (off|read|write|readwrite); ``off`` returns it as is.

    ``cache_dir`` defaults to :func:`~mmlongbench_write.kvstore.default_cache_dir`; the file is
    ``responses.sqlite`` there.
    """
    if mode not in CACHE_MODES:
        raise ConfigError(f"--cache: expected one of {', '.join(CACHE_MODES)}, got {mode!r}")
    if mode == "off":
        return adapter
    return CachedAdapter(adapter, mode, cache_dir)
