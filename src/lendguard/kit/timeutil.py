"""Time helpers: windows are named, and every instant is timezone-aware."""

from __future__ import annotations

WINDOWS: dict[str, int] = {
    "10m": 600,
    "1h": 3_600,
    "24h": 86_400,
    "7d": 7 * 86_400,
    "30d": 30 * 86_400,
}
LONGEST_WINDOW_S = max(WINDOWS.values())
