"""The ``mmlw`` command line.

Each command lives in its own module with a ``register(app)`` function, so the command groups stay
small and independent. Modules import heavy libraries inside their commands only: ``mmlw --help`` and
``mmlw leaderboard`` must not import torch.
"""

from __future__ import annotations

import importlib
import sys

import typer

from mmlongbench_write.errors import MMLWError

#: Command modules, in the order their commands appear in ``mmlw --help``.
COMMAND_MODULES: tuple[str, ...] = (
    "mmlongbench_write.cli.evaluate",  # eval, score
    "mmlongbench_write.cli.plugins",  # tasks, models, judges
    "mmlongbench_write.cli.leaderboard",  # leaderboard, compare, plot
    "mmlongbench_write.cli.judging",  # pairwise, judge-agreement
    "mmlongbench_write.cli.runs",  # merge
    "mmlongbench_write.cli.training",  # train sft|dpo, data ...
    "mmlongbench_write.cli.annotate",  # annotate init|add-user|serve|export
)


def build_app() -> typer.Typer:
    app = typer.Typer(
        name="mmlw",
        help="MMLongBench-Write: evaluate how long, and how well, vision-language models write from images.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
    )
    app.callback()(_root_options)
    for module in COMMAND_MODULES:
        importlib.import_module(module).register(app)
    return app


def _show_version(value: bool) -> None:
    if value:
        from mmlongbench_write import __version__

        print(f"mmlw {__version__}")
        raise typer.Exit(0)


def _root_options(
    version: bool = typer.Option(
        False, "--version", help="Print the version and exit.", callback=_show_version, is_eager=True
    ),
) -> None:
    """MMLongBench-Write: evaluate how long, and how well, vision-language models write from images."""


def main(argv: list[str] | None = None) -> None:
    """Entry point: runs the app, printing user errors as one line (exit 2) instead of a traceback."""
    from mmlongbench_write.secrets import install_console_scrubber

    install_console_scrubber()  # API keys in use are masked in everything printed or logged
    app = build_app()
    try:
        # outside standalone mode click returns (instead of raising) the code of a typer.Exit
        code = app(args=argv, prog_name="mmlw", standalone_mode=False)
    except MMLWError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        _interrupted()
    except SystemExit:
        raise
    except ModuleNotFoundError as exc:  # an optional library imported without extras.require
        from mmlongbench_write.extras import from_import_error

        missing = from_import_error(exc)
        if missing is None:
            raise
        print(f"error: {missing}", file=sys.stderr)
        sys.exit(missing.exit_code)
    except Exception as exc:  # click/typer usage errors arrive here in non-standalone mode
        from mmlongbench_write.cli.usage import handle

        handled = handle(exc)
        if handled is None:
            raise
        sys.exit(handled)
    if code == INTERRUPTED:  # typer turns Ctrl-C into Exit(130), which non-standalone mode returns
        _interrupted()
    if isinstance(code, int) and code:
        sys.exit(code)


INTERRUPTED = 130  # the shell's code for a process stopped by SIGINT


def _interrupted() -> None:
    """Ctrl-C: say that nothing finished is lost (every record is journalled as it arrives) and how to go on."""
    print("\ninterrupted: finished work is saved; run the same command again to resume", file=sys.stderr, flush=True)
    sys.exit(INTERRUPTED)
