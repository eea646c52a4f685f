"""``lendguard demo`` as a new user takes it: ``--no-serve`` prints the admin key and console
users and keeps them in ``var/demo.env``; a second run reuses them; the quick start's
``apikeys create`` + ``serve`` work on the demo's database; the demo refuses to delete
``var/demo.db`` under a running server and checks its port before any work."""

from __future__ import annotations

import os
import re
import socket
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog
from starlette.testclient import TestClient
from typer.testing import CliRunner

from lendguard.app import create_app
from lendguard.auth.secret_settings import generate_secrets
from lendguard.cli.main import app
from lendguard.config import Settings, get_settings
from lendguard.kit.serverlock import holding

SMALL = ["--customers", "40", "--days", "2", "--seed", "5"]
DEMO_URL = "sqlite:///./var/demo.db"


@pytest.fixture
def checkout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh working directory (the demo writes under ``./var``) and an environment without
    LendGuard settings, as on a new machine."""
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith("LENDGUARD_"):
            monkeypatch.delenv(name)
    logging_config = structlog.get_config()
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()
    structlog.configure(**logging_config)


def demo(*args: str) -> Any:
    return CliRunner().invoke(app, ["demo", *SMALL, *args], catch_exceptions=False)


def demo_env(checkout: Path) -> dict[str, str]:
    lines = (checkout / "var/demo.env").read_text(encoding="utf-8").splitlines()
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


def printed_access(output: str) -> tuple[str, dict[str, str]]:
    (key,) = re.findall(r"Admin API key for this demo: (lg_demo_\S+)", output)
    users = dict(re.findall(r"^  (demo-[a-z]+) / (\S+)$", output, flags=re.MULTILINE))
    return key, users


def client_on(env: dict[str, str]) -> TestClient:
    """The app as ``lendguard serve`` builds it after ``set -a; . var/demo.env; set +a``."""
    fields = {name.removeprefix("LENDGUARD_").lower(): value for name, value in env.items()}
    return TestClient(create_app(Settings(_env_file=None, log_level="WARNING", **fields)))


def test_no_serve_prints_the_admin_key_and_users_and_a_second_run_reuses_them(
    checkout: Path,
) -> None:
    first = demo("--no-serve")
    assert first.exit_code == 0, first.output
    key, users = printed_access(first.stdout)
    assert set(users) == {"demo-analyst", "demo-approver"}
    assert "var/demo.env" in first.stdout
    assert "set -a; . var/demo.env; set +a" in first.stdout
    env = demo_env(checkout)
    assert env["LENDGUARD_DATABASE_URL"] == DEMO_URL
    assert env["LENDGUARD_BOOTSTRAP_ADMIN_KEY"] == key
    assert stat.S_IMODE((checkout / "var/demo.env").stat().st_mode) == 0o600

    second = demo("--no-serve")
    assert second.exit_code == 0, second.output
    assert printed_access(second.stdout) == (key, users)

    with client_on(demo_env(checkout)) as client:
        listed = client.get("/v1/users", headers={"Authorization": f"Bearer {key}"})
        assert listed.status_code == 200, listed.text
        assert {"demo-analyst", "demo-approver"} <= {u["username"] for u in listed.json()["users"]}
        for username, password in users.items():
            signed_in = client.post(
                "/console/login",
                data={"username": username, "password": password},
                follow_redirects=False,
            )
            assert signed_in.status_code == 303, (username, signed_in.text)


def test_the_quick_start_key_works_against_the_demo(
    checkout: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """README: after the demo, ``set -a; . var/demo.env; set +a``, then ``apikeys create``
    and ``serve`` use var/demo.db (the key used to land in var/lendguard.db: 401)."""
    assert demo("--no-serve").exit_code == 0
    env = demo_env(checkout)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    created = CliRunner().invoke(
        app,
        ["apikeys", "create", "--name", "my-app", "--scopes", "events:write,decisions:read"],
        catch_exceptions=False,
    )
    assert created.exit_code == 0, created.output
    key = created.stdout.strip()
    assert not (checkout / "var/lendguard.db").exists()
    with client_on(env) as client:
        decided = client.post(
            "/v1/events",
            headers={"Authorization": f"Bearer {key}"},
            json={
                "event_id": "e-1001",
                "type": "transfer",
                "occurred_at": "2026-03-01T10:12:00+08:00",
                "customer_id": "c-42",
                "amount": "19000.00",
                "currency": "CNY",
            },
        )
        assert decided.status_code == 200, decided.text


def test_refuses_to_delete_the_database_under_a_running_server(checkout: Path) -> None:
    assert demo("--no-serve").exit_code == 0
    database = checkout / "var/demo.db"
    before = database.stat()
    with holding(DEMO_URL, exclusive=False):  # what `lendguard serve` holds while it runs
        refused = demo("--no-serve")
    assert refused.exit_code == 2
    assert "a LendGuard server is running on var/demo.db" in refused.stderr
    after = database.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert demo("--no-serve").exit_code == 0  # the server gone, the demo runs again


def test_checks_the_port_before_any_work(checkout: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        refused = demo("--port", str(port))
    assert refused.exit_code == 2
    assert f"cannot serve on 127.0.0.1:{port} (already in use)" in refused.stderr
    assert "--port" in refused.stderr
    assert not (checkout / "var").exists()  # nothing simulated, nothing written


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["--customers", "0"], "--customers"),  # was an IndexError traceback after the rebuild
        (["--customers", "-5"], "--customers"),
        (["--days", "0"], "--days"),
        (["--port", "70000"], "--port"),  # getaddrinfo wrapped it to port 4464
        (["--port", "-1"], "--port"),
        (["--port", "0"], "--port"),  # a random port: the printed commands would not work
    ],
)
@pytest.mark.parametrize("serve", ["--serve", "--no-serve"])
def test_bad_options_are_refused_before_any_work(
    checkout: Path, args: list[str], option: str, serve: str
) -> None:
    refused = CliRunner().invoke(app, ["demo", *SMALL, *args, serve], catch_exceptions=False)
    assert refused.exit_code == 2, refused.output
    assert option in refused.stderr
    assert not (checkout / "var").exists()  # nothing simulated, nothing deleted or written


def test_serve_waits_for_no_rebuild(checkout: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``lendguard serve`` on the demo's database while the demo rebuilds it is refused."""
    for name, value in generate_secrets().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("LENDGUARD_DATABASE_URL", DEMO_URL)
    get_settings.cache_clear()
    # The port is taken too, so that a serve which did not wait would fail, not serve forever.
    with holding(DEMO_URL, exclusive=True), socket.socket() as taken:  # the demo, rebuilding
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        refused = CliRunner().invoke(app, ["serve", "--port", port], catch_exceptions=False)
    assert refused.exit_code == 2
    assert "being rebuilt by lendguard demo" in refused.stderr
