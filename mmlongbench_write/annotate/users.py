"""Annotators and their access tokens: only a SHA-256 of each token is stored, compared in constant time.

Tokens are 256 random bits (``secrets``), so a fast hash is enough: there is no password to guess. The
file is ``ROOT/.mmlw-annotate/users.json``, written atomically with mode 0600.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import unicodedata
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from mmlongbench_write.errors import MMLWError

from .storage import atomic_write_text
from .tree import STATE_DIR

USERS_FILE = "users.json"
MAX_USER_CHARS = 64


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def users_path(root: Path) -> Path:
    return root / STATE_DIR / USERS_FILE


def check_user_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > MAX_USER_CHARS or any(unicodedata.category(ch)[0] == "C" for ch in name):
        raise MMLWError(f"invalid annotator name {name!r}: 1 to {MAX_USER_CHARS} printable characters")
    return name


def read_users(root: Path) -> dict[str, dict[str, Any]]:
    """``name -> {"token_sha256", "created"}``; empty when nobody was added yet."""
    path = users_path(root)
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise MMLWError(f"{path}: not valid JSON ({exc.msg})") from None
    users = data.get("users") if isinstance(data, dict) else None
    if not isinstance(users, dict):
        raise MMLWError(f"{path}: expected {{\"users\": {{name: {{\"token_sha256\": ...}}}}}}")
    return users


def add_user(root: Path, name: str, *, rotate: bool = False) -> str:
    """Register ``name`` (or give it a new token with ``rotate``); returns the token, which is not stored."""
    name = check_user_name(name)
    users = read_users(root)
    if name in users and not rotate:
        raise MMLWError(f"annotator {name!r} already exists; pass --rotate to replace their token")
    if name not in users and rotate:
        raise MMLWError(f"no annotator {name!r} to rotate; add them without --rotate")
    token = secrets.token_urlsafe(32)
    users[name] = {"token_sha256": _hash(token), "created": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    path = users_path(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps({"users": users}, indent=2, ensure_ascii=False) + "\n")
    os.chmod(path, 0o600)
    return token


class TokenCheck:
    """Maps a presented token to its annotator; reloads ``users.json`` when it changes on disk."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._stamp: tuple[int, int] | None = None
        self._hashes: list[tuple[str, bytes]] = []

    def _load(self) -> None:
        path = users_path(self.root)
        try:
            stat = path.stat()
            stamp: tuple[int, int] | None = (stat.st_mtime_ns, stat.st_size)
        except FileNotFoundError:
            stamp = None
        if stamp != self._stamp or stamp is None:
            self._hashes = [(name, str(info.get("token_sha256", "")).encode("utf-8"))
                            for name, info in read_users(self.root).items()]
            self._stamp = stamp

    def user_for(self, token: str) -> str | None:
        """The annotator holding ``token``, or None. Every stored hash is compared (no early exit)."""
        self._load()
        presented = _hash(token).encode("ascii")
        found = None
        for name, stored in self._hashes:
            if hmac.compare_digest(presented, stored):
                found = name
        return found
