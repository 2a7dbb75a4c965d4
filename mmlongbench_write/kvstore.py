"""A small persistent key -> JSON store on SQLite in WAL mode, safe for concurrent processes.

The response cache (model outputs) and the judgement cache build on it. WAL lets readers run beside one
writer; ``busy_timeout`` makes concurrent writers wait instead of failing; every put is its own
transaction, so a crash loses at most the value being written.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from .secrets import scrub

#: how long a write waits for another process's lock before the cache gives up (and the run goes on
#: without it); every put is one short transaction, so a healthy writer never comes near it
BUSY_TIMEOUT_S = 15.0


def default_cache_dir() -> Path:
    """``$MMLW_CACHE_DIR``, else ``$XDG_CACHE_HOME/mmlw``, else ``~/.cache/mmlw``."""
    if os.environ.get("MMLW_CACHE_DIR"):
        return Path(os.environ["MMLW_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "mmlw"


def stable_hash(obj: Any) -> str:
    """SHA-256 of the canonical JSON of ``obj`` (sorted keys, no whitespace)."""
    data = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(data.encode("utf-8")).hexdigest()


class KVStore:
    """``get``/``put`` of JSON values under string keys in one SQLite table, per namespace."""

    def __init__(self, path: str | Path, namespace: str = "default") -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.namespace = namespace
        self._local = threading.local()
        conn = self._conn()
        conn.execute(
            "CREATE TABLE IF NOT EXISTS kv (ns TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,"
            " created REAL, PRIMARY KEY (ns, key))"
        )
        conn.commit()

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
            try:
                conn.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
            except sqlite3.Error:
                conn.close()
                raise
            self._local.conn = conn
        return conn

    def get(self, key: str) -> Any | None:
        row = self._conn().execute("SELECT value FROM kv WHERE ns=? AND key=?", (self.namespace, key)).fetchone()
        return None if row is None else json.loads(row[0])

    def put(self, key: str, value: Any) -> None:
        self._conn().execute(
            "INSERT OR REPLACE INTO kv (ns, key, value, created) VALUES (?, ?, ?, ?)",
            (self.namespace, key, scrub(json.dumps(value, ensure_ascii=False)), time.time()),
        )

    def __len__(self) -> int:
        row = self._conn().execute("SELECT COUNT(*) FROM kv WHERE ns=?", (self.namespace,)).fetchone()
        return int(row[0])

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
