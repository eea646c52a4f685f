"""The commands as an operator runs them, as real processes: ``lendguard stream publish``,
``lendguard worker --init-streams`` (a one-shot step with its durability warning),
``lendguard worker`` (/readyz, a clean SIGTERM) and ``lendguard stream status``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from conftest import _reset_postgres
from fixtures import free_port, make_event
from lendguard.auth.secret_settings import generate_secrets
from lendguard.db import normalise_url
from stream.conftest import PARTITIONS, PATIENCE_S
from test_dependencies import TcpProxy, via_proxy

LENDGUARD = Path(sys.executable).with_name("lendguard")


@pytest.fixture
def env(nats_url: str, sqlite_url: str, stream_prefix: str) -> dict[str, str]:
    values = {k: v for k, v in os.environ.items() if not k.startswith("LENDGUARD_")}
    values.update(
        LENDGUARD_DATABASE_URL=sqlite_url,
        LENDGUARD_NATS_URL=nats_url,
        LENDGUARD_STREAM_PREFIX=stream_prefix,
        LENDGUARD_STREAM_PARTITIONS=str(PARTITIONS),
        **generate_secrets(),
        LENDGUARD_LOG_LEVEL="WARNING",
    )
    return values


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LENDGUARD), *args], env=env, capture_output=True, text=True, timeout=PATIENCE_S
    )


def readiness(port: int) -> tuple[int, dict[str, Any] | None]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())
    except OSError:
        return 0, None


def test_publish_decide_and_status_from_the_command_line(
    env: dict[str, str], tmp_path: Path
) -> None:
    events = [make_event(customer_id=f"cust-cli-{i}") for i in range(3)]
    file = tmp_path / "events.jsonl"
    file.write_text(
        "\n".join([*(json.dumps(e) for e in events), '{"no": "customer"}']) + "\n",
        encoding="utf-8",
    )

    published = run(env, "stream", "publish", str(file))
    assert published.returncode == 2, published.stderr
    assert json.loads(published.stdout) == {"published": 3, "duplicates": 0, "refused": 1}
    assert "line 4: no customer_id" in published.stderr

    # A deployment step: creates or updates the streams and consumers, warns, exits.
    initialised = run(env, "worker", "--init-streams")
    assert initialised.returncode == 0, initialised.stderr
    # The durability warning, once (this server is 2.9: it names the missing option).
    assert initialised.stderr.count("warning: durability:") == 1
    assert "sync_interval" in initialised.stderr

    port = free_port()
    worker = subprocess.Popen(
        [str(LENDGUARD), "worker", "--health-port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + PATIENCE_S
        status, body = readiness(port)
        while not (status == 200 and body is not None and body["decided"] == len(events)):
            assert worker.poll() is None, worker.communicate()
            assert time.monotonic() < deadline, f"never ready and done: {status} {body}"
            time.sleep(0.2)
            status, body = readiness(port)
        assert body["partitions"] == list(range(PARTITIONS))
        worker.send_signal(signal.SIGTERM)
        _, stderr = worker.communicate(timeout=PATIENCE_S)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    assert worker.returncode == 0, stderr
    assert "warning: durability:" not in stderr

    shown = run(env, "stream", "status")
    assert shown.returncode == 0, shown.stderr
    report = json.loads(shown.stdout)
    assert [row["pending"] for row in report["partitions"]] == [0] * PARTITIONS
    assert [row["unacknowledged"] for row in report["partitions"]] == [0] * PARTITIONS
    # The worker released its partitions when it stopped.
    assert [row["owner"] for row in report["partitions"]] == [None] * PARTITIONS
    prefix = env["LENDGUARD_STREAM_PREFIX"].upper()
    assert report["streams"][f"{prefix}_EVENTS"] == 3
    assert report["streams"][f"{prefix}_DECISIONS"] == 3
    assert report["streams"][f"{prefix}_DEADLETTER"] == 0


def test_commands_say_when_nats_is_not_there(env: dict[str, str]) -> None:
    env = dict(env, LENDGUARD_NATS_URL=f"nats://127.0.0.1:{free_port()}")
    shown = run(env, "stream", "status")
    assert shown.returncode == 2
    assert "cannot reach NATS" in shown.stderr
    assert "Traceback" not in shown.stderr


@pytest.mark.postgres
def test_a_worker_started_while_the_database_is_away_waits_and_then_decides(
    env: dict[str, str], postgres_database: str
) -> None:
    """Restarted during an outage (as systemd restarts it), the worker says it is waiting and
    starts deciding once the database is there, without another restart."""
    _reset_postgres(postgres_database)
    parsed = make_url(normalise_url(postgres_database))
    proxy = TcpProxy((parsed.host or "127.0.0.1", parsed.port or 5432))
    proxy.cut()
    env = dict(env, LENDGUARD_DATABASE_URL=via_proxy(postgres_database, proxy))
    assert run(env, "worker", "--init-streams").returncode == 0
    port = free_port()
    worker = subprocess.Popen(
        [str(LENDGUARD), "worker", "--health-port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert worker.stderr is not None
        first = worker.stderr.readline()
        assert "waiting for the database" in first, first
        assert worker.poll() is None
        proxy.restore()
        deadline = time.monotonic() + PATIENCE_S
        while readiness(port)[0] != 200:
            assert worker.poll() is None, worker.communicate()
            assert time.monotonic() < deadline, "never ready after the database came back"
            time.sleep(0.2)
        worker.send_signal(signal.SIGTERM)
        worker.communicate(timeout=PATIENCE_S)
    finally:
        proxy.cut()
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    assert worker.returncode == 0
