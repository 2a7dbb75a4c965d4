"""Asking a judge model many questions at once, re-asking only those whose reply was unusable.

Both the quality judge and the pairwise judge send all their requests through one
``adapter.generate(requests)`` call per round, so API adapters run them concurrently; a reply that fails
to parse is logged with its reason and asked again in the next round (with a different seed, so a
response cache or a seeded backend cannot hand back the same bad reply), up to ``max_attempts``.
A refusal is final at once. What never parses ends as a failure with the last reason — the caller
records it as a judge failure, never as a default score.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

from mmlongbench_write.errors import ConfigError
from mmlongbench_write.model_adapters.base import ModelAdapter
from mmlongbench_write.schema import ImageRef, Request, Usage

from .parsing import JudgeReplyError

log = logging.getLogger(__name__)

H = TypeVar("H")

#: seed offset between retry rounds (attempt a uses seed + (a - 1) * RETRY_SEED_STRIDE)
RETRY_SEED_STRIDE = 1000
CACHE_MODES = ("off", "read", "write", "readwrite")


@dataclass
class Outcome(Generic[H]):
    """The end of one question: a parsed ``value`` or an ``error``, with the cost of getting there."""

    handle: H
    value: Any = None
    error: str | None = None
    attempts: int = 0
    usage: Usage = field(default_factory=Usage)
    snapshot: str | None = None
    refused: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None


def retry_seed(seed: int | None, attempt: int) -> int | None:
    """The seed of ``attempt`` (1-based): the base seed first, then shifted so a retry is a new draw."""
    if attempt <= 1:
        return seed
    return (seed or 0) + (attempt - 1) * RETRY_SEED_STRIDE


def ask_in_rounds(
    adapter: ModelAdapter,
    handles: Sequence[H],
    build: Callable[[H, int], Request],
    parse: Callable[[H, str], Any],
    max_attempts: int,
) -> Iterator[Outcome[H]]:
    """Yield one :class:`Outcome` per handle, each as soon as it is final.

    Args:
        adapter: the judge model.
        handles: one per question; ``build(handle, attempt)`` makes its request (ids must be unique).
        parse: ``parse(handle, reply_text)`` makes the value, raising :class:`JudgeReplyError` when unusable
            (it gets the handle so it can tell the judged texts, which a reply may quote, from the verdict).
        max_attempts: requests per question at most (>= 1).
    """
    if max_attempts < 1:
        raise ConfigError(f"judge max_attempts must be >= 1, got {max_attempts}")
    pending: dict[int, Outcome[H]] = {i: Outcome(handle=h) for i, h in enumerate(handles)}
    last_reason: dict[int, str] = {}
    for attempt in range(1, max_attempts + 1):
        if not pending:
            return
        by_id: dict[str, int] = {}
        requests: list[Request] = []
        for index, state in pending.items():
            request = build(state.handle, attempt)
            if request.id in by_id:
                raise ValueError(f"duplicate judge request id {request.id!r}")
            by_id[request.id] = index
            requests.append(request)
        answered: set[int] = set()
        for generation in adapter.generate(requests):
            index = by_id.get(generation.request_id, -1)
            if index not in pending or index in answered:
                continue
            answered.add(index)
            state = pending[index]
            state.attempts += 1
            state.usage = state.usage + generation.usage
            state.snapshot = generation.model or state.snapshot
            if generation.error is not None:
                reason = f"judge model error: {generation.error}"
            else:
                try:
                    state.value = parse(state.handle, generation.text)
                except JudgeReplyError as exc:
                    reason = exc.reason
                    if exc.refusal:
                        state.error, state.refused = reason, True
                        yield pending.pop(index)
                        continue
                else:
                    yield pending.pop(index)
                    continue
            last_reason[index] = reason
            log.warning("judge reply for %s unusable (attempt %d/%d): %s", generation.request_id, attempt,
                        max_attempts, reason)
        for index in set(pending) - answered:
            pending[index].attempts += 1
            last_reason[index] = "the judge model returned no reply"
    for index, state in pending.items():
        state.error = f"no valid judge reply after {state.attempts} attempt(s): {last_reason.get(index, 'unknown')}"
        yield state


def image_problem(images: Sequence[ImageRef]) -> str | None:
    """Why the judge cannot be shown these images (only a hash, a missing file), or None when it can."""
    for img in images:
        if img.data is None and (img.path is None or not Path(img.path).is_file()):
            return f"input image {img.source} (sha256 {img.sha256[:12]}) is not available to show the judge"
    return None


def check_cache_mode(mode: str) -> str:
    if mode not in CACHE_MODES:
        raise ConfigError(f"judge cache mode {mode!r}: use one of {', '.join(CACHE_MODES)}")
    return mode
