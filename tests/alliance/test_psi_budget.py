"""A member's PSI sessions bring at most ``alliance_psi_items_per_day`` blinded items in any 24
hours (PSI answers for whatever set a member sends: without a budget it could run candidate
numbers through sessions and read this lender's list off the answers). Counted from the
durable exchange records, so every server process of the responder shares it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import select

from alliance.served_members import Member, alliance
from lendguard.models.alliance import AllianceExchange

MOBILES = ["13812345678", "13912345678", "13712345678", "13612345678"]


def psi_rows(member: Member, role: str) -> list[Any]:
    table = AllianceExchange.__table__
    with member.services.decisions.db.connect() as conn:
        query = select(*table.columns).where(table.c.kind == "psi", table.c.role == role)
        return list(conn.execute(query).all())


def test_a_members_items_over_the_daily_budget_are_refused(
    sqlite_template: Path, tmp_path: Path
) -> None:
    with alliance(
        sqlite_template, tmp_path, "lender-a", "lender-b", alliance_psi_items_per_day=5
    ) as (a, b):
        for value in MOBILES[:3]:
            a.add_entry("mobile", value)
        b.add_entry("mobile", MOBILES[0])
        body = {"peer": "lender-b", "list_kind": "mobile", "mode": "cardinality"}
        first = a.post("/v1/alliance/psi", body, "alliance:write")
        assert first.status_code == 200, first.text
        assert first.json()["count"] == 1
        # 3 asked, 3 more would make 6 > 5
        refused = a.post("/v1/alliance/psi", body, "alliance:write")
        assert refused.status_code == 429, refused.text
        assert int(refused.headers["Retry-After"]) >= 1
        assert [r.peer_items for r in psi_rows(b, "responder")] == [3]
        # a smaller session still fits (3 + 2 = 5)
        a.post(
            "/v1/alliance/list/entries/remove",
            {"kind": "mobile", "value": MOBILES[2]},
            "alliance:write",
        )
        fits = a.post("/v1/alliance/psi", body, "alliance:write")
        assert fits.status_code == 200, fits.text
        assert sorted(r.peer_items for r in psi_rows(b, "responder")) == [2, 3]
