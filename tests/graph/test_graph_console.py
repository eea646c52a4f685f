"""The console's ring page, the overview of linked groups, the neighbourhood picture and the
JSON view of a customer's group (issue #9, item 4).

A gang of five registers on one phone handset and one SIM within minutes (accounts opened the
day before), one of them applies for a loan and is intercepted (a case opens); a neighbour on
the same Wi-Fi shares only an IP address (a weak link: never joins the group); a customer
elsewhere shares nothing.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from fixtures import T0, Api, make_event, sign_in
from lendguard.graph import views
from lendguard.graph.index import LinkIndex
from lendguard.graph.picture import CUSTOMER_COLOURS, mask_entity, neighbourhood_svg
from lendguard.graph.rings import Detection, detect

SVG = "{http://www.w3.org/2000/svg}"
GANG = [f"gang-{n}" for n in range(5)]
PHONE = "+86-139-0000-0001"


def _at(minutes: float) -> str:
    return (T0 + timedelta(minutes=minutes)).isoformat()


def _gang_event(n: int, kind: str, minutes: float, **extra: Any) -> dict[str, Any]:
    return make_event(
        type=kind,
        customer_id=f"gang-{n}",
        occurred_at=_at(minutes),
        device_id="gang-phone-1",
        phone=PHONE,
        ip="192.168.9.1",
        payee_id=None,
        **extra,
    )


def build_gang(api: Api) -> dict[str, Any]:
    created = (T0 - timedelta(days=1)).isoformat()
    for n in range(5):
        api.decide(
            _gang_event(
                n, "registration", n, amount=None, currency=None, customer={"created_at": created}
            )
        )
    application = api.decide(_gang_event(4, "application", 10, amount="5000.00"))
    api.decide(
        make_event(
            type="login",
            customer_id="wifi-1",
            device_id="wifi-own-device",
            ip="192.168.9.1",
            payee_id=None,
            amount=None,
            currency=None,
            occurred_at=_at(11),
        )
    )
    api.decide(
        make_event(
            type="application",
            customer_id="solo",
            device_id="solo-d",
            ip="10.9.9.9",
            payee_id=None,
            amount="5000.00",
            occurred_at=_at(12),
        )
    )
    return application


def _phone_pseudonym(api: Api) -> str:
    graph = api.services.decisions.graph
    keys = [k for k in graph.entities if k.startswith("ph:")]
    assert len(keys) == 1
    assert keys[0].startswith("ph:h1:")
    return keys[0][3:]  # "h1:<64 hex>"


def _section(html: str, element_id: str) -> str:
    found = re.search(rf'<table id="{element_id}">(.*?)</table>', html, re.S)
    assert found, f"no table #{element_id}"
    return found.group(1)


def _customer_circles(svg: str) -> list[ET.Element]:
    root = ET.fromstring(svg)
    groups = [g for g in root.iter(f"{SVG}g") if g.get("class") == "customers"]
    assert len(groups) == 1
    return list(groups[0].iter(f"{SVG}circle"))


@pytest.fixture(autouse=True)
def _fresh_overview_cache() -> None:
    views._cache.clear()


class TestRingPage:
    def test_it_lists_the_members_and_what_they_share_and_nobody_else(self, case_app: Api) -> None:
        application = build_gang(case_app)
        assert application["action"] in ("intercept", "block")
        analyst = sign_in(case_app.app, case_app.services, "analyst")
        page = analyst.get("/console/rings/gang-2")
        assert page.status_code == 200, page.text
        html = page.text
        members = _section(html, "members")
        for customer in GANG:
            assert f'href="/console/customers/{customer}"' in members
        assert members.count("<tr data-customer=") == 5
        assert 'id="group-size">5<' in html
        assert "Flagged as a ring" in html
        assert "Accounts opened together and sharing several identifiers" in html
        shared = _section(html, "shared")
        assert "<code>device gang-p…</code>" in shared
        assert 'class="shared-phone"' in shared
        # the Wi-Fi neighbour is in the picture (a weak link) but not a member; solo nowhere
        assert "wifi-1" not in members
        assert "wifi-1" in html
        assert "solo" not in html
        # the intercepted application's case is listed among the members' open cases
        case = case_app.services.cases.for_customer("gang-4")[0]
        assert f'href="/console/cases/{case["id"]}"' in _section(html, "open-cases")
        # the members' decisions, newest first: the application before the registrations
        timeline = _section(html, "timeline")
        assert timeline.index("Loan application") < timeline.index("Registration")
        assert "<td>application</td>" not in timeline  # event types are named, not codes
        assert len(re.findall(r"<tr><td>", timeline)) == 6
        # times in the console's zone (Asia/Shanghai by default), the zone named
        assert "UTC+8</time>" in timeline

    def test_no_pseudonym_or_clear_phone_is_shown_in_full(self, case_app: Api) -> None:
        build_gang(case_app)
        pseudonym = _phone_pseudonym(case_app)
        digest = pseudonym[3:]
        analyst = sign_in(case_app.app, case_app.services, "analyst")
        for url in ("/console/rings/gang-0", "/console/customers/gang-0/graph.svg"):
            body = analyst.get(url).text
            assert digest[:6] in body  # a short prefix tells entities apart
            assert digest[:7] not in body
            assert PHONE not in body
        data = case_app.client.get(
            "/v1/graph/customers/gang-0", headers=case_app.key("decisions:read")
        ).text
        assert digest[:6] in data
        assert digest[:7] not in data

    def test_an_unknown_customer_is_a_group_of_one(self, case_app: Api) -> None:
        build_gang(case_app)
        analyst = sign_in(case_app.app, case_app.services, "analyst")
        page = analyst.get("/console/rings/never-seen")
        assert page.status_code == 200, page.text
        assert 'id="group-size">1<' in page.text
        assert 'id="alone"' in page.text
        assert "Not flagged" in page.text
        svg = analyst.get("/console/customers/never-seen/graph.svg")
        assert svg.status_code == 200
        assert len(_customer_circles(svg.text)) == 1
        body = case_app.client.get(
            "/v1/graph/customers/never-seen", headers=case_app.key("decisions:read")
        ).json()
        assert body["known"] is False
        assert body["figures"]["size"] == 1
        assert [m["customer_id"] for m in body["members"]] == ["never-seen"]
        assert body["shared"] == []

    def test_the_customer_page_links_to_the_ring_page(self, case_app: Api) -> None:
        build_gang(case_app)
        officer = sign_in(case_app.app, case_app.services, "officer")
        page = officer.get("/console/customers/gang-3")
        assert 'href="/console/rings/gang-3"' in page.text

    def test_it_reads_in_chinese(self, case_app: Api) -> None:
        build_gang(case_app)
        analyst = sign_in(case_app.app, case_app.services, "analyst")
        page = analyst.get("/console/rings/gang-0?lang=zh-CN")
        assert "关联账户" in page.text
        assert "判定为团伙" in page.text


class TestOverview:
    def test_it_lists_the_group_flagged_and_not_the_loners(self, case_app: Api) -> None:
        build_gang(case_app)
        # a family of three on one tablet, accounts years old: listed, not flagged
        for n in range(3):
            case_app.decide(
                make_event(
                    type="login",
                    customer_id=f"family-{n}",
                    device_id="family-tablet",
                    ip=f"10.1.1.{n}",
                    payee_id=None,
                    amount=None,
                    currency=None,
                    occurred_at=_at(30 + n),
                    customer={"created_at": (T0 - timedelta(days=900)).isoformat()},
                )
            )
        analyst = sign_in(case_app.app, case_app.services, "analyst")
        page = analyst.get("/console/rings")
        assert page.status_code == 200, page.text
        groups = _section(page.text, "groups")
        rows = re.findall(r'<tr data-customer="([^"]+)">', groups)
        assert rows == ["gang-0", "family-0"]  # flagged first
        family = groups[groups.index('data-customer="family-0"') :]
        assert "Not flagged" in family
        assert '<td class="num">3</td>' in family
        assert 'href="/console/rings/gang-0"' in groups
        assert '<td class="num">5</td>' in groups
        assert "g00001" in groups
        assert "solo" not in page.text
        assert "wifi-1" not in page.text

    def test_a_refresh_storm_computes_detection_once(
        self, case_app: Api, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        build_gang(case_app)
        calls: list[int] = []

        def counting(index: LinkIndex) -> Detection:
            calls.append(index.events)
            return detect(index)

        monkeypatch.setattr(views, "detect", counting)
        decisions = case_app.services.decisions
        first = views.rings_overview(decisions)
        for _ in range(5):
            assert views.rings_overview(decisions)["computed_at"] == first["computed_at"]
        assert len(calls) == 1
        # a new event within the minute: still the cached answer; after it, a new one
        case_app.decide(_gang_event(0, "login", 20, amount=None, currency=None))
        views.rings_overview(decisions)
        assert len(calls) == 1
        monkeypatch.setattr(views, "OVERVIEW_TTL_S", 0.0)
        views.rings_overview(decisions)
        assert len(calls) == 2


class TestPicture:
    def test_the_svg_has_one_circle_per_customer_and_is_deterministic(self, case_app: Api) -> None:
        build_gang(case_app)
        analyst = sign_in(case_app.app, case_app.services, "analyst")
        first = analyst.get("/console/customers/gang-0/graph.svg")
        assert first.status_code == 200
        assert first.headers["content-type"].startswith("image/svg+xml")
        assert first.headers["cache-control"] == "no-store"
        graph = case_app.services.decisions.graph
        nodes, edges = graph.neighbourhood("gang-0")
        customers = set(nodes) - {e[1] for e in edges}
        assert customers == {*GANG, "wifi-1"}
        circles = _customer_circles(first.text)
        assert len(circles) == len(customers)
        titles = {_who(c) for c in circles}
        assert titles == customers
        # the focus is ringed, ring members orange, the Wi-Fi neighbour grey
        fills = {_who(c): c for c in circles}
        assert fills["gang-0"].get("stroke-width") == "3"
        assert fills["gang-1"].get("fill") == CUSTOMER_COLOURS["ring"]
        assert fills["wifi-1"].get("fill") == CUSTOMER_COLOURS["other"]
        again = analyst.get("/console/customers/gang-0/graph.svg")
        assert again.content == first.content

    def test_the_ring_page_embeds_the_picture(self, case_app: Api) -> None:
        build_gang(case_app)
        analyst = sign_in(case_app.app, case_app.services, "analyst")
        html = analyst.get("/console/rings/gang-0").text
        found = re.search(r'<div id="picture">(<svg.*?</svg>)</div>', html, re.S)
        assert found
        assert len(_customer_circles(found.group(1))) == 6

    def test_labels_colours_and_escaping(self) -> None:
        index = LinkIndex()
        odd = '<script>alert("x")</script>'
        for customer in ("a", "b", odd):
            index.add(customer, "login", 1.0, links={"device": "shared-d", "ip": "1.2.3.4"})
        index.mark_fraud("b")
        nodes, edges = index.neighbourhood("a")
        svg = neighbourhood_svg(nodes, edges, "a", labelled={"b"}, mules={odd})
        assert "<script" not in svg
        circles = _customer_circles(svg)
        colour = {_who(c): c.get("fill") for c in circles}
        assert colour == {
            "a": CUSTOMER_COLOURS["other"],
            "b": CUSTOMER_COLOURS["fraud"],
            odd: CUSTOMER_COLOURS["mule"],
        }
        root = ET.fromstring(svg)
        dashed = [ln for ln in root.iter(f"{SVG}line") if ln.get("stroke-dasharray")]
        solid = [ln for ln in root.iter(f"{SVG}line") if not ln.get("stroke-dasharray")]
        # the IP links dashed (3 of them, plus the legend's sample), the device links solid
        assert len(dashed) == 4
        assert float(solid[-1].get("stroke-width", "0")) > float(
            dashed[-1].get("stroke-width", "0")
        )
        assert neighbourhood_svg(nodes, edges, "a", seed=2) != neighbourhood_svg(
            nodes, edges, "a", seed=1
        )

    def test_entity_values_are_cut_to_six_characters(self) -> None:
        assert mask_entity("ph:h1:" + "ab" * 32, "phone") == "phone ababab…"
        assert mask_entity("d:dev-1", "device") == "device dev-1"
        assert mask_entity("i:192.168.100.200", "ip") == "ip 192.16…"


class TestJsonAndScopes:
    def test_the_json_view_lists_the_members_without_a_timeline(self, case_app: Api) -> None:
        build_gang(case_app)
        response = case_app.client.get(
            "/v1/graph/customers/gang-1", headers=case_app.key("decisions:read")
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert sorted(m["customer_id"] for m in body["members"]) == GANG
        assert body["figures"]["flagged"] is True
        assert body["figures"]["link_types"] == ["device", "phone"]
        assert {e["type"]: e["strong"] for e in body["shared"]} == {
            "device": True,
            "phone": True,
            "ip": False,  # shared too, but weak: it joins no group
        }
        assert "timeline" not in body
        assert "open_cases" not in body  # this key may not read cases
        with_cases = case_app.client.get(
            "/v1/graph/customers/gang-1", headers=case_app.key("decisions:read", "cases:read")
        ).json()
        assert [c["customer_id"] for c in with_cases["open_cases"]] == ["gang-4"]

    def test_a_key_without_decisions_read_or_bound_to_marketing_is_refused(
        self, case_app: Api
    ) -> None:
        build_gang(case_app)
        url = "/v1/graph/customers/gang-1"
        assert case_app.client.get(url, headers=case_app.key("cases:read")).status_code == 403
        marketing = case_app.key("decisions:read", "purpose:marketing")
        assert case_app.client.get(url, headers=marketing).status_code == 403
        assert case_app.client.get(url).status_code == 401

    def test_an_analyst_sees_the_pages_and_a_stranger_is_sent_to_sign_in(
        self, case_app: Api
    ) -> None:
        build_gang(case_app)
        analyst = sign_in(case_app.app, case_app.services, "analyst")
        for url in (
            "/console/rings",
            "/console/rings/gang-0",
            "/console/customers/gang-0/graph.svg",
        ):
            assert analyst.get(url).status_code == 200
            anonymous = case_app.client.get(url, follow_redirects=False)
            assert anonymous.status_code == 303
            assert anonymous.headers["location"].startswith("/console/login")

    def test_a_session_without_decisions_read_is_forbidden(
        self, case_app: Api, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # Every console role reads decisions; a session whose role lost the scope must not.
        analyst = sign_in(case_app.app, case_app.services, "analyst")
        users = case_app.services.users
        real = users.session

        def narrowed(token: str) -> Any:
            info = real(token)
            if info is None:
                return None
            scopes = frozenset(s for s in info.principal.scopes if s != "decisions:read")
            return replace(info, principal=replace(info.principal, scopes=scopes))

        monkeypatch.setattr(users, "session", narrowed)
        for url in (
            "/console/rings",
            "/console/rings/gang-0",
            "/console/customers/gang-0/graph.svg",
        ):
            assert analyst.get(url).status_code == 403


def _who(circle: ET.Element) -> str:
    """The customer a circle stands for (its hover title, before the notes in brackets)."""
    title = circle.find(f"{SVG}title")
    assert title is not None
    assert title.text
    return title.text.rsplit(" (", 1)[0]
