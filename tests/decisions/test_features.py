"""Features: exact sliding windows per entity, bounds, point-in-time correctness, novelty,
loan-money signals and the customer profile. Pure functions over in-memory state, no database."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fixtures import MISSING, T0, birth_date_for_age, make_event
from lendguard.decisions.features.compute import (
    FEATURE_NAMES,
    FeatureContext,
    FeatureValue,
    age_band,
    apply_event,
    compute,
    compute_all,
    entity_keys,
    open_context,
    update_profile,
)
from lendguard.decisions.features.links import STRONG_LINK_FIELDS
from lendguard.decisions.features.state import EntityState, StateBundle
from lendguard.events.schemas import Event
from lendguard.kit.timeutil import LONGEST_WINDOW_S, WINDOWS

H = timedelta(hours=1)
M = timedelta(minutes=1)
S = timedelta(seconds=1)
D = timedelta(days=1)
Z = timedelta(0)


def ev(**overrides: Any) -> Event:
    return Event.model_validate(make_event(**overrides))


class World:
    """Entity states keyed like the stores key them; events applied in arrival order."""

    def __init__(self) -> None:
        self.states: dict[str, EntityState] = {}

    def bundle(self, event: Event) -> StateBundle:
        keys = entity_keys(event)
        for key in keys.values():
            self.states.setdefault(key, EntityState())
        return StateBundle(keys, self.states)

    def add(self, **overrides: Any) -> Event:
        event = ev(**overrides)
        bundle = self.bundle(event)
        update_profile(bundle.customer, event, event.occurred_at.timestamp())
        apply_event(event, bundle)
        return event

    def features(self, names: list[str], **overrides: Any) -> dict[str, FeatureValue]:
        """What an event with these fields would see now (it is not recorded)."""
        event = ev(**overrides)
        bundle = self.bundle(event)
        update_profile(bundle.customer, event, event.occurred_at.timestamp())
        return compute(FeatureContext(event, bundle), names)

    def feature(self, name: str, **overrides: Any) -> FeatureValue:
        return self.features([name], **overrides)[name]


class TestEntityKeys:
    @pytest.mark.parametrize(
        ("overrides", "expected"),
        [
            (
                {},
                {
                    "customer": "c:cust-1",
                    "device": "d:dev-1",
                    "ip": "i:10.0.0.1",
                    "payee": "p:payee-1",
                    "pair": "cp:cust-1|payee-1",
                },
            ),
            (
                {"type": "deposit", "device_id": MISSING, "ip": MISSING},
                {"customer": "c:cust-1"},
            ),
            (
                {"type": "login", "payee_id": MISSING, "ip": MISSING},
                {"customer": "c:cust-1", "device": "d:dev-1"},
            ),
            (
                {"type": "withdrawal", "device_id": MISSING, "ip": MISSING},
                {"customer": "c:cust-1", "payee": "p:payee-1", "pair": "cp:cust-1|payee-1"},
            ),
        ],
    )
    def test_keys_by_role(self, overrides: dict[str, Any], expected: dict[str, str]) -> None:
        assert entity_keys(ev(**overrides)) == expected


# -- windows ------------------------------------------------------------------------------------


class TestWindowBoundaries:
    """A window ``w`` at ``t`` holds entries with ``t - w < ts <= t``."""

    @pytest.mark.parametrize(("window", "seconds"), sorted(WINDOWS.items()))
    def test_boundary_excluded_one_second_later_included(self, window: str, seconds: int) -> None:
        world = World()
        t = T0 + timedelta(days=40)
        world.add(occurred_at=t - timedelta(seconds=seconds), amount="100", payee_id="p-a")
        world.add(occurred_at=t - timedelta(seconds=seconds - 1), amount="200", payee_id="p-b")
        got = world.features(
            [
                f"customer_outflow_count_{window}",
                f"customer_outflow_sum_{window}",
                f"customer_outflow_max_{window}",
                f"customer_distinct_payee_{window}",
            ],
            occurred_at=t,
            payee_id="p-c",
        )
        assert got == {
            f"customer_outflow_count_{window}": 1,
            f"customer_outflow_sum_{window}": 200.0,
            f"customer_outflow_max_{window}": 200.0,
            f"customer_distinct_payee_{window}": 1,
        }

    def test_earlier_event_at_the_same_instant_is_included(self) -> None:
        world = World()
        world.add(occurred_at=T0, amount="300")
        assert world.feature("customer_outflow_count_10m", occurred_at=T0) == 1

    def test_the_event_itself_is_not_in_its_own_windows(self) -> None:
        world = World()
        assert world.feature("customer_event_count_24h") == 0


def _scenario() -> World:
    """History of three customers around device d1, ip i1 and payee P (query at T0, c1)."""
    world = World()
    common = {"device_id": "d1", "ip": "i1"}
    world.add(customer_id="c1", payee_id="P", amount="100", occurred_at=T0 - 25 * H, **common)
    world.add(
        customer_id="c2",
        payee_id="P",
        amount="300",
        occurred_at=T0 - 2 * H,
        device_id="d1",
        ip="i2",
    )
    world.add(
        customer_id="c1",
        payee_id="Q",
        amount="500",
        occurred_at=T0 - 30 * M,
        device_id="d2",
        ip="i1",
    )
    world.add(
        customer_id="c3",
        type="login",
        amount=MISSING,
        currency=MISSING,
        payee_id=MISSING,
        occurred_at=T0 - 5 * M,
        **common,
    )
    world.add(customer_id="c1", payee_id="P", amount="50", occurred_at=T0 - 24 * H, **common)
    world.add(
        customer_id="c1",
        type="deposit",
        payee_id=MISSING,
        payer_id="X",
        amount="1000",
        occurred_at=T0 - 3 * H,
        **common,
    )
    world.add(
        customer_id="c1",
        type="disbursement",
        payee_id=MISSING,
        amount="2000",
        occurred_at=T0 - 1 * H,
        **common,
    )
    world.add(
        customer_id="c3",
        payee_id="P",
        amount="700",
        occurred_at=T0 - 10 * M + S,
        device_id="d3",
        ip="i3",
    )
    return world


class TestWindowsPerEntity:
    @pytest.mark.parametrize(
        ("name", "expected"),
        [
            # customer c1
            ("customer_event_count_1h", 1),
            ("customer_event_count_24h", 3),
            ("customer_event_count_7d", 5),
            ("customer_outflow_count_24h", 1),
            ("customer_outflow_count_7d", 3),
            ("customer_outflow_sum_7d", 650.0),
            ("customer_outflow_max_7d", 500.0),
            ("customer_distinct_payee_7d", 2),
            ("customer_distinct_payee_1h", 1),
            ("customer_deposit_count_24h", 1),
            ("customer_deposit_sum_24h", 1000.0),
            ("customer_distinct_payer_24h", 1),
            ("customer_disbursement_count_24h", 1),
            ("customer_disbursement_count_1h", 0),
            ("customer_login_count_24h", 0),
            # device d1: c1 (x4), c2, c3
            ("device_event_count_1h", 1),
            ("device_event_count_24h", 4),
            ("device_event_count_7d", 6),
            ("device_distinct_customer_24h", 3),
            ("device_distinct_customer_10m", 1),
            # ip i1: c1 (x5), c3
            ("ip_event_count_1h", 2),
            ("ip_event_count_24h", 4),
            ("ip_distinct_customer_1h", 2),
            ("ip_distinct_customer_7d", 2),
            # payee P: c1 100 (-25h), c2 300 (-2h), c1 50 (-24h), c3 700 (-10m+1s)
            ("payee_inflow_count_10m", 1),
            ("payee_inflow_count_24h", 2),
            ("payee_inflow_sum_24h", 1000.0),
            ("payee_inflow_max_24h", 700.0),
            ("payee_distinct_payer_24h", 2),
            ("payee_inflow_count_7d", 4),
            ("payee_distinct_payer_7d", 3),
            # pair c1 -> P
            ("pair_outflow_count_24h", 0),
            ("pair_outflow_count_7d", 2),
            ("pair_outflow_sum_7d", 150.0),
            ("pair_outflow_max_7d", 100.0),
        ],
    )
    def test_aggregate(self, name: str, expected: FeatureValue) -> None:
        world = _scenario()
        got = world.feature(
            name, customer_id="c1", payee_id="P", device_id="d1", ip="i1", occurred_at=T0
        )
        assert got == expected

    def test_entities_the_event_does_not_carry_count_zero(self) -> None:
        world = _scenario()
        got = world.features(
            ["device_event_count_7d", "payee_inflow_count_7d", "pair_outflow_count_7d"],
            customer_id="c1",
            type="deposit",
            device_id=MISSING,
            occurred_at=T0,
        )
        assert got == {
            "device_event_count_7d": 0,
            "payee_inflow_count_7d": 0,
            "pair_outflow_count_7d": 0,
        }

    def test_compute_all_covers_every_feature(self) -> None:
        world = _scenario()
        event = ev(customer_id="c1", payee_id="P", device_id="d1", ip="i1", occurred_at=T0)
        values = compute_all(FeatureContext(event, world.bundle(event)))
        assert set(values) == FEATURE_NAMES


class TestBounds:
    def test_entries_older_than_the_longest_window_are_dropped(self) -> None:
        state = EntityState()
        t0 = T0.timestamp()
        state.add(t0, "transfer", 1.0, "p", "e1")
        state.add(t0 + LONGEST_WINDOW_S - 1, "transfer", 2.0, "p", "e2")
        assert state.event_ids == ["e1", "e2"]
        state.add(t0 + LONGEST_WINDOW_S, "transfer", 3.0, "p", "e3")
        assert state.event_ids == ["e2", "e3"]
        assert state.truncated is False

    def test_expired_history_is_not_visible_and_not_kept(self) -> None:
        world = World()
        for day in range(60):
            world.add(occurred_at=T0 + day * D, amount="10")
        assert len(world.states["c:cust-1"]) == 30
        assert world.feature("customer_outflow_count_30d", occurred_at=T0 + 60 * D) == 29

    def test_per_key_cap_keeps_the_most_recent_and_marks_truncated(self) -> None:
        state = EntityState()
        t0 = T0.timestamp()
        for i in range(8):
            state.add(t0 + i, "transfer", float(i), "p", f"e{i}", max_entries=5)
        assert len(state) == 5
        assert state.event_ids == ["e3", "e4", "e5", "e6", "e7"]
        assert state.truncated is True

    def test_under_the_cap_nothing_is_truncated(self) -> None:
        state = EntityState()
        for i in range(5):
            state.add(T0.timestamp() + i, "transfer", 1.0, "p", f"e{i}", max_entries=5)
        assert len(state) == 5
        assert state.truncated is False

    def test_default_cap_applies_through_apply_event(self) -> None:
        world = World()
        for i in range(1_001):
            world.add(occurred_at=T0 + i * S, amount="1", device_id=MISSING, ip=MISSING)
        customer = world.states["c:cust-1"]
        assert len(customer) == 1_000
        assert customer.truncated is True
        assert world.feature("customer_outflow_count_1h", occurred_at=T0 + 1_001 * S) == 1_000

    def test_known_counterparts_are_bounded(self) -> None:
        state = EntityState()
        for i in range(4):
            state.remember(f"payee:p{i}", float(i), max_known=3)
        assert set(state.known) == {"payee:p1", "payee:p2", "payee:p3"}


class TestOutOfOrder:
    def test_late_event_is_inserted_in_time_order(self) -> None:
        world = World()
        world.add(event_id="a", occurred_at=T0 - 10 * M)
        world.add(event_id="c", occurred_at=T0 - 5 * M)
        world.add(event_id="b", occurred_at=T0 - 7 * M)
        state = world.states["c:cust-1"]
        assert state.event_ids == ["a", "b", "c"]
        assert state.ts == sorted(state.ts)

    @pytest.mark.parametrize(
        ("at", "expected_count", "expected_sum"),
        [
            (T0 - 8 * M, 1, 10.0),
            (T0 - 6 * M, 2, 30.0),
            (T0 - 5 * M, 3, 60.0),
            (T0, 3, 60.0),
        ],
    )
    def test_windows_are_point_in_time(
        self, at: datetime, expected_count: int, expected_sum: float
    ) -> None:
        world = World()
        world.add(occurred_at=T0 - 10 * M, amount="10")
        world.add(occurred_at=T0 - 5 * M, amount="30")
        world.add(occurred_at=T0 - 7 * M, amount="20")
        got = world.features(
            ["customer_outflow_count_1h", "customer_outflow_sum_1h"], occurred_at=at
        )
        assert got == {
            "customer_outflow_count_1h": expected_count,
            "customer_outflow_sum_1h": expected_sum,
        }

    def test_later_disbursement_is_invisible_to_an_earlier_timestamp(self) -> None:
        world = World()
        world.add(type="disbursement", occurred_at=T0, amount="20000", payee_id=MISSING)
        got = world.features(
            ["minutes_since_disbursement", "disbursement_outflow_share"],
            occurred_at=T0 - 1 * M,
            amount="19000",
        )
        assert got == {"minutes_since_disbursement": None, "disbursement_outflow_share": None}

    def test_late_payment_to_a_payee_first_paid_later_is_to_a_new_payee(self) -> None:
        """Paid P at T (arrived first); an event at T-1h paying P must see P as new."""
        world = World()
        world.add(occurred_at=T0, payee_id="P")
        assert world.feature("is_new_payee", occurred_at=T0 - H, payee_id="P") is True

    def test_late_event_on_a_device_first_used_later_is_on_a_new_device(self) -> None:
        world = World()
        world.add(occurred_at=T0 - 2 * D, device_id="d-old")
        world.add(occurred_at=T0, device_id="d-new")
        assert world.feature("is_new_device", occurred_at=T0 - H, device_id="d-new") is True


# -- novelty ------------------------------------------------------------------------------------


class TestNovelty:
    def test_payee_paid_monthly_for_two_years_is_known(self) -> None:
        world = World()
        for month in range(24, 0, -1):
            world.add(occurred_at=T0 - month * 30 * D, payee_id="landlord", amount="3000")
        got = world.features(
            [
                "is_new_payee",
                "pair_lifetime_count",
                "payee_known_days",
                "pair_outflow_count_30d",
                "lifetime_outflow_count",
            ],
            occurred_at=T0,
            payee_id="landlord",
        )
        assert got == {
            "is_new_payee": False,
            "pair_lifetime_count": 24,
            "payee_known_days": 720.0,
            "pair_outflow_count_30d": 0,
            "lifetime_outflow_count": 24,
        }

    @pytest.mark.parametrize(
        ("overrides", "expected"),
        [
            ({"payee_id": "landlord"}, False),
            ({"payee_id": "stranger"}, True),
            ({"payee_id": "stranger", "type": "withdrawal"}, True),
            ({"payee_id": "stranger", "type": "deposit"}, False),
            ({"payee_id": MISSING}, False),
            ({"payee_id": "landlord", "customer_id": "someone-else"}, True),
        ],
    )
    def test_is_new_payee(self, overrides: dict[str, Any], expected: bool) -> None:
        world = World()
        world.add(occurred_at=T0 - 400 * D, payee_id="landlord")
        assert world.feature("is_new_payee", occurred_at=T0, **overrides) is expected

    def test_deposit_does_not_make_a_payee_known(self) -> None:
        world = World()
        world.add(type="deposit", payee_id="P", payer_id="P", occurred_at=T0 - D)
        assert world.feature("is_new_payee", payee_id="P") is True

    @pytest.mark.parametrize(
        ("history", "device", "expected"),
        [
            ([], "d1", False),
            (["d1"], "d1", False),
            (["d1"], "d2", True),
            (["d1", "d2"], "d2", False),
            (["d1"], MISSING, False),
        ],
    )
    def test_is_new_device(self, history: list[str], device: Any, expected: bool) -> None:
        world = World()
        for i, used in enumerate(history):
            world.add(occurred_at=T0 - (100 - i) * D, device_id=used, type="login")
        assert world.feature("is_new_device", device_id=device, occurred_at=T0) is expected

    def test_device_known_for_one_customer_is_new_for_another(self) -> None:
        world = World()
        world.add(customer_id="a", device_id="shared", occurred_at=T0 - D)
        world.add(customer_id="b", device_id="own", occurred_at=T0 - D)
        assert world.feature("is_new_device", customer_id="b", device_id="shared") is True


# -- loan money ---------------------------------------------------------------------------------


class TestDisbursementFeatures:
    @pytest.mark.parametrize(
        ("history", "query", "expected"),
        [
            pytest.param(
                [("disbursement", Z, "20000")],
                ("transfer", 12 * M, "19000"),
                {"minutes_since_disbursement": 12.0, "disbursement_outflow_share": 0.95},
                id="r39",
            ),
            pytest.param(
                [("disbursement", Z, "20000"), ("transfer", 5 * M, "5000")],
                ("withdrawal", 12 * M, "6000"),
                {"minutes_since_disbursement": 12.0, "disbursement_outflow_share": 0.55},
                id="earlier-outflows-count",
            ),
            pytest.param(
                [("disbursement", Z, "20000"), ("deposit", 5 * M, "5000")],
                ("login", 12 * M, None),
                {"minutes_since_disbursement": 12.0, "disbursement_outflow_share": 0.0},
                id="non-outflows-do-not",
            ),
            pytest.param(
                [("transfer", -5 * M, "5000"), ("disbursement", Z, "20000")],
                ("transfer", 30 * M, "1000"),
                {"minutes_since_disbursement": 30.0, "disbursement_outflow_share": 0.05},
                id="outflows-before-the-loan-do-not",
            ),
            pytest.param(
                [("disbursement", Z, "20000"), ("disbursement", 60 * M, "4000")],
                ("transfer", 70 * M, "2000"),
                {"minutes_since_disbursement": 10.0, "disbursement_outflow_share": 0.5},
                id="latest-loan",
            ),
            pytest.param(
                [("disbursement", Z, "20000")],
                ("transfer", 2 * H + S, "19000"),
                {"minutes_since_disbursement": 120.0 + 1 / 60, "disbursement_outflow_share": 0.0},
                id="after-two-hours",
            ),
            pytest.param(
                [("transfer", -D, "20000")],
                ("transfer", Z, "19000"),
                {"minutes_since_disbursement": None, "disbursement_outflow_share": None},
                id="no-loan",
            ),
        ],
    )
    def test_minutes_since_and_share(
        self,
        history: list[tuple[str, timedelta, str]],
        query: tuple[str, timedelta, str | None],
        expected: dict[str, FeatureValue],
    ) -> None:
        world = World()
        for kind, offset, amount in history:
            world.add(type=kind, occurred_at=T0 + offset, amount=amount, payee_id="p")
        kind, offset, amount = query
        money = {"amount": amount} if amount else {"amount": MISSING, "currency": MISSING}
        got = world.features(
            ["minutes_since_disbursement", "disbursement_outflow_share"],
            type=kind,
            occurred_at=T0 + offset,
            **money,
        )
        assert got == pytest.approx(expected)

    def test_last_disbursement_amount(self) -> None:
        world = World()
        world.add(type="disbursement", occurred_at=T0, amount="8000", payee_id=MISSING)
        assert world.feature("last_disbursement_amount", occurred_at=T0 + M) == 8000.0

    def test_phone_change_recency_uses_the_changed_attribute(self) -> None:
        world = World()
        world.add(
            type="profile_change",
            occurred_at=T0 - 30 * M,
            changed="phone",
            amount=MISSING,
            currency=MISSING,
            payee_id=MISSING,
        )
        world.add(
            type="profile_change",
            occurred_at=T0 - 10 * M,
            changed="password",
            amount=MISSING,
            currency=MISSING,
            payee_id=MISSING,
        )
        got = world.features(
            [
                "minutes_since_phone_change",
                "minutes_since_password_change",
                "minutes_since_card_change",
            ],
            occurred_at=T0,
        )
        assert got == {
            "minutes_since_phone_change": 30.0,
            "minutes_since_password_change": 10.0,
            "minutes_since_card_change": None,
        }


# -- profile ------------------------------------------------------------------------------------


class TestProfile:
    @pytest.mark.parametrize(
        ("age", "band"),
        [
            (18, "<22"),
            (21, "<22"),
            (22, "22-34"),
            (34, "22-34"),
            (35, "35-59"),
            (59, "35-59"),
            (60, "60+"),
            (85, "60+"),
        ],
    )
    def test_age_and_band(self, age: int, band: str) -> None:
        world = World()
        world.add(
            type="registration",
            occurred_at=T0 - D,
            customer={"birth_date": birth_date_for_age(age)},
        )
        got = world.features(["customer_age", "age_band", "is_elderly"], occurred_at=T0)
        assert got == {"customer_age": age, "age_band": band, "is_elderly": age >= 60}

    @pytest.mark.parametrize(
        ("born", "age"),
        [("2003-03-03", 22), ("2003-03-04", 21), ("2003-03-02", 22)],
    )
    def test_age_turns_on_the_birthday(self, born: str, age: int) -> None:
        world = World()
        world.add(occurred_at=T0 - D, customer={"birth_date": born})
        assert world.feature("customer_age", occurred_at=T0.replace(hour=12)) == age

    def test_band_function(self) -> None:
        assert [age_band(a) for a in (None, 0, 21, 22, 34, 35, 59, 60)] == [
            "unknown",
            "<22",
            "<22",
            "22-34",
            "22-34",
            "35-59",
            "35-59",
            "60+",
        ]

    def test_unknown_profile(self) -> None:
        got = World().features(
            [
                "customer_age",
                "age_band",
                "is_elderly",
                "is_student",
                "is_vulnerable",
                "account_age_days",
            ]
        )
        assert got == {
            "customer_age": None,
            "age_band": "unknown",
            "is_elderly": False,
            "is_student": False,
            "is_vulnerable": False,
            "account_age_days": None,
        }

    def test_profile_is_remembered_and_updated(self) -> None:
        world = World()
        world.add(
            type="registration",
            occurred_at=T0 - 10 * D,
            customer={"birth_date": "2003-11-22", "is_student": True},
        )
        world.add(occurred_at=T0 - 5 * D, customer={"vulnerable": True})
        got = world.features(
            ["is_student", "is_vulnerable", "account_age_days", "customer_age"], occurred_at=T0
        )
        assert got == {
            "is_student": True,
            "is_vulnerable": True,
            "account_age_days": 10.0,
            "customer_age": 21,
        }

    def test_created_at_in_the_profile_wins_over_registration(self) -> None:
        world = World()
        world.add(
            type="registration",
            occurred_at=T0 - D,
            customer={"created_at": (T0 - 100 * D).isoformat()},
        )
        assert world.feature("account_age_days", occurred_at=T0) == 100.0


# -- property: windows equal a brute-force computation ------------------------------------------

OUT = {"transfer", "withdrawal", "payment"}


@dataclass(frozen=True)
class Raw:
    customer: str
    kind: str
    offset_s: int
    amount: int
    device: str | None
    ip: str | None
    payee: str | None
    payer: str | None

    def overrides(self, index: int) -> dict[str, Any]:
        return {
            "event_id": f"e{index}",
            "customer_id": self.customer,
            "type": self.kind,
            "occurred_at": T0 + timedelta(seconds=self.offset_s),
            "amount": str(self.amount),
            "device_id": self.device if self.device else MISSING,
            "ip": self.ip if self.ip else MISSING,
            "payee_id": self.payee if self.payee else MISSING,
            "payer_id": self.payer if self.payer else MISSING,
        }


RAW_EVENTS = st.lists(
    st.builds(
        Raw,
        customer=st.sampled_from(["c1", "c2", "c3"]),
        kind=st.sampled_from(
            ["transfer", "withdrawal", "payment", "deposit", "login", "disbursement"]
        ),
        # within 20 days, so nothing expires: the brute force needs no expiry model
        offset_s=st.one_of(
            st.integers(0, 20 * 86_400),
            st.sampled_from([0, 600, 3_600, 86_400, 7 * 86_400, 601, 3_599, 86_401]),
        ),
        amount=st.integers(0, 10_000),
        device=st.sampled_from([None, "d1", "d2"]),
        ip=st.sampled_from([None, "i1", "i2"]),
        payee=st.sampled_from([None, "p1", "p2", "p3"]),
        payer=st.sampled_from([None, "x1", "x2"]),
    ),
    min_size=1,
    max_size=40,
)


def _brute(past: list[Raw], now: Raw) -> dict[str, FeatureValue]:
    """Every window aggregate of ``now`` computed from scratch over the events before it."""
    t = now.offset_s
    out: dict[str, FeatureValue] = {}
    for window, seconds in WINDOWS.items():
        inside = [e for e in past if t - seconds < e.offset_s <= t]

        def agg(rows: list[Raw], other: Any) -> tuple[int, float, float, int]:
            amounts = [float(r.amount) for r in rows]
            others = {other(r) for r in rows} - {None, ""}
            return len(rows), float(sum(amounts)), max(amounts, default=0.0), len(others)

        mine = [e for e in inside if e.customer == now.customer]
        outflows = [e for e in mine if e.kind in OUT]
        deposits = [e for e in mine if e.kind == "deposit"]
        count, total, biggest, distinct = agg(outflows, lambda r: r.payee)
        out[f"customer_event_count_{window}"] = len(mine)
        out[f"customer_outflow_count_{window}"] = count
        out[f"customer_outflow_sum_{window}"] = total
        out[f"customer_outflow_max_{window}"] = biggest
        out[f"customer_distinct_payee_{window}"] = distinct
        out[f"customer_deposit_count_{window}"] = len(deposits)
        out[f"customer_deposit_sum_{window}"] = agg(deposits, lambda r: r.payer)[1]
        out[f"customer_distinct_payer_{window}"] = agg(deposits, lambda r: r.payer)[3]
        out[f"customer_disbursement_count_{window}"] = sum(
            1 for e in mine if e.kind == "disbursement"
        )
        for role, attr in (("device", "device"), ("ip", "ip")):
            value = getattr(now, attr)
            rows = [e for e in inside if value and getattr(e, attr) == value]
            out[f"{role}_event_count_{window}"] = len(rows)
            out[f"{role}_distinct_customer_{window}"] = agg(rows, lambda r: r.customer)[3]
        carries_payee = now.kind in OUT and bool(now.payee)
        paid = [e for e in inside if carries_payee and e.kind in OUT and e.payee == now.payee]
        count, total, biggest, distinct = agg(paid, lambda r: r.customer)
        out[f"payee_inflow_count_{window}"] = count
        out[f"payee_inflow_sum_{window}"] = total
        out[f"payee_inflow_max_{window}"] = biggest
        out[f"payee_distinct_payer_{window}"] = distinct
        pair = [e for e in paid if e.customer == now.customer]
        count, total, biggest, _ = agg(pair, lambda r: None)
        out[f"pair_outflow_count_{window}"] = count
        out[f"pair_outflow_sum_{window}"] = total
        out[f"pair_outflow_max_{window}"] = biggest
    return out


class TestWindowProperty:
    @settings(max_examples=75, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(RAW_EVENTS)
    def test_windows_equal_brute_force_over_random_streams(self, raws: list[Raw]) -> None:
        world = World()
        past: list[Raw] = []
        for index, raw in enumerate(raws):
            expected = _brute(past, raw)
            got = world.features(sorted(expected), **raw.overrides(index))
            assert got == expected, (index, raw)
            world.add(**raw.overrides(index))
            past.append(raw)


# -- the entity-link graph, as an interface the engine is handed ------------------------------


class FakeGraph:
    """A LinkGraph with fixed answers that remembers what the engine asked and folded."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, Any]] = []
        self.folded: list[str] = []

    def ring_view(
        self, customer: str, strong_links: Mapping[str, str | None], now: float
    ) -> tuple[int, float, float]:
        self.asked.append(("ring", dict(strong_links)))
        return 4, 0.25, 0.5

    def shared_identifier_types(self, customer: str, strong_links: Mapping[str, str | None]) -> int:
        self.asked.append(("shared", dict(strong_links)))
        return 2

    def mule_score(self, account_key: str, now: float) -> float:
        self.asked.append(("mule", account_key))
        return 0.7

    def payee_mule_score(self, payee: str | None, now: float) -> float:
        self.asked.append(("payee_mule", payee))
        return 0.9

    def add_event(self, event: Any) -> None:
        self.folded.append(event.event_id)


class TestGraphInterface:
    def test_graph_features_are_read_from_the_graph_handed_in(self) -> None:
        event = ev(device_id="dev-9", payee_id="payee-9", phone="pn-9", card_id=None)
        graph = FakeGraph()
        ctx = open_context(event, lambda keys: {k: EntityState() for k in keys}, graph)
        values = compute(
            ctx,
            [
                "ring_size",
                "ring_fraud_share",
                "ring_new_account_share",
                "shared_identifier_types",
                "payee_mule_score",
                "customer_mule_score",
            ],
        )
        assert values == {
            "ring_size": 4,
            "ring_fraud_share": 0.25,
            "ring_new_account_share": 0.5,
            "shared_identifier_types": 2,
            "payee_mule_score": 0.9,
            "customer_mule_score": 0.7,
        }
        links = {
            "device": "dev-9",
            "phone": "pn-9",
            "card": None,
            "address": event.address_id,
            "voice": None,
        }
        # The ring is asked once per event (memoised), with the event's strong links.
        assert [kind for kind, _ in graph.asked].count("ring") == 1
        assert ("ring", links) in graph.asked
        assert ("shared", links) in graph.asked
        assert ("payee_mule", "payee-9") in graph.asked
        apply_event(event, ctx.states, ctx)
        assert graph.folded == [event.event_id]

    def test_without_a_graph_the_graph_features_are_unknown(self) -> None:
        event = ev(device_id="dev-9")
        ctx = open_context(event, lambda keys: {k: EntityState() for k in keys})
        values = compute(ctx, ["ring_size", "shared_identifier_types", "customer_mule_score"])
        assert values == {
            "ring_size": None,
            "shared_identifier_types": None,
            "customer_mule_score": None,
        }

    def test_strong_links_are_the_ones_the_graph_keys(self) -> None:
        """The engine names the strong links itself (it no longer imports the graph); both
        lists must stay the same or ring features would silently miss a link type."""
        from lendguard.graph.index import STRONG_FIELDS

        assert dict(STRONG_LINK_FIELDS) == STRONG_FIELDS

    def test_the_feature_engine_does_not_import_the_graph_area(self) -> None:
        code = (
            "import sys, lendguard.decisions.features.compute; "
            "print(sorted(m for m in sys.modules if m.startswith('lendguard.graph')))"
        )
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        )
        assert out.stdout.strip() == "[]"
