"""The data map and the MIIT "two lists" (工信部信管函〔2021〕292号): the collected-information
list (type, purpose, scenario; SDKs included) and the third-party sharing list (type, purpose,
scenario, sharing method), generated from one set of declarations (``privacy/datamap.yaml``),
globally and for one customer, as JSON, CSV or an HTML page a customer can read.

For one customer the collected list adds a "collection count" (how many of their events carried
that information, as public sample lists do) and the sharing list keeps only the recipients the
customer's data can go to: necessary ones, and optional ones they consented to (PIPL Art. 23).
"""

from __future__ import annotations

import csv
import io
from functools import lru_cache
from html import escape
from importlib import resources
from typing import Any

import yaml
from pydantic import BaseModel, Field
from sqlalchemy import Engine, select

from lendguard.models.decision import EventRecord

Text = dict[str, str]


class ThirdParty(BaseModel):
    recipient: Text
    purpose: Text
    shared_categories: Text
    method: Text
    consent_scope: str


class Declaration(BaseModel):
    id: str
    category: str
    name: Text
    purpose: Text
    scenario: Text
    collector: str
    retention: Text
    sensitive: bool
    necessary: bool
    purpose_key: str | None = None
    event_fields: list[str] = Field(default_factory=list)
    third_parties: list[ThirdParty] = Field(default_factory=list)


@lru_cache(maxsize=1)
def declarations() -> tuple[Declaration, ...]:
    text = resources.files("lendguard.privacy").joinpath("datamap.yaml").read_text("utf-8")
    return tuple(Declaration.model_validate(d) for d in yaml.safe_load(text)["declarations"])


def _t(text: Text, locale: str) -> str:
    return text.get(locale) or text.get("en") or next(iter(text.values()))


def _present(body: dict[str, Any], field: str) -> bool:
    value: Any = body
    for part in field.split("."):
        if not isinstance(value, dict):
            return False
        value = value.get(part)
    return value not in (None, "", {}, [])


def collected_list(
    locale: str = "zh-CN", engine: Engine | None = None, customer_id: str | None = None
) -> list[dict[str, Any]]:
    counts: dict[str, int] = {}
    if engine is not None and customer_id is not None:
        with engine.connect() as conn:
            bodies = conn.execute(
                select(EventRecord.body).where(EventRecord.customer_id == customer_id)
            ).scalars()
            for body in bodies:
                for d in declarations():
                    if any(_present(body, f) for f in d.event_fields):
                        counts[d.id] = counts.get(d.id, 0) + 1
    rows = []
    for d in declarations():
        row: dict[str, Any] = {
            "id": d.id,
            "type": _t(d.name, locale),
            "category": d.category,
            "purpose": _t(d.purpose, locale),
            "scenario": _t(d.scenario, locale),
            "collector": d.collector,
            "retention": _t(d.retention, locale),
            "sensitive": d.sensitive,
            "necessary": d.necessary,
        }
        if customer_id is not None:
            row["collection_count"] = counts.get(d.id, 0)
        rows.append(row)
    return rows


def sharing_list(
    locale: str = "zh-CN", consented_scopes: set[str] | None = None
) -> list[dict[str, Any]]:
    """Recipients; with ``consented_scopes`` (one customer), only those their data can go to."""
    rows = []
    for d in declarations():
        for party in d.third_parties:
            if consented_scopes is not None and not (
                d.necessary or party.consent_scope in consented_scopes
            ):
                continue
            rows.append(
                {
                    "recipient": _t(party.recipient, locale),
                    "type": _t(party.shared_categories, locale),
                    "purpose": _t(party.purpose, locale),
                    "scenario": _t(d.scenario, locale),
                    "method": _t(party.method, locale),
                    "declaration": d.id,
                    "needs_separate_consent": not d.necessary,
                }
            )
    return rows


def as_csv(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return ""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


TITLES = {
    "zh-CN": ("已收集个人信息清单", "第三方共享个人信息清单"),
    "en": ("Personal information we collect", "Personal information shared with third parties"),
}
HEADERS = {
    "zh-CN": {
        "type": "信息类型",
        "purpose": "使用目的",
        "scenario": "使用场景",
        "retention": "保存期限",
        "collection_count": "收集次数",
        "recipient": "第三方",
        "method": "共享方式",
        "sensitive": "敏感信息",
    },
    "en": {
        "type": "Information",
        "purpose": "Purpose",
        "scenario": "When",
        "retention": "Kept for",
        "collection_count": "Times collected",
        "recipient": "Recipient",
        "method": "How shared",
        "sensitive": "Sensitive",
    },
}


def _cell(value: Any, yes: str) -> str:
    if value is True:
        return yes
    if value is False or value is None:
        return ""
    return str(value)


def as_html(collected: list[dict[str, Any]], shared: list[dict[str, Any]], locale: str) -> str:
    """Both lists as one plain page a customer can read on a phone."""
    first, second = TITLES.get(locale, TITLES["en"])
    head = HEADERS.get(locale, HEADERS["en"])
    yes = "是" if locale == "zh-CN" else "yes"

    def table(rows: list[dict[str, Any]], columns: list[str]) -> str:
        cells = "".join(f"<th>{escape(head[c])}</th>" for c in columns)
        body = "".join(
            "<tr>" + "".join(f"<td>{escape(_cell(r.get(c), yes))}</td>" for c in columns) + "</tr>"
            for r in rows
        )
        return f"<table><thead><tr>{cells}</tr></thead><tbody>{body}</tbody></table>"

    collected_cols = ["type", "purpose", "scenario", "retention", "sensitive"]
    if collected and "collection_count" in collected[0]:
        collected_cols.append("collection_count")
    return (
        f'<!doctype html><html lang="{escape(locale)}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(first)}</title><style>body{{font:15px/1.5 system-ui,sans-serif;"
        "margin:16px}table{border-collapse:collapse;width:100%;margin-bottom:24px}"
        "th,td{border:1px solid #ddd;padding:6px;text-align:left;vertical-align:top}"
        "th{background:#f4f4f4}</style></head><body>"
        f"<h1>{escape(first)}</h1>{table(collected, collected_cols)}"
        f"<h1>{escape(second)}</h1>"
        f"{table(shared, ['recipient', 'type', 'purpose', 'scenario', 'method'])}"
        "</body></html>"
    )
