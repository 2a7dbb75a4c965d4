"""User-facing errors.

Every error a user can cause (bad data, bad flags, a missing dependency, a rejected API key) is raised
as an :class:`MMLWError`. The CLI prints it as one line, ``error: <message>``, and exits with code 2 —
never a traceback. Anything else escaping is a bug and keeps its traceback.
"""

from __future__ import annotations

#: Exit codes of the ``mmlw`` command line (README, "Exit codes").
EXIT_OK = 0  # the run is complete: every sample generated and judged
EXIT_REGRESSION = 1  # `mmlw compare`: a metric regressed significantly
EXIT_USAGE = 2  # a usage error or unusable input: nothing was run, or one clear error line
EXIT_STOPPED = 3  # the run stopped cleanly (cost limit reached); re-run to resume
EXIT_INCOMPLETE = 4  # the run finished its session with work left (failed generations or verdicts)
EXIT_INTERRUPTED = 130  # Ctrl-C: finished work is saved


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message ("" when it has none): a library's multi-line message quoted
    whole would break the one-line rule of every error mmlw prints."""
    lines = str(exc).splitlines()
    return lines[0] if lines else ""


class MMLWError(Exception):
    """An error caused by the user's input or environment; printed as one line by the CLI."""

    exit_code: int = 2


class ConfigError(MMLWError):
    """A flag, spec or config file that cannot be used."""


class DataError(MMLWError):
    """A data set, sample or field that cannot be used.

    Args:
        message: what is wrong.
        sample_id: the sample at fault, when there is one.
        field: the field at fault, when there is one.
    """

    def __init__(self, message: str, *, sample_id: str | None = None, field: str | None = None) -> None:
        where = []
        if sample_id is not None:
            where.append(f"sample {sample_id!r}")
        if field is not None:
            where.append(f"field {field!r}")
        prefix = f"{', '.join(where)}: " if where else ""
        super().__init__(prefix + message)
        self.sample_id = sample_id
        self.field = field


class OutputError(MMLWError):
    """An output folder that cannot be created or written (a file, read-only, full)."""


class AdapterError(MMLWError):
    """A model adapter that cannot run: missing dependency, no device, rejected credentials."""


class PluginNotFound(MMLWError):
    """A task, model or judge name that is not registered."""


class BudgetExceeded(MMLWError):
    """The run reached its cost limit; finished work is kept and the run can be resumed."""


class ServerFailing(MMLWError):
    """An API server failing every request (5xx, refused connections): the run stops, resumable later."""

    exit_code = EXIT_STOPPED
