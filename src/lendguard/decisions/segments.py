"""Who a customer is, for the figures that are reported by group: age band, tenure band and the
student, elderly and vulnerable flags, as the engine knows them from the events' profiles.

The report (honest customers inconvenienced by group), education's reach (by age band) and the
backtests (``simulate.metrics``) use these bands, so a group means the same thing everywhere.
The profile is folded from the durable event log exactly as the engine folds it
(``features.compute.update_profile``): the latest value of each field at or before ``at``; the
account opens at the profile's ``created_at`` or, without one, at the customer's registration.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Engine, select, text

from lendguard.decisions.features.compute import age_band
from lendguard.models.decision import EventRecord

UNKNOWN = "unknown"
AGE_BANDS = ("<22", "22-34", "35-59", "60+", UNKNOWN)
TENURE_BANDS = ("<30d", "30-365d", ">365d", UNKNOWN)
# The database is asked for this many customers' events at once.
_CHUNK = 500


def tenure_band(days: float | None) -> str:
    """Tenure bands used in every report: < 30 days, 30–365 days, > 365 days."""
    if days is None:
        return UNKNOWN
    if days < 30:
        return "<30d"
    if days <= 365:
        return "30-365d"
    return ">365d"


@dataclass(frozen=True, slots=True)
class Segment:
    """One customer's groups at one instant."""

    age_band: str = UNKNOWN
    tenure: str = UNKNOWN
    student: bool = False
    elderly: bool = False
    vulnerable: bool = False


def age_on(born: date, at: date) -> int:
    return at.year - born.year - ((at.month, at.day) < (born.month, born.day))


def segment_of(profile: dict[str, Any], at: datetime, elderly_age: int) -> Segment:
    """The groups of a folded profile (``birth_date``, ``is_student``, ``vulnerable``,
    ``opened_at``) at ``at``."""
    born = profile.get("birth_date")
    age = age_on(date.fromisoformat(born), at.date()) if born else None
    opened = profile.get("opened_at")
    days = max(0.0, (at.timestamp() - opened) / 86_400.0) if opened is not None else None
    return Segment(
        age_band=age_band(age),
        tenure=tenure_band(days),
        student=bool(profile.get("is_student")),
        elderly=age is not None and age >= elderly_age,
        vulnerable=bool(profile.get("vulnerable")),
    )


def fold_profile(
    profile: dict[str, Any], event_type: str, body: dict[str, Any], occurred_at: datetime
) -> None:
    """One event's profile fields into ``profile`` (the engine's ``update_profile`` rules)."""
    given = body.get("customer")
    if isinstance(given, dict):
        for key in ("birth_date", "is_student", "vulnerable"):
            if given.get(key) is not None:
                profile[key] = given[key]
        created = given.get("created_at")
        if created is not None:
            profile["opened_at"] = datetime.fromisoformat(str(created)).timestamp()
    if "opened_at" not in profile and event_type == "registration":
        profile["opened_at"] = occurred_at.timestamp()


def customer_segments(
    engine: Engine, customer_ids: Iterable[str], at: datetime, elderly_age: int = 60
) -> dict[str, Segment]:
    """Each customer's :class:`Segment` at ``at`` (customers without any profile: all unknown).

    Reads only events that carry a profile or are registrations, in event order, in chunks of
    customers."""
    wanted = sorted(set(customer_ids))
    profiles: dict[str, dict[str, Any]] = {c: {} for c in wanted}
    if engine.dialect.name == "postgresql":
        carries = text("(events.body ? 'customer' OR events.type = 'registration')")
    else:
        carries = text(
            "(json_type(events.body, '$.customer') IS NOT NULL OR events.type = 'registration')"
        )
    with engine.connect() as conn:
        for i in range(0, len(wanted), _CHUNK):
            chunk = wanted[i : i + _CHUNK]
            rows = conn.execute(
                select(
                    EventRecord.customer_id,
                    EventRecord.type,
                    EventRecord.occurred_at,
                    EventRecord.body,
                )
                .where(EventRecord.customer_id.in_(chunk), EventRecord.occurred_at <= at, carries)
                .order_by(EventRecord.occurred_at, EventRecord.seq)
            )
            for customer_id, event_type, occurred_at, body in rows:
                fold_profile(profiles[customer_id], event_type, body or {}, occurred_at)
    return {c: segment_of(p, at, elderly_age) for c, p in profiles.items()}
