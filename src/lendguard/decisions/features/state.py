"""Per-entity window state: what features are computed from, and what the stores persist.

One ``EntityState`` per key (customer, device, ip, payee, customer→payee pair). Entries are kept
sorted by event time, so any window ``(t - w, t]`` is two binary searches away and exact at every
timestamp. Memory is bounded: entries older than the longest window are dropped, and a key never
holds more than ``max_entries`` (the oldest go first; windows of such a key then count the most
recent ``max_entries`` events only, which ``truncated`` records). A key that has become
equivalent to a fresh state (:meth:`EntityState.fresh_after`: nothing outlives the windows,
every entry older than :data:`RETENTION_S` behind the newest event) is evicted by the stores.
"""

from __future__ import annotations

from bisect import bisect_right
from typing import Any

import msgpack

from lendguard.kit.timeutil import LONGEST_WINDOW_S

DEFAULT_MAX_ENTRIES = 1_000
DEFAULT_MAX_KNOWN = 500
# How far behind the newest event seen an event may arrive (event time) and still be decided
# exactly as if no key had ever been evicted: its windows reach back LONGEST_WINDOW_S from its
# own time, so they never reach an entry older than RETENTION_S behind the newest event.
LATE_EVENT_S = 7 * 86_400
# The longest look-back of anything a feature reads in a state that may be evicted: the
# windows, plus the lateness allowed above. Known counterparts, the profile, lifetime figures
# and fraud labels have no look-back (read however old), so a state holding any of them is
# never evicted (customers, labelled payees). Measured in event time, never the wall clock.
RETENTION_S = LONGEST_WINDOW_S + LATE_EVENT_S
# ``stats`` key of the latest time of each kind of entry ever added (and of each
# ``"kind|counterpart"`` for the kinds below): recency features read it instead of scanning
# 30 days of entries backwards. Present on the states the feature code indexes (customers).
LAST_AT = "last_at"
# Kinds whose latest time is also kept per counterpart (what a profile change changed, a
# conversation's scam cue).
KEYED_KINDS = frozenset({"profile_change", "contact"})
# What :meth:`EntityState.latest_index` answers when only a scan of the entries can tell.
SCAN = -1


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
        times = self.ts
        if not times or ts >= times[-1]:
            times.append(ts)
            self.kind.append(kind)
            self.amount.append(amount)
            self.other.append(other)
            self.event_ids.append(event_id)
        else:
            at = bisect_right(times, ts)
            times.insert(at, ts)
            self.kind.insert(at, kind)
            self.amount.insert(at, amount)
            self.other.insert(at, other)
            self.event_ids.insert(at, event_id)
        stats = self.stats
        # Only customers keep LAST_AT; other keys' stats are mostly empty (no method call).
        last_at = stats.get(LAST_AT) if stats else None
        if last_at is not None:
            seen = last_at.get(kind)
            if seen is None or ts > seen:
                last_at[kind] = ts
            if kind in KEYED_KINDS:
                keyed = f"{kind}|{other}"
                seen = last_at.get(keyed)
                if seen is None or ts > seen:
                    last_at[keyed] = ts
        # Most adds expire nothing: check the oldest entry before searching for a cut.
        newest = times[-1]
        if times[0] <= newest - LONGEST_WINDOW_S or len(times) > max_entries:
            self.expire(newest, max_entries)

    def fresh_after(self, cutoff: float) -> bool:
        """Whether dropping this state changes no later decision, given the newest event seen
        is at ``cutoff + RETENTION_S`` (so later events are at ``cutoff + LONGEST_WINDOW_S`` or
        later, :data:`LATE_EVENT_S` allowed).

        True when it holds nothing that outlives the windows (no ``stats``: profile, lifetime
        figures, latest-time index, fraud labels; no ``known`` counterparts) and no entry after
        ``cutoff``. Such a state reads as empty in every window of a later event, and the
        first :meth:`add` expires all its entries, so a fresh state decides alike from then on
        (``truncated`` may differ: no feature reads it)."""
        if self.stats or self.known:
            return False
        times = self.ts
        return not times or times[-1] <= cutoff

    def index_latest(self) -> None:
        """Start keeping :data:`LAST_AT` (built from the entries already held)."""
        if LAST_AT in self.stats:
            return
        last_at: dict[str, float] = {}
        for ts, kind, other in zip(self.ts, self.kind, self.other, strict=True):
            keys = (kind, f"{kind}|{other}") if kind in KEYED_KINDS else (kind,)
            for key in keys:
                seen = last_at.get(key)
                if seen is None or ts > seen:
                    last_at[key] = ts
        self.stats[LAST_AT] = last_at

    def latest_index(self, kind: str, other: str | None, now: float) -> int | None:
        """Index of the most recent entry of ``kind`` (with counterpart ``other`` if given) at
        or before ``now`` that the window still holds, from :data:`LAST_AT`; :data:`SCAN` when the
        index cannot tell (none kept, or its latest such entry is later than ``now``: a late
        event) and the entries must be scanned."""
        last_at = self.stats.get(LAST_AT)
        if last_at is None:
            return SCAN
        at = last_at.get(kind if other is None else f"{kind}|{other}")
        if at is None:
            return None
        if at > now:
            return SCAN
        times = self.ts
        if not times or at < times[0]:
            return None  # expired from the window
        i = bisect_right(times, at) - 1
        kinds, others = self.kind, self.other
        while i >= 0 and times[i] == at:
            if kinds[i] == kind and (other is None or others[i] == other):
                return i
            i -= 1
        return None  # dropped by the entry bound (older ones went first)

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
            # min() and max() spelled out: this runs for most events
            if ts < seen[0]:
                seen[0] = ts
            if ts > seen[1]:
                seen[1] = ts
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
