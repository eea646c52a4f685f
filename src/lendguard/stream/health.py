"""The worker's health endpoints, served by uvicorn in the worker's own event loop.

- ``GET /healthz``: 200 while the process answers (liveness).
- ``GET /readyz``: 200 when the database and NATS are reachable and no partition waits on a
  dependency, else 503 with ``Retry-After`` and the same body naming each dependency::

    {"status": "ready" | "not ready",
     "checks": {"database": "ok" | "error: <kind>", "nats": "ok" | "error: <kind>"},
     "partitions": [owned...], "paused": bool, "decided": n, "dead_lettered": n, "worker": id}
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import Any

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from lendguard.stream.worker import StreamWorker

RETRY_AFTER_S = 5


def _json(body: dict[str, Any], status: int, headers: dict[str, str] | None = None) -> Response:
    return Response(
        orjson.dumps(body), status_code=status, media_type="application/json", headers=headers
    )


def health_app(worker: StreamWorker) -> Starlette:
    async def healthz(_request: Request) -> Response:
        return _json({"status": "ok"}, 200)

    async def readyz(_request: Request) -> Response:
        ready, body = await worker.readiness()
        if ready:
            return _json(body, 200)
        return _json(body, 503, {"Retry-After": str(RETRY_AFTER_S)})

    return Starlette(routes=[Route("/healthz", healthz), Route("/readyz", readyz)])


class _LoopServer(uvicorn.Server):
    """uvicorn without its own signal handlers: the worker handles SIGTERM and SIGINT (and
    uvicorn's would replace the event loop's)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class HealthServer:
    """uvicorn serving :func:`health_app` as a task of the running loop."""

    def __init__(self, worker: StreamWorker, host: str, port: int) -> None:
        config = uvicorn.Config(
            health_app(worker),
            host=host,
            port=port,
            log_level="warning",
            access_log=False,
            lifespan="off",
        )
        self.server = _LoopServer(config)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self.server.serve())
        while not self.server.started:
            if self._task.done():
                self._task.result()  # the port is taken: raise uvicorn's error
                raise RuntimeError("the health server stopped at start")
            await asyncio.sleep(0.02)

    @property
    def port(self) -> int:
        """The bound port (with port 0, the one the OS chose)."""
        servers = getattr(self.server, "servers", [])
        for server in servers:
            for sock in server.sockets:
                return int(sock.getsockname()[1])
        return int(self.server.config.port)

    async def stop(self) -> None:
        self.server.should_exit = True
        if self._task is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._task, 5.0)
