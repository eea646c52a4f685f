"""Working-day calendars kept as policy data: one clock for every working-day deadline.

Data-subject requests (PIPL: 15 working days) and complaint clocks that count working or
business days all call :func:`working_days_after`. Which days are working days is data, not
code: ``kit/calendars/<jurisdiction>.yaml`` holds, per year, the official days off and the
weekend days made working days (China's 调休), each year with its source (for China the State
Council General Office notice of that year). A deployment adds a year, or changes one, without a
code change by putting its own copy at ``$LENDGUARD_POLICY_DIR/calendars/<jurisdiction>.yaml``.

Why data and not a holiday package: the package the clocks used stopped at 2026, and from 2027
the clock silently counted weekends only. A calendar year is published once a year (China's
in November for the next year); it must be visible when it has not been entered yet.

A missing year (or a jurisdiction without a calendar) is counted with the **stricter
fallback**: every deadline comes out no later than the official calendar could give, so the
lender is never told it has more time than the rule allows, and a customer is never answered
later than the official deadline (only, at worst, earlier). The argument: the fallback's
working days are a *superset* of the working days of any official calendar that year could
have, and with more working days the ``n``-th one comes no later.

- A jurisdiction that never moves work onto a weekend (``weekend_workdays: false``: England and
  Wales, US federal): official holidays only remove weekdays, so the official working days are a
  subset of Monday to Friday, and the fallback counts Monday to Friday.
- A jurisdiction that does (China): counting weekdays only is *not* safe, because a make-up
  Saturday is a working day the weekday count skips (received on the Friday before it, the first
  working day is that Saturday, where weekdays-only says Monday). The only rule that is a
  superset of every possible calendar counts every day, Monday to Sunday, as a working day: the
  ``n``-th working day is then exactly ``n`` days later, and no calendar can fit ``n`` working
  days into fewer than ``n`` days.
- No calendar file at all: as for China (nothing is assumed about its weekends).

The check is per day, so a deadline that spans a covered and a missing year mixes both, and the
superset argument still holds day by day. Each (jurisdiction, year) that falls back is logged
once as a warning (no personal information: the jurisdiction and the year), listed by
:func:`calendar_status` on ``/readyz`` and shown as a banner in the console, without making the
service unready: the deadlines stay safe, only earlier than they need to be.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from datetime import date, timedelta
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

import structlog
import yaml

log = structlog.get_logger(__name__)

POLICY_DIR_ENV = "LENDGUARD_POLICY_DIR"
SATURDAY = 5
# What an operator reads for a jurisdiction (the console translates these).
PLACES = {"CN": "Mainland China", "UK": "England and Wales", "US": "United States (federal)"}


class CalendarError(Exception):
    """A calendar file is malformed (it fails at load rather than counting a wrong deadline)."""


@dataclass(frozen=True, slots=True)
class CalendarYear:
    """One year of one jurisdiction's official calendar."""

    year: int
    source: str
    days_off: frozenset[date]
    weekend_workdays: frozenset[date]


@dataclass(frozen=True, slots=True)
class Calendar:
    """A jurisdiction's working-day calendar, year by year."""

    jurisdiction: str
    name: str
    weekend_workdays: bool
    updated: date | None
    sources: dict[str, str]
    years: dict[int, CalendarYear] = field(default_factory=dict)
    file: str = ""

    def covers(self, year: int) -> bool:
        return year in self.years

    def is_working_day(self, day: date) -> bool:
        """On the official calendar; a year it does not cover counts by :meth:`fallback`."""
        found = self.years.get(day.year)
        if found is None:
            return self.fallback(day)
        if day in found.weekend_workdays:
            return True
        return day.weekday() < SATURDAY and day not in found.days_off

    def fallback(self, day: date) -> bool:
        """The stricter fallback (module docstring): every day where work can move onto a
        weekend, Monday to Friday where it never does."""
        return True if self.weekend_workdays else day.weekday() < SATURDAY


# -- loading ---------------------------------------------------------------------------------------

_cache: dict[tuple[str, str], Calendar | None] = {}
_cache_lock = threading.Lock()


def _path(jurisdiction: str) -> Path | Traversable | None:
    name = f"{jurisdiction.lower()}.yaml"
    override = os.environ.get(POLICY_DIR_ENV)
    if override:
        candidate = Path(override) / "calendars" / name
        if candidate.is_file():
            return candidate
    shipped = resources.files("lendguard.kit.calendars").joinpath(name)
    return shipped if shipped.is_file() else None


def load_calendar(jurisdiction: str) -> Calendar | None:
    """The calendar of ``jurisdiction`` (parsed once per process), or None when there is none."""
    jurisdiction = jurisdiction.upper()
    key = (jurisdiction, os.environ.get(POLICY_DIR_ENV) or "")
    if key in _cache:
        return _cache[key]
    with _cache_lock:
        if key not in _cache:
            path = _path(jurisdiction)
            found = None
            if path is not None:
                found = parse_calendar(path.read_text(encoding="utf-8"), str(path))
                if found.jurisdiction != jurisdiction:
                    raise CalendarError(f"{path}: holds {found.jurisdiction}, not {jurisdiction}")
            _cache[key] = found
        return _cache[key]


def shipped_jurisdictions() -> list[str]:
    folder = resources.files("lendguard.kit.calendars")
    return sorted(
        p.name.removesuffix(".yaml").upper() for p in folder.iterdir() if p.name.endswith(".yaml")
    )


def clear_cache() -> None:
    """Forget parsed files and which years were reported (tests, or after editing a file)."""
    with _cache_lock:
        _cache.clear()
    with _fallback_lock:
        _fell_back.clear()


def parse_calendar(text: str, file: str = "<calendar>") -> Calendar:
    raw = yaml.safe_load(text)
    if not isinstance(raw, dict):
        raise CalendarError(f"{file}: expected a mapping at the top")
    jurisdiction = str(raw.get("jurisdiction") or "").strip().upper()
    if not jurisdiction:
        raise CalendarError(f"{file}: 'jurisdiction' is required")
    moves_work = raw.get("weekend_workdays")
    if not isinstance(moves_work, bool):
        raise CalendarError(f"{file}: 'weekend_workdays' must be true or false")
    sources = raw.get("sources")
    if not isinstance(sources, dict) or not sources:
        raise CalendarError(f"{file}: 'sources' must map citation ids to citations")
    sources = {str(k): " ".join(str(v).split()) for k, v in sources.items()}
    years_raw = raw.get("years") or {}
    if not isinstance(years_raw, dict):
        raise CalendarError(f"{file}: 'years' must map a year to its days")
    years: dict[int, CalendarYear] = {}
    for year_key, body in years_raw.items():
        year = int(year_key)
        where = f"{file}: years.{year}"
        if not isinstance(body, dict):
            raise CalendarError(f"{where}: expected a mapping")
        source = body.get("source")
        if source not in sources:
            raise CalendarError(f"{where}.source must be one of {sorted(sources)}")
        off: set[date] = set()
        for block in body.get("holidays") or []:
            first = _day(block.get("from"), f"{where}.holidays.from")
            last = _day(block.get("to") or first, f"{where}.holidays.to")
            if last < first:
                raise CalendarError(f"{where}: holiday block ends before it starts")
            off.update(first + timedelta(days=i) for i in range((last - first).days + 1))
        worked = {_day(w.get("date"), f"{where}.workdays.date") for w in body.get("workdays") or []}
        for day in off | worked:
            if day.year != year:
                raise CalendarError(f"{where}: {day.isoformat()} is not in {year}")
        for day in worked:
            if day.weekday() < SATURDAY or day in off:
                raise CalendarError(
                    f"{where}: {day.isoformat()} is listed as a make-up working day but is not "
                    "a Saturday or Sunday outside the holidays"
                )
        if worked and not moves_work:
            raise CalendarError(f"{where}: make-up working days need weekend_workdays: true")
        years[year] = CalendarYear(year, str(source), frozenset(off), frozenset(worked))
    updated = raw.get("updated")
    return Calendar(
        jurisdiction=jurisdiction,
        name=str(raw.get("name") or jurisdiction),
        weekend_workdays=moves_work,
        updated=_day(updated, f"{file}: updated") if updated is not None else None,
        sources=sources,
        years=years,
        file=file,
    )


def _day(value: Any, where: str) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise CalendarError(f"{where}: expected YYYY-MM-DD, got {value!r}") from None


# -- counting --------------------------------------------------------------------------------------

_fell_back: set[tuple[str, int]] = set()
_fallback_lock = threading.Lock()


def _note_fallback(jurisdiction: str, year: int, calendar: Calendar | None) -> None:
    key = (jurisdiction, year)
    if key in _fell_back:
        return
    with _fallback_lock:
        if key in _fell_back:
            return
        _fell_back.add(key)
    log.warning(
        "working_day_calendar_year_missing",
        jurisdiction=jurisdiction,
        year=year,
        fallback=_fallback_name(calendar),
    )


def _fallback_name(calendar: Calendar | None) -> str:
    return "weekdays" if calendar is not None and not calendar.weekend_workdays else "every day"


def is_working_day(day: date, jurisdiction: str = "CN") -> bool:
    """Whether ``day`` is a working day in ``jurisdiction`` (the stricter fallback, logged once,
    where its calendar lacks the year)."""
    jurisdiction = jurisdiction.upper()
    calendar = load_calendar(jurisdiction)
    if calendar is None or not calendar.covers(day.year):
        _note_fallback(jurisdiction, day.year, calendar)
        return True if calendar is None else calendar.fallback(day)
    return calendar.is_working_day(day)


def working_days_after(day: date, n: int, jurisdiction: str = "CN") -> date:
    """The ``n``-th working day after ``day`` (the day of receipt is day 0) in ``jurisdiction``.

    Never later than the official calendar would give: a year without data counts with the
    stricter fallback (module docstring)."""
    found, current = 0, day
    while found < n:
        current += timedelta(days=1)
        if is_working_day(current, jurisdiction):
            found += 1
    return current


# -- reporting -----------------------------------------------------------------------------------


def calendar_status(today: date) -> dict[str, dict[str, Any]]:
    """Per jurisdiction (lower-case key, as on ``/readyz``): the years covered, and the years
    missing that matter now: this year and the next (a deadline received in December runs into
    January), and every year a clock has already counted with the fallback."""
    with _fallback_lock:
        fell_back = set(_fell_back)
    names = set(shipped_jurisdictions()) | {j for j, _ in fell_back}
    out: dict[str, dict[str, Any]] = {}
    for jurisdiction in sorted(names):
        calendar = load_calendar(jurisdiction)
        covered = sorted(calendar.years) if calendar is not None else []
        wanted = {today.year, today.year + 1} | {y for j, y in fell_back if j == jurisdiction}
        out[jurisdiction.lower()] = {
            "covered_years": covered,
            "missing_years": sorted(y for y in wanted if y not in covered),
            "fallback": _fallback_name(calendar),
        }
    return out


def missing_years(today: date) -> dict[str, list[int]]:
    """Jurisdiction (upper case) -> missing years that matter now (only those with any)."""
    status = calendar_status(today)
    return {j.upper(): s["missing_years"] for j, s in status.items() if s["missing_years"]}


def calendar_gaps(today: date) -> list[tuple[str, str]]:
    """For the console banner: (place, years) of every jurisdiction with missing years, in
    words an operator reads (``("Mainland China", "2027")``)."""
    return [
        (PLACES.get(j, j), ", ".join(str(y) for y in years))
        for j, years in missing_years(today).items()
    ]
