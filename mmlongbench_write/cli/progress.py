"""How ``mmlw eval`` shows a run's progress on stderr: the renderer of the runner's phase events.

On a terminal, a live ``rich`` display (one bar per phase: done/total, rate, ETA, tokens, estimated cost,
cache hits, failures). Elsewhere (CI logs, a pipe) a plain line per phase at every tenth of the work and at
most every ``interval_s`` seconds in between, so logs stay short but a slow run still shows it is alive.
With ``--quiet`` nothing of the display is shown; the run's other lines (warnings, failures, batch states)
are printed in every mode.
"""

from __future__ import annotations

import sys
import time
from typing import Literal

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from mmlongbench_write.progress_events import PhaseEvent

Mode = Literal["live", "plain", "off"]
LABELS = {"generate": "generating", "caption": "captioning"}


def phase_label(phase: str) -> str:
    """``generate`` -> ``generating``, ``judge:quality`` -> ``judging (quality)``."""
    if phase.startswith("judge:"):
        return f"judging ({phase.split(':', 1)[1]})"
    return LABELS.get(phase, phase)


def phase_facts(event: PhaseEvent) -> str:
    """Tokens, cost, cache hits and failures of a phase so far, as one short text."""
    parts = [f"{event.input_tokens:,}+{event.output_tokens:,} tok"]
    if event.cost_usd is not None:
        parts.append(f"~${event.cost_usd:.4f}")
    parts.append(f"{event.cached} cached")
    parts.append(f"{event.failed} failed")
    return "  ".join(parts)


class RateColumn(ProgressColumn):
    """Items per second (or per minute, for slow phases)."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        if not speed:
            return Text("-/s")
        return Text(f"{speed:.2f}/s" if speed >= 0.1 else f"{speed * 60:.1f}/min")


class RunDisplay:
    """A sink for :class:`~mmlongbench_write.progress_events.PhaseEvent` and the run's text lines."""

    def __init__(self, mode: Mode, console: Console | None = None, interval_s: float = 10.0) -> None:
        self.mode = mode
        self.console = console or Console(stderr=True, highlight=False, soft_wrap=True)
        self.interval_s = interval_s
        self._progress: Progress | None = None
        self._tasks: dict[str, TaskID] = {}
        self._started: dict[str, float] = {}
        self._last_line: dict[str, tuple[float, int]] = {}

    @classmethod
    def for_stderr(cls, quiet: bool = False) -> RunDisplay:
        """Live on a terminal, plain lines otherwise, off with ``--quiet``."""
        console = Console(stderr=True, highlight=False, soft_wrap=True)
        if quiet:
            return cls("off", console)
        return cls("live" if console.is_terminal and sys.stderr.isatty() else "plain", console)

    # -- lifecycle ---------------------------------------------------------------------------------
    def __enter__(self) -> RunDisplay:
        if self.mode == "live":
            self._progress = Progress(
                TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), RateColumn(),
                TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(), TextColumn("{task.fields[facts]}"),
                console=self.console, transient=False, refresh_per_second=8,
            )
            self._progress.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    # -- sinks -------------------------------------------------------------------------------------
    def say(self, line: str) -> None:
        """A run line (printed above the live bars, which keep drawing below it)."""
        if self._progress is not None:
            self._progress.console.print(line, highlight=False, soft_wrap=True, markup=False)
        else:
            print(line, file=sys.stderr, flush=True)

    def __call__(self, event: PhaseEvent) -> None:
        if self.mode == "live":
            self._live(event)
        elif self.mode == "plain":
            self._plain(event)

    def _live(self, event: PhaseEvent) -> None:
        assert self._progress is not None, "use the display as a context manager"
        task = self._tasks.get(event.phase)
        if task is None:
            task = self._progress.add_task(phase_label(event.phase), total=event.total, facts="")
            self._tasks[event.phase] = task
        self._progress.update(task, completed=event.done, total=event.total, facts=phase_facts(event))
        if event.kind == "finish":
            self._progress.refresh()

    def _plain(self, event: PhaseEvent) -> None:
        now = time.monotonic()
        if event.kind == "start":
            self._started[event.phase] = now
            self._last_line[event.phase] = (now, 0)
            return
        started = self._started.get(event.phase, now)
        last_time, last_done = self._last_line.get(event.phase, (started, 0))
        step = max(1, -(-event.total // 10))
        crossed = event.done // step > last_done // step
        due = event.kind == "finish" or crossed or now - last_time >= self.interval_s
        if not due or (event.kind == "finish" and event.done == last_done and event.done != 0):
            return
        self._last_line[event.phase] = (now, event.done)
        elapsed = now - started
        rate = event.done / elapsed if elapsed > 0 else 0.0
        eta = (event.total - event.done) / rate if rate > 0 and event.done < event.total else None
        print(f"  {phase_label(event.phase)}: {event.done}/{event.total} ({elapsed:.1f}s, {rate:.2f}/s"
              + (f", ~{eta:.0f}s left" if eta is not None else "") + f")  {phase_facts(event)}",
              file=sys.stderr, flush=True)
