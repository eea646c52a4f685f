"""``lendguard policies status``: the policy values an officer should look at, stalest first.

Every threshold lives in a policy file with its source and a confidence tag (the shared loader,
:mod:`lendguard.policies`). Some of them are known to be uncertain, and they go stale
quietly: a rate table that is not appended to, a rule number never checked against the text.
This command lists, so nobody has to read every file:

- the one-year LPR table (``lending/policies/lpr_cn.csv``, entered from background knowledge
  and to be verified), one row per fixing with the dates it was in force;
- every value that carries the "verify" tag: confidence ``M`` (background knowledge only) or
  ``X`` (conflicting or not found) — the confidence tags that by definition still need a
  look — or an explicit ``verify: true`` / ``verify: "what to check"`` on the value.

Each row has the value, its source and confidence, the dates it is in force (consecutive
versions with the same value are one row), and the days since the data was last updated: the
value's own ``updated:`` date, else its file's (``updated:`` at the top of a policy file,
``# updated:`` in the LPR table). A row without any date counts as the stalest. ``--on`` pins
"today" (for tests, and to see the list as it will stand on a later day). The working-day
calendar years not entered yet (:mod:`lendguard.kit.calendars`) are listed too.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from importlib import resources
from typing import Annotated, Any

import orjson
import typer
import yaml

from lendguard.kit.bounds import EARLIEST_INSTANT, LATEST_INSTANT
from lendguard.kit.calendars import PLACES, calendar_status
from lendguard.policies import (
    PolicyError,
    available_jurisdictions,
    parse_policy_file,
    policy_date,
    policy_path,
)

app = typer.Typer(no_args_is_help=True, help="Policy data: values to verify, stalest first.")

UNCERTAIN = {
    "M": "background knowledge only, not confirmed against the source",
    "X": "conflicting or not found in the source",
}
LPR_NAME = "lpr_1y_percent"
_UPDATED = re.compile(r"^#\s*updated:\s*(\d{4}-\d{2}-\d{2})")


@dataclass(frozen=True, slots=True)
class ReviewRow:
    kind: str
    jurisdiction: str
    name: str
    value: Any
    source: str
    source_text: str
    confidence: str
    why: str
    effective_from: date
    effective_to: date | None  # exclusive
    versions: tuple[str, ...]
    updated: date | None
    file: str

    def days_since_update(self, today: date) -> int | None:
        """Whole days since the last update; 0 on a day before it (``--on`` looking back at a
        value updated later is not "fresher than new")."""
        return None if self.updated is None else max(0, (today - self.updated).days)

    def as_dict(self, today: date) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "jurisdiction": self.jurisdiction,
            "name": self.name,
            "value": self.value,
            "source": self.source,
            "source_text": self.source_text,
            "confidence": self.confidence,
            "why": self.why,
            "effective_from": self.effective_from.isoformat(),
            "effective_to": self.effective_to.isoformat() if self.effective_to else None,
            "versions": list(self.versions),
            "updated": self.updated.isoformat() if self.updated else None,
            "days_since_update": self.days_since_update(today),
            "file": self.file,
        }


def policy_kinds() -> list[str]:
    """Areas with shipped policy files (``lendguard/<kind>/policies/*.yaml``)."""
    root = resources.files("lendguard")
    return sorted(
        entry.name
        for entry in root.iterdir()
        if entry.is_dir()
        and entry.joinpath("policies").is_dir()
        and any(p.name.endswith(".yaml") for p in entry.joinpath("policies").iterdir())
    )


def _verify_reason(spec: dict[str, Any]) -> str | None:
    tag = spec.get("verify")
    if isinstance(tag, str) and tag.strip():
        return " ".join(tag.split())
    if tag is True:
        return "marked to verify"
    return UNCERTAIN.get(str(spec.get("confidence", "")))


def policy_rows(kind: str, jurisdiction: str) -> list[ReviewRow]:
    """The values to verify in one policy file, consecutive versions with the same value
    merged into one row."""
    path = policy_path(kind, jurisdiction)
    text = path.read_text(encoding="utf-8")
    parsed = parse_policy_file(text, str(path))  # validated: sources, dates, confidence tags
    raw = yaml.safe_load(text)
    file_updated = policy_date(raw.get("updated"), f"{path}: updated")
    label = f"{kind}/{jurisdiction.lower()}.yaml"
    rows: list[ReviewRow] = []
    open_rows: dict[str, int] = {}  # value name -> index of its row still running
    for policy, body in zip(parsed.versions, raw["versions"], strict=True):
        seen: set[str] = set()
        for name, spec in (body.get("values") or {}).items():
            name = str(name)
            why = _verify_reason(spec) if isinstance(spec, dict) else None
            if why is None or spec.get("value") is None:
                continue
            value = policy.values[name]
            updated = policy_date(spec.get("updated"), f"{path}: {name}.updated") or file_updated
            index = open_rows.get(name)
            previous = rows[index] if index is not None else None
            if (
                index is not None
                and previous is not None
                and previous.value == value.value
                and previous.source == value.source
                and previous.confidence == value.confidence
                and previous.updated == updated
                and previous.effective_to == policy.effective_from
            ):
                rows[index] = replace(
                    previous,
                    effective_to=policy.effective_to,
                    versions=(*previous.versions, policy.version),
                )
            else:
                open_rows[name] = len(rows)
                rows.append(
                    ReviewRow(
                        kind=kind,
                        jurisdiction=parsed.jurisdiction,
                        name=name,
                        value=value.value,
                        source=value.source,
                        source_text=value.source_text,
                        confidence=value.confidence,
                        why=why,
                        effective_from=policy.effective_from,
                        effective_to=policy.effective_to,
                        versions=(policy.version,),
                        updated=updated,
                        file=label,
                    )
                )
            seen.add(name)
        for name in list(open_rows):
            if name not in seen:
                del open_rows[name]  # a gap: the next version with it starts a new row
    return rows


def lpr_rows() -> list[ReviewRow]:
    """One row per LPR fixing, in force until the next one."""
    text = resources.files("lendguard.lending").joinpath("policies/lpr_cn.csv").read_text("utf-8")
    comments = [line for line in text.splitlines() if line.startswith("#")]
    updated = next((m.group(1) for line in comments if (m := _UPDATED.match(line))), None)
    source_text = " ".join(
        line.lstrip("# ").strip() for line in comments if not _UPDATED.match(line)
    )
    data = [line for line in text.splitlines() if line and not line.startswith("#")]
    fixings = sorted(
        (date.fromisoformat(r["published"]), float(r["one_year_percent"]))
        for r in csv.DictReader(io.StringIO("\n".join(data)))
    )
    return [
        ReviewRow(
            kind="lending",
            jurisdiction="CN",
            name=LPR_NAME,
            value=rate,
            source="lpr_cn.csv",
            source_text=source_text,
            confidence="M",
            why=UNCERTAIN["M"],
            effective_from=published,
            effective_to=fixings[i + 1][0] if i + 1 < len(fixings) else None,
            versions=(),
            updated=date.fromisoformat(updated) if updated else None,
            file="lending/lpr_cn.csv",
        )
        for i, (published, rate) in enumerate(fixings)
    ]


def _versioned(kind: str, jurisdiction: str) -> bool:
    """Whether the file is a versioned policy (``kind:`` and dated versions, lendguard/policies.py).
    The decision area's policy data (challenges, hold terms) is validated by its own loader and
    has no values to verify by date, so it is not listed here."""
    raw = yaml.safe_load(policy_path(kind, jurisdiction).read_text(encoding="utf-8"))
    return not (kind == "decisions" and isinstance(raw, dict) and "kind" not in raw)


def review_rows(today: date) -> list[ReviewRow]:
    """Every row to look at, the stalest first (no date at all before any date)."""
    rows = lpr_rows()
    for kind in policy_kinds():
        for jurisdiction in available_jurisdictions(kind):
            if _versioned(kind, jurisdiction):
                rows.extend(policy_rows(kind, jurisdiction))

    def stalest_first(row: ReviewRow) -> tuple[int, str, str, str, date]:
        days = row.days_since_update(today)
        return (
            -(days if days is not None else 10**9),
            row.file,
            row.name,
            row.jurisdiction,
            row.effective_from,
        )

    return sorted(rows, key=stalest_first)


# -- the command -----------------------------------------------------------------------------------

COLUMNS = {
    "en": ("Days", "Updated", "Area", "Value", "Set to", "In force", "Confidence", "Why"),
    "zh-CN": ("天数", "更新日期", "领域", "项目", "取值", "生效期间", "可信度", "原因"),
}
HEADINGS: dict[str, dict[str, str]] = {
    "en": {
        "title": "Policy values to verify (stalest first), as of",
        "open": "open",
        "calendars": "Holiday calendar years not entered (deadlines use the stricter fallback):",
        "none": "none",
        "lpr": "one-year LPR (%)",
    },
    "zh-CN": {
        "title": "待核实的政策取值（最久未更新的在前），截至",
        "open": "至今",
        "calendars": "尚未录入的节假日年份（期限按更严格的方式计算）：",
        "none": "无",
        "lpr": "一年期 LPR（%）",
    },
}
WHY_ZH = {
    UNCERTAIN["M"]: "仅凭背景知识，未与原文核对",
    UNCERTAIN["X"]: "原文有冲突或未找到",
    "marked to verify": "已标记待核实",
}


def _text_table(rows: list[ReviewRow], today: date, lang: str) -> str:
    h = HEADINGS[lang]
    lines = [f"{h['title']} {today.isoformat()}", "\t".join(COLUMNS[lang])]
    for row in rows:
        days = row.days_since_update(today)
        name = h["lpr"] if row.name == LPR_NAME else row.name.replace("_", " ")
        value = orjson.dumps(row.value).decode()
        if len(value) > 60:
            value = value[:57] + "..."
        until = row.effective_to.isoformat() if row.effective_to else h["open"]
        why = WHY_ZH.get(row.why, row.why) if lang == "zh-CN" else row.why
        lines.append(
            "\t".join(
                (
                    "?" if days is None else str(days),
                    row.updated.isoformat() if row.updated else "?",
                    f"{row.kind} {row.jurisdiction}",
                    name,
                    value,
                    f"{row.effective_from.isoformat()} – {until}",
                    f"{row.confidence} ({row.source})",
                    why,
                )
            )
        )
    gaps = [
        f"{PLACES.get(j.upper(), j.upper())} {', '.join(map(str, s['missing_years']))}"
        for j, s in calendar_status(today).items()
        if s["missing_years"]
    ]
    lines.append(f"{h['calendars']} {'; '.join(gaps) if gaps else h['none']}")
    return "\n".join(lines)


@app.command("status")
def status(
    json_out: Annotated[bool, typer.Option("--json", help="Print the rows as JSON")] = False,
    on: Annotated[
        datetime | None,
        typer.Option(formats=["%Y-%m-%d"], help="Count the days up to this day (default: today)"),
    ] = None,
    lang: Annotated[str, typer.Option(help="Language of the table: en or zh-CN")] = "en",
) -> None:
    """The LPR table and every policy value tagged to verify ([M], [X] or ``verify:``), with
    source, confidence, dates in force and days since the last update, stalest first."""
    if lang not in HEADINGS:
        typer.echo("error: --lang must be en or zh-CN", err=True)
        raise typer.Exit(2)
    today = on.date() if on is not None else datetime.now(UTC).date()
    # The days every instant of the API lies in: a mistyped year (0026) showed every value as
    # just updated and holiday years 26 and 27 as not entered.
    first, last = EARLIEST_INSTANT.date(), (LATEST_INSTANT - timedelta(days=1)).date()
    if not first <= today <= last:
        typer.echo(f"error: --on must be a day from {first} to {last}", err=True)
        raise typer.Exit(2)
    try:
        rows = review_rows(today)
    except PolicyError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    if json_out:
        body = {
            "on": today.isoformat(),
            "rows": [row.as_dict(today) for row in rows],
            "calendars": calendar_status(today),
        }
        typer.echo(orjson.dumps(body, option=orjson.OPT_INDENT_2).decode())
    else:
        typer.echo(_text_table(rows, today, lang))
