"""The web server: Starlette routes over :class:`~rnnkit.explore.api.Explorer`, run by uvicorn.

Every answer is JSON (the page and its own static files aside). Bounds: the
request body (``Content-Length`` and the bytes actually read), and the number
of requests in work at once (``LIMITS["max_concurrent"]``; one more is
answered 429 at once rather than queued). Model work runs in worker threads,
so the event loop keeps answering. Errors are one-line JSON ``{"error": ...}``
with a 4xx status; an unexpected failure is a 500 with one line, never a
traceback, and the server keeps serving.
"""

from __future__ import annotations

import json
import threading
from importlib import resources

from starlette.applications import Starlette
from starlette.concurrency import iterate_in_threadpool, run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from .api import LIMITS, ApiError, Explorer

STATIC = {"explore.js": "application/javascript", "explore.css": "text/css"}


def page_html(data: dict | None = None) -> str:
    """The page; with ``data`` the JS and CSS are inlined and the answers embedded (the report)."""
    static = resources.files("rnnkit.explore") / "static"
    html = (static / "index.html").read_text(encoding="utf-8")
    if data is None:
        style = '<link rel="stylesheet" href="/static/explore.css">'
        script = '<script src="/static/explore.js"></script>'
        return (html.replace("<!--STYLE-->", style).replace("<!--DATA-->", "")
                .replace("<!--SCRIPT-->", script))  # fmt: skip
    css = (static / "explore.css").read_text(encoding="utf-8")
    js = (static / "explore.js").read_text(encoding="utf-8")
    payload = json.dumps(data, separators=(",", ":")).replace("</", "<\\/")
    data_tag = f'<script id="report-data" type="application/json">{payload}</script>'
    script = js.replace("</", "<" + chr(92) + "/")  # no "</script>" inside the inlined script
    return (html.replace("<!--STYLE-->", f"<style>\n{css}\n</style>")
            .replace("<!--DATA-->", data_tag)
            .replace("<!--SCRIPT-->", f"<script>\n{script}\n</script>"))  # fmt: skip


class _Slots:
    """At most ``n`` requests in work; :meth:`take` never waits."""

    def __init__(self, n: int):
        self.free = n
        self.lock = threading.Lock()

    def take(self) -> bool:
        with self.lock:
            if self.free == 0:
                return False
            self.free -= 1
            return True

    def give(self) -> None:
        with self.lock:
            self.free += 1


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": " ".join(str(message).split())[:500]}, status_code=status)


async def _body(request: Request) -> dict:
    limit = LIMITS["max_body_bytes"]
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise ApiError(413, f"the request body is larger than {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(413, f"the request body is larger than {limit} bytes")
        chunks.append(chunk)
    raw = b"".join(chunks)
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ApiError(400, f"malformed JSON: {exc}") from None
    if not isinstance(body, dict):
        raise ApiError(400, "the request body must be a JSON object")
    return body


def create_app(explorer: Explorer) -> Starlette:
    slots = _Slots(LIMITS["max_concurrent"])

    def endpoint(method):
        async def handle(request: Request) -> Response:
            try:
                body = await _body(request)
            except ApiError as exc:
                return _error(exc.status, exc.message)
            if not slots.take():
                return _error(429, "the explorer is busy; try again in a moment")
            try:
                return JSONResponse(await run_in_threadpool(method, body))
            except ApiError as exc:
                return _error(exc.status, exc.message)
            except ValueError as exc:  # a bad value the checks above did not name
                return _error(400, str(exc))
            except Exception as exc:  # noqa: BLE001 - one line, never a traceback
                return _error(500, f"internal error: {type(exc).__name__}: {exc}")
            finally:
                slots.give()

        return handle

    async def stream(request: Request) -> Response:
        try:
            body = await _body(request)
            if not slots.take():
                return _error(429, "the explorer is busy; try again in a moment")
        except ApiError as exc:
            return _error(exc.status, exc.message)
        try:
            events = await run_in_threadpool(explorer.generate_stream, body)
        except (ApiError, ValueError) as exc:
            slots.give()
            return _error(getattr(exc, "status", 400), getattr(exc, "message", str(exc)))

        def lines():
            try:
                for event in events:
                    yield json.dumps(event) + "\n"
            except Exception as exc:  # noqa: BLE001 - the stream ends with one error line
                yield json.dumps({"error": f"{type(exc).__name__}: {exc}"}) + "\n"
            finally:
                slots.give()

        return StreamingResponse(iterate_in_threadpool(lines()), media_type="application/x-ndjson")

    async def models(request: Request) -> Response:
        return JSONResponse(explorer.list_models())

    async def index(request: Request) -> Response:
        return HTMLResponse(page_html())

    async def static(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in STATIC:
            return _error(404, f"no static file {name!r}")
        text = (resources.files("rnnkit.explore") / "static" / name).read_text(encoding="utf-8")
        return Response(text, media_type=STATIC[name])

    async def http_error(request: Request, exc: HTTPException) -> Response:
        return _error(exc.status_code, exc.detail)

    async def server_error(request: Request, exc: Exception) -> Response:
        return _error(500, f"internal error: {type(exc).__name__}")

    routes = [
        Route("/", index),
        Route("/static/{name}", static),
        Route("/api/models", models, methods=["GET"]),
        Route("/api/generate", endpoint(explorer.generate), methods=["POST"]),
        Route("/api/generate/stream", stream, methods=["POST"]),
        Route("/api/trace", endpoint(explorer.trace), methods=["POST"]),
        Route("/api/classify", endpoint(explorer.classify), methods=["POST"]),
        Route("/api/cells", endpoint(explorer.cells), methods=["POST"]),
        Route("/api/gradients", endpoint(explorer.gradients), methods=["POST"]),
    ]
    handlers = {HTTPException: http_error, Exception: server_error}
    return Starlette(routes=routes, exception_handlers=handlers)


def serve(explorer: Explorer, host: str, port: int, ready=None) -> None:
    """Bind ``host:port`` (0: any free port), call ``ready(url)``, serve until Ctrl-C.

    A port that cannot be bound raises ``OSError`` before anything is printed.
    """
    import socket

    import uvicorn

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise OSError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.listen(128)
    bound = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    config = uvicorn.Config(create_app(explorer), log_level="warning", access_log=False,
                            timeout_graceful_shutdown=2)  # fmt: skip
    server = uvicorn.Server(config)
    if ready is not None:
        ready(f"http://{shown}:{bound}/")
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
