"""The HTTP edge's last lines of defence, shared by every route.

* :class:`ControlCharacterGuard` (pure ASGI middleware): a JSON body whose strings or keys hold
  NUL or another control character (tab, line feed and carriage return aside), or a query
  string or path that holds one, is refused with a 422 problem document naming the field,
  before any route sees it. PostgreSQL refuses NUL in text outright (a 500 deep in a write),
  SQLite stores it silently; neither is acceptable input. The check costs one regular
  expression over the raw bytes: JSON must escape control characters (``\\u0000``), so only a
  body with such an escape is parsed and walked to name the field.
* :func:`install_error_handlers`: a dependency that is unreachable, timing out or locked
  (the database) answers 503 with ``Retry-After``; any other unexpected exception
  answers a 500 problem document with a correlation id and no stack trace, while the server
  log has the trace under the same id.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl

import orjson
import structlog
from fastapi import FastAPI, Request
from fastapi.responses import Response
from sqlalchemy.exc import DisconnectionError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from lendguard.errors import FieldError, ServiceUnavailable, ValidationFailed
from lendguard.events.schemas import TEXT_FORBIDDEN, free_text_problem
from lendguard.kit.ids import new_id
from lendguard.web.body import limit_for, too_large
from lendguard.web.responses import problem

log = structlog.get_logger()

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# An escaped C0 control character or DEL in JSON text (\u0000-\u001f, \u007f).
_ESCAPED_CONTROL = re.compile(rb"\\u00[01][0-9a-fA-F]|\\u007[fF]")
# Seconds a client should wait before retrying after a 503.
RETRY_AFTER_S = 2


REFUSAL_DETAIL = "the request holds a control character or nests too deep"
# How deep the walk of a body holding an escaped control character goes (deeper is refused
# too): well below Python's recursion limit. Other bodies are not walked; ``attributes`` has
# its own, smaller limit in the event contract.
DEFAULT_MAX_DEPTH = 64


def _refusal(field: str, message: str, path: str) -> Response:
    return problem(
        422,
        "Validation failed",
        REFUSAL_DETAIL,
        [{"field": field, "message": message}],
        instance=path,
    )


def body_limit(scope: Scope) -> int | None:
    """The configured body limit of the application serving ``scope`` (None outside one)."""
    app = scope.get("app")
    services = getattr(getattr(app, "state", None), "services", None)
    return limit_for(getattr(services, "settings", None), scope.get("path", ""))


def declared_too_large(scope: Scope, limit: int) -> bool:
    """Whether the request's ``Content-Length`` is over ``limit`` (checked before reading)."""
    for name, value in scope.get("headers") or ():
        if name == b"content-length":
            return value.isdigit() and int(value) > limit
    return False


def too_large_refusal(limit: int, path: str) -> Response:
    """The routes' 413 for a body over the limit, refused before it is buffered whole."""
    refusal = too_large(limit)
    return problem(
        refusal.status_code,
        refusal.title,
        refusal.detail,
        [{"field": e.field, "message": e.message} for e in refusal.errors],
        instance=path,
    )


def _query_problem(query: bytes) -> tuple[str, str] | None:
    for key, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
        if TEXT_FORBIDDEN.search(key) or TEXT_FORBIDDEN.search(value):
            return f"query.{key}", "must not contain NUL or control characters"
    return None


class ControlCharacterRefused(ValidationFailed):
    """The guard's 422, raised by a route that does the guard's checks itself (a fast route,
    answered ahead of the middleware: :mod:`lendguard.web.fastpath`). Rendered by the
    application's error handler as the same problem document the guard sends."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(REFUSAL_DETAIL, errors=[FieldError(field, message)])


def control_character_problem(
    query: bytes, body: bytes, max_depth: int = DEFAULT_MAX_DEPTH
) -> tuple[str, str] | None:
    """The guard's checks of a request's query string and whole JSON body (not its path): the
    field and message of the first control character found, or ``None``."""
    if query and b"%" in query:
        found = _query_problem(query)
        if found is not None:
            return found
    if _ESCAPED_CONTROL.search(body):
        return _body_problem(body, max_depth)
    return None


class ControlCharacterGuard:
    """Refuse control characters in the path, the query string and JSON bodies (422)."""

    def __init__(self, app: ASGIApp, max_depth: int = DEFAULT_MAX_DEPTH) -> None:
        self.app = app
        self.max_depth = max_depth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")  # already percent-decoded by the server
        if TEXT_FORBIDDEN.search(path):
            await _refusal("path", "must not contain NUL or control characters", path)(
                scope, receive, send
            )
            return
        query = scope.get("query_string", b"")
        if query and b"%" in query:
            found = _query_problem(query)
            if found is not None:
                await _refusal(*found, path)(scope, receive, send)
                return
        if scope.get("method") not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        # Buffer the body and hand it on unchanged; never more than the configured limit (a
        # body over it is refused here, before it fills the memory: the routes' own 413).
        limit = body_limit(scope)
        if limit is not None and declared_too_large(scope, limit):
            await too_large_refusal(limit, path)(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, _replay([message]), send)
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if limit is not None and size > limit:
                await too_large_refusal(limit, path)(scope, receive, send)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        if _ESCAPED_CONTROL.search(body):
            found = _body_problem(body, self.max_depth)
            if found is not None:
                await _refusal(*found, path)(scope, receive, send)
                return
        await self.app(scope, _replay([{"type": "http.request", "body": body}]), send)


def _body_problem(body: bytes, max_depth: int) -> tuple[str, str] | None:
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None  # the route refuses malformed JSON with its own problem document
    found = free_text_problem(parsed, max_depth=max_depth)
    if found is None:
        return None
    field, message = found
    return field or "body", message


def _replay(messages: list[Message]) -> Receive:
    """A ``receive`` that returns ``messages`` and then waits for the disconnect."""
    pending = list(messages)

    async def receive() -> Message:
        if pending:
            return pending.pop(0)
        return {"type": "http.disconnect"}

    return receive


def _unavailable(request: Request, what: str) -> Response:
    return problem(
        503,
        "Service unavailable",
        f"{what} is unreachable or busy; nothing was applied: retry after {RETRY_AFTER_S} s",
        instance=request.url.path,
        headers={"Retry-After": str(RETRY_AFTER_S)},
    )


def install_error_handlers(app: FastAPI) -> None:
    """503 for a missing dependency, a 500 problem document with a correlation id otherwise."""

    @app.exception_handler(ServiceUnavailable)
    async def _service_unavailable(request: Request, exc: ServiceUnavailable) -> Response:
        return problem(
            503,
            exc.title,
            exc.detail,
            [{"field": e.field, "message": e.message} for e in exc.errors],
            instance=request.url.path,
            headers={"Retry-After": str(max(1, exc.retry_after))},
        )

    @app.exception_handler(OperationalError)
    @app.exception_handler(DisconnectionError)
    @app.exception_handler(PoolTimeoutError)
    async def _database_unavailable(request: Request, exc: Exception) -> Response:
        log.warning("dependency.database_unavailable", error=type(exc).__name__)
        return _unavailable(request, "the database")

    @app.exception_handler(Exception)
    async def _internal_error(request: Request, exc: Exception) -> Response:
        correlation_id = new_id("err")
        log.error(
            "request.failed",
            correlation_id=correlation_id,
            method=request.method,
            path=request.url.path,
            exc_info=exc,
        )
        return problem(
            500,
            "Internal error",
            "the request failed on our side and nothing was applied; quote the correlation id "
            "when you report it",
            instance=request.url.path,
            headers={"X-Correlation-ID": correlation_id},
            extra={"correlation_id": correlation_id},
        )
