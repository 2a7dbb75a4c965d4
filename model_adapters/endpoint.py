"""Which server answers an API adapter: part of its identity, so caches never mix two servers' answers.

Two OpenAI-compatible servers that both call their model ``default`` are different models. The response
cache and the judge's verdict cache key on :func:`server_identity`, the adapter's ``base_url`` in a
normal form (scheme and host lower-cased, default port and trailing slashes dropped), or, without one,
the address the official SDK would use: its ``*_BASE_URL`` environment variable, else the provider's
public endpoint.
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit, urlunsplit

#: adapter name -> (environment variable the SDK reads, the SDK's default address)
SDK_DEFAULTS: dict[str, tuple[str, str]] = {
    "openai": ("OPENAI_BASE_URL", "https://api.openai.com/v1"),
    "anthropic": ("ANTHROPIC_BASE_URL", "https://api.anthropic.com"),
}
_DEFAULT_PORTS = {"http": 80, "https": 443}


def normalise_base_url(url: str) -> str:
    """``url`` in a normal form: same server, same string (``HTTP://Host:80/v1/`` -> ``http://host/v1``).

    Credentials are never part of it (they are refused before a run starts, and dropped here regardless).
    """
    text = url.strip()
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        return text.rstrip("/")
    if not parts.scheme or not parts.hostname:
        return text.rstrip("/")
    scheme = parts.scheme.lower()
    host = parts.hostname.lower()
    if ":" in host:  # IPv6
        host = f"[{host}]"
    netloc = host if port is None or _DEFAULT_PORTS.get(scheme) == port else f"{host}:{port}"
    return urlunsplit((scheme, netloc, parts.path.rstrip("/"), parts.query, ""))


def server_identity(adapter_name: str, base_url: object) -> str:
    """The server an adapter named ``adapter_name`` with ``base_url`` (None: the SDK default) talks to."""
    if isinstance(base_url, str) and base_url.strip():
        return normalise_base_url(base_url)
    env, default = SDK_DEFAULTS.get(adapter_name, ("", ""))
    from_env = os.environ.get(env, "").strip() if env else ""
    if from_env:
        return normalise_base_url(from_env)
    return default or f"{adapter_name}:default"
