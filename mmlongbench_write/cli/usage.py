"""Usage errors as one line: ``mmlw eval: no such option --modle (did you mean --model?)``.

typer 0.2x ships its own copy of click (``typer._click``) and raises that copy's exceptions, while an older
typer raises those of the ``click`` package. Both families are recognised here by class, so a typer upgrade
(or downgrade) cannot turn usage errors back into tracebacks; tests/test_usage_errors.py walks every command.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

from mmlongbench_write.arg_checks import closest

#: Prefix of every usage line when the context does not know the command path.
PROG = "mmlw"


def _click_modules() -> list[Any]:
    """The click exception modules in use: typer's bundled copy and/or the standalone package."""
    found = []
    for name in ("typer._click.exceptions", "click.exceptions"):
        try:
            found.append(importlib.import_module(name))
        except ImportError:
            continue
    return found


def _classes(name: str) -> tuple[type[BaseException], ...]:
    out: list[type[BaseException]] = []
    for mod in _click_modules():
        cls = getattr(mod, name, None)
        if isinstance(cls, type) and cls not in out:
            out.append(cls)
    if name in ("Exit", "Abort"):  # typer >= 0.2x defines these in typer.exceptions
        try:
            cls = getattr(importlib.import_module("typer.exceptions"), name, None)
        except ImportError:
            cls = None
        if isinstance(cls, type) and cls not in out:
            out.append(cls)
    return tuple(out)


def _is(exc: BaseException, name: str) -> bool:
    return isinstance(exc, _classes(name))


def _command_path(exc: BaseException) -> str:
    ctx = getattr(exc, "ctx", None)
    path = getattr(ctx, "command_path", "") if ctx is not None else ""
    return path or PROG


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:] if text else text


def _suggest(word: str, choices: list[str]) -> str:
    best = closest(word, choices)
    return f" (did you mean {best}?)" if best else ""


def _param_name(param: Any) -> str:
    opts = [o for o in (getattr(param, "opts", None) or []) if o.startswith("--")]
    if opts:
        return opts[0]
    name = getattr(param, "name", None) or "value"
    if getattr(param, "param_type_name", "") == "argument":
        return str(name).upper()
    return f"--{str(name).replace('_', '-')}"


def _all_option_names(ctx: Any) -> list[str]:
    names: list[str] = []
    command = getattr(ctx, "command", None)
    for param in getattr(command, "params", []) or []:
        names.extend(getattr(param, "opts", []) or [])
        names.extend(getattr(param, "secondary_opts", []) or [])
    return [n for n in names if n.startswith("-")]


def format_usage_error(exc: BaseException) -> str:
    """One line naming the command and what is wrong, with a did-you-mean where one is close."""
    path = _command_path(exc)
    ctx = getattr(exc, "ctx", None)
    if _is(exc, "NoSuchOption"):
        option = str(getattr(exc, "option_name", ""))
        possibilities = sorted(getattr(exc, "possibilities", None) or [])
        hint = ""
        if possibilities:
            hint = _suggest(option, possibilities) or f" (did you mean {possibilities[0]}?)"
        elif ctx is not None:
            hint = _suggest(option, _all_option_names(ctx))
        return f"{path}: no such option {option}{hint}"
    if _is(exc, "MissingParameter"):
        param = getattr(exc, "param", None)
        kind = getattr(param, "param_type_name", None) or "parameter"
        what = _param_name(param) if param is not None else _one_line(str(exc))
        return f"{path}: missing {kind} {what}"
    if _is(exc, "BadParameter"):
        param = getattr(exc, "param", None)
        message = _one_line(getattr(exc, "message", "") or str(exc))
        if param is not None:
            return f"{path}: invalid value for {_param_name(param)}: {_lower_first(message)}"
        return f"{path}: {_lower_first(_one_line(exc.format_message()))}"  # type: ignore[attr-defined]
    message = _one_line(getattr(exc, "message", "") or str(exc))
    if message.startswith("No such command"):
        name = message.split("'")[1] if message.count("'") >= 2 else ""
        command = getattr(ctx, "command", None)
        choices: list[str] = []
        if command is not None and hasattr(command, "list_commands"):
            choices = list(command.list_commands(ctx))
        hint = _suggest(name, choices)
        known = "" if hint else (f" (commands: {', '.join(choices)})" if choices else "")
        return f"{path}: no such command {name!r}{hint or known}"
    return f"{path}: {_lower_first(message.rstrip('.'))}"


def handle(exc: BaseException) -> int | None:
    """Print ``exc`` the user's way and return the exit code, or None if it is no click/typer signal."""
    if _is(exc, "NoArgsIsHelpError"):
        ctx = getattr(exc, "ctx", None)
        print(ctx.get_help() if ctx is not None else str(exc))  # help asked for by giving no arguments
        return 0
    if _is(exc, "UsageError"):
        print(format_usage_error(exc), file=sys.stderr)
        return 2
    if _is(exc, "ClickException"):
        print(f"{PROG}: {_one_line(exc.format_message())}", file=sys.stderr)  # type: ignore[attr-defined]
        return int(getattr(exc, "exit_code", 1))
    if _is(exc, "Exit"):
        return int(getattr(exc, "exit_code", 0))
    if _is(exc, "Abort"):
        print("aborted", file=sys.stderr)
        return 1
    return None
