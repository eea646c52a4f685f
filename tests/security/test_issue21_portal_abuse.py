"""Issue #21, an attacker's pass over the borrower's privacy centre: what one link may do.

A link holder (the customer, or whoever got hold of the SMS) may not flood the privacy officer
with data-subject requests (one open request per kind per customer: a second one is refused
with a plain message and no row), nor flood the consent ledger (a switch set to the state it
already has writes nothing; one link writes at most ``MAX_SWITCHES_PER_LINK`` changes). A
``due`` date in the address is shown only when it is the due date of one of the customer's own
open requests (no made-up promise on our page). Time is pinned. What depends on the database
(the one-open-request check and its lock) runs on both, or on PostgreSQL where processes race;
the rest on SQLite (speed)."""

from __future__ import annotations

import re
import threading
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import func, select

import lendguard.console.portal_routes  # noqa: F401 - its texts join the catalogue
from fixtures import PINNED_NOW, Api, make_event, served_app
from lendguard.console.portal_i18n import LOCALES, TEXTS
from lendguard.models.privacy import ConsentRecord, DataSubjectRequest
from lendguard.privacy.portal import MAX_SWITCHES_PER_LINK

pytestmark = pytest.mark.usefixtures("pinned_clock")

CUSTOMER = "borrower-21"
OTHER = "borrower-22"
NOTICE = {
    "notice_key": "app-privacy",
    "purposes": ["marketing", "loan_service"],
    "texts": {"zh-CN": "我们如何使用您的个人信息。", "en": "How we use your information."},
}


def _seed(api: Api) -> None:
    for customer in (CUSTOMER, OTHER):
        api.decide(make_event(customer_id=customer, occurred_at=PINNED_NOW - timedelta(days=1)))
    response = api.client.post("/v1/privacy/notices", json=NOTICE, headers=api.admin)
    assert response.status_code == 201, response.text


def _open(api: Api, customer: str = CUSTOMER) -> str:
    """Opens a fresh link for ``customer``; the page's CSRF token."""
    response = api.client.post(
        f"/v1/privacy/customers/{customer}/portal-link",
        json={"locale": "en"},
        headers=api.key("privacy:portal"),
    )
    assert response.status_code == 200, response.text
    token = str(response.json()["url"]).rsplit("/portal/open/", 1)[1]
    api.client.cookies.clear()
    assert api.client.get(f"/portal/open/{token}", follow_redirects=False).status_code == 303
    found = re.search(r'name="csrf" value="([0-9a-f]+)"', api.client.get("/portal").text)
    assert found is not None
    return found.group(1)


def _count(api: Api, column: object, *where: object) -> int:
    with api.services.decisions.db.connect() as conn:
        return int(conn.execute(select(func.count(column)).where(*where)).scalar_one())


def test_one_open_request_per_kind_per_customer(case_app: Api) -> None:
    api = case_app
    _seed(api)
    csrf = _open(api)
    form = {"csrf": csrf, "kind": "delete", "note": "delete it all", "lang": "en"}
    first = api.client.post("/portal/requests", data=form, follow_redirects=False)
    assert first.status_code == 303
    for _ in range(3):
        again = api.client.post("/portal/requests", data=form, follow_redirects=False)
        assert again.status_code == 409
        assert "You already have a request of this kind open" in again.text
    # another link for the same customer does not get round it
    csrf = _open(api)
    again = api.client.post("/portal/requests", data={**form, "csrf": csrf})
    assert again.status_code == 409
    zh = api.client.post("/portal/requests", data={**form, "csrf": csrf, "lang": "zh-CN"})
    assert zh.status_code == 409
    assert TEXTS["request_already_open"]["zh-CN"] in zh.text
    assert _count(api, DataSubjectRequest.id, DataSubjectRequest.kind == "delete") == 1
    # another kind is still welcome, and another customer is not affected
    access = api.client.post("/portal/requests", data={**form, "csrf": csrf, "kind": "access"})
    assert access.status_code == 200
    _open(api, OTHER)
    other = api.client.post(
        "/portal/requests", data={**form, "csrf": _open(api, OTHER)}, follow_redirects=False
    )
    assert other.status_code == 303
    assert _count(api, DataSubjectRequest.id) == 3


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_consent_ledger_cannot_be_flooded_from_one_link(case_app: Api) -> None:
    api = case_app
    _seed(api)
    csrf = _open(api)
    off = {"csrf": csrf, "scope": "sms", "allowed": "no", "lang": "en"}
    for _ in range(3):  # the same choice again writes nothing
        sent = api.client.post("/portal/consent", data=off, follow_redirects=False)
        assert sent.status_code == 303
    assert _count(api, ConsentRecord.id) == 1
    state = "no"
    for _ in range(MAX_SWITCHES_PER_LINK - 1):  # on, off, on, …: each one a change
        state = "yes" if state == "no" else "no"
        sent = api.client.post(
            "/portal/consent", data={**off, "allowed": state}, follow_redirects=False
        )
        assert sent.status_code == 303
    flipped = "yes" if state == "no" else "no"
    refused = api.client.post("/portal/consent", data={**off, "allowed": flipped})
    assert refused.status_code == 429
    assert "You have changed these settings many times" in refused.text
    assert _count(api, ConsentRecord.id) == MAX_SWITCHES_PER_LINK
    # a fresh link from the lender's app works again
    csrf = _open(api)
    sent = api.client.post("/portal/consent", data={**off, "csrf": csrf, "allowed": flipped})
    assert sent.status_code == 200
    assert _count(api, ConsentRecord.id) == MAX_SWITCHES_PER_LINK + 1


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_made_up_due_date_in_the_address_is_not_shown(case_app: Api) -> None:
    api = case_app
    _seed(api)
    _open(api)
    page = api.client.get("/portal?lang=en&done=request&due=2099-01-01T00:00:00%2B00:00")
    assert page.status_code == 200
    assert "2099" not in page.text


def test_the_new_texts_have_both_languages() -> None:
    for key in ("request_already_open", "too_many_changes"):
        assert set(TEXTS[key]) == set(LOCALES)
        assert all(TEXTS[key][locale].strip() for locale in LOCALES)


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_concurrent_requests_of_one_kind_open_one(case_app: Api) -> None:
    """Six posts of the same kind at once (one link replayed from six places): one request."""
    api = case_app
    _seed(api)
    response = api.client.post(
        f"/v1/privacy/customers/{CUSTOMER}/portal-link", headers=api.key("privacy:portal")
    )
    token = str(response.json()["url"]).rsplit("/portal/open/", 1)[1]
    statuses: list[int] = []
    with served_app(api.app) as base:
        clients = []
        for _ in range(6):
            client = httpx.Client(base_url=base)
            client.get(f"/portal/open/{token}")
            found = re.search(r'name="csrf" value="([0-9a-f]+)"', client.get("/portal").text)
            assert found is not None
            clients.append((client, found.group(1)))
        start = threading.Barrier(len(clients))

        def post(client: httpx.Client, csrf: str) -> None:
            start.wait()
            statuses.append(
                client.post("/portal/requests", data={"csrf": csrf, "kind": "delete"}).status_code
            )

        threads = [threading.Thread(target=post, args=pair) for pair in clients]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for client, _ in clients:
            client.close()
    assert sorted(statuses) == [303] + [409] * 5
    assert _count(api, DataSubjectRequest.id) == 1


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_link_is_never_cached(case_app: Api) -> None:
    """The answer holds a bearer URL: no shared cache or browser may keep it."""
    api = case_app
    _seed(api)
    response = api.client.post(
        f"/v1/privacy/customers/{CUSTOMER}/portal-link", headers=api.key("privacy:portal")
    )
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["pragma"] == "no-cache"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_no_switch_is_written_without_a_notice_that_tells_marketing(case_app: Api) -> None:
    """A consent must be given against the notice that told it: none published, or only one
    that does not tell marketing, and the switch is refused with a plain message, no row."""
    api = case_app
    api.decide(make_event(customer_id=CUSTOMER, occurred_at=PINNED_NOW - timedelta(days=1)))
    csrf = _open(api)
    form = {"csrf": csrf, "scope": "sms", "allowed": "no", "lang": "en"}
    refused = api.client.post("/portal/consent", data=form)
    assert refused.status_code == 409
    assert TEXTS["switches_unavailable"]["en"] in refused.text
    other = {**NOTICE, "notice_key": "loans-only", "purposes": ["loan_service"]}
    assert api.client.post("/v1/privacy/notices", json=other, headers=api.admin).status_code == 201
    assert api.client.post("/portal/consent", data=form).status_code == 409
    assert _count(api, ConsentRecord.id) == 0
