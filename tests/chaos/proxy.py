"""A small TCP proxy in front of one dependency, for the fault matrix.

Workers are pointed at the proxy instead of the real server, and the harness changes its mode
while they run:

* ``pass``: bytes flow both ways untouched;
* ``latency``: every chunk read waits ``latency_s`` before it is forwarded, in each direction
  (a request/response round trip costs twice that);
* ``unreachable``: every open connection is reset and the listening socket is closed, so a new
  connection is refused (``ECONNREFUSED``), as when the server's machine is gone; leaving the
  mode listens again on the same port;
* ``hang``: connections are accepted but nothing is forwarded (what was read is held and
  delivered in order once the mode changes), as with a server that stopped answering.

Our own rather than toxiproxy: one asyncio loop on a thread, no binary to install, and the
harness changes modes with a method call. Binds 127.0.0.1 only.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Self

CHUNK = 65_536


class Mode(StrEnum):
    PASS = "pass"
    LATENCY = "latency"
    UNREACHABLE = "unreachable"
    HANG = "hang"


@dataclass
class ProxyStats:
    """What the proxy saw: for the run's record and for the unit tests."""

    accepted: int = 0
    reset: int = 0
    upstream_failures: int = 0
    bytes_up: int = 0
    bytes_down: int = 0


class TcpProxy:
    """Forwards ``127.0.0.1:port`` to ``upstream_host:upstream_port``; see the module doc."""

    def __init__(
        self,
        upstream_host: str,
        upstream_port: int,
        *,
        listen_port: int = 0,
        latency_s: float = 1.0,
        name: str = "proxy",
    ) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.port = listen_port
        self.latency_s = latency_s
        self.name = name
        self.stats = ProxyStats()
        self._mode = Mode.PASS
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=name, daemon=True)
        self._server: asyncio.Server | None = None
        self._flowing: asyncio.Event | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    # -- control (any thread) --------------------------------------------------------------------

    @property
    def mode(self) -> Mode:
        return self._mode

    @property
    def address(self) -> tuple[str, int]:
        return ("127.0.0.1", self.port)

    def start(self) -> Self:
        self._thread.start()
        self._call(self._start())
        return self

    def set_mode(self, mode: Mode | str, latency_s: float | None = None) -> None:
        """Switch mode now; returns once open connections are reset (``unreachable``) or the
        port listens again (leaving it)."""
        if latency_s is not None:
            self.latency_s = latency_s
        self._call(self._switch(Mode(mode)))

    @contextlib.contextmanager
    def fault(self, mode: Mode | str, latency_s: float | None = None) -> Iterator[None]:
        """``mode`` for the duration of the ``with`` block, then ``pass`` again."""
        self.set_mode(mode, latency_s)
        try:
            yield
        finally:
            self.set_mode(Mode.PASS)

    def stop(self) -> None:
        if not self._thread.is_alive():
            return
        self._call(self._shutdown())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _call(self, coro: Coroutine[Any, Any, None]) -> None:
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        future.result(timeout=10)

    # -- the loop's side -------------------------------------------------------------------------

    async def _start(self) -> None:
        self._flowing = asyncio.Event()
        self._flowing.set()
        await self._listen()

    async def _listen(self) -> None:
        # reuse_address (the default on Unix) lets the port be bound again after unreachable.
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _switch(self, mode: Mode) -> None:
        previous, self._mode = self._mode, mode
        assert self._flowing is not None
        if mode is Mode.HANG:
            self._flowing.clear()
        else:
            self._flowing.set()
        if mode is Mode.UNREACHABLE and previous is not Mode.UNREACHABLE:
            server, self._server = self._server, None
            if server is not None:
                server.close()
            for writer in list(self._writers):
                self._reset(writer)
        elif previous is Mode.UNREACHABLE and mode is not Mode.UNREACHABLE:
            await self._listen()

    def _reset(self, writer: asyncio.StreamWriter) -> None:
        """Drop a connection with a TCP reset (not a clean close): what a dead peer looks like."""
        self._writers.discard(writer)
        transport = writer.transport
        if not transport.is_closing():
            self.stats.reset += 1
        transport.abort()

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._writers):
            self._reset(writer)
        for task in list(self._tasks):
            task.cancel()

    async def _handle(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        if self._mode is Mode.UNREACHABLE:
            self._reset(client_w)
            return
        self.stats.accepted += 1
        try:
            upstream_r, upstream_w = await asyncio.open_connection(*self.upstream)
        except OSError:
            self.stats.upstream_failures += 1
            self._reset(client_w)
            return
        self._writers.update((client_w, upstream_w))
        up = asyncio.ensure_future(self._pump(client_r, upstream_w, upward=True))
        down = asyncio.ensure_future(self._pump(upstream_r, client_w, upward=False))
        self._tasks.update((up, down))
        try:
            await asyncio.wait((up, down), return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (up, down):
                task.cancel()
                self._tasks.discard(task)
            for writer in (client_w, upstream_w):
                self._writers.discard(writer)
                writer.close()

    async def _pump(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, upward: bool
    ) -> None:
        assert self._flowing is not None
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            while True:
                chunk = await reader.read(CHUNK)
                if not chunk:
                    return
                if self._mode is Mode.LATENCY:
                    await asyncio.sleep(self.latency_s)
                # Held while hanging; a reset connection fails on its next write.
                await self._flowing.wait()
                if writer.transport.is_closing():
                    return
                # Counted before it leaves: whoever receives it sees the count already.
                if upward:
                    self.stats.bytes_up += len(chunk)
                else:
                    self.stats.bytes_down += len(chunk)
                writer.write(chunk)
                await writer.drain()
