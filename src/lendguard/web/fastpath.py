"""Routes answered ahead of FastAPI's middleware and router: the per-event hot path.

``POST /v1/events`` is the one route whose cost is the product: every customer event of every
lender goes through it, eight or more at a time. Through FastAPI it crosses six middlewares
(server errors, telemetry, the body limit, :class:`~lendguard.web.guard.ControlCharacterGuard`,
exceptions, the exit stack), the router's match over every route and the dependency solver
before its first line runs, and its response is sent back through the same layers: about as
much CPU per request as the HTTP server itself. :class:`LendGuardAPI` looks the request up in a
small table of fast routes first and calls the handler directly.

Nothing else changes for such a route. It stays registered with FastAPI (the OpenAPI contract,
``HEAD`` and other methods, a ``root_path`` deployment all take the ordinary way), its handler
does the guard's checks itself (:func:`lendguard.web.guard.control_character_problem`), and an
exception it raises is answered by the application's own exception handlers exactly as the
middleware would: a :class:`~lendguard.errors.LendGuardError` as its problem document, a
database outage as a 503, anything else as the 500 problem document with its correlation id
(and re-raised, so the server logs it, as Starlette's ``ServerErrorMiddleware`` does).

FastAPI's native telemetry is skipped for these routes: it records nothing unless an
OpenTelemetry provider is configured, and LendGuard configures none.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from fastapi import FastAPI, Request
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

# A fast route: the request in, a 200 JSON body out (or an exception, answered as above).
FastHandler = Callable[[Request], Awaitable[bytes]]

_JSON = b"application/json"


class LendGuardAPI(FastAPI):
    """FastAPI, plus a table of (method, path) → handler answered before its middleware."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fast_routes: dict[tuple[str, str], FastHandler] = {}

    def add_fast_route(self, method: str, path: str, handler: FastHandler) -> None:
        """Answer ``method path`` (exact, no path parameters) with ``handler``. The route must
        also be registered the ordinary way: that one is documented and serves every request
        this table does not (another method, a ``root_path``)."""
        self.fast_routes[(method, path)] = handler

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not scope.get("root_path"):
            handler = self.fast_routes.get((scope["method"], scope["path"]))
            if handler is not None:
                scope["app"] = self
                await self._answer(handler, scope, receive, send)
                return
        await super().__call__(scope, receive, send)

    async def _answer(
        self, handler: FastHandler, scope: Scope, receive: Receive, send: Send
    ) -> None:
        request = Request(scope, receive, send)
        try:
            body = await handler(request)
        except Exception as exc:
            await self._handle_error(request, exc, send)
            return
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-length", str(len(body)).encode()), (b"content-type", _JSON)],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def _handle_error(self, request: Request, exc: Exception, send: Send) -> None:
        """What ``ExceptionMiddleware`` then ``ServerErrorMiddleware`` would do with ``exc``."""
        handlers = self.exception_handlers
        found = next((c for c in type(exc).__mro__ if c in handlers), None)
        if found is None:
            raise exc
        handler = handlers[found]
        if inspect.iscoroutinefunction(handler):
            response = await handler(request, exc)
        else:
            response = await run_in_threadpool(handler, request, exc)
        await response(request.scope, request.receive, send)
        if handler is self.exception_handlers.get(Exception):
            # The catch-all answers as ServerErrorMiddleware does: the 500, then the exception
            # again, for the server's log.
            raise exc


async def receive_body(request: Request, limit: int) -> bytes | None:
    """The whole body, read straight from ``receive`` (one message, for a small body); None
    when it is over ``limit`` bytes, found before it is buffered whole (the caller answers the
    413). A client gone before the end raises :class:`ClientDisconnect`, as Starlette's reads
    do."""
    receive = request.receive
    message = await receive()
    if message["type"] != "http.request":
        raise ClientDisconnect()
    body: bytes = message.get("body", b"")
    size = len(body)
    if size > limit:
        return None
    if not message.get("more_body", False):
        return body
    chunks = [body]
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise ClientDisconnect()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)
