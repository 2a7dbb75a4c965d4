"""Helpers for the annotation-studio tests: trees on disk, a real studio on 127.0.0.1, a raw HTTP client."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

from training_helpers import make_png

from mmlongbench_write.annotate.server import listen, make_server
from mmlongbench_write.annotate.tree import Tree
from mmlongbench_write.annotate.users import add_user

MAJOR = "计算机科学"
COURSE = "数据结构 第1讲 (栈 & 队列)"
EN_MAJOR, EN_COURSE = "physics", "optics-101"
ROOT_DIR = Path(__file__).resolve().parents[1]


def make_tree(root: Path, courses: dict[tuple[str, str], list[str]] | None = None) -> Path:
    """A hand-made tree: ``{(major, course): [page texts]}``, one 56x56 png per page."""
    courses = courses or {
        (MAJOR, COURSE): ["第1页：栈是后进先出的结构。", "第2页：队列是先进先出的结构。", "第3页：总结。"],
        (EN_MAJOR, EN_COURSE): ["Slide 1: Light travels in straight lines.", "Slide 2: Lenses bend light."],
    }
    seed = 0
    for (major, course), pages in courses.items():
        base = root / major / course
        (base / "scripts").mkdir(parents=True, exist_ok=True)
        for number, text in enumerate(pages, start=1):
            seed += 1
            (base / "scripts" / f"{number}.txt").write_text(text + "\n", encoding="utf-8")
            make_png(base / "pngs" / f"{number}.png", seed)
        (base / "instruction.txt").write_text("Write the lecture script, one part per slide.\n", encoding="utf-8")
    return root


def page_path(major: str, course: str, number: int | str) -> str:
    return f"/api/courses/{quote(major, safe='')}/{quote(course, safe='')}/pages/{number}"


class Client:
    """Raw HTTP/1.1 over http.client: the path is sent exactly as given (no normalisation of ``..``)."""

    def __init__(self, port: int, token: str | None = None) -> None:
        self.port = port
        self.token = token

    def request(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None,
                raw: bytes | None = None) -> tuple[int, dict[str, str], Any]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        sent = dict(headers or {})
        if self.token is not None and "Authorization" not in sent:
            sent["Authorization"] = f"Bearer {self.token}"
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        if data is not None:
            sent.setdefault("Content-Type", "application/json")
        try:
            conn.request(method, path, body=data, headers=sent)
            response = conn.getresponse()
            payload = response.read()
            got = {k.lower(): v for k, v in response.getheaders()}
        finally:
            conn.close()
        if "json" in got.get("content-type", ""):
            return response.status, got, json.loads(payload)
        return response.status, got, payload

    def get(self, path: str) -> tuple[int, dict[str, str], Any]:
        return self.request("GET", path)

    def put(self, path: str, text: str, base: str | None = None) -> tuple[int, dict[str, str], Any]:
        body: dict[str, Any] = {"text": text}
        if base is not None:
            body["base"] = base
        return self.request("PUT", path, body)


class Studio:
    """``mmlw annotate``'s uvicorn server for ``root``, in a thread of this process, on a free port."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.server = make_server(Tree(root))
        sock = listen("127.0.0.1", 0)
        self.port = sock.getsockname()[1]
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [sock]}, daemon=True)

    def __enter__(self) -> Studio:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("studio server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def client(self, token: str | None) -> Client:
        return Client(self.port, token)


def new_user(root: Path, name: str) -> str:
    return add_user(Tree(root).root, name)


class StudioProcess:
    """``mmlw annotate serve ROOT --port 0`` as a real subprocess (for kill -9); the port is read from stdout."""

    def __init__(self, root: Path, *extra: str) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "mmlongbench_write", "annotate", "serve", str(root), "--port", "0", *extra],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=ROOT_DIR,
        )
        self.lines: list[str] = []
        self.port = 0
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline() if self.proc.stdout else ""
            if not line:
                break
            self.lines.append(line.rstrip("\n"))
            if " at http://" in line:
                self.port = int(line.rsplit(":", 1)[1].strip().strip("/"))
            if line.startswith(("listening on", "warning: listening")):
                break
        if not self.port:
            self.kill()
            raise RuntimeError("studio did not start: " + "\n".join(self.lines))
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                status, _, _ = Client(self.port).get("/api/me")
                if status == 401:
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("studio process never answered")

    def kill(self) -> None:
        """SIGKILL: no cleanup, no flush — what a crash or an OOM kill does."""
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)
        if self.proc.stdout:
            self.proc.stdout.close()
