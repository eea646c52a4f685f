"""Per-entity window state: what features are computed from, and what the stores persist.

One ``EntityState`` per key (customer, device, ip, payee, customer→payee pair). Entries are kept
sorted by event time, so any window ``(t - w, t]`` is two binary searches away and exact at every
timestamp. Memory is bounded: entries older than the longest window are dropped, and a key never
holds more than ``max_entries`` (the oldest go first; windows of such a key then count the most
recent ``max_entries`` events only, which ``truncated`` records).
"""

from __future__ import annotations

from bisect import bisect_right
from typing import Any

import msgpack

from lendguard.kit.timeutil import LONGEST_WINDOW_S

DEFAULT_MAX_ENTRIES = 1_000
DEFAULT_MAX_KNOWN = 500


class EntityState:
    """Window entries plus long-lived facts (known counterparts, lifetime statistics)."""

    __slots__ = ("amount", "event_ids", "known", "kind", "other", "stats", "truncated", "ts")

    def __init__(self) -> None:
        self.ts: list[float] = []
        self.kind: list[str] = []
        self.amount: list[float] = []
        self.other: list[str] = []
        self.event_ids: list[str] = []
        # counterpart -> [first_seen, last_seen, count]; survives the 30-day windows, so a
        # payee paid monthly for two years is still "known".
        self.known: dict[str, list[float]] = {}
        self.stats: dict[str, Any] = {}
        self.truncated = False

    def __len__(self) -> int:
        return len(self.ts)

    def add(
        self,
        ts: float,
        kind: str,
        amount: float,
        other: str,
        event_id: str,
        max_entries: int = DEFAULT_MAX_ENTRIES,
    ) -> None:
        """Insert in time order (late events go where they belong) and enforce the bounds."""
        if not self.ts or ts >= self.ts[-1]:
            self.ts.append(ts)
            self.kind.append(kind)
            self.amount.append(amount)
            self.other.append(other)
            self.event_ids.append(event_id)
        else:
            at = bisect_right(self.ts, ts)
            self.ts.insert(at, ts)
            self.kind.insert(at, kind)
            self.amount.insert(at, amount)
            self.other.insert(at, other)
            self.event_ids.insert(at, event_id)
        self.expire(self.ts[-1], max_entries)

    def expire(self, now: float, max_entries: int = DEFAULT_MAX_ENTRIES) -> None:
        cut = bisect_right(self.ts, now - LONGEST_WINDOW_S)
        if len(self.ts) - cut > max_entries:
            cut = len(self.ts) - max_entries
            self.truncated = True
        if cut:
            del self.ts[:cut], self.kind[:cut], self.amount[:cut]
            del self.other[:cut], self.event_ids[:cut]

    def remember(self, counterpart: str, ts: float, max_known: int = DEFAULT_MAX_KNOWN) -> None:
        seen = self.known.get(counterpart)
        if seen is None:
            if len(self.known) >= max_known:
                oldest = min(self.known, key=lambda k: self.known[k][1])
                del self.known[oldest]
            self.known[counterpart] = [ts, ts, 1.0]
        else:
            seen[0] = min(seen[0], ts)
            seen[1] = max(seen[1], ts)
            seen[2] += 1

    # -- persistence -------------------------------------------------------------------------

    def to_bytes(self) -> bytes:
        return msgpack.packb(
            [
                self.ts,
                self.kind,
                self.amount,
                self.other,
                self.event_ids,
                self.known,
                self.stats,
                self.truncated,
            ],
            use_bin_type=True,
        )

    @classmethod
    def from_bytes(cls, blob: bytes) -> EntityState:
        ts, kind, amount, other, event_ids, known, stats, truncated = msgpack.unpackb(
            blob, raw=False, strict_map_key=False
        )
        state = cls()
        state.ts, state.kind, state.amount, state.other = ts, kind, amount, other
        state.event_ids, state.known, state.stats = event_ids, known, stats
        state.truncated = truncated
        return state


class StateBundle:
    """The states one event touches. A key that the event does not carry is ``None``."""

    __slots__ = ("amount", "by_key", "customer", "device", "ip", "keys", "pair", "payee")

    def __init__(
        self,
        keys: dict[str, str],
        states: dict[str, EntityState],
    ) -> None:
        self.keys = keys
        self.by_key = states
        self.customer: EntityState = states[keys["customer"]]
        self.device = states.get(keys["device"]) if "device" in keys else None
        self.ip = states.get(keys["ip"]) if "ip" in keys else None
        self.payee = states.get(keys["payee"]) if "payee" in keys else None
        self.pair = states.get(keys["pair"]) if "pair" in keys else None
        self.amount = states.get(keys["amount"]) if "amount" in keys else None

    def items(self) -> list[tuple[str, EntityState]]:
        out = []
        for role in ("customer", "device", "ip", "payee", "pair", "amount"):
            state = getattr(self, role)
            if state is not None:
                out.append((self.keys[role], state))
        return out
