"""The scoring model's input row, built from the live feature values (serving code).

``MODEL_FEATURES`` names the columns a model sees and :func:`feature_row` fills them from the
features the decision engine already computed for the event. Training replays history through
this same function (``lendguard.training.events``), so a model is fitted on exactly the row the
live path scores; the offline code lives there, out of the serving path.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from lendguard.decisions.features.compute import (
    AGGREGATES,
    AggregateSpec,
    LazyFeatures,
    aggregate,
)
from lendguard.events.schemas import EventType

# The behavioural features a model sees: the event, the profile, novelty and recency, windows
# over the customer, device, ip, payee and pair, and label-derived history.
MODEL_FEATURES: tuple[str, ...] = (
    "type",
    "amount",
    "is_outflow",
    "has_payee",
    "call_active",
    "screen_share_active",
    "remote_control_app",
    "local_hour",
    "amount_to_balance",
    "customer_age",
    "is_student",
    "is_vulnerable",
    "account_age_days",
    "is_new_payee",
    "is_new_device",
    "payee_known_days",
    "pair_lifetime_count",
    "minutes_since_disbursement",
    "disbursement_outflow_share",
    "minutes_since_device_change",
    "minutes_since_phone_change",
    "minutes_since_password_change",
    "minutes_since_limit_change",
    "minutes_since_application",
    "lifetime_outflow_count",
    "lifetime_outflow_max",
    "amount_to_lifetime_max",
    "customer_event_count_1h",
    "customer_event_count_24h",
    "customer_event_count_7d",
    "customer_outflow_count_1h",
    "customer_outflow_count_24h",
    "customer_outflow_sum_24h",
    "customer_outflow_max_7d",
    "customer_outflow_sum_30d",
    "customer_distinct_payee_24h",
    "customer_distinct_payee_7d",
    "customer_deposit_sum_24h",
    "customer_distinct_payer_24h",
    "customer_disbursement_count_24h",
    "customer_application_count_24h",
    "device_event_count_24h",
    "device_distinct_customer_24h",
    "device_distinct_customer_7d",
    "ip_event_count_1h",
    "ip_distinct_customer_24h",
    "payee_inflow_count_1h",
    "payee_inflow_count_24h",
    "payee_inflow_sum_24h",
    "payee_inflow_max_24h",
    "payee_distinct_payer_24h",
    "payee_distinct_payer_7d",
    # the destination's inbound history over the whole state window: a fresh account that
    # nobody paid before (a mule) against a shop or agent that many pay (issue #22)
    "payee_inflow_count_30d",
    "payee_distinct_payer_30d",
    "pair_outflow_count_24h",
    "pair_outflow_max_24h",
    "amount_echo_count_1h",
    "amount_echo_count_24h",
    "amount_echo_customers_24h",
    "amount_echo_count_7d",
    # the entity-link graph, as the live engine reads it (fraud marks as known at the event)
    "ring_size",
    "ring_fraud_share",
    "payee_mule_score",
    "payee_fraud_labels",
    "customer_fraud_labels",
)
_TYPE_CODE = {t.value: float(i) for i, t in enumerate(EventType)}


_WINDOW_ORDER = {"30d": 0, "7d": 1, "24h": 2, "1h": 3, "10m": 4}
_TYPE, _AGGREGATE, _OTHER = 0, 1, 2

RowPlan = list[tuple[int, str, int, AggregateSpec | None]]


def _row_plan(names: tuple[str, ...]) -> RowPlan:
    """How to fill each column, longest windows first: one backward scan per entity then
    serves every shorter window of it (the shorter ones come from the scan's memo)."""
    plan: RowPlan = []
    for i, name in enumerate(names):
        if name == "type":
            plan.append((i, name, _TYPE, None))
        elif name in AGGREGATES:
            plan.append((i, name, _AGGREGATE, AGGREGATES[name]))
        else:
            plan.append((i, name, _OTHER, None))
    plan.sort(key=lambda step: _WINDOW_ORDER.get(step[1].rsplit("_", 1)[-1], 5))
    return plan


_PLANS: dict[tuple[str, ...], RowPlan] = {}


def feature_row(values: Mapping[str, Any], names: tuple[str, ...] | list[str]) -> np.ndarray:
    """The model's input row: numbers, booleans as 0/1, unknown as NaN, type as a code.

    Window features go straight to the memoised scan (no per-name registry call) and are
    stored in ``values`` too, so the rules that run after scoring reuse them.
    """
    key = tuple(names)
    plan = _PLANS.get(key)
    if plan is None:
        plan = _PLANS[key] = _row_plan(key)
    # A plain mapping of ready values (tests, explanations) has no context to scan.
    lazy = values if isinstance(values, LazyFeatures) else None
    ctx = lazy.ctx if lazy is not None else None
    memo = ctx.memo if ctx is not None else {}
    row = np.empty(len(key), dtype=np.float64)
    nan = np.nan
    for i, name, how, spec in plan:
        if how == _AGGREGATE and spec is not None and lazy is not None and ctx is not None:
            if name in values:
                row[i] = values[name]
                continue
            role, group, window, index = spec
            found = memo.get((role, group, window))
            if found is None:
                found = aggregate(ctx, role, group, window)
            number = found[index]
            lazy[name] = number
            row[i] = number
            continue
        value = values[name]
        if how == _TYPE:
            row[i] = _TYPE_CODE.get(str(value), nan)
        elif value is None or isinstance(value, str):
            row[i] = nan
        else:
            row[i] = float(value)
    return row
