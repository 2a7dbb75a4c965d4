"""The studio's web server: a Starlette app (JSON API + one static page) run by uvicorn.

Every ``/api`` call needs ``Authorization: Bearer <token>``; the page (``/``, ``/static/*``) holds no data
and is public. Responses carry a strict Content-Security-Policy (scripts and styles from this server only,
no inline code), and the page writes texts with ``textContent`` / ``value`` only, so no revision is ever
rendered as HTML. The API is documented in docs/annotate.md.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

from mmlongbench_write.errors import MMLWError

from .storage import MAX_REVISION_CHARS, RevisionTooLarge, StaleBase, read_history, read_page, save_page
from .tree import NotFound, PathRefused, Tree
from .users import TokenCheck, read_users

STATIC = Path(__file__).resolve().parent / "static"
MAX_BODY_BYTES = 4 * MAX_REVISION_CHARS + 4096
LOOPBACK = {"127.0.0.1", "::1", "localhost"}
SECURITY_HEADERS = [
    (b"content-security-policy", b"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob:; "
                                 b"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-store"),
]
_IMAGE_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".webp": "image/webp"}


def _require_web() -> None:
    from mmlongbench_write.extras import require

    require("starlette", "`mmlw annotate serve`")
    require("uvicorn", "`mmlw annotate serve`")


class _SecurityHeaders:
    """ASGI middleware adding :data:`SECURITY_HEADERS` to every response."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        async def send_with_headers(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS]
            await send(message)

        await self.app(scope, receive, send_with_headers if scope["type"] == "http" else send)


def page_url(major: str, course: str, number: int) -> str:
    return f"/api/courses/{quote(major, safe='')}/{quote(course, safe='')}/pages/{number}"


def course_summary(tree: Tree, major: str, course: str) -> dict[str, Any]:
    """``{"major", "course", "pages", "revised", "annotators": {name: pages whose current text is theirs}}``."""
    numbers = tree.pages(major, course)
    revised = 0
    annotators: dict[str, int] = {}
    for number in numbers:
        state = read_page(tree.page(major, course, number))
        if state.revision is not None:
            revised += 1
            who = state.author or "(outside the studio)"
            annotators[who] = annotators.get(who, 0) + 1
    return {"major": major, "course": course, "pages": len(numbers), "revised": revised, "annotators": annotators}


def create_app(tree: Tree) -> Any:
    """The Starlette application serving ``tree``."""
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.requests import Request
    from starlette.responses import FileResponse, JSONResponse, Response
    from starlette.routing import Mount, Route
    from starlette.staticfiles import StaticFiles

    tokens = TokenCheck(tree.root)

    def error(status: int, message: str, **extra: Any) -> JSONResponse:
        return JSONResponse({"error": message, **extra}, status_code=status)

    def api(handler: Callable[[Request, str], Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            scheme, _, token = request.headers.get("authorization", "").partition(" ")
            user = tokens.user_for(token.strip()) if scheme.lower() == "bearer" and token.strip() else None
            if user is None:
                return JSONResponse({"error": "missing or invalid token (Authorization: Bearer <token>)"},
                                    status_code=401, headers={"www-authenticate": "Bearer"})
            try:
                return await handler(request, user)
            except PathRefused as exc:
                return error(403, str(exc))
            except NotFound as exc:
                return error(404, str(exc))
            except StaleBase as exc:
                state = exc.current
                return error(409, str(exc), revision=state.revision, version=state.version, author=state.author)
            except RevisionTooLarge as exc:
                return error(413, str(exc))

        return endpoint

    def names(request: Request) -> tuple[str, str]:
        return request.path_params["major"], request.path_params["course"]

    async def me(request: Request, user: str) -> Response:
        return JSONResponse({"user": user})

    async def courses(request: Request, user: str) -> Response:
        def listing() -> list[dict[str, Any]]:
            rows = []
            for major, name in tree.courses():
                try:
                    rows.append(course_summary(tree, major, name))
                except PathRefused as exc:  # one course with a folder leading out must not hide the others
                    rows.append({"major": major, "course": name, "pages": 0, "revised": 0, "annotators": {},
                                 "error": str(exc)})
            return rows

        return JSONResponse(await run_in_threadpool(listing))

    async def course(request: Request, user: str) -> Response:
        major, name = names(request)

        def detail() -> dict[str, Any]:
            base = tree.course_dir(major, name)
            instruction = base / "instruction.txt"
            pages = []
            for number in tree.pages(major, name):
                state = read_page(tree.page(major, name, number))
                pages.append({"page": number, "revised": state.revision is not None, "author": state.author})
            text = instruction.read_text(encoding="utf-8").strip() if instruction.is_file() else None
            return {"major": major, "course": name, "instruction": text, "pages": pages}

        return JSONResponse(await run_in_threadpool(detail))

    async def get_page(request: Request, user: str) -> Response:
        major, name = names(request)
        number = request.path_params["i"]

        def read() -> dict[str, Any]:
            files = tree.page(major, name, number)
            state = read_page(files)
            numbers = tree.pages(major, name)
            at = numbers.index(number)
            return {
                "image_url": page_url(major, name, number) + "/image" if files.image else None,
                "original": state.original, "revision": state.revision, "version": state.version,
                "author": state.author, "page": number,
                "previous": numbers[at - 1] if at > 0 else None,
                "next": numbers[at + 1] if at + 1 < len(numbers) else None,
            }

        return JSONResponse(await run_in_threadpool(read))

    async def put_page(request: Request, user: str) -> Response:
        major, name = names(request)
        number = request.path_params["i"]
        if int(request.headers.get("content-length") or 0) > MAX_BODY_BYTES:
            return error(413, f"request body over {MAX_BODY_BYTES} bytes")
        try:
            body = json.loads(await request.body())
        except (json.JSONDecodeError, UnicodeDecodeError):
            return error(400, 'body must be JSON: {"text": "...", "base": "<version from GET>"}')
        if not isinstance(body, dict) or not isinstance(body.get("text"), str):
            return error(400, 'body must be a JSON object with a string "text"')
        base = body.get("base")
        if base is not None and not isinstance(base, str):
            return error(400, '"base" must be the version string returned by GET, or omitted')

        def write() -> dict[str, Any]:
            files = tree.page(major, name, number)
            result = save_page(files, body["text"], user=user, base=base)
            return {"version": result.version, "changed": result.changed, "saved_at": result.saved_at}

        return JSONResponse(await run_in_threadpool(write))

    async def image(request: Request, user: str) -> Response:
        major, name = names(request)
        files = await run_in_threadpool(tree.page, major, name, request.path_params["i"])
        if files.image is None:
            raise NotFound(f"page {files.number} of {major}/{name} has no image")
        return FileResponse(files.image, media_type=_IMAGE_TYPES.get(files.image.suffix.lower()))

    async def history(request: Request, user: str) -> Response:
        major, name = names(request)

        def read() -> list[dict[str, Any]]:
            records = read_history(tree.page(major, name, request.path_params["i"]))
            keys = ("time", "user", "previous", "previous_version", "version")
            return [{k: r.get(k) for k in keys} for r in records]

        return JSONResponse(await run_in_threadpool(read))

    async def index(request: Request) -> Response:
        return FileResponse(STATIC / "index.html", media_type="text/html; charset=utf-8")

    page = "/api/courses/{major}/{course}/pages/{i:int}"
    routes = [
        Route("/", index),
        Route("/api/me", api(me)),
        Route("/api/courses", api(courses)),
        Route("/api/courses/{major}/{course}", api(course)),
        Route(page, api(get_page), methods=["GET"]),
        Route(page, api(put_page), methods=["PUT"]),
        Route(page + "/image", api(image)),
        Route(page + "/history", api(history)),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    return _SecurityHeaders(Starlette(routes=routes))


def listen(host: str, port: int) -> socket.socket:
    """A listening socket (``port`` 0: any free port); one clear error when the address is unusable."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise MMLWError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.listen(128)
    return sock


def make_server(tree: Tree) -> Any:
    """A uvicorn server for ``tree`` (call ``.run(sockets=[listen(host, port)])``)."""
    _require_web()
    import uvicorn

    config = uvicorn.Config(create_app(tree), log_level="warning", access_log=False, lifespan="off")
    return uvicorn.Server(config)


def serve(root: str | Path, host: str = "127.0.0.1", port: int = 8765,
          announce: Callable[[str], None] = print) -> None:
    """Serve the studio for ``root`` until interrupted; says where, and whether it is loopback only."""
    _require_web()
    tree = Tree(root)
    if not read_users(tree.root):
        raise MMLWError(f"{root}: no annotators yet; add one with `mmlw annotate add-user {root} NAME`")
    courses = tree.courses()
    if not courses:
        raise MMLWError(f"{root}: no courses (expected <major>/<course>/scripts/<i>.txt)")
    server = make_server(tree)
    sock = listen(host, port)
    shown = f"[{host}]" if ":" in host else host
    announce(f"serving {len(courses)} courses from {tree.root} at http://{shown}:{sock.getsockname()[1]}/")
    if host in LOOPBACK:
        announce("listening on the loopback interface only (this machine); --host 0.0.0.0 opens it to the network")
    else:
        announce(f"warning: listening on {host}: anyone who can reach this machine can try tokens, and without "
                 "TLS in front, tokens and texts cross the network in clear")
    server.run(sockets=[sock])
