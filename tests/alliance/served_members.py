"""Two (or three) alliance members as real HTTP servers (uvicorn on free ports), each with its
own SQLite database and a fresh Ed25519 identity, configured as each other's members."""

from __future__ import annotations

import base64
import secrets
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx

from fixtures import ADMIN_KEY, served_app
from lendguard.app import Services, create_app
from lendguard.config import Settings

ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
T = TypeVar("T")


@dataclass
class Member:
    member_id: str
    base: str
    services: Services
    http: httpx.Client
    keys: dict[str, dict[str, str]] = field(default_factory=dict)

    def key(self, *scopes: str) -> dict[str, str]:
        """Authorization headers of a key with exactly these scopes (made once per set)."""
        name = ",".join(sorted(scopes))
        if name not in self.keys:
            secret = self.services.api_keys.create(f"test-{secrets.token_hex(4)}", list(scopes))
            self.keys[name] = {"Authorization": f"Bearer {secret}"}
        return self.keys[name]

    def post(self, path: str, body: Any, *scopes: str) -> httpx.Response:
        headers = self.key(*scopes) if scopes else ADMIN
        return self.http.post(path, json=body, headers=headers)

    def get(self, path: str, *scopes: str, **params: Any) -> httpx.Response:
        headers = self.key(*scopes) if scopes else ADMIN
        return self.http.get(path, headers=headers, params=params)

    def add_entry(self, kind: str, value: str, reason: str = "confirmed_fraud") -> Any:
        response = self.post(
            "/v1/alliance/list/entries",
            {"kind": kind, "value": value, "reason": reason},
            "alliance:write",
        )
        assert response.status_code in (200, 201), response.text
        return response.json()

    def identity(self) -> dict[str, Any]:
        return dict(self.http.get("/v1/alliance/identity", headers=ADMIN).json())


def eventually(read: Callable[[], T], until: Callable[[T], bool], timeout_s: float = 10.0) -> T:
    """``read()`` once ``until`` holds for it (a lookup responder records its exchange just
    after answering, in a background task); the last reading when the time is up."""
    deadline = time.monotonic() + timeout_s
    value = read()
    while not until(value) and time.monotonic() < deadline:
        time.sleep(0.02)
        value = read()
    return value


def member_settings(database_url: str, member_id: str | None, **overrides: Any) -> Settings:
    alliance: dict[str, Any] = {}
    if member_id is not None:
        alliance = {
            "alliance_member_id": member_id,
            "alliance_signing_key": base64.b64encode(secrets.token_bytes(32)).decode(),
        }
    return Settings(
        _env_file=None,
        database_url=database_url,
        bootstrap_admin_key=ADMIN_KEY,
        log_level="WARNING",
        state_backend="memory",
        **alliance,
        **overrides,
    )


@contextmanager
def served_member(
    template: Path, directory: Path, member_id: str | None, **overrides: Any
) -> Iterator[Member]:
    path = directory / f"{member_id or 'off'}.db"
    shutil.copyfile(template, path)
    app = create_app(member_settings(f"sqlite:///{path}", member_id, **overrides))
    services: Services = app.state.services
    try:
        with served_app(app) as base, httpx.Client(base_url=base, timeout=30) as http:
            yield Member(member_id or "off", base, services, http)
    finally:
        services.close()
        services.decisions.db.dispose()


def introduce(a: Member, b: Member) -> None:
    """``b`` becomes a member at ``a`` (its id, URL and public key)."""
    identity = b.identity()
    response = a.http.post(
        "/v1/alliance/members",
        json={
            "member_id": b.member_id,
            "name": b.member_id.title(),
            "url": b.base,
            "public_key": identity["public_key"],
        },
        headers=ADMIN,
    )
    assert response.status_code == 201, response.text


@contextmanager
def alliance(
    template: Path, directory: Path, *ids: str, **overrides: Any
) -> Iterator[list[Member]]:
    """Members ``ids``, every one configured at every other."""
    with ExitStack() as stack:
        members = [
            stack.enter_context(served_member(template, directory, member_id, **overrides))
            for member_id in ids
        ]
        for a in members:
            for b in members:
                if a is not b:
                    introduce(a, b)
        yield members
