"""The borrower's privacy centre (issue #21 item 3) over HTTP, on both databases: the signed
link (scope, hostile ids and bodies, tampering, expiry), the cookie that replaces it, CSRF, a
consent switch that the next contact check obeys, and a data-subject request with its clock.

Time is pinned (``pinned_clock``: 10:30 in Shanghai on a Monday); expiry moves the clock."""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from sqlalchemy import select

from fixtures import PINNED_NOW, Api, make_event, r39_scam_events
from lendguard.console.portal_i18n import LOCALES, TEXTS
from lendguard.models.access import AuditEntry
from lendguard.models.privacy import ConsentRecord, DataSubjectRequest
from lendguard.privacy.portal import LinkSigner, PortalDenied
from lendguard.privacy.requests import working_days_after

pytestmark = pytest.mark.usefixtures("pinned_clock")

CUSTOMER = "borrower-7"
LINK = f"/v1/privacy/customers/{CUSTOMER}/portal-link"
NOTICE = {
    "notice_key": "app-privacy",
    "purposes": ["marketing", "loan_service", "third_party_sharing", "anti_fraud"],
    "texts": {
        "zh-CN": "我们如何使用您的个人信息。\n\n我们只为提供借款服务和保护您的资金使用这些信息。",
        "en": "How we use your personal information.\n\nWe use it only to lend to you and to "
        "protect your money.",
    },
}


def _seed(api: Api) -> None:
    """A customer LendGuard knows (an ordinary transfer yesterday, a scam intercepted) and a
    published notice."""
    t0 = PINNED_NOW - timedelta(days=1)
    api.decide(make_event(customer_id=CUSTOMER, occurred_at=t0 - timedelta(hours=2)))
    *_, held = [api.decide(e) for e in r39_scam_events(CUSTOMER, t0)]
    assert held["action"] == "intercept", held
    response = api.client.post("/v1/privacy/notices", json=NOTICE, headers=api.admin)
    assert response.status_code == 201, response.text


def _link(api: Api, **body: Any) -> dict[str, Any]:
    response = api.client.post(LINK, json=body or None, headers=api.key("privacy:portal"))
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


def _token(link: dict[str, Any]) -> str:
    return str(link["url"]).rsplit("/portal/open/", 1)[1]


def _open(api: Api, token: str) -> Any:
    api.client.cookies.clear()
    return api.client.get(f"/portal/open/{token}", follow_redirects=False)


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf" value="([0-9a-f]+)"', html)
    assert found is not None
    return found.group(1)


def _sms_check(api: Api) -> dict[str, Any]:
    at = PINNED_NOW.replace(hour=6, minute=0, second=0, microsecond=0)  # 14:00 in Shanghai
    body = {
        "purpose": "marketing",
        "channel": "sms",
        "debtor_id": CUSTOMER,
        "contact": "+8613900000000",
        "at": at.isoformat(),
        "timezone": "Asia/Shanghai",
        "template_text": "限时优惠：会员专享借款额度。",
    }
    response = api.client.post("/v1/conduct/contacts/check", json=body, headers=api.admin)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def _audit(api: Api, action: str) -> list[Any]:
    with api.services.decisions.db.connect() as conn:
        return list(
            conn.execute(
                select(AuditEntry.actor, AuditEntry.target, AuditEntry.detail).where(
                    AuditEntry.action == action
                )
            ).all()
        )


# -- the link --------------------------------------------------------------------------------------


def test_the_link_needs_the_scope_a_known_customer_and_a_valid_body(case_app: Api) -> None:
    api = case_app
    _seed(api)
    assert api.client.post(LINK).status_code == 401
    other = api.key("privacy:consent")
    assert api.client.post(LINK, headers=other).status_code == 403
    portal = api.key("privacy:portal")
    unknown = api.client.post("/v1/privacy/customers/nobody-here/portal-link", headers=portal)
    assert unknown.status_code == 404
    assert unknown.json()["errors"][0]["field"] == "customer_id"
    too_long = api.client.post(f"/v1/privacy/customers/{'x' * 129}/portal-link", headers=portal)
    assert too_long.status_code == 422
    hostile = api.client.post("/v1/privacy/customers/a%00b/portal-link", headers=portal)
    assert 400 <= hostile.status_code < 500
    for body, field in [
        ({"ttl_s": 59}, "ttl_s"),
        ({"ttl_s": 3601}, "ttl_s"),
        ({"ttl_s": "600"}, "ttl_s"),
        ({"ttl_s": 2**70}, "ttl_s"),
        ({"locale": "fr"}, "locale"),
        ({"customer": "other"}, "customer"),
    ]:
        refused = api.client.post(LINK, json=body, headers=portal)
        assert refused.status_code == 422, (body, refused.text)
        assert refused.json()["errors"][0]["field"] == field, refused.json()
    malformed = api.client.post(LINK, content=b"{", headers=portal)
    assert malformed.status_code == 400
    assert _audit(api, "privacy.portal_link") == []

    asked_at = PINNED_NOW.replace(microsecond=0)
    with time_machine.travel(asked_at, tick=False):
        link = _link(api, locale="en", ttl_s=300)
    assert link["locale"] == "en"
    assert link["url"].startswith(f"{api.client.base_url}/portal/open/")
    expires = datetime.fromisoformat(link["expires_at"])
    assert expires == asked_at + timedelta(seconds=300)
    token = _token(link)
    raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    assert CUSTOMER.encode() not in raw
    assert CUSTOMER not in link["url"]
    [(actor, target, detail)] = _audit(api, "privacy.portal_link")
    assert actor.startswith("key:")
    assert CUSTOMER not in target
    assert target.startswith("customer:h1:")
    assert detail["customer_digest"] == target.removeprefix("customer:")
    # Without a body: the settings' lifetime and the server's language.
    with time_machine.travel(asked_at, tick=False):
        default = _link(api)
    expires = datetime.fromisoformat(default["expires_at"])
    assert expires == asked_at + timedelta(seconds=600)
    assert default["locale"] == "zh-CN"


def test_a_tampered_or_swapped_token_is_refused_alike(case_app: Api) -> None:
    api = case_app
    _seed(api)
    first, second = _token(_link(api)), _token(_link(api))
    raw_a = base64.urlsafe_b64decode(first + "=" * (-len(first) % 4))
    raw_b = base64.urlsafe_b64decode(second + "=" * (-len(second) % 4))

    def b64(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    flipped = bytearray(raw_a)
    flipped[30] ^= 0x01
    # another customer's sealed id under this token's signature, and the signatures swapped
    other = _token(_link(api, locale="zh-CN"))
    raw_c = base64.urlsafe_b64decode(other + "=" * (-len(other) % 4))
    changed = raw_c[:-32] + raw_a[-32:]
    swapped = raw_a[:-32] + raw_b[-32:]
    bad = [b64(bytes(flipped)), b64(changed), b64(swapped), first[:-4], first + "AA", "x", "é"]
    pages = set()
    for token in bad:
        refused = _open(api, token)
        assert refused.status_code == 403, token
        assert "lg_portal=" not in refused.headers.get("set-cookie", "") or (
            'lg_portal=""' in refused.headers["set-cookie"]
        )
        assert "此链接无法打开" in refused.text
        assert "This link cannot be opened" in refused.text
        pages.add(refused.text)
    assert len(pages) == 1  # no detail of which check failed
    assert _open(api, first).status_code == 303


def test_an_expired_link_and_an_expired_cookie_are_refused(
    case_app: Api, pinned_clock: Any
) -> None:
    api = case_app
    _seed(api)
    token = _token(_link(api, ttl_s=60))
    opened = _open(api, token)
    assert opened.status_code == 303
    assert api.client.get("/portal").status_code == 200
    pinned_clock.shift(61)
    assert api.client.get("/portal").status_code == 403  # the cookie expired with the link
    assert _open(api, token).status_code == 403
    signer = LinkSigner(b"k" * 32)
    made, _ = signer.issue(CUSTOMER, "en", PINNED_NOW + timedelta(seconds=60))
    with pytest.raises(PortalDenied):
        signer.verify(made, PINNED_NOW + timedelta(seconds=60))
    assert signer.verify(made, PINNED_NOW).customer_id == CUSTOMER
    with pytest.raises(PortalDenied):
        LinkSigner(b"j" * 32).verify(made, PINNED_NOW)  # another master key


# -- the page -------------------------------------------------------------------------------------


def test_the_cookie_replaces_the_link_and_the_page_shows_the_customer(case_app: Api) -> None:
    api = case_app
    _seed(api)
    assert api.client.get("/portal").status_code == 403  # no cookie
    # Opened from another site's page, the redirect carries no SameSite=Strict cookie: one
    # same-site reload (no script) sends it; a second miss is refused.
    cross = {"sec-fetch-site": "cross-site"}
    reload = api.client.get("/portal?lang=en", headers=cross)
    assert reload.status_code == 200
    assert 'content="0;url=/portal?lang=en&amp;again=1"' in reload.text
    assert api.client.get("/portal?lang=en&again=1", headers=cross).status_code == 403
    api.services.settings.cookie_secure = True
    try:
        assert "Secure" in _open(api, _token(_link(api))).headers["set-cookie"]
    finally:
        api.services.settings.cookie_secure = False
    opened = _open(api, _token(_link(api, locale="en")))
    assert opened.status_code == 303
    assert opened.headers["location"] == "/portal?lang=en"
    cookie = opened.headers["set-cookie"]
    assert "lg_portal=" in cookie
    assert "HttpOnly" in cookie
    assert "Path=/portal" in cookie
    assert "SameSite=strict" in cookie or "SameSite=Strict" in cookie
    assert "Secure" not in cookie  # cookie_secure is off in this app (plain HTTP)
    assert opened.headers["referrer-policy"] == "no-referrer"
    page = api.client.get("/portal?lang=en")
    assert page.status_code == 200
    headers = page.headers
    assert headers["content-security-policy"].startswith("default-src 'self'")
    assert headers["x-frame-options"] == "DENY"
    assert headers["cache-control"] == "no-store"
    assert headers["referrer-policy"] == "no-referrer"
    html = page.text
    assert "<script" not in html
    assert "We held it to check it" in html  # the intercepted transfer
    assert "Version 1" in html
    assert "We use it only to lend to you" in html
    assert 'id="switch-state-sms">Not chosen yet' in html
    assert "Information we collect" in html
    assert "Who we share it with" in html
    assert "You have no open requests." in html
    assert "R39" not in html
    assert "SCREEN_SHARE" not in html
    zh = api.client.get("/portal?lang=zh-CN").text
    assert "我的隐私中心" in zh
    assert "我们暂缓了操作以便核实" in zh
    assert "第 1 版" in zh
    assert "我们只为提供借款服务和保护您的资金使用这些信息" in zh


def test_a_form_without_its_csrf_token_changes_nothing(case_app: Api) -> None:
    api = case_app
    _seed(api)
    _open(api, _token(_link(api, locale="en")))
    csrf = _csrf(api.client.get("/portal").text)
    form = {"scope": "sms", "allowed": "no", "lang": "en"}
    for sent in ({}, {"csrf": "0" * 64}, {"csrf": csrf[:-1] + ("0" if csrf[-1] != "0" else "1")}):
        refused = api.client.post("/portal/consent", data={**form, **sent}, follow_redirects=False)
        assert refused.status_code == 403
    # a token from another link's page does not fit this cookie
    other = api.key("privacy:portal")
    token = _token(api.client.post(LINK, headers=other).json())
    first_csrf = csrf
    _open(api, token)
    assert _csrf(api.client.get("/portal").text) != first_csrf
    wrong = api.client.post("/portal/consent", data={**form, "csrf": first_csrf})
    assert wrong.status_code == 403
    # no cookie at all
    api.client.cookies.clear()
    assert api.client.post("/portal/consent", data={**form, "csrf": csrf}).status_code == 403
    assert (
        api.client.post("/portal/requests", data={"kind": "access", "csrf": csrf}).status_code
        == 403
    )
    with api.services.decisions.db.connect() as conn:
        assert conn.execute(select(ConsentRecord.id)).first() is None
        assert conn.execute(select(DataSubjectRequest.id)).first() is None


def test_switching_sms_marketing_off_refuses_the_next_sms_offer(case_app: Api) -> None:
    api = case_app
    _seed(api)
    _open(api, _token(_link(api, locale="en")))
    csrf = _csrf(api.client.get("/portal").text)
    assert "MARKETING_OPTED_OUT" not in [c["code"] for c in _sms_check(api)["codes"]]
    off = api.client.post(
        "/portal/consent",
        data={"csrf": csrf, "scope": "sms", "allowed": "no", "lang": "en"},
        follow_redirects=False,
    )
    assert off.status_code == 303
    assert off.headers["location"] == "/portal?lang=en&done=consent#switches"
    with api.services.decisions.db.connect() as conn:
        [row] = conn.execute(
            select(
                ConsentRecord.customer_id,
                ConsentRecord.purpose,
                ConsentRecord.scope,
                ConsentRecord.granted,
                ConsentRecord.method,
                ConsentRecord.channel,
                ConsentRecord.notice_key,
                ConsentRecord.notice_version,
                ConsentRecord.recorded_by,
            )
        ).all()
    assert tuple(row[:8]) == (
        CUSTOMER,
        "marketing",
        "sms",
        False,
        "toggle",
        "app",
        "app-privacy",
        1,
    )
    assert row.recorded_by.startswith("portal:")
    answer = _sms_check(api)
    assert answer["allowed"] is False
    assert [c["code"] for c in answer["codes"]] == ["MARKETING_OPTED_OUT"]
    page = api.client.get("/portal?lang=en&done=consent").text
    assert "Saved. Your choice applies from now on." in page
    assert 'id="switch-state-sms">Off' in page
    # pop-ups: a marketing scope of their own
    api.client.post("/portal/consent", data={"csrf": csrf, "scope": "popup", "allowed": "yes"})
    assert api.services.consent.allowed(CUSTOMER, "marketing", "popup", datetime.now(UTC))
    bad = api.client.post("/portal/consent", data={"csrf": csrf, "scope": "fax", "allowed": "no"})
    assert bad.status_code == 422


def test_a_request_opened_on_the_page_has_its_clock(case_app: Api) -> None:
    api = case_app
    _seed(api)
    _open(api, _token(_link(api, locale="en")))
    csrf = _csrf(api.client.get("/portal").text)
    sent = api.client.post(
        "/portal/requests",
        data={"csrf": csrf, "kind": "access", "note": "all of it, please", "lang": "en"},
        follow_redirects=False,
    )
    assert sent.status_code == 303
    shanghai = ZoneInfo("Asia/Shanghai")
    due_day = working_days_after(PINNED_NOW.astimezone(shanghai).date(), 15, "CN")
    due = datetime.combine(due_day, time(23, 59, 59), shanghai).astimezone(UTC)
    with api.services.decisions.db.connect() as conn:
        [row] = conn.execute(
            select(
                DataSubjectRequest.customer_id,
                DataSubjectRequest.kind,
                DataSubjectRequest.status,
                DataSubjectRequest.due_at,
                DataSubjectRequest.details,
            )
        ).all()
    assert (row.customer_id, row.kind, row.status) == (CUSTOMER, "access", "identity_unverified")
    stored_due = row.due_at if row.due_at.tzinfo else row.due_at.replace(tzinfo=UTC)
    assert stored_due == due
    assert row.details["note"] == "all of it, please"
    page = api.client.get(sent.headers["location"].split("#")[0]).text
    shown = due.astimezone(shanghai).strftime("%Y-%m-%d")
    assert f"We have received your request. We will answer by {shown} (UTC+8)." in page
    assert f"We will answer by {shown} (UTC+8)" in page
    assert "A copy of my information" in page
    assert "We will first check that it is really you" in page
    for kind, note in (("fax", ""), ("delete", "x\x00y"), ("correct", "y" * 1001)):
        refused = api.client.post(
            "/portal/requests", data={"csrf": csrf, "kind": kind, "note": note}
        )
        assert refused.status_code == 422
    with api.services.decisions.db.connect() as conn:
        assert len(conn.execute(select(DataSubjectRequest.id)).all()) == 1
    [(actor, _target, detail)] = _audit(api, "privacy.request_received")
    assert actor.startswith("portal:")
    assert detail["kind"] == "access"


def test_every_portal_text_has_both_languages() -> None:
    for key, texts in TEXTS.items():
        assert set(texts) == set(LOCALES), key
        assert all(t.strip() for t in texts.values()), key


def test_in_production_a_link_needs_the_portals_public_address(case_app: Api) -> None:
    """Without LENDGUARD_PORTAL_BASE_URL the link would start with the request's Host header;
    a production deployment answers 503 (nothing issued, nothing audited) until it is set."""
    _seed(case_app)
    settings = case_app.services.settings
    case_app.services.settings = settings.model_copy(update={"environment": "production"})
    try:
        r = case_app.client.post(LINK, json={}, headers={**case_app.admin, "Host": "evil.example"})
        assert r.status_code == 503
        assert r.headers["Retry-After"] == "3600"
        assert "PORTAL_BASE_URL" in r.json()["detail"]
        assert _audit(case_app, "privacy.portal_link") == []
        case_app.services.settings = settings.model_copy(
            update={"environment": "production", "portal_base_url": "https://lender.example/lg"}
        )
        r = case_app.client.post(LINK, json={}, headers={**case_app.admin, "Host": "evil.example"})
        assert r.status_code == 200, r.text
        assert r.json()["url"].startswith("https://lender.example/lg/portal/open/")
    finally:
        case_app.services.settings = settings
