"""Secrets: one registry of the key values in use, scrubbed from everything mmlw writes or prints.

Two defences, because either alone leaks:

* **Scrubbing.** An API adapter registers the key it reads (:func:`register`). Every writer — atomic file
  writes and JSONL files (:mod:`~mmlongbench_write.runstore`), the journal, the KV caches, the runner's
  progress lines, and in the CLI ``sys.stdout``/``sys.stderr`` and log records — passes its text through
  :func:`scrub`, so a key that comes back inside a model's answer, a server's error body or any field
  is written as ``***``. Values shorter than :data:`MIN_SECRET_LEN` are not registered (a local server's
  dummy key ``x`` must not blank out every ``x`` of a response).
* **Refusal.** Keys belong in the environment. :func:`check_args` refuses, in one line that never shows
  the value, any argument whose *name* says it holds a secret (``key``, ``api_key``, ``authorization``,
  ``token``...), any URL carrying credentials (``user:key@`` or ``?key=``), and any value equal to a
  secret-named environment variable's value; :func:`check_key_env` refuses an ``api_key_env`` that is
  not an environment variable name (most likely the key itself).
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
import sys
import threading
from collections.abc import Mapping
from typing import Any, TextIO
from urllib.parse import parse_qsl, urlsplit

from .errors import ConfigError

#: what a scrubbed secret is replaced by
MASK = "***"
#: shorter values are not treated as secrets (see the module docstring)
MIN_SECRET_LEN = 8

_lock = threading.Lock()
_values: set[str] = set()
_patterns: tuple[str, ...] = ()

#: argument names that hold a secret (matched on the whole name, case-insensitive)
_SECRET_NAME = re.compile(
    r"^(?:.*[_-])?(?:api[_-]?key|apikey|key|secret|secret[_-]?key|password|passwd|pwd|credentials?|"
    r"authorization|auth|bearer|cookie|private[_-]?key|access[_-]?key)$"
    r"|^(?:.*[_-])?(?:api|access|auth|hf|bearer|session|refresh|id|secret)[_-]?token$|^token$",
    re.IGNORECASE,
)
#: names the pattern would catch that are known request settings, not credentials
_NOT_SECRET_NAMES = frozenset({"prompt_cache_key", "idempotency_key"})
#: query parameters of a URL that carry a credential
_SECRET_QUERY = re.compile(r"^(?:.*[_-])?(?:key|api[_-]?key|token|access[_-]?token|secret|password|sig|signature)$",
                           re.IGNORECASE)
#: environment variables whose values are treated as secrets when they turn up as argument values
_SECRET_ENV = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL)", re.IGNORECASE)
#: environment variables registered as secrets by the CLI (whole words: TOKENIZERS_PARALLELISM is not one)
_SECRET_ENV_NAME = re.compile(r"(?:^|_)(?:API_?KEY|KEY|TOKEN|SECRET|PASSWORD|PASSWD)(?:_|$)", re.IGNORECASE)
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
#: prefixes of common provider keys (OpenAI, Anthropic, Hugging Face, Google, xAI, Groq, GitHub)
_KEY_PREFIX = re.compile(r"^(?:sk-|sk_|rk-|pk-|hf_|AIza|xai-|gsk_|ghp_|gho_|github_pat_)", re.IGNORECASE)


class SecretArgError(ConfigError):
    """A secret given where it would be recorded (an argument, a URL); the message never holds the value."""


# -- the registry --------------------------------------------------------------------------------------
def register(value: str | None) -> None:
    """Treat ``value`` as a secret from now on (ignored when empty or shorter than MIN_SECRET_LEN)."""
    global _patterns
    if not value:
        return
    value = value.strip()
    if len(value) < MIN_SECRET_LEN:
        return
    with _lock:
        if value in _values:
            return
        _values.add(value)
        forms = set(_values) | {json.dumps(v, ensure_ascii=False)[1:-1] for v in _values}
        forms |= {json.dumps(v)[1:-1] for v in _values}  # as an ASCII-escaped JSON string holds it
        _patterns = tuple(sorted(forms, key=len, reverse=True))  # longest first: no partial masks


def registered() -> int:
    """How many secret values are registered (never the values themselves)."""
    return len(_values)


def clear() -> None:
    """Forget every registered value (tests start from a clean registry)."""
    global _patterns
    with _lock:
        _values.clear()
        _patterns = ()


def scrub(text: str) -> str:
    """``text`` with every registered secret (raw, or escaped as JSON writes it) replaced by ``***``."""
    patterns = _patterns
    if not patterns or not text:
        return text
    for pattern in patterns:
        if pattern in text:
            text = text.replace(pattern, MASK)
    return text


def scrub_value(value: Any) -> Any:
    """A copy of a JSON-like ``value`` with :func:`scrub` applied to every string (keys included)."""
    if not _patterns:
        return value
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, dict):
        return {scrub(k) if isinstance(k, str) else k: scrub_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(scrub_value(v) for v in value)
    return value


def contains_secret(text: str) -> bool:
    return any(p in text for p in _patterns)


# -- refusal of secrets given as arguments ------------------------------------------------------------
def is_secret_name(name: str) -> bool:
    """Whether an argument called ``name`` would hold a secret (``api_key_env`` names one, so it does not)."""
    name = name.strip()
    return name.lower() not in _NOT_SECRET_NAMES and bool(_SECRET_NAME.match(name))


def _env_secret_values() -> set[str]:
    return {v.strip() for k, v in os.environ.items() if _SECRET_ENV.search(k) and len(v.strip()) >= MIN_SECRET_LEN}


def url_problem(value: str) -> str | None:
    """Why the URL ``value`` may not be recorded (credentials in it), or None."""
    if "://" not in value:
        return None
    try:
        parts = urlsplit(value.strip())
    except ValueError:
        return None
    if parts.username or parts.password or "@" in parts.netloc:
        return "a URL with credentials (user:key@host)"
    for name, _ in parse_qsl(parts.query, keep_blank_values=True):
        if _SECRET_QUERY.match(name):
            return f"a URL whose query carries {name!r}"
    return None


def check_args(flag: str, args: Mapping[str, Any] | None) -> None:
    """Refuse ``args`` holding a secret, naming the flag and the argument but never the value.

    Raises :class:`SecretArgError` (exit 2).
    """
    if not args:
        return
    env_secrets: set[str] | None = None
    advice = ("keys are read from the environment only (OPENAI_API_KEY, ANTHROPIC_API_KEY, or the "
              "variable named by api_key_env=NAME)")
    for name, value in args.items():
        name = str(name)
        if name == "api_key_env":
            check_key_env(value, f"{flag} api_key_env")
            continue
        if is_secret_name(name):
            raise SecretArgError(f"{flag}: {name!r} looks like a secret and would be recorded; {advice}")
        for text in _strings(value):
            problem = url_problem(text)
            if problem is not None:
                raise SecretArgError(f"{flag}: {name!r} is {problem}, which would be recorded; "
                                     f"drop the credentials from the URL; {advice}")
            if env_secrets is None:
                env_secrets = _env_secret_values() | set(_values)
            if text.strip() in env_secrets or contains_secret(text):
                raise SecretArgError(f"{flag}: the value of {name!r} is a secret (an API key from the "
                                     f"environment) and would be recorded; {advice}")


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, Mapping):
        return [s for k, v in value.items() for s in (*_strings(k), *_strings(v))]
    if isinstance(value, list | tuple | set):
        return [s for v in value for s in _strings(v)]
    return []


def looks_like_key(value: str) -> bool:
    """Whether ``value``, given where an environment variable *name* was expected, is more likely a key."""
    value = value.strip()
    if not _ENV_NAME.match(value) or _KEY_PREFIX.match(value):
        return True
    if value in _values or value in _env_secret_values():
        return True
    # names are words joined by underscores; a long run of mixed case and digits is a token
    mixed = any(c.islower() for c in value) and any(c.isupper() for c in value) and any(c.isdigit() for c in value)
    return len(value) >= 20 and "_" not in value and mixed


def shown(value: str) -> str:
    """``repr(value)`` for a message, unless it looks like a key (then a placeholder that says so)."""
    text = value.strip()
    looks = bool(_KEY_PREFIX.match(text)) or contains_secret(text) or text in _env_secret_values() or (
        len(text) >= 20 and not any(c in text for c in " =/") and looks_like_key(text))
    return "an item that looks like a key (not shown)" if looks else repr(value)


def register_environment_secrets() -> None:
    """Register the values of secret-named environment variables (``OPENAI_API_KEY``, ``HF_TOKEN``...),
    so they are masked even before an adapter reads them (a key pasted into the wrong flag, say)."""
    for name, value in os.environ.items():
        if _SECRET_ENV_NAME.search(name):
            register(value)


def check_key_env(value: Any, flag: str = "api_key_env") -> None:
    """Refuse an ``api_key_env`` that is not a variable name (most likely the key itself), without echoing it."""
    if value is None or value == "":
        return
    if not isinstance(value, str) or looks_like_key(value):
        register(str(value))  # should it reach a message anyway, it is masked
        raise SecretArgError(
            f"{flag}: expects the NAME of an environment variable (e.g. api_key_env=MY_SERVER_KEY), and the "
            "value given looks like a key itself; it is not shown. Put the key in that variable instead"
        )


# -- console and logs ---------------------------------------------------------------------------------
class _ScrubbingStream(io.TextIOBase):
    """A text stream that scrubs every write before handing it to the real stream."""

    def __init__(self, inner: TextIO) -> None:
        self._inner = inner

    def write(self, text: str) -> int:
        self._inner.write(scrub(text))
        return len(text)

    def flush(self) -> None:
        self._inner.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def isatty(self) -> bool:
        return self._inner.isatty()

    def fileno(self) -> int:
        return self._inner.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return str(getattr(self._inner, "encoding", "utf-8"))


_installed = False


def install_console_scrubber() -> None:
    """Scrub ``sys.stdout``, ``sys.stderr`` and every log record from now on, with the secret-named
    environment variables registered (the CLI calls this first)."""
    global _installed
    register_environment_secrets()
    if not isinstance(sys.stdout, _ScrubbingStream):
        sys.stdout = _ScrubbingStream(sys.stdout)  # type: ignore[assignment]
    if not isinstance(sys.stderr, _ScrubbingStream):
        sys.stderr = _ScrubbingStream(sys.stderr)  # type: ignore[assignment]
    if _installed:
        return
    _installed = True
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        if _patterns:
            try:
                message = record.getMessage()
            except Exception:  # noqa: BLE001 - a bad format string stays the logging module's problem
                return record
            record.msg, record.args = scrub(message), None
        return record

    logging.setLogRecordFactory(factory)
