"""Features: pure functions of (event, entity states), exact at the event's timestamp.

Convention: window features describe the history *before* the event being decided (entries with
``t - w < ts <= t`` that arrived earlier); the event itself is added to the state only after the
decision, by :func:`apply_event`. That keeps every feature point-in-time correct, so the same code
serves live decisions, backtests and model training.

Only the features a rule set references are computed for an event (the registry is lazy), and
window aggregates over one slice are memoised per event.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime
from functools import lru_cache, partial, reduce
from itertools import compress
from operator import add, attrgetter
from typing import Any

from lendguard.decisions.features.links import STRONG_LINK_FIELDS, LinkGraph
from lendguard.decisions.features.state import (
    KEYED_KINDS,
    LAST_AT,
    SCAN,
    EntityState,
    StateBundle,
)
from lendguard.events.schemas import OUTFLOW_TYPES, Event, EventType
from lendguard.kit.timeutil import WINDOWS

FeatureValue = float | int | str | bool | None

OUTFLOW = frozenset(t.value for t in OUTFLOW_TYPES)
# Outflows from this amount up share an "amount" state key (exact-amount echoes).
ECHO_MIN_AMOUNT = 1000
# How long after a disbursement outflows count towards its "share leaving".
DISBURSEMENT_OUTFLOW_WINDOW_S = 2 * 3_600


def entity_keys(event: Event, kind: str | None = None) -> dict[str, str]:
    """The state keys an event touches, by role (``kind``: the event's type value, where the
    caller has it already)."""
    customer = event.customer_id
    keys = {"customer": f"c:{customer}"}
    device = event.device_id
    if device:
        keys["device"] = f"d:{device}"
    ip = event.ip
    if ip:
        keys["ip"] = f"i:{ip}"
    if (event.type.value if kind is None else kind) in OUTFLOW:
        payee = event.payee_id
        if payee:
            keys["payee"] = f"p:{payee}"
            keys["pair"] = f"cp:{customer}|{payee}"
        amount = event.amount
        if amount is not None and amount >= ECHO_MIN_AMOUNT:
            # Money moving through several accounts in the exact same amount (layering
            # through mules) shows as the same large amount leaving different customers
            # within minutes.
            keys["amount"] = f"a:{amount:.2f}"
    return keys


class FeatureContext:
    """Everything a feature function may read for one event, plus a per-event memo."""

    __slots__ = ("amount", "event", "graph", "memo", "model_score", "states", "ts", "type")

    def __init__(
        self,
        event: Event,
        states: StateBundle,
        graph: LinkGraph | None = None,
        ts: float | None = None,
        kind: str | None = None,
    ) -> None:
        self.event = event
        # The entity-link graph (rings, mules); None where a caller keeps none, and then the
        # graph features are None ("not known": no rule fires on them).
        self.graph = graph
        self.states = states
        # ``ts``: the event's timestamp where the caller has already computed it.
        self.ts = event.occurred_at.timestamp() if ts is None else ts
        # ``kind``: the event's type value where the caller has already read it.
        self.type = event.type.value if kind is None else kind
        self.amount = float(event.amount) if event.amount is not None else 0.0
        self.memo: dict[Any, Any] = {}
        # The active model's calibrated probability, set by the caller before rules run.
        self.model_score: float | None = None


# -- window aggregates --------------------------------------------------------------------------


def _window_slice(state: EntityState | None, ts: float, seconds: int) -> tuple[int, int]:
    if state is None or not state.ts:
        return 0, 0
    return bisect_right(state.ts, ts - seconds), bisect_right(state.ts, ts)


_WINDOWS_BY_SIZE = sorted(WINDOWS.items(), key=lambda item: item[1])
# window -> itself and every shorter window, shortest first (one scan serves them all)
_WINDOWS_UP_TO = {
    window: [(name, size) for name, size in _WINDOWS_BY_SIZE if size <= seconds]
    for window, seconds in WINDOWS.items()
}


def aggregate(
    ctx: FeatureContext, role: str, group: frozenset[str] | None, window: str
) -> tuple[int, float, float, int]:
    """(count, sum, max, distinct counterparts) over one entity's window, memoised.

    One backward scan from the event to the window's start also yields every smaller window
    (they are suffixes of the same time-sorted entries), so asking for the 30-day figures first
    makes the shorter ones free. A window of more than :data:`SLICE_FROM` entries is read
    with list slices instead (C-level passes, that window only): slicing costs more than the
    loop on the handful of entries most keys hold, and much less on a busy IP or payee.
    """
    memo_key = (role, group, window)
    found = ctx.memo.get(memo_key)
    if found is not None:
        return found
    state: EntityState | None = getattr(ctx.states, role)
    wanted = _WINDOWS_UP_TO[window]
    count = 0
    total = 0.0
    biggest = 0.0
    others: set[str] = set()
    memo = ctx.memo
    if state is None or not state.ts:
        for name, _ in wanted:
            memo[(role, group, name)] = (0, 0.0, 0.0, 0)
        return (0, 0.0, 0.0, 0)
    times, kinds, amounts, other = state.ts, state.kind, state.amount, state.other
    now = ctx.ts
    hi = bisect_right(times, now)
    lo = bisect_right(times, now - WINDOWS[window])
    if hi - lo > SLICE_FROM:
        found = memo[memo_key] = _aggregate_slices(state, lo, hi, group)
        return found
    i = hi - 1
    for name, size in wanted:
        start = now - size
        # entries with start < ts <= event time, newest first
        while i >= 0 and times[i] > start:
            if group is None or kinds[i] in group:
                count += 1
                value = amounts[i]
                total += value
                if value > biggest:
                    biggest = value
                if other[i]:
                    others.add(other[i])
            i -= 1
        memo[(role, group, name)] = (count, total, biggest, len(others))
    return memo[memo_key]


# Entries in a window from which :func:`aggregate` reads it with C-level passes over list
# slices (one window only) instead of one Python loop that also fills the shorter windows:
# a campus IP or a busy payee holds hundreds of entries a day, most keys a handful.
SLICE_FROM = 12


def _aggregate_slices(
    state: EntityState, lo: int, hi: int, group: frozenset[str] | None
) -> tuple[int, float, float, int]:
    """(count, sum, max, distinct) of the entries ``lo:hi`` whose kind is in ``group``: the
    figures the loop in :func:`aggregate` gives, in the same floating-point order (the sum
    runs newest first, from 0.0; the largest starts at 0.0; empty counterparts do not
    count)."""
    amounts = state.amount[lo:hi]
    others = state.other[lo:hi]
    if group is not None:
        wanted = list(map(group.__contains__, state.kind[lo:hi]))
        amounts = list(compress(amounts, wanted))
        others = list(compress(others, wanted))
    if not amounts:
        return (0, 0.0, 0.0, 0)
    total = reduce(add, reversed(amounts), 0.0)
    biggest = max(amounts)
    distinct = set(others)
    distinct.discard("")
    return (len(amounts), total, biggest if biggest > 0.0 else 0.0, len(distinct))


def _last_of(ctx: FeatureContext, kinds: frozenset[str], changed: str | None = None) -> int | None:
    """Index of the customer's most recent earlier entry of these kinds (within 30 days).

    The customer state's :data:`~.state.LAST_AT` index answers with a binary search. Without
    it (a state from before the index, a late event older than the latest such entry), one
    backward scan per event finds the latest entry of every kind (and of every kind of profile
    change) at once.
    """
    state = ctx.states.customer
    if LAST_AT in state.stats:
        best: int | None = None
        for kind in kinds:
            i = state.latest_index(kind, changed, ctx.ts)
            if i == SCAN:
                break  # a late event: scan below
            if i is not None and (best is None or i > best):
                best = i
        else:
            return best
    latest = ctx.memo.get("latest")
    if latest is None:
        latest = ctx.memo["latest"] = _latest_entries(ctx)
    found: int | None = None
    for kind in kinds:
        i = latest.get(kind if changed is None else (kind, changed))
        if i is not None and (found is None or i > found):
            found = i
    return found


def _latest_entries(ctx: FeatureContext) -> dict[Any, int]:
    """kind -> index of its latest entry at or before the event, and (kind, changed) likewise."""
    state = ctx.states.customer
    kinds, other = state.kind, state.other
    latest: dict[Any, int] = {}
    for i in range(bisect_right(state.ts, ctx.ts) - 1, -1, -1):
        kind = kinds[i]
        if kind not in latest:
            latest[kind] = i
        if kind in _KEYED_KINDS and (kind, other[i]) not in latest:
            latest[(kind, other[i])] = i
    return latest


def _minutes_since(
    ctx: FeatureContext, kinds: frozenset[str], changed: str | None = None
) -> float | None:
    i = _last_of(ctx, kinds, changed)
    if i is None:
        return None
    return (ctx.ts - ctx.states.customer.ts[i]) / 60.0


DISBURSEMENT = frozenset({EventType.disbursement.value})
DEVICE_CHANGE = frozenset({EventType.device_change.value})
PROFILE_CHANGE_KIND = EventType.profile_change.value
PROFILE_CHANGE = frozenset({PROFILE_CHANGE_KIND})
LIMIT_CHANGE = frozenset({EventType.limit_change.value})
APPLICATION = frozenset({EventType.application.value})
DEPOSIT = frozenset({EventType.deposit.value})
LOGIN = frozenset({EventType.login.value})
CONTACT_KIND = EventType.contact.value
CONTACT = frozenset({CONTACT_KIND})
# A contact event whose conversation showed scam-victim cues (agent assistant) is stored with
# this counterpart, so the latest one is found like a kind of profile change.
SCAM_CUE = "scam_cue"
# Kinds whose latest entry is also tracked per counterpart ("other").
_KEYED_KINDS = KEYED_KINDS


def _disbursement_outflow_share(ctx: FeatureContext) -> float | None:
    """Share of the last disbursement that has left (this event included) within the window."""
    i = _last_of(ctx, DISBURSEMENT)
    if i is None:
        return None
    state = ctx.states.customer
    disbursed_at, disbursed = state.ts[i], state.amount[i]
    if disbursed <= 0 or ctx.ts - disbursed_at > DISBURSEMENT_OUTFLOW_WINDOW_S:
        return 0.0
    hi = bisect_right(state.ts, ctx.ts)
    left = sum(state.amount[j] for j in range(i + 1, hi) if state.kind[j] in OUTFLOW)
    if ctx.type in OUTFLOW:
        left += ctx.amount
    return round(left / disbursed, 4)


# -- profile ------------------------------------------------------------------------------------


@lru_cache(maxsize=4_096)
def _parse_date(raw: str) -> date:
    """``date.fromisoformat``, remembered: a customer's birth date is read again for every
    event that asks for an age (dates are immutable, so sharing one is safe)."""
    return date.fromisoformat(raw)


def _birth_date(ctx: FeatureContext) -> date | None:
    raw = ctx.states.customer.stats.get("birth_date")
    return _parse_date(raw) if raw else None


def _customer_age(ctx: FeatureContext) -> int | None:
    born = _birth_date(ctx)
    if born is None:
        return None
    at = datetime.fromtimestamp(ctx.ts, UTC).date()
    years = at.year - born.year - ((at.month, at.day) < (born.month, born.day))
    return years


def age_band(age: int | None) -> str:
    """Bands used in every report: < 22, 22–34, 35–59, >= 60."""
    if age is None:
        return "unknown"
    if age < 22:
        return "<22"
    if age < 35:
        return "22-34"
    if age < 60:
        return "35-59"
    return "60+"


def _account_age_days(ctx: FeatureContext) -> float | None:
    created = ctx.states.customer.stats.get("created_at")
    if created is None:
        return None
    return max(0.0, (ctx.ts - float(created)) / 86_400.0)


def _is_outflow(ctx: FeatureContext) -> bool:
    return ctx.type in OUTFLOW


def _known_before(ctx: FeatureContext, key: str) -> list[float] | None:
    """A counterpart first seen at or before this event's time (late events see the past)."""
    seen = ctx.states.customer.known.get(key)
    return seen if seen is not None and seen[0] <= ctx.ts else None


def _known_payee(ctx: FeatureContext) -> list[float] | None:
    payee = ctx.event.payee_id
    return _known_before(ctx, f"payee:{payee}") if payee else None


def _known_device(ctx: FeatureContext) -> list[float] | None:
    device = ctx.event.device_id
    return _known_before(ctx, f"device:{device}") if device else None


def _is_new_payee(ctx: FeatureContext) -> bool:
    return bool(ctx.event.payee_id) and ctx.type in OUTFLOW and _known_payee(ctx) is None


def _is_new_device(ctx: FeatureContext) -> bool:
    """A device this customer has never used before (the first event ever is not 'new')."""
    if not ctx.event.device_id:
        return False
    has_devices = any(
        k.startswith("device:") and v[0] <= ctx.ts for k, v in ctx.states.customer.known.items()
    )
    return has_devices and _known_device(ctx) is None


def _payee_known_days(ctx: FeatureContext) -> float | None:
    seen = _known_payee(ctx)
    return None if seen is None else (ctx.ts - seen[0]) / 86_400.0


def _pair_lifetime_count(ctx: FeatureContext) -> int:
    seen = _known_payee(ctx)
    return 0 if seen is None else int(seen[2])


def _stat(name: str) -> Callable[[FeatureContext], FeatureValue]:
    def read(ctx: FeatureContext) -> FeatureValue:
        value = ctx.states.customer.stats.get(name)
        return value

    return read


def _amount_to_lifetime_max(ctx: FeatureContext) -> float | None:
    biggest = ctx.states.customer.stats.get("lifetime_outflow_max")
    if not biggest:
        return None
    return round(ctx.amount / float(biggest), 4)


def _amount_to_balance(ctx: FeatureContext) -> float | None:
    balance = ctx.event.balance_before
    if balance is None or balance <= 0:
        return None
    return round(ctx.amount / float(balance), 4)


def _sim_swap_minutes(ctx: FeatureContext) -> float | None:
    """Minutes from the last SIM swap the carrier reported to the event; a swap up to the
    edge's clock allowance after the event counts as just now (0)."""
    swapped = ctx.event.session.sim_swap_at
    if swapped is None:
        return None
    return max(0.0, (ctx.ts - swapped.timestamp()) / 60.0)


def _local_hour(ctx: FeatureContext) -> int:
    return ctx.event.occurred_at.hour


LABELS_KEPT = 200


def _labels_before(state: EntityState | None, ts: float) -> int:
    if state is None:
        return 0
    known = state.stats.get("fraud_label_ts")
    if not known:
        return 0
    return sum(1 for at in known if at < ts)


def record_fraud_label(state: EntityState, known_at: float) -> None:
    """A fraud label on an event of this entity became known at ``known_at``.

    Features count only labels known strictly before the event they describe, so a label can
    never leak into its own event or an earlier one.
    """
    known = state.stats.setdefault("fraud_label_ts", [])
    known.append(known_at)
    if len(known) > LABELS_KEPT:
        del known[: len(known) - LABELS_KEPT]


def _attribute(name: str) -> Callable[[FeatureContext], FeatureValue]:
    def read(ctx: FeatureContext) -> FeatureValue:
        value = ctx.event.attributes.get(name)
        return value if isinstance(value, str | int | float | bool) or value is None else str(value)

    return read


# -- responsible lending: suitability, affordability, over-indebtedness -------------------------


def _grade(value: Any, prefix: str) -> int | None:
    """'R4' -> 4 (product risk grade), 'C2' -> 2 (customer level); None when absent."""
    if isinstance(value, str) and len(value) == 2 and value[0] == prefix and value[1].isdigit():
        return int(value[1])
    return None


def _product_grade(ctx: FeatureContext) -> int | None:
    return _grade(ctx.event.attributes.get("product_risk_grade"), "R")


def _assessment(ctx: FeatureContext) -> dict[str, Any] | None:
    found = ctx.states.customer.stats.get("risk_assessment")
    return found if found and found["at"] <= ctx.ts else None


def _assessment_age_days(ctx: FeatureContext) -> float | None:
    found = _assessment(ctx)
    return None if found is None else (ctx.ts - found["at"]) / 86_400.0


def _suitability_mismatch(ctx: FeatureContext) -> bool:
    """The product's risk grade is above the customer's assessed level (R12)."""
    grade, found = _product_grade(ctx), _assessment(ctx)
    return grade is not None and found is not None and grade > int(found["level"])


def _affordability_age_days(ctx: FeatureContext) -> float | None:
    found = ctx.states.customer.stats.get("affordability")
    if not found or found["at"] > ctx.ts:
        return None
    return (ctx.ts - found["at"]) / 86_400.0


def _debt_service_to_income(ctx: FeatureContext) -> float | None:
    found = ctx.states.customer.stats.get("affordability")
    if not found or not found.get("income") or found.get("debt_service") is None:
        return None
    return round(float(found["debt_service"]) / float(found["income"]), 4)


def _is_limit_increase(ctx: FeatureContext) -> bool:
    if ctx.type != EventType.limit_change.value:
        return False
    attributes = ctx.event.attributes
    if attributes.get("direction") == "increase":
        return True
    previous = attributes.get("previous_limit")
    try:
        return previous is not None and ctx.amount > float(previous)
    except (TypeError, ValueError):
        return False


def _credit(ctx: FeatureContext) -> dict[str, Any]:
    found: dict[str, Any] = ctx.states.customer.stats.get("credit") or {}
    return found


def _missed_months_6(ctx: FeatureContext) -> int | None:
    """Months among the six calendar months before the event's month with a missed or late
    payment (R30: M-1 … M-6)."""
    months = _credit(ctx).get("missed_payment_months")
    if months is None:
        return None
    at = ctx.event.occurred_at
    index = at.year * 12 + at.month - 1
    window = {f"{(index - k) // 12:04d}-{(index - k) % 12 + 1:02d}" for k in range(1, 7)}
    return len(window.intersection(months))


def _credit_value(name: str) -> Callable[[FeatureContext], FeatureValue]:
    def read(ctx: FeatureContext) -> FeatureValue:
        value = _credit(ctx).get(name)
        return value if isinstance(value, int | float | bool | str) else None

    return read


def _days_since_repaying_other_lender(ctx: FeatureContext) -> float | None:
    at = _credit(ctx).get("last_repaid_other_lender_at")
    if at is None or at > ctx.ts:
        return None
    return (ctx.ts - float(at)) / 86_400.0


def _over_indebted(ctx: FeatureContext) -> bool:
    """R30 (MaPS): keeping up with bills and credit is a heavy burden, or payments were missed
    in at least 3 of the last 6 months."""
    credit = _credit(ctx)
    if credit.get("self_reported_burden") == "heavy_burden":
        return True
    return (_missed_months_6(ctx) or 0) >= 3


def _financial_difficulty(ctx: FeatureContext) -> bool:
    """R27 (FCA CONC 1.3.1G) indicators, any one of them."""
    credit = _credit(ctx)
    return bool(
        (credit.get("consecutive_missed_repayments") or 0) >= 2
        or (credit.get("adverse_credit_entries") or 0) > 0
        or (credit.get("unpaid_judgments") or 0) > 0
        or credit.get("essential_bills_unpaid")
        or credit.get("borrowing_to_repay")
        or credit.get("debt_solution")
        or credit.get("debt_adviser_contact")
    )


# -- entity-link graph ---------------------------------------------------------------------------


_read_strong_links = attrgetter(*STRONG_LINK_FIELDS.values())


def _strong_links(ctx: FeatureContext) -> dict[str, str | None]:
    """The event's strong identifiers by link type (read once per event, for every graph
    feature)."""
    found: dict[str, str | None] | None = ctx.memo.get("strong_links")
    if found is None:
        found = ctx.memo["strong_links"] = dict(
            zip(STRONG_LINK_FIELDS, _read_strong_links(ctx.event), strict=True)
        )
    return found


def _ring(ctx: FeatureContext) -> tuple[int, float, float] | None:
    found = ctx.memo.get("ring")
    if found is None and ctx.graph is not None:
        found = ctx.memo["ring"] = ctx.graph.ring_view(
            ctx.event.customer_id, _strong_links(ctx), ctx.ts
        )
    return found


def _ring_part(index: int) -> Callable[[FeatureContext], FeatureValue]:
    def read(ctx: FeatureContext) -> FeatureValue:
        ring = _ring(ctx)
        return None if ring is None else ring[index]

    return read


def _shared_identifier_types(ctx: FeatureContext) -> int | None:
    """Kinds of strong identifier (device, SIM, card, address, voice) this customer shares with
    any other customer, this event's own included."""
    graph = ctx.graph
    if graph is None:
        return None
    return graph.shared_identifier_types(ctx.event.customer_id, _strong_links(ctx))


def _payee_mule_score(ctx: FeatureContext) -> float | None:
    if ctx.graph is None:
        return None
    return ctx.graph.payee_mule_score(ctx.event.payee_id, ctx.ts)


def _customer_mule_score(ctx: FeatureContext) -> float | None:
    if ctx.graph is None:
        return None
    return ctx.graph.mule_score(ctx.event.customer_id, ctx.ts)


# -- the registry -------------------------------------------------------------------------------

FeatureFn = Callable[[FeatureContext], FeatureValue]


def _build_registry() -> dict[str, tuple[FeatureFn, str]]:
    """name -> (function, description). Names are the vocabulary of the rule language."""
    reg: dict[str, tuple[FeatureFn, str]] = {
        # the event itself
        "type": (lambda c: c.type, "event type"),
        "amount": (lambda c: c.amount, "event amount"),
        "currency": (lambda c: c.event.currency, "currency code"),
        "channel": (lambda c: c.event.channel, "channel (app, web, ...)"),
        "balance_before": (
            lambda c: float(c.event.balance_before) if c.event.balance_before is not None else None,
            "balance before the event",
        ),
        "is_outflow": (_is_outflow, "transfer, withdrawal or payment"),
        "has_payee": (lambda c: bool(c.event.payee_id), "the event names a payee"),
        "call_active": (lambda c: c.event.session.call_active, "a phone call is active"),
        "screen_share_active": (
            lambda c: c.event.session.screen_share_active,
            "screen sharing is active",
        ),
        "remote_control_app": (
            lambda c: c.event.session.remote_control_app,
            "a remote-control app is running",
        ),
        "screen_recording_active": (
            lambda c: c.event.session.screen_recording_active,
            "screen recording is active",
        ),
        # the lender's vendors, for this session (None: not checked, so no rule fires on it)
        "payee_name_check": (
            lambda c: c.event.session.payee_name_check,
            "payee name check: match, close_match, no_match or unavailable",
        ),
        "liveness_passed": (
            lambda c: c.event.session.liveness_passed,
            "the liveness check passed (False: failed)",
        ),
        "liveness_score": (lambda c: c.event.session.liveness_score, "liveness score (0-1)"),
        "face_match_score": (
            lambda c: c.event.session.face_match_score,
            "face match score against the customer's photo on file (0-1)",
        ),
        "voiceprint_match_score": (
            lambda c: c.event.session.voiceprint_match_score,
            "voiceprint match score against the customer's enrolled voice (0-1)",
        ),
        "known_fraudster_voice": (
            lambda c: c.event.session.known_fraudster_voice,
            "the voice is on the vendor's known-fraudster list",
        ),
        "device_risk_score": (
            lambda c: c.event.session.device_risk_score,
            "device-fingerprint vendor's risk of this device (0-1)",
        ),
        "alliance_hit_kinds": (
            lambda c: (
                None if c.event.session.alliance_hit is None else len(c.event.session.alliance_hit)
            ),
            "kinds of identifier another lender of the anti-fraud alliance has listed (None: "
            "not asked)",
        ),
        "sim_swap_minutes": (
            _sim_swap_minutes,
            "minutes since the SIM card was last swapped, before the event (None: unknown)",
        ),
        "changed": (_attribute("changed"), "what a profile change changed"),
        "local_hour": (_local_hour, "hour of day in the event's own time zone"),
        "amount_to_balance": (_amount_to_balance, "amount / balance before"),
        # profile
        "customer_age": (_customer_age, "age in years at the event"),
        "age_band": (lambda c: age_band(_customer_age(c)), "age band"),
        "is_student": (lambda c: bool(c.states.customer.stats.get("is_student")), "student"),
        "is_vulnerable": (
            lambda c: bool(c.states.customer.stats.get("vulnerable")),
            "flagged vulnerable",
        ),
        "is_elderly": (
            lambda c: (_customer_age(c) or 0) >= 60,
            "aged 60 or more (configurable in rules)",
        ),
        "account_age_days": (_account_age_days, "days since the account was created"),
        # entity-link graph (rings and mules)
        "ring_size": (
            _ring_part(0),
            "customers joined to this one by shared devices, SIMs, cards, addresses or voices",
        ),
        "ring_fraud_share": (
            _ring_part(1),
            "share of that group with a confirmed fraud label (as known at the event)",
        ),
        "ring_new_account_share": (
            _ring_part(2),
            "share of that group whose accounts were opened in the last 30 days",
        ),
        "shared_identifier_types": (
            _shared_identifier_types,
            "kinds of strong identifier shared with other customers (device, SIM, card, address, "
            "voice)",
        ),
        "payee_mule_score": (_payee_mule_score, "0-1 mule score of the receiving account"),
        "customer_mule_score": (_customer_mule_score, "0-1 mule score of this customer's account"),
        # novelty and recency
        "is_new_payee": (_is_new_payee, "first outflow from this customer to this payee"),
        "is_new_device": (_is_new_device, "first use of this device by this customer"),
        "payee_known_days": (_payee_known_days, "days since the first payment to this payee"),
        "pair_lifetime_count": (_pair_lifetime_count, "earlier payments to this payee"),
        "minutes_since_disbursement": (
            lambda c: _minutes_since(c, DISBURSEMENT),
            "minutes since the last disbursement",
        ),
        "last_disbursement_amount": (
            lambda c: (
                c.states.customer.amount[i]
                if (i := _last_of(c, DISBURSEMENT)) is not None
                else None
            ),
            "amount of the last disbursement (30 days)",
        ),
        "disbursement_outflow_share": (
            _disbursement_outflow_share,
            "share of the last disbursement gone out within 2 h of it, this event included",
        ),
        "minutes_since_device_change": (
            lambda c: _minutes_since(c, DEVICE_CHANGE),
            "minutes since the last device change",
        ),
        "minutes_since_phone_change": (
            lambda c: _minutes_since(c, PROFILE_CHANGE, "phone"),
            "minutes since the phone number changed",
        ),
        "minutes_since_password_change": (
            lambda c: _minutes_since(c, PROFILE_CHANGE, "password"),
            "minutes since the password changed",
        ),
        "minutes_since_card_change": (
            lambda c: _minutes_since(c, PROFILE_CHANGE, "card"),
            "minutes since the card changed",
        ),
        "minutes_since_limit_change": (
            lambda c: _minutes_since(c, LIMIT_CHANGE),
            "minutes since the last limit change",
        ),
        "hours_since_scam_cue": (
            lambda c: (
                None if (m := _minutes_since(c, CONTACT, SCAM_CUE)) is None else round(m / 60.0, 4)
            ),
            "hours since a conversation showed scam-victim cues (agent assistant; None: never)",
        ),
        "minutes_since_application": (
            lambda c: _minutes_since(c, APPLICATION),
            "minutes since the last loan application",
        ),
        "lifetime_outflow_count": (
            lambda c: int(c.states.customer.stats.get("lifetime_outflow_count", 0)),
            "outflows ever seen",
        ),
        "lifetime_outflow_max": (_stat("lifetime_outflow_max"), "largest outflow ever seen"),
        "amount_to_lifetime_max": (_amount_to_lifetime_max, "amount / largest earlier outflow"),
        # label-derived: confirmed frauds known *before* this event (point in time)
        "payee_fraud_labels": (
            lambda c: _labels_before(c.states.payee, c.ts),
            "frauds confirmed earlier on payments to this payee",
        ),
        "customer_fraud_labels": (
            lambda c: _labels_before(c.states.customer, c.ts),
            "frauds confirmed earlier on this customer's events",
        ),
        "model_score": (lambda c: c.model_score, "the active model's fraud probability (0-1)"),
        # responsible lending (R12, R27, R30-R32)
        "product_risk_grade": (
            _product_grade,
            "risk grade of the product applied for (R1-R5 → 1-5)",
        ),
        "customer_risk_level": (
            lambda c: None if (a := _assessment(c)) is None else int(a["level"]),
            "the customer's assessed risk level (C1-C5 → 1-5)",
        ),
        "assessment_age_days": (_assessment_age_days, "days since the risk assessment"),
        "has_risk_assessment": (
            lambda c: _assessment(c) is not None,
            "a risk assessment is on file",
        ),
        "assessment_valid_days": (
            lambda c: None if (a := _assessment(c)) is None else a.get("valid_days"),
            "validity the assessment itself declares (days), if any",
        ),
        "suitability_mismatch": (_suitability_mismatch, "product grade above the customer's level"),
        "affordability_age_days": (
            _affordability_age_days,
            "days since the last affordability assessment (None: never)",
        ),
        "debt_service_to_income": (_debt_service_to_income, "monthly debt service / income"),
        "is_limit_increase": (_is_limit_increase, "a credit-limit increase"),
        "missed_months_6": (_missed_months_6, "months of the last six with a missed payment"),
        "active_lenders": (_credit_value("active_lenders"), "lenders with an active balance"),
        "credit_inquiries_6m": (
            _credit_value("inquiries_6m"),
            "credit-report inquiries in 6 months",
        ),
        "credit_utilisation": (_credit_value("utilisation"), "credit-line utilisation (0-1)"),
        "days_since_repaying_other_lender": (
            _days_since_repaying_other_lender,
            "days since the customer repaid another lender",
        ),
        "over_indebted": (
            _over_indebted,
            "over-indebted (R30: heavy burden, or 3 of 6 months missed)",
        ),
        "financial_difficulty": (_financial_difficulty, "an R27 financial-difficulty indicator"),
    }
    groups: dict[str, frozenset[str] | None] = {
        "event": None,
        "outflow": OUTFLOW,
        "disbursement": DISBURSEMENT,
        "application": APPLICATION,
        "deposit": DEPOSIT,
        "login": LOGIN,
    }
    for window in WINDOWS:
        for group_name, group in groups.items():
            reg[f"customer_{group_name}_count_{window}"] = (
                _agg("customer", group, window, 0),
                f"customer {group_name} events in {window}",
            )
            if group_name in ("outflow", "disbursement", "deposit", "application"):
                reg[f"customer_{group_name}_sum_{window}"] = (
                    _agg("customer", group, window, 1),
                    f"customer {group_name} total in {window}",
                )
                reg[f"customer_{group_name}_max_{window}"] = (
                    _agg("customer", group, window, 2),
                    f"customer largest {group_name} in {window}",
                )
        reg[f"customer_distinct_payee_{window}"] = (
            _agg("customer", OUTFLOW, window, 3),
            f"distinct payees paid in {window}",
        )
        reg[f"customer_distinct_payer_{window}"] = (
            _agg("customer", DEPOSIT, window, 3),
            f"distinct payers crediting in {window}",
        )
        for role, what in (("device", "customers on this device"), ("ip", "customers on this ip")):
            reg[f"{role}_event_count_{window}"] = (
                _agg(role, None, window, 0),
                f"events on this {role} in {window}",
            )
            reg[f"{role}_distinct_customer_{window}"] = (
                _agg(role, None, window, 3),
                f"distinct {what} in {window}",
            )
        reg[f"payee_inflow_count_{window}"] = (
            _agg("payee", None, window, 0),
            f"payments into this payee in {window}",
        )
        reg[f"payee_inflow_sum_{window}"] = (
            _agg("payee", None, window, 1),
            f"money into this payee in {window}",
        )
        reg[f"payee_inflow_max_{window}"] = (
            _agg("payee", None, window, 2),
            f"largest payment into this payee in {window}",
        )
        reg[f"payee_distinct_payer_{window}"] = (
            _agg("payee", None, window, 3),
            f"distinct customers paying this payee in {window}",
        )
        reg[f"amount_echo_count_{window}"] = (
            _agg("amount", None, window, 0),
            f"outflows of exactly this amount (1,000 or more) by anyone in {window}",
        )
        reg[f"amount_echo_customers_{window}"] = (
            _agg("amount", None, window, 3),
            f"distinct customers sending exactly this amount in {window}",
        )
        reg[f"pair_outflow_count_{window}"] = (
            _agg("pair", None, window, 0),
            f"payments to this payee by this customer in {window}",
        )
        reg[f"pair_outflow_sum_{window}"] = (
            _agg("pair", None, window, 1),
            f"money to this payee by this customer in {window}",
        )
        reg[f"pair_outflow_max_{window}"] = (
            _agg("pair", None, window, 2),
            f"largest payment to this payee in {window}",
        )
    return reg


AggregateSpec = tuple[str, frozenset[str] | None, str, int]
_AGGREGATE_SPECS: dict[int, AggregateSpec] = {}


def _aggregate_part(
    role: str, group: frozenset[str] | None, window: str, index: int, ctx: FeatureContext
) -> FeatureValue:
    """One figure of :func:`aggregate`, memo first (most reads find it there)."""
    found = ctx.memo.get((role, group, window))
    if found is None:
        found = aggregate(ctx, role, group, window)
    value: FeatureValue = found[index]
    return value


def _agg(role: str, group: frozenset[str] | None, window: str, index: int) -> FeatureFn:
    # A partial (called at C level) rather than a closure: one Python frame less per read.
    read: FeatureFn = partial(_aggregate_part, role, group, window, index)
    _AGGREGATE_SPECS[id(read)] = (role, group, window, index)
    return read


FEATURES: dict[str, tuple[FeatureFn, str]] = _build_registry()
FEATURE_NAMES: frozenset[str] = frozenset(FEATURES)
# name -> function alone: the look-up every lazily computed feature value starts with.
_FEATURE_FUNCTIONS: dict[str, FeatureFn] = {name: fn for name, (fn, _) in FEATURES.items()}
# Window features by name -> (role, kinds, window, 0 count | 1 sum | 2 max | 3 distinct), so a
# caller that needs many of them at once (the model's feature row) can go straight to the scan.
AGGREGATES: dict[str, AggregateSpec] = {
    name: _AGGREGATE_SPECS[id(fn)]
    for name, (fn, _) in FEATURES.items()
    if id(fn) in _AGGREGATE_SPECS
}


# What reading each feature may cost per event, relative: 0 a field of the event (or a
# constant), 10 a look-up in the customer's stored profile, 20 a recency feature (a binary
# search; usually "never", so false, which makes it a good first test), 25 a known
# counterpart or a date computation, 30 a window scan or a walk of the counterparts, 40 the
# entity-link graph. Rule conditions are compiled with their cheap parts first (see
# ``rules.language.specialise``); the order changes which features get computed, never a
# decision.
_COSTLY: dict[str, int] = {
    "customer_age": 25,
    "age_band": 25,
    "is_elderly": 25,
    "is_new_payee": 25,
    "payee_known_days": 25,
    "pair_lifetime_count": 25,
    "is_new_device": 30,
    "disbursement_outflow_share": 30,
    "missed_months_6": 25,
    "over_indebted": 25,
    "payee_fraud_labels": 25,
    "customer_fraud_labels": 25,
    "ring_size": 40,
    "ring_fraud_share": 40,
    "ring_new_account_share": 40,
    "shared_identifier_types": 40,
    "payee_mule_score": 40,
    "customer_mule_score": 40,
}
_FREE = frozenset(
    {
        "type",
        "amount",
        "currency",
        "channel",
        "balance_before",
        "is_outflow",
        "has_payee",
        "call_active",
        "screen_share_active",
        "remote_control_app",
        "screen_recording_active",
        "payee_name_check",
        "liveness_passed",
        "liveness_score",
        "face_match_score",
        "voiceprint_match_score",
        "known_fraudster_voice",
        "device_risk_score",
        "alliance_hit_kinds",
        "sim_swap_minutes",
        "changed",
        "local_hour",
        "amount_to_balance",
        "model_score",
        "product_risk_grade",
        "is_limit_increase",
    }
)


def feature_cost(name: str) -> int:
    """Relative cost of reading ``name`` for one event (see ``_COSTLY``)."""
    if name in _COSTLY:
        return _COSTLY[name]
    if name in AGGREGATES:
        return 30
    if name.startswith(("minutes_since_", "hours_since_", "last_disbursement")):
        return 20
    if name in _FREE or name not in FEATURE_NAMES:
        return 0  # the event's own fields, rule-set parameters, the score
    return 10


class LazyFeatures(dict[str, Any]):
    """Feature values computed on first use and cached for the event.

    Rules short-circuit (``is_outflow and ...``), so most events need only a handful of the
    features a rule set references; the rest are never computed. Pre-seeded entries (rule-set
    parameters, the score) are plain dict items.
    """

    __slots__ = ("ctx",)

    def __init__(self, ctx: FeatureContext, seed: dict[str, Any]) -> None:
        super().__init__(seed)
        self.ctx = ctx

    def __missing__(self, name: str) -> Any:
        value = _FEATURE_FUNCTIONS[name](self.ctx)
        self[name] = value
        return value


def compute(ctx: FeatureContext, names: frozenset[str] | list[str]) -> dict[str, FeatureValue]:
    registry = FEATURES
    return {name: registry[name][0](ctx) for name in names}


def compute_all(ctx: FeatureContext) -> dict[str, FeatureValue]:
    """Every feature: for training and for explanations."""
    return compute(ctx, sorted(FEATURE_NAMES))


def open_context(
    event: Event,
    load: Callable[[Iterable[str]], dict[str, EntityState]],
    graph: LinkGraph | None = None,
) -> FeatureContext:
    """The one way into the feature code (live, replay, training, benchmarks): load the states
    the event touches with ``load``, fold in the event's profile, and return its context.
    ``graph`` is the caller's entity-link graph (any :class:`~.links.LinkGraph`);
    :func:`apply_event` folds the event into it."""
    kind = event.type.value
    keys = entity_keys(event, kind)
    bundle = StateBundle(keys, load(keys.values()))
    ts = event.occurred_at.timestamp()
    customer = bundle.customer
    if event.customer is not None or kind == "registration" or "first_seen" not in customer.stats:
        # (Otherwise update_profile would change nothing: no profile, not a registration,
        # first seen already set.)
        update_profile(customer, event, ts)
    return FeatureContext(event, bundle, graph, ts, kind)


# -- state updates ------------------------------------------------------------------------------


def update_profile(state: EntityState, event: Event, ts: float) -> None:
    """Fold the event's optional customer profile into the stored one."""
    stats = state.stats
    profile = event.customer
    if profile is not None:
        if profile.birth_date is not None:
            stats["birth_date"] = profile.birth_date.isoformat()
        if profile.is_student is not None:
            stats["is_student"] = profile.is_student
        if profile.vulnerable is not None:
            stats["vulnerable"] = profile.vulnerable
        if profile.created_at is not None:
            stats["created_at"] = profile.created_at.timestamp()
    if profile is not None:
        if profile.risk_assessment is not None:
            stats["risk_assessment"] = {
                "level": int(profile.risk_assessment.level[1:]),
                "at": profile.risk_assessment.assessed_at.timestamp(),
                "valid_days": profile.risk_assessment.valid_days,
            }
        if profile.affordability is not None:
            known = profile.affordability
            stats["affordability"] = {
                "at": known.assessed_at.timestamp(),
                "income": float(known.monthly_income) if known.monthly_income is not None else None,
                "debt_service": float(known.monthly_debt_service)
                if known.monthly_debt_service is not None
                else None,
            }
        if profile.credit is not None:
            # Merged field by field: a later event may report only what changed.
            credit = dict(stats.get("credit") or {})
            for name, value in profile.credit.model_dump(exclude_none=True).items():
                credit[name] = value.timestamp() if isinstance(value, datetime) else value
            stats["credit"] = credit
    if "created_at" not in stats and event.type == EventType.registration:
        stats["created_at"] = ts
    stats.setdefault("first_seen", ts)


def apply_event(event: Event, states: StateBundle, ctx: FeatureContext | None = None) -> None:
    """Add the decided event to every state it touches (after the decision)."""
    if ctx is not None and ctx.event is event:
        # The same values the context computed for the decision.
        ts, kind, amount = ctx.ts, ctx.type, ctx.amount
    else:
        ts = event.occurred_at.timestamp()
        kind = event.type.value
        amount = float(event.amount) if event.amount is not None else 0.0
    eid = event.event_id
    customer = states.customer
    if kind in OUTFLOW:
        counterpart = event.payee_id or ""
    elif kind == "deposit":
        counterpart = event.payer_id or ""
    elif kind == "profile_change":
        counterpart = str(event.attributes.get("changed", ""))
    elif kind == CONTACT_KIND:
        cues = event.attributes.get("conversation_cues")
        counterpart = SCAM_CUE if isinstance(cues, list) and "scam_victim" in cues else ""
    else:
        counterpart = ""
    if LAST_AT not in customer.stats:
        customer.index_latest()
    customer.add(ts, kind, amount, counterpart, eid)
    if kind in OUTFLOW:
        stats = customer.stats
        stats["lifetime_outflow_count"] = int(stats.get("lifetime_outflow_count", 0)) + 1
        if amount > float(stats.get("lifetime_outflow_max") or 0.0):
            stats["lifetime_outflow_max"] = amount
        if event.payee_id:
            customer.remember(f"payee:{event.payee_id}", ts)
    if event.device_id:
        customer.remember(f"device:{event.device_id}", ts)
    if states.device is not None:
        states.device.add(ts, kind, amount, event.customer_id, eid)
    if states.ip is not None:
        states.ip.add(ts, kind, amount, event.customer_id, eid)
    if states.payee is not None:
        states.payee.add(ts, kind, amount, event.customer_id, eid)
    if states.pair is not None:
        states.pair.add(ts, kind, amount, "", eid)
    if states.amount is not None:
        states.amount.add(ts, kind, amount, event.customer_id, eid)
    if ctx is not None and ctx.graph is not None:
        # A graph that takes the values read already (``LinkIndex.add_decided``) gets them.
        fold = getattr(ctx.graph, "add_decided", None)
        if fold is None:
            ctx.graph.add_event(event)
        else:
            fold(event, ts, kind, amount)
