"""Our own HTTP transport for the API adapters (aiohttp, imported lazily): JSON posts and server-sent events.

Bounds are ours, not an SDK's: ``idle_s`` cuts a connection on which no byte arrived for that long (the
``--timeout``), while the engine bounds each attempt as a whole (``max_request_s``). Every failure leaves
here as one of the exceptions below, so the engine classifies our types only.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator
from typing import Any

from .wire import MalformedResponse, TransientError

#: how much of an error body is read (the message is all we keep)
_ERROR_BODY_LIMIT = 64 * 1024
#: the longest single SSE line accepted (a longer one is a malformed stream)
_MAX_LINE = 8 * 1024 * 1024


class HTTPStatusError(Exception):
    """A non-2xx reply: ``status_code``, ``headers`` and the server's message."""

    def __init__(self, status_code: int, headers: Any, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.headers = headers


class ConnectionFailed(TransientError):
    """The connection could not be made, or broke before the reply was complete."""


class IdleTimeout(TransientError):
    """No byte arrived for ``idle_s`` seconds."""


def _error_message(raw: bytes) -> str:
    text = raw.decode("utf-8", "replace").strip()
    try:
        body = json.loads(text)
    except ValueError:
        return text[:500] or "(empty body)"
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return error["message"][:500]
        if isinstance(error, str):
            return error[:500]
    return text[:500]


class Transport:
    """One aiohttp session (connection pool) bound to the adapter's event loop."""

    def __init__(self, idle_s: float, pool: int) -> None:
        from mmlongbench_write.extras import require

        aiohttp = require("aiohttp", "the API adapters (openai, anthropic)")
        self._aiohttp = aiohttp
        self.idle_s = idle_s
        self._timeout = aiohttp.ClientTimeout(total=None, sock_connect=idle_s, sock_read=idle_s)
        connector = aiohttp.TCPConnector(limit=max(1, pool), ttl_dns_cache=300)
        self.session = aiohttp.ClientSession(
            connector=connector, timeout=self._timeout, auto_decompress=True, read_bufsize=2**16,
            max_line_size=_MAX_LINE, max_field_size=_MAX_LINE,
        )

    async def close(self) -> None:
        await self.session.close()

    async def post_json(self, url: str, headers: dict[str, str], body: bytes) -> Any:
        """POST ``body``; the reply parsed as JSON (MalformedResponse if it is not JSON)."""
        aiohttp = self._aiohttp
        try:
            async with self.session.post(url, data=body, headers=headers) as resp:
                if resp.status >= 300:
                    await self._raise_status(resp)
                raw = await resp.read()
        except asyncio.TimeoutError:
            raise IdleTimeout(f"no byte from the server for {self.idle_s:g}s") from None
        except aiohttp.ClientPayloadError as exc:
            raise ConnectionFailed(f"reply cut off ({type(exc).__name__})") from None
        except aiohttp.ClientError as exc:
            raise ConnectionFailed(f"{type(exc).__name__}: {exc}") from None
        return _loads(raw)

    async def post_events(self, url: str, headers: dict[str, str],
                          body: bytes) -> AsyncGenerator[tuple[str, str], None]:
        """POST ``body`` and yield ``(event, data)`` for each server-sent event.

        A 200 reply that is plain JSON rather than an event stream (a server that ignored ``stream``) is
        yielded once as ``("json", text)``.
        """
        aiohttp = self._aiohttp
        try:
            async with self.session.post(url, data=body, headers=headers) as resp:
                if resp.status >= 300:
                    await self._raise_status(resp)
                if "text/event-stream" not in resp.headers.get("Content-Type", ""):
                    yield "json", (await resp.read()).decode("utf-8", "replace")
                    return
                event, data = "", list[str]()
                content = resp.content
                while True:
                    line = await content.readline()
                    if not line:
                        break
                    line = line.rstrip(b"\r\n")
                    if not line:  # a blank line ends an event
                        if data:
                            yield event or "message", "\n".join(data)
                        event, data = "", []
                        continue
                    text = line.decode("utf-8", "replace")
                    if text.startswith(":"):  # comment / keep-alive
                        continue
                    name, _, value = text.partition(":")
                    value = value[1:] if value.startswith(" ") else value
                    if name == "data":
                        data.append(value)
                    elif name == "event":
                        event = value
                if data:  # a last event without its blank line
                    yield event or "message", "\n".join(data)
        except asyncio.TimeoutError:
            raise IdleTimeout(f"no byte from the server for {self.idle_s:g}s") from None
        except ValueError as exc:  # a line over the limit
            raise MalformedResponse(f"event stream line too long ({exc})") from None
        except aiohttp.ClientPayloadError as exc:
            raise ConnectionFailed(f"event stream cut off ({type(exc).__name__})") from None
        except aiohttp.ClientError as exc:
            raise ConnectionFailed(f"{type(exc).__name__}: {exc}") from None

    @staticmethod
    async def _raise_status(resp: Any) -> None:
        try:
            raw = await resp.content.read(_ERROR_BODY_LIMIT)
        except Exception:  # noqa: BLE001 - the status is what matters; the body is a courtesy
            raw = b""
        raise HTTPStatusError(resp.status, resp.headers, _error_message(raw))


def _loads(raw: bytes | str) -> Any:
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedResponse(f"reply is not JSON ({type(exc).__name__}: {str(exc)[:80]})") from None
