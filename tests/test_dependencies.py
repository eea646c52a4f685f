"""A missing dependency says so: PostgreSQL going away (a real outage: the connections
to the real server are cut by a TCP proxy in between, and new ones refused) answers 503 with
``Retry-After`` and a problem document, never a plain 500 or a reset connection; ``/readyz``
names what is down; the first request after the server is back succeeds; ``lendguard serve``
against a database it cannot reach prints one line and exits 2."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url
from starlette.testclient import TestClient

from fixtures import ADMIN_KEY, make_event
from lendguard.app import create_app
from lendguard.config import Settings
from lendguard.db import normalise_url

pytestmark = pytest.mark.usefixtures("pinned_clock")

HEADERS = {"Authorization": f"Bearer {ADMIN_KEY}"}


class TcpProxy:
    """Forwards a local port to ``target``; :meth:`cut` closes every connection and refuses new
    ones (the server "goes away"), :meth:`restore` listens again on the same port."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        self.port: int = probe.getsockname()[1]
        probe.close()
        self._listener: socket.socket | None = None
        self.restore()

    def restore(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def cut(self) -> None:
        if self._listener is not None:
            try:  # wakes the thread blocked in accept(); close alone would leave it listening
                self._listener.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self._listener.close()
            self._listener = None
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for s in sockets:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()


def via_proxy(url: str, proxy: TcpProxy) -> str:
    return (
        make_url(normalise_url(url))
        .set(host="127.0.0.1", port=proxy.port)
        .render_as_string(hide_password=False)
    )


@pytest.fixture
def postgres_via_proxy(postgres_database: str) -> Iterator[tuple[str, TcpProxy]]:
    parsed = make_url(normalise_url(postgres_database))
    proxy = TcpProxy((parsed.host or "127.0.0.1", parsed.port or 5432))
    yield via_proxy(postgres_database, proxy), proxy
    proxy.cut()


def settings_for(database_url: str, **extra: object) -> Settings:
    return Settings(
        _env_file=None,
        database_url=database_url,
        bootstrap_admin_key=ADMIN_KEY,
        log_level="CRITICAL",
        **extra,  # type: ignore[arg-type]
    )


def assert_unavailable(response: object) -> None:
    status = getattr(response, "status_code", None)
    headers = getattr(response, "headers", {})
    assert status == 503, getattr(response, "text", "")
    assert headers["content-type"] == "application/problem+json"
    assert int(headers["retry-after"]) >= 1


@pytest.mark.postgres
@pytest.mark.parametrize("state_backend", ["memory", "shared"])
def test_postgres_away_is_a_503_and_the_first_request_after_succeeds(
    postgres_via_proxy: tuple[str, TcpProxy], state_backend: str
) -> None:
    url, proxy = postgres_via_proxy
    app = create_app(settings_for(url, state_backend=state_backend))
    services = app.state.services
    try:
        with TestClient(app, raise_server_exceptions=False) as client:
            assert client.post("/v1/events", json=make_event(), headers=HEADERS).status_code == 200
            proxy.cut()
            event = make_event(customer_id="c-outage")
            assert_unavailable(client.post("/v1/events", json=event, headers=HEADERS))
            assert_unavailable(client.get("/v1/rulesets", headers=HEADERS))
            ready = client.get("/readyz")
            assert ready.status_code == 503
            assert ready.json()["down"] == ["database"]
            assert int(ready.headers["retry-after"]) >= 1
            proxy.restore()
            again = client.post("/v1/events", json=event, headers=HEADERS)
            assert again.status_code == 200, again.text
            assert client.get("/readyz").status_code == 200
    finally:
        services.close()
        services.decisions.db.dispose()


def test_serve_against_an_unreachable_database_says_so_in_one_line(tmp_path: Path) -> None:
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens there
    env = {
        **os.environ,
        "LENDGUARD_DATABASE_URL": f"postgresql://lender:s3cr3t-pw@127.0.0.1:{port}/lendguard",
        "LENDGUARD_PII_KEY": "k" * 32,
        "LENDGUARD_MASTER_KEY": "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
    }
    done = subprocess.run(
        [str(Path(sys.executable).parent / "lendguard"), "serve", "--port", "0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert done.returncode == 2, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert f"127.0.0.1:{port}/lendguard" in lines[0]
    assert "s3cr3t-pw" not in done.stderr
    assert "Traceback" not in done.stderr
