"""Is the Hugging Face hub usable from here? Answered in seconds, so offline machines fail fast.

Without this, a hub id on a machine with no network spends ~25 s in the hub client's own retries before
it fails. ``hub_unavailable()`` is true when offline mode is set or one quick TCP connect to the endpoint
fails; callers then load from the local cache only (``local_files_only=True``) or stop with one line.
"""

from __future__ import annotations

import functools
import os
import socket
from urllib.parse import urlparse

_TRUE = ("1", "true", "yes", "on")


def offline_mode_set() -> bool:
    """``HF_HUB_OFFLINE`` / ``TRANSFORMERS_OFFLINE`` / ``HF_DATASETS_OFFLINE`` set to a true value."""
    keys = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE")
    return any(os.environ.get(k, "").strip().lower() in _TRUE for k in keys)


def hub_reachable(endpoint: str | None = None, timeout: float = 3.0) -> bool:
    """One TCP connect to the hub endpoint (``HF_ENDPOINT`` or huggingface.co), once per endpoint and process."""
    return _reachable(endpoint or os.environ.get("HF_ENDPOINT", "https://huggingface.co"), timeout)


@functools.lru_cache(maxsize=8)
def _reachable(endpoint: str, timeout: float) -> bool:
    url = urlparse(endpoint)
    host = url.hostname or "huggingface.co"
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def hub_unavailable() -> bool:
    """Offline mode is set, or the hub cannot be reached: only the local cache can serve files."""
    return offline_mode_set() or not hub_reachable()
