"""The web server: Starlette routes over :class:`~rnnkit.explore.api.Explorer`, run by uvicorn.

Every answer is JSON (the page and its own static files aside), written with
``\\u`` escapes for non-ASCII (any string can be sent) and no NaN. Bounds:

* the request body: ``Content-Length`` and the bytes actually read at most
  ``LIMITS["max_body_bytes"]`` (413); JSON nested, integers and non-finite
  numbers bounded by :func:`~rnnkit.explore.api.parse_body` (400);
* time (``timeout``, 10 s by default; ``rnnkit explore --timeout``): a
  request's line and headers must arrive within ``timeout`` of the connection
  opening or of the previous answer on a kept-alive connection, else the
  connection is closed (uvicorn has no such bound: :func:`guarded_protocol`);
  its body within ``timeout`` of the headers, else 408 and the connection
  closed; a kept-alive connection idle for ``min(5 s, timeout)`` is closed;
  a request's head still incomplete past :data:`MAX_HEAD_BYTES` is refused
  (h11's incomplete-event bound: 400);
* work: at most ``LIMITS["max_concurrent"]`` requests at once (one more is
  answered 429 at once rather than queued). A streaming generation holds its
  slot until it ends or the client goes: between two characters it checks
  for the disconnect (and a write the client does not take within
  ``timeout`` ends it too), and the slot is given back in a ``finally``, so
  also when the stream is cancelled. Its first character is computed before
  the answer starts, so a request that fails at once is a 4xx, not a 200 that
  breaks off.

Model work runs in worker threads, so the event loop keeps answering. Errors
are one-line JSON ``{"error": ...}`` with a 4xx status; an unexpected failure
is a 500 with one line, never a traceback, and the server keeps serving.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Generator
from importlib import resources

import anyio
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from . import views
from .api import LIMITS, ApiError, Explorer, parse_body

STATIC = {"explore.js": "application/javascript", "explore.css": "text/css"}

#: the probing views' endpoints (:mod:`.views`): path -> function (explorer, body)
PROBES = {
    "/api/match": views.match,
    "/api/steer": views.steer,
    "/api/sentiment/states": views.sentiment_states,
    "/api/sentiment/cells": views.sentiment_cells,
    "/api/sentiment/ablate": views.sentiment_ablate,
}

#: a request line and headers still incomplete past this many bytes are refused (400)
MAX_HEAD_BYTES = 16 * 1024
#: seconds a client has for each request's line, headers and body (``rnnkit explore --timeout``)
TIMEOUT = 10.0


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


class _Json(JSONResponse):
    """JSON with ``\\u`` escapes (a lone surrogate from a request can always be sent back)."""

    def render(self, content) -> bytes:
        return json.dumps(content, allow_nan=False, separators=(",", ":")).encode("ascii")


def _error(status: int, message: str, headers: dict | None = None) -> Response:
    return _Json({"error": " ".join(str(message).split())[:500]}, status_code=status,
                 headers=headers)  # fmt: skip


def _failure(exc: Exception) -> Response:
    """An exception from model work as a one-line answer: its 4xx, 400 for a bad value, or 500."""
    if isinstance(exc, ApiError):
        return _error(exc.status, exc.message)
    if isinstance(exc, ValueError):  # a bad value the checks did not name
        return _error(400, str(exc))
    return _error(500, f"internal error: {type(exc).__name__}: {exc}")


class _Gone(Exception):
    """The client went away before its request body was read."""


async def _body(request: Request, timeout: float) -> dict:
    """The request body, read within ``timeout`` seconds (408) and at most
    ``LIMITS["max_body_bytes"]`` (413), parsed by :func:`~rnnkit.explore.api.parse_body`."""
    limit = LIMITS["max_body_bytes"]
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise ApiError(413, f"the request body is larger than {limit} bytes")
    chunks, size = [], 0
    try:
        with anyio.fail_after(timeout):
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise ApiError(413, f"the request body is larger than {limit} bytes")
                chunks.append(chunk)
    except TimeoutError:
        raise ApiError(408, f"the request body did not arrive within {timeout:g} s") from None
    except ClientDisconnect:
        raise _Gone from None
    return parse_body(b"".join(chunks))


async def _read(request: Request, timeout: float) -> dict | Response:
    """The body, or the answer to send instead (an error; 408 also closes the connection)."""
    try:
        return await _body(request, timeout)
    except ApiError as exc:
        headers = {"Connection": "close"} if exc.status == 408 else None
        return _error(exc.status, exc.message, headers)
    except _Gone:
        return Response(status_code=400)  # no one is listening


class _LineStream(Response):
    """NDJSON: one line per event of ``events`` (a generator run in worker threads).

    ``first`` is the first line, computed before the answer starts. Between two
    lines the stream checks whether the client has gone, and ends if so; a line
    the client does not take within ``timeout`` ends it too. ``release`` (the
    work slot) is called exactly once, in a ``finally``, after ``events`` is
    closed: when the stream ends, breaks off, or is cancelled.
    """

    media_type = "application/x-ndjson"

    def __init__(self, request: Request, events: Generator[dict, None, None], first: bytes,
                 release, timeout: float):  # fmt: skip
        self.status_code = 200
        self.background = None
        self.init_headers()
        self.request, self.events, self.first = request, events, first
        self.release, self.timeout = release, timeout

    def next_line(self) -> bytes | None:
        """The next event as a line, None at the end; raises what the generation raises."""
        event = next(self.events, None)
        return None if event is None else (json.dumps(event, allow_nan=False) + "\n").encode()

    def next_line_or_error(self) -> bytes | None:
        try:
            return self.next_line()
        except Exception as exc:  # noqa: BLE001 - the stream ends with one error line
            self.events.close()  # a closed generator's next is the end
            message = " ".join(f"{type(exc).__name__}: {exc}".split())[:500]
            return (json.dumps({"error": message}) + "\n").encode()

    async def _send(self, send, message) -> bool:
        with anyio.move_on_after(self.timeout):
            await send(message)
            return True
        return False

    async def __call__(self, scope, receive, send) -> None:
        try:
            start = {"type": "http.response.start", "status": 200, "headers": self.raw_headers}
            line = self.first
            if not await self._send(send, start):
                return
            while line is not None:
                if await self.request.is_disconnected():
                    return
                if not await self._send(send, {"type": "http.response.body", "body": line,
                                               "more_body": True}):  # fmt: skip
                    return
                line = await anyio.to_thread.run_sync(self.next_line_or_error)
            await self._send(send, {"type": "http.response.body", "body": b"",
                                    "more_body": False})  # fmt: skip
        finally:
            try:
                self.events.close()
            finally:
                self.release()


def create_app(explorer: Explorer, timeout: float = TIMEOUT) -> Starlette:
    """The app; ``timeout`` bounds reading a request body and writing a streamed line."""
    slots = _Slots(LIMITS["max_concurrent"])

    def endpoint(method):
        async def handle(request: Request) -> Response:
            body = await _read(request, timeout)
            if isinstance(body, Response):
                return body
            if not slots.take():
                return _error(429, "the explorer is busy; try again in a moment")
            try:
                answer = await run_in_threadpool(method, body)
            except Exception as exc:  # noqa: BLE001 - one line, never a traceback
                return _failure(exc)
            finally:
                slots.give()
            try:
                return _Json(answer)
            except ValueError as exc:  # a NaN in an answer is ours, not the request's
                return _error(500, f"internal error: the answer is not JSON: {exc}")

        return handle

    async def stream(request: Request) -> Response:
        body = await _read(request, timeout)
        if isinstance(body, Response):
            return body
        if not slots.take():
            return _error(429, "the explorer is busy; try again in a moment")
        events = None
        try:
            events = await run_in_threadpool(explorer.generate_stream, body)
            response = _LineStream(request, events, b"", slots.give, timeout)
            response.first = await run_in_threadpool(response.next_line)
            return response
        except BaseException as exc:  # the stream never started: give everything back
            if events is not None:
                events.close()
            slots.give()
            if not isinstance(exc, Exception):
                raise
            return _failure(exc)

    async def models(request: Request) -> Response:
        return _Json(explorer.list_models())

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
        *[Route(path, endpoint(lambda body, f=view: f(explorer, body)), methods=["POST"])
          for path, view in PROBES.items()],
    ]
    handlers = {HTTPException: http_error, Exception: server_error}
    return Starlette(routes=routes, exception_handlers=handlers)


def guarded_protocol(timeout: float):
    """uvicorn's h11 protocol with a deadline on each request's line and headers.

    The deadline is set when the connection opens and again when an answer
    ends (the next request on a kept-alive connection), and cleared when a
    request's headers are complete (its body is then bounded by the app). A
    connection still short of its headers ``timeout`` seconds later is closed:
    uvicorn itself only closes kept-alive connections that send nothing.
    """
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class GuardedH11Protocol(H11Protocol):
        _deadline = None

        def _arm(self) -> None:
            self._disarm()
            self._deadline = self.loop.call_later(timeout, self._expired)

        def _disarm(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None

        def _expired(self) -> None:
            self._deadline = None
            if not self.transport.is_closing():
                self.transport.close()

        def connection_made(self, transport) -> None:
            super().connection_made(transport)
            self._arm()

        def connection_lost(self, exc) -> None:
            self._disarm()
            super().connection_lost(exc)

        def handle_events(self) -> None:
            cycle = self.cycle
            super().handle_events()
            if self.cycle is not cycle:  # a request's headers are complete
                self._disarm()

        def on_response_complete(self) -> None:
            self._arm()  # first: a pipelined request handled in there disarms it
            super().on_response_complete()

    return GuardedH11Protocol


def serve(explorer: Explorer, host: str, port: int, ready=None, timeout: float = TIMEOUT) -> None:
    """Bind ``host:port`` (0: any free port), call ``ready(url)``, serve until Ctrl-C.

    ``timeout``: seconds a client has for each request's line and headers, and
    for its body (see the module's bounds). A port that cannot be bound raises
    ``OSError`` before anything is printed.
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
    config = uvicorn.Config(create_app(explorer, timeout), http=guarded_protocol(timeout),
                            ws="none", timeout_keep_alive=min(5.0, timeout),
                            h11_max_incomplete_event_size=MAX_HEAD_BYTES,
                            log_level="warning", access_log=False,
                            timeout_graceful_shutdown=2)  # fmt: skip
    server = uvicorn.Server(config)
    if ready is not None:
        ready(f"http://{shown}:{bound}/")
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
