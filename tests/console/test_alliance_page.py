"""The console's alliance page (issue #20): members, the list's counts per kind and the record of
exchanges with filters, in zh-CN and English; for roles holding alliance:read (analyst, officer,
admin), refused with no link to it for others; no identifier on the page (the list's masked
values and digests never appear); a filter that cannot be used renders the page again with the
reason (422), not a 500."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import insert
from starlette.testclient import TestClient

from fixtures import ADMIN_KEY, Api, sign_in
from lendguard.app import Services, create_app
from lendguard.config import Settings
from lendguard.console.alliance_i18n import LEGAL_BASIS
from lendguard.console.i18n import translator
from lendguard.models.alliance import AllianceExchange, AllianceListEntry, AllianceMember

PAGE = "/console/alliance"
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
CODE_WORD = re.compile(r"\b(?:[a-z]+(?:_[a-z]+)+|[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)\b")
# Values stored on list rows that must never reach the page.
SECRET_MASK = "138****5678"
SECRET_DIGEST = "d" * 64


SIGNING_SEED = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="  # a fixed test seed


@pytest.fixture
def alliance_app(database_url: str) -> Iterator[Api]:
    """The app with console cookies over plain HTTP and this lender's alliance identity set."""
    settings = Settings(
        _env_file=None,
        database_url=database_url,
        bootstrap_admin_key=ADMIN_KEY,
        log_level="WARNING",
        cookie_secure=False,
        alliance_member_id="lender-a",
        alliance_signing_key=SIGNING_SEED,
    )
    app = create_app(settings)
    services: Services = app.state.services
    try:
        with TestClient(app, base_url="http://localhost") as client:
            yield Api(client=client, app=app, services=services)
    finally:
        services.close()
        services.decisions.db.dispose()


def _exchange(n: int, **overrides: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": f"x-{n:03d}",
        "kind": "psi",
        "role": "requester",
        "peer": "lender-b",
        "session_id": f"s-{n:03d}",
        "list_kind": "mobile",
        "mode": "intersection",
        "items": 1000 + n,
        "peer_items": 800,
        "matched": 42,
        "status": "done",
        "legal_basis": LEGAL_BASIS,
        "purpose": "anti_fraud",
        "actor": "cli:ops",
        "started_at": T0 + timedelta(minutes=n),
        "finished_at": T0 + timedelta(minutes=n, seconds=3),
        "took_ms": 3120.0,
        "detail": {},
    }
    row.update(overrides)
    return row


def _seed(api: Api) -> None:
    with api.services.decisions.db.begin() as conn:
        conn.execute(
            insert(AllianceMember),
            [
                {
                    "member_id": "lender-b",
                    "name": "Lender B",
                    "url": "https://b.example",
                    "public_key": "A" * 43 + "=",
                    "status": "active",
                    "created_at": T0,
                    "created_by": "cli:ops",
                },
                {
                    "member_id": "lender-c",
                    "name": "Lender C",
                    "url": "https://c.example",
                    "public_key": "B" * 43 + "=",
                    "status": "removed",
                    "created_at": T0,
                    "created_by": "cli:ops",
                    "removed_at": T0 + timedelta(days=1),
                },
            ],
        )
        entries = [("mobile", i) for i in range(3)] + [("card", 9), ("mobile", 99)]
        conn.execute(
            insert(AllianceListEntry),
            [
                {
                    "kind": kind,
                    "digest": f"{SECRET_DIGEST[:-3]}{i:03d}",
                    "token": f"tok-{i}",
                    "masked": SECRET_MASK,
                    "reason": "confirmed_fraud",
                    "added_by": "cli:ops",
                    "added_at": T0,
                    # the last one was removed: not counted
                    "removed_at": T0 if i == 99 else None,
                }
                for kind, i in entries
            ],
        )
        conn.execute(
            insert(AllianceExchange),
            [
                _exchange(1),
                _exchange(2, role="responder", mode="cardinality", matched=7),
                _exchange(
                    3,
                    kind="lookup",
                    peer="lender-c",
                    list_kind="resident_id",
                    mode="lookup",
                    items=1,
                    peer_items=None,
                    matched=1,
                ),
                _exchange(4, status="refused", matched=None, peer_items=None, took_ms=None),
                _exchange(
                    5,
                    kind="aggregation",
                    role="aggregator",
                    peer="*",
                    list_kind=None,
                    mode="sum",
                    items=3,
                    peer_items=None,
                    matched=None,
                ),
            ],
        )


def _words(fragment: str) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", fragment))).strip()


def _main_text(page: str) -> str:
    return _words(page.split("<main", 1)[-1].split(">", 1)[-1].split("</main>", 1)[0])


def _row(page: str, row_id: str) -> dict[str, str]:
    found = re.search(rf'<tr id="{row_id}"[^>]*>(.*?)</tr>', page, re.S)
    assert found is not None, row_id
    cells = re.findall(r'<td class="([^"]*)"[^>]*>(.*?)</td>', found.group(1), re.S)
    return {cls.split()[-1]: _words(text) for cls, text in cells}


def _exchange_ids(page: str) -> list[str]:
    return [_words(m) for m in re.findall(r'<td class="num x-items">(.*?)</td>', page)]


@pytest.mark.parametrize("role", ["analyst", "officer", "admin"])
def test_the_page_shows_members_counts_and_exchanges_in_both_languages(
    alliance_app: Api, role: str
) -> None:
    _seed(alliance_app)
    user = sign_in(alliance_app.app, alliance_app.services, role)
    for locale in ("zh-CN", "en"):
        t = translator(locale)
        page = user.get(PAGE, params={"lang": locale})
        assert page.status_code == 200, page.text
        assert 'id="nav-alliance"' in page.text
        # members, active first
        first, second = _row(page.text, "member-1"), _row(page.text, "member-2")
        assert (first["member-id"], first["member-name"], first["member-status"]) == (
            "lender-b",
            "Lender B",
            t("active"),
        )
        assert (second["member-id"], second["member-status"]) == ("lender-c", t("removed"))
        # the list: counts per kind, every kind named, the removed entry not counted
        counts = {
            k: _words(m)
            for k, m in re.findall(
                r'id="count-(\w+)"><td>.*?</td><td class="num">(.*?)</td>', page.text
            )
        }
        assert counts == {"resident_id": "0", "mobile": "3", "card": "1", "device_id": "0"}
        # exchanges, newest first
        assert _exchange_ids(page.text) == ["3", "1,004", "1", "1,002", "1,001"]
        newest = _row(page.text, "exchange-1")
        assert newest["x-kind"] == t("aggregation")
        assert newest["x-peer"] == t("all members")
        assert newest["x-list-kind"] == "—"
        lookup = _row(page.text, "exchange-3")
        assert (lookup["x-kind"], lookup["x-role"], lookup["x-peer"]) == (
            t("lookup"),
            t("requester"),
            "lender-c",
        )
        assert (lookup["x-list-kind"], lookup["x-matched"], lookup["x-status"]) == (
            t("resident_id"),
            "1",
            t("done"),
        )
        assert lookup["x-legal"] == t(LEGAL_BASIS)
        refused = _row(page.text, "exchange-2")
        assert (refused["x-status"], refused["x-matched"]) == (t("refused"), "—")
        text = _main_text(page.text)
        # no identifier, no code name on the page
        assert SECRET_MASK not in page.text
        assert SECRET_DIGEST[:20] not in page.text
        assert "tok-" not in page.text
        assert CODE_WORD.findall(text) == [], (locale, CODE_WORD.findall(text))
    zh = _main_text(user.get(PAGE, params={"lang": "zh-CN"}).text)
    assert "反欺诈联盟" in zh
    assert "个人信息保护法" in zh
    assert "手机号" in zh


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"kind": "psi"}, ["1,004", "1,002", "1,001"]),
        ({"kind": "psi", "status": "done"}, ["1,002", "1,001"]),
        ({"role": "responder"}, ["1,002"]),
        ({"peer": "lender-c"}, ["1"]),
        ({"peer": "*"}, ["3"]),
        ({"list_kind": "resident_id"}, ["1"]),
        ({"mode": "cardinality"}, ["1,002"]),
        ({"peer": "nobody"}, []),
        ({"kind": "", "peer": " "}, ["3", "1,004", "1", "1,002", "1,001"]),
    ],
)
def test_filters(alliance_app: Api, query: dict[str, str], expected: list[str]) -> None:
    _seed(alliance_app)
    analyst = sign_in(alliance_app.app, alliance_app.services, "analyst")
    page = analyst.get(PAGE, params={**query, "lang": "en"})
    assert page.status_code == 200, page.text
    assert _exchange_ids(page.text) == expected
    if not expected:
        assert "No exchanges match." in page.text
    for name, value in query.items():
        if value.strip() and name != "peer":
            assert f'<option value="{value}" selected>' in page.text


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"kind": "everything"}, "Exchange"),
        ({"status": "DONE"}, "Status"),
        ({"list_kind": "passport"}, "List kind"),
        ({"peer": "<script>alert(1)</script>"}, "Peer"),
        ({"peer": "x" * 65}, "Peer"),
    ],
)
def test_a_filter_that_cannot_be_used_renders_the_page_with_the_reason(
    alliance_app: Api, query: dict[str, str], field: str
) -> None:
    _seed(alliance_app)
    analyst = sign_in(alliance_app.app, alliance_app.services, "analyst")
    for locale in ("zh-CN", "en"):
        t = translator(locale)
        page = analyst.get(PAGE, params={**query, "lang": locale})
        assert page.status_code == 422, page.text
        problem = re.search(r'id="filter-problem"[^>]*>(.*?)</div>\s*</section>', page.text, re.S)
        assert problem is not None, page.text
        said = _words(problem.group(1))
        assert t("These filters cannot be used.") in said
        assert f"{t(field)}:" in said
        assert 'id="exchanges"' not in page.text
        assert "<script>alert" not in page.text


def test_a_role_without_alliance_read_is_refused_and_has_no_link(alliance_app: Api) -> None:
    approver = sign_in(alliance_app.app, alliance_app.services, "approver")
    refused = approver.get(PAGE, params={"lang": "en"})
    assert refused.status_code == 403
    assert "Your role does not allow this page or action." in refused.text
    other = approver.get("/console/cases", params={"lang": "en"})
    assert other.status_code == 200
    assert 'id="nav-alliance"' not in other.text
    anonymous = alliance_app.client.get(PAGE, follow_redirects=False)
    assert anonymous.status_code == 303
    assert anonymous.headers["location"].startswith("/console/login")


def test_an_empty_alliance_says_so(alliance_app: Api) -> None:
    analyst = sign_in(alliance_app.app, alliance_app.services, "analyst")
    page = analyst.get(PAGE, params={"lang": "en"})
    assert page.status_code == 200, page.text
    assert "No members yet." in page.text
    assert "No exchanges match." in page.text
    assert 'id="own-member"' in page.text
    assert "lender-a" in page.text
