"""Time helpers: windows are named, and every instant is timezone-aware."""

from __future__ import annotations

from datetime import UTC, datetime

WINDOWS: dict[str, int] = {
    "10m": 600,
    "1h": 3_600,
    "24h": 86_400,
    "7d": 7 * 86_400,
    "30d": 30 * 86_400,
}
LONGEST_WINDOW_S = max(WINDOWS.values())


def utcnow() -> datetime:
    return datetime.now(UTC)


def to_epoch(moment: datetime) -> float:
    return moment.timestamp()


def years_between(born: datetime, at: datetime) -> int:
    years = at.year - born.year
    if (at.month, at.day) < (born.month, born.day):
        years -= 1
    return years
