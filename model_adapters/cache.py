"""A response cache shared across runs: a wrapping adapter over the SQLite-WAL :class:`KVStore`.

The key is the full request as far as it can change the output: the adapter's identity (adapter, model,
output-changing args), the messages with images by SHA-256, the generation config and seed — not the
request id, so the same prompt hits across data sets and runs. Sampled outputs (temperature > 0) are
cached only when a seed is set: without one, a cached answer would pass off one draw as every draw.
Only successful generations are stored. Misses go to the inner adapter in one ``generate`` call, so its
concurrency is kept. SQLite's WAL plus a busy timeout lets concurrent processes share one file.
"""

from __future__ import annotations

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
#: bump when the key recipe changes, so old entries are not misread
KEY_VERSION = 1


def cache_key(identity: dict[str, Any], request: Request) -> str:
    """The cache key of ``request`` sent to the adapter with ``identity`` (request id excluded)."""
    payload = request.to_dict()
    payload.pop("id", None)
    return stable_hash({"v": KEY_VERSION, "model": identity, "request": payload})


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
        self.store = KVStore(Path(cache_dir or default_cache_dir()) / CACHE_FILE, namespace="responses")
        self.hits = 0
        self.misses = 0

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
            stored = self.store.get(key) if self.reads else None
            if stored is None:
                misses.append(request)
                continue
            self.hits += 1
            hit = Generation.from_dict(stored)
            yield replace(hit, request_id=request.id, cached=True, latency_s=0.0)
        self.misses += len(misses)
        if not misses:
            return
        for gen in self.inner.generate(misses):
            new_key = keys.get(gen.request_id)
            if self.writes and new_key is not None and gen.ok:
                self.store.put(new_key, replace(gen, cached=False).to_dict())
            yield gen

    def close(self) -> None:
        self.inner.close()
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
