"""The plausible range of every date and instant the API takes.

Validated at the edge: outside its range a value is a 422 naming the field, never a value that
overflows a conversion deep inside (year 9999 minus five hours in UTC, a timestamp of year 1)
after something was already changed. One place, so every area applies the same discipline.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, WithJsonSchema

# Every instant, after conversion to UTC: from the Unix epoch to the end of this century.
EARLIEST_INSTANT = datetime(1970, 1, 1, tzinfo=UTC)
LATEST_INSTANT = datetime(2100, 1, 1, tzinfo=UTC)
# A birth date: from 1900 to today (today where the day is furthest ahead, UTC+14).
EARLIEST_BIRTH_DATE = date(1900, 1, 1)
# A calendar date of a loan or a plan (cash flows, schedules, offers): 1900 to 2199, so a
# 40-year schedule starting this century fits.
EARLIEST_DATE = date(1900, 1, 1)
LATEST_DATE = date(2199, 12, 31)
# An account's creation or another past fact: up to now, with a day's allowance for the
# sender's clock.
CLOCK_ALLOWANCE = timedelta(days=1)


def plausible_instant(value: datetime) -> datetime:
    """``value`` if it lies in [1970, 2100) UTC; a naive value is read as UTC for the check."""
    aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    if not EARLIEST_INSTANT <= aware < LATEST_INSTANT:
        raise ValueError("must lie between 1970-01-01 and 2100-01-01 (UTC)")
    return value


def not_after_now(value: datetime) -> datetime:
    if value > datetime.now(UTC) + CLOCK_ALLOWANCE:
        raise ValueError("must not lie in the future")
    return value


def plausible_birth_date(value: date) -> date:
    today = (datetime.now(UTC) + timedelta(hours=14)).date()
    if not EARLIEST_BIRTH_DATE <= value <= today:
        raise ValueError(f"must lie between {EARLIEST_BIRTH_DATE.isoformat()} and today")
    return value


def plausible_date(value: date) -> date:
    if not EARLIEST_DATE <= value <= LATEST_DATE:
        raise ValueError(
            f"must lie between {EARLIEST_DATE.isoformat()} and {LATEST_DATE.isoformat()}"
        )
    return value


# The range, stated in the schema so a client (and a fuzzer) knows an instant outside it is
# refused. The first and last day are left out of the documented range: whether they are valid
# depends on the offset (1970-01-01T01:00+02:00 is 1969 in UTC).
INSTANT_PATTERN = r"^(?!1970-01-01|2099-12-31)(19[7-9][0-9]|20[0-9][0-9])-"
Instant = Annotated[
    AwareDatetime,
    AfterValidator(plausible_instant),
    WithJsonSchema({"type": "string", "format": "date-time", "pattern": INSTANT_PATTERN}),
]
"""An aware instant between 1970 and 2100 (UTC)."""
PastInstant = Annotated[Instant, AfterValidator(not_after_now)]
"""An aware instant between 1970 and now."""
BoundedDatetime = Annotated[datetime, AfterValidator(plausible_instant)]
"""An instant between 1970 and 2100 that may be naive (read as UTC), for older bodies."""
BirthDate = Annotated[date, AfterValidator(plausible_birth_date)]
"""A birth date between 1900 and today."""
PlausibleDate = Annotated[date, AfterValidator(plausible_date)]
"""A calendar date between 1900 and 2199."""
