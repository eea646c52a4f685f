"""The fault matrix's TCP proxy against a local echo server: each mode does what it says, and
leaving a fault restores service on the same port (fast: no external service)."""

from __future__ import annotations

import socket
import socketserver
import threading
import time
from collections.abc import Iterator

import pytest

from chaos.proxy import Mode, TcpProxy


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        while data := self.request.recv(4096):
            self.request.sendall(data)


class _EchoServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


@pytest.fixture
def echo_port() -> Iterator[int]:
    server = _EchoServer(("127.0.0.1", 0), _Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.fixture
def proxy(echo_port: int) -> Iterator[TcpProxy]:
    with TcpProxy("127.0.0.1", echo_port, latency_s=0.2, name="test-proxy") as running:
        yield running


def connect(proxy: TcpProxy, timeout: float = 2.0) -> socket.socket:
    return socket.create_connection(proxy.address, timeout=timeout)


def round_trip(sock: socket.socket, payload: bytes) -> bytes:
    sock.sendall(payload)
    received = b""
    while len(received) < len(payload):
        chunk = sock.recv(4096)
        if not chunk:
            break
        received += chunk
    return received


def test_pass_through_forwards_both_ways(proxy: TcpProxy) -> None:
    with connect(proxy) as sock:
        assert round_trip(sock, b"ping") == b"ping"
        assert round_trip(sock, b"x" * 10_000) == b"x" * 10_000
    assert proxy.stats.accepted == 1
    assert proxy.stats.bytes_up == proxy.stats.bytes_down == 10_004


def test_latency_delays_each_direction(proxy: TcpProxy) -> None:
    proxy.set_mode(Mode.LATENCY, latency_s=0.2)
    with connect(proxy) as sock:
        started = time.monotonic()
        assert round_trip(sock, b"slow") == b"slow"
        # One chunk up and one down, each held 0.2 s.
        assert time.monotonic() - started >= 0.4
        proxy.set_mode(Mode.PASS)
        started = time.monotonic()
        assert round_trip(sock, b"fast") == b"fast"
        assert time.monotonic() - started < 0.4


def test_unreachable_resets_open_connections_and_refuses_new_ones(proxy: TcpProxy) -> None:
    port = proxy.port
    with connect(proxy) as sock:
        assert round_trip(sock, b"before") == b"before"
        proxy.set_mode(Mode.UNREACHABLE)
        # The reset shows as ConnectionResetError, or as end of stream if it raced the read.
        try:
            assert sock.recv(10) == b""
        except ConnectionResetError:
            pass
    with pytest.raises(ConnectionRefusedError):
        connect(proxy).close()
    assert proxy.stats.reset >= 1
    proxy.set_mode(Mode.PASS)
    assert proxy.port == port
    with connect(proxy) as sock:
        assert round_trip(sock, b"after") == b"after"


def test_hang_accepts_but_forwards_nothing_until_released(proxy: TcpProxy) -> None:
    proxy.set_mode(Mode.HANG)
    with connect(proxy, timeout=0.3) as sock:
        sock.sendall(b"held")
        with pytest.raises(TimeoutError):
            sock.recv(10)
        proxy.set_mode(Mode.PASS)
        sock.settimeout(2.0)
        assert sock.recv(10) == b"held"


def test_fault_block_returns_to_pass(proxy: TcpProxy) -> None:
    with proxy.fault(Mode.UNREACHABLE):
        with pytest.raises(ConnectionRefusedError):
            connect(proxy).close()
        during = proxy.mode
    assert during is Mode.UNREACHABLE
    assert proxy.mode is Mode.PASS
    with connect(proxy) as sock:
        assert round_trip(sock, b"back") == b"back"
