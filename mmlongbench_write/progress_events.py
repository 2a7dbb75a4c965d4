"""Typed progress events: what the runner reports about each phase (generating, judging) as it goes.

The runner only counts; whoever passes a sink decides how to show it (the CLI draws a live display or
prints periodic lines, ``mmlongbench_write.cli.progress``). A library caller that passes no sink gets
nothing. Every event is a cumulative snapshot of its phase, so a sink may drop events without losing
track (it only ever needs the latest one).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Literal

from .schema import Usage

if TYPE_CHECKING:
    from .pricing import Price

EventKind = Literal["start", "advance", "finish"]


@dataclass(frozen=True)
class PhaseEvent:
    """The state of one phase (``generate`` or ``judge:<slot>``) after its latest step."""

    phase: str
    kind: EventKind
    total: int
    done: int = 0  # finished items, failed ones included
    failed: int = 0
    cached: int = 0  # answered by the response cache
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float | None = None  # estimated, list prices; None while no item had a known price


EventSink = Callable[[PhaseEvent], None]


class PhaseTracker:
    """Counts one phase's items and sends a snapshot to ``sink`` at its start, after each item and at its end."""

    def __init__(self, sink: EventSink | None, phase: str, total: int,
                 table: Mapping[str, Price] | None = None) -> None:
        self.sink = sink
        self.table = table
        self.state = PhaseEvent(phase, "start", total)

    def _emit(self, kind: EventKind) -> None:
        self.state = replace(self.state, kind=kind)
        if self.sink is not None:
            self.sink(self.state)

    def start(self) -> None:
        self._emit("start")

    def advance(self, *, ok: bool, usage: Usage, model: str, cached: bool = False) -> None:
        """One item finished; its tokens count (and cost, unless the cache answered it)."""
        s = self.state
        cost = s.cost_usd
        if not cached and (usage.input_tokens or usage.output_tokens):
            from .pricing import estimate_cost

            price = estimate_cost(model, usage, self.table)
            if price is not None:
                cost = (cost or 0.0) + price
        self.state = replace(s, done=s.done + 1, failed=s.failed + (not ok), cached=s.cached + cached,
                             input_tokens=s.input_tokens + usage.input_tokens,
                             output_tokens=s.output_tokens + usage.output_tokens, cost_usd=cost)
        self._emit("advance")

    def finish(self) -> None:
        self._emit("finish")
