"""A synthetic lending population with scams mixed in, and the ground truth for each event.

Deterministic for a seed. Honest customers get salaries, loans with repayment schedules, regular
payees, shopping, logins — and some do things a rule may flag (a fresh loan to a new payee for
tuition or a car, a transfer during a phone call, a new phone and then a payment), because
without such look-alikes a false-positive rate means nothing. Victims of the scam typologies of
R37–R39 get the event sequences the police describe. The truth rides in each event's
``attributes``: ``scenario`` (typology or ``none``), ``is_fraud`` (0/1) and ``victim_loss`` (what
the victim loses if nothing stops this event).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any

CST = timezone(timedelta(hours=8))

TYPOLOGIES = (
    "fake_customer_service",
    "advance_fee_loan",
    "credit_repair",
    "account_takeover",
    "rebate_task",
    "elderly_investment",
    "mule",
    "ring",
)


@dataclass(slots=True)
class Customer:
    customer_id: str
    birth_date: date
    is_student: bool
    vulnerable: bool
    created_at: datetime
    income: int
    device_id: str
    ip: str
    payees: list[str]
    role: str = "honest"
    scenario: str = "none"
    ring_id: str = ""
    balance: float = 0.0


@dataclass(slots=True)
class Population:
    events: list[dict[str, Any]]
    customers: list[Customer]
    start: datetime
    days: int

    def accounts_rows(self) -> list[dict[str, str]]:
        return [
            {
                "customer_id": c.customer_id,
                "role": c.role,
                "scenario": c.scenario,
                "ring_id": c.ring_id,
            }
            for c in self.customers
        ]


@dataclass
class _Emitter:
    rng: random.Random
    events: list[dict[str, Any]] = field(default_factory=list)
    counter: int = 0

    def emit(
        self,
        customer: Customer,
        kind: str,
        at: datetime,
        amount: float | None = None,
        *,
        payee: str | None = None,
        payer: str | None = None,
        device: str | None = None,
        ip: str | None = None,
        session: dict[str, bool] | None = None,
        scenario: str = "none",
        is_fraud: int = 0,
        victim_loss: float = 0.0,
        attributes: dict[str, Any] | None = None,
        profile: bool = False,
        phone: str | None = None,
    ) -> None:
        self.counter += 1
        event: dict[str, Any] = {
            "event_id": f"sim-{self.counter:09d}",
            "type": kind,
            "occurred_at": at.isoformat(),
            "customer_id": customer.customer_id,
            "channel": "app",
            "device_id": device or customer.device_id,
            "ip": ip or customer.ip,
            "attributes": {
                "scenario": scenario,
                "is_fraud": is_fraud,
                "victim_loss": round(victim_loss, 2),
                **(attributes or {}),
            },
        }
        if amount is not None:
            event["amount"] = f"{amount:.2f}"
            event["currency"] = "CNY"
            event["balance_before"] = f"{max(customer.balance, 0.0):.2f}"
        if payee:
            event["payee_id"] = payee
        if payer:
            event["payer_id"] = payer
        if phone:
            event["phone"] = phone
        if session:
            event["session"] = session
        if profile:
            event["customer"] = {
                "birth_date": customer.birth_date.isoformat(),
                "is_student": customer.is_student,
                "vulnerable": customer.vulnerable,
                "created_at": customer.created_at.isoformat(),
            }
        if amount is not None:
            if kind in ("transfer", "withdrawal", "payment", "repayment"):
                customer.balance -= amount
            elif kind in ("deposit", "disbursement"):
                customer.balance += amount
        self.events.append(event)


def _customer(rng: random.Random, index: int, start: datetime) -> Customer:
    band = rng.random()
    if band < 0.16:
        age = rng.randint(18, 22)
    elif band < 0.55:
        age = rng.randint(23, 40)
    elif band < 0.88:
        age = rng.randint(41, 59)
    else:
        age = rng.randint(60, 78)
    born = date(start.year - age, rng.randint(1, 12), rng.randint(1, 28))
    student = age <= 23 and rng.random() < 0.6
    income = rng.choice([2500, 4000, 6000, 8000, 12000, 20000]) if not student else 1500
    created = start - timedelta(days=rng.randint(5, 1500))
    cid = f"c{index:06d}"
    payees = [f"p-{cid}-{k}" for k in range(rng.randint(1, 3))]
    return Customer(
        customer_id=cid,
        birth_date=born,
        is_student=student,
        vulnerable=age >= 70 and rng.random() < 0.3,
        created_at=created,
        income=income,
        device_id=f"d-{cid}",
        ip=f"10.{index % 250}.{(index // 250) % 250}.{index % 200 + 1}",
        payees=payees,
        balance=float(rng.randint(500, 30000)),
    )


def _at(start: datetime, day: int, rng: random.Random, lo: int = 8, hi: int = 22) -> datetime:
    return start + timedelta(
        days=day,
        hours=rng.randint(lo, hi - 1),
        minutes=rng.randint(0, 59),
        seconds=rng.randint(0, 59),
    )


def _history(out: _Emitter, c: Customer, start: datetime, months: int = 2) -> None:
    """What the lender already knew before the simulated month: earlier monthly transfers to
    the customer's regular payees, from the usual device. Without it every payee would look new
    in the first month, which no live system sees. These events carry ``attributes.warmup``:
    replays decide them (to build state) but leave them out of the outcome figures."""
    rng = out.rng
    for month in range(months, 0, -1):
        day = -30 * month + rng.randint(0, 5)
        when = _at(start, day, rng, 8, 20)
        warm = {"warmup": True}
        out.emit(c, "login", when, profile=month == months, attributes=warm)
        for payee in c.payees:
            out.emit(
                c,
                "transfer",
                when + timedelta(minutes=rng.randint(1, 30)),
                round(c.income * rng.uniform(0.1, 0.3), 2),
                payee=payee,
                attributes=warm,
            )


def _honest_month(out: _Emitter, c: Customer, start: datetime, days: int) -> None:
    rng = out.rng
    _history(out, c, start)
    out.emit(c, "login", _at(start, 0, rng, 6, 9), profile=True)
    salary_day = rng.randint(1, 10)
    for day in range(days):
        if rng.random() < 0.35:
            out.emit(c, "login", _at(start, day, rng))
        if day % 30 == salary_day:
            out.emit(
                c,
                "deposit",
                _at(start, day, rng, 9, 11),
                c.income,
                payer=f"employer-{int(c.customer_id[1:]) % 97}",
            )
            for payee in c.payees:
                out.emit(
                    c,
                    "transfer",
                    _at(start, day, rng, 11, 20),
                    round(c.income * rng.uniform(0.1, 0.3), 2),
                    payee=payee,
                )
        if rng.random() < 0.25:
            out.emit(
                c,
                "payment",
                _at(start, day, rng),
                round(rng.uniform(10, 400), 2),
                payee=f"m-{rng.randint(1, 400)}",
            )


def _honest_loan(out: _Emitter, c: Customer, start: datetime, days: int, lookalike: str) -> None:
    rng = out.rng
    day = rng.randint(0, max(0, days - 3))
    t = _at(start, day, rng, 9, 18)
    amount = float(rng.choice([3000, 5000, 8000, 10000, 20000]))
    out.emit(c, "application", t, amount)
    t += timedelta(minutes=rng.randint(5, 120))
    out.emit(c, "disbursement", t, amount, payer="lender")
    if lookalike == "loan_to_new_payee":
        # tuition, a car or a rent deposit: most of a fresh loan to a new payee
        t += timedelta(minutes=rng.randint(10, 90))
        purpose = rng.choice(["tuition", "car", "rent_deposit"])
        out.emit(
            c,
            "transfer",
            t,
            round(amount * rng.uniform(0.6, 0.95), 2),
            payee=f"{purpose}-{rng.randint(1, 5000)}",
            attributes={"purpose": purpose},
        )
    else:
        for _ in range(rng.randint(1, 4)):
            t += timedelta(hours=rng.randint(1, 72))
            out.emit(
                c,
                "payment",
                t,
                round(amount * rng.uniform(0.05, 0.2), 2),
                payee=f"m-{rng.randint(1, 400)}",
            )
    # monthly instalments on the disbursement's day of month
    due = t + timedelta(days=30)
    while due < start + timedelta(days=days):
        out.emit(c, "repayment", due, round(amount / 6, 2), payee="lender")
        due += timedelta(days=30)


def _multi_lender(out: _Emitter, c: Customer, start: datetime, days: int) -> None:
    """An honest customer who borrows from several lenders within a few days."""
    rng = out.rng
    t = _at(start, rng.randint(0, max(0, days - 7)), rng, 9, 18)
    for k in range(rng.randint(2, 4)):
        amount = float(rng.choice([2000, 3000, 5000, 8000]))
        out.emit(c, "application", t, amount)
        t += timedelta(minutes=rng.randint(5, 60))
        out.emit(c, "disbursement", t, amount, payer=f"lender-{k}")
        t += timedelta(hours=rng.randint(2, 48))
        out.emit(
            c,
            "payment",
            t,
            round(amount * rng.uniform(0.2, 0.6), 2),
            payee=f"m-{rng.randint(1, 400)}",
        )
        t += timedelta(hours=rng.randint(1, 30))


def _lookalike(out: _Emitter, c: Customer, start: datetime, days: int, kind: str) -> None:
    rng = out.rng
    t = _at(start, rng.randint(1, max(1, days - 2)), rng)
    if kind == "transfer_during_call":
        out.emit(
            c,
            "transfer",
            t,
            round(rng.uniform(1500, 6000), 2),
            payee=rng.choice(c.payees),
            session={"call_active": True},
        )
    elif kind == "new_phone_then_payment":
        new_device = f"{c.device_id}-n"
        out.emit(c, "device_change", t, device=new_device)
        c.device_id = new_device
        out.emit(
            c,
            "payment",
            t + timedelta(minutes=rng.randint(10, 600)),
            round(rng.uniform(50, 3000), 2),
            payee=f"m-{rng.randint(1, 400)}",
        )
    else:
        _honest_loan(out, c, start, days, "loan_to_new_payee")


# -- scams --------------------------------------------------------------------------------------


def _fake_customer_service(out: _Emitter, c: Customer, t: datetime) -> None:
    """'Cancel your campus-loan account': calls, screen sharing, several drawdowns, safe account."""
    rng, s = out.rng, "fake_customer_service"
    share = {"call_active": True, "screen_share_active": True}
    out.emit(
        c,
        "contact",
        t,
        session={"call_active": True},
        scenario=s,
        attributes={"direction": "inbound"},
    )
    safe = f"safe-{rng.randint(1, 10**6)}"
    for k in range(rng.randint(1, 3)):
        t += timedelta(minutes=rng.randint(3, 10))
        amount = float(rng.choice([5000, 8000, 10000, 20000]))
        out.emit(c, "application", t, amount, session=share, scenario=s)
        t += timedelta(minutes=rng.randint(1, 5))
        out.emit(c, "disbursement", t, amount, payer=f"lender-{k}", scenario=s)
        t += timedelta(minutes=rng.randint(2, 15))
        loss = round(amount * rng.uniform(0.9, 1.0), 2)
        out.emit(
            c,
            "transfer",
            t,
            loss,
            payee=safe,
            session=share,
            scenario=s,
            is_fraud=1,
            victim_loss=loss,
        )


def _advance_fee(out: _Emitter, c: Customer, t: datetime) -> None:
    """A 'loan' that needs a deposit, an unfreezing fee, a verification fee — and never comes."""
    rng, s = out.rng, "advance_fee_loan"
    out.emit(c, "application", t, float(rng.choice([20000, 50000, 100000])), scenario=s)
    t += timedelta(minutes=rng.randint(10, 120))
    out.emit(
        c,
        "contact",
        t,
        session={"call_active": True},
        scenario=s,
        attributes={"direction": "inbound"},
    )
    t += timedelta(minutes=rng.randint(2, 20))
    payee = f"fee-{rng.randint(1, 10**6)}"
    for fee in (rng.choice([500, 800, 1000]), rng.choice([2000, 3000, 5000])):
        out.emit(
            c,
            "transfer",
            t,
            float(fee),
            payee=payee,
            session={"call_active": True},
            scenario=s,
            is_fraud=1,
            victim_loss=float(fee),
        )
        t += timedelta(hours=rng.randint(1, 24))


def _credit_repair(out: _Emitter, c: Customer, t: datetime) -> None:
    rng, s = out.rng, "credit_repair"
    amount = float(rng.choice([3000, 5000, 8000]))
    out.emit(
        c,
        "transfer",
        t,
        amount,
        payee=f"repair-{rng.randint(1, 10**6)}",
        session={"call_active": True, "screen_share_active": rng.random() < 0.5},
        scenario=s,
        is_fraud=1,
        victim_loss=amount,
    )


def _account_takeover(out: _Emitter, c: Customer, t: datetime) -> None:
    rng, s = out.rng, "account_takeover"
    device, ip = (
        f"ato-d-{rng.randint(1, 10**6)}",
        f"172.16.{rng.randint(0, 255)}.{rng.randint(1, 254)}",
    )
    out.emit(c, "device_change", t, device=device, ip=ip, scenario=s, is_fraud=1)
    t += timedelta(minutes=rng.randint(2, 30))
    out.emit(
        c,
        "profile_change",
        t,
        device=device,
        ip=ip,
        scenario=s,
        is_fraud=1,
        attributes={"changed": rng.choice(["phone", "password"])},
    )
    t += timedelta(minutes=rng.randint(2, 60))
    loss = round(max(c.balance, 2000.0) * rng.uniform(0.85, 1.0), 2)
    out.emit(
        c,
        "withdrawal",
        t,
        loss,
        payee=f"ato-{rng.randint(1, 10**6)}",
        device=device,
        ip=ip,
        scenario=s,
        is_fraud=1,
        victim_loss=loss,
    )


def _rebate_task(out: _Emitter, c: Customer, t: datetime) -> None:
    rng, s = out.rng, "rebate_task"
    payee = f"task-{rng.randint(1, 10**6)}"
    for amount in (100.0, 300.0, float(rng.choice([2000, 3000])), float(rng.choice([8000, 15000]))):
        out.emit(c, "transfer", t, amount, payee=payee, scenario=s, is_fraud=1, victim_loss=amount)
        t += timedelta(minutes=rng.randint(10, 90))


def _elderly_investment(out: _Emitter, c: Customer, t: datetime) -> None:
    rng, s = out.rng, "elderly_investment"
    payee = f"invest-{rng.randint(1, 10**6)}"
    for _ in range(rng.randint(1, 2)):
        amount = float(rng.choice([10000, 20000, 50000]))
        c.balance = max(c.balance, amount * 1.2)
        out.emit(
            c,
            "transfer",
            t,
            amount,
            payee=payee,
            session={"call_active": rng.random() < 0.5},
            scenario=s,
            is_fraud=1,
            victim_loss=amount,
        )
        t += timedelta(days=rng.randint(1, 5))


SCAMS: dict[str, Callable[[_Emitter, Customer, datetime], None]] = {
    "fake_customer_service": _fake_customer_service,
    "advance_fee_loan": _advance_fee,
    "credit_repair": _credit_repair,
    "account_takeover": _account_takeover,
    "rebate_task": _rebate_task,
    "elderly_investment": _elderly_investment,
}


def _mule(out: _Emitter, c: Customer, start: datetime, days: int) -> None:
    rng = out.rng
    t = _at(start, rng.randint(0, max(0, days - 2)), rng)
    total = 0.0
    for _ in range(rng.randint(6, 15)):
        amount = round(rng.uniform(2000, 20000), 2)
        total += amount
        out.emit(
            c,
            "deposit",
            t,
            amount,
            payer=f"c{rng.randint(0, 10**6):06d}",
            scenario="mule",
            is_fraud=1,
        )
        t += timedelta(minutes=rng.randint(5, 60))
    out.emit(
        c,
        "withdrawal",
        t,
        round(total * 0.95, 2),
        payee=f"cash-{rng.randint(1, 99)}",
        scenario="mule",
        is_fraud=1,
    )


def _ring(out: _Emitter, members: list[Customer], start: datetime, days: int, ring_id: str) -> None:
    rng = out.rng
    devices = [f"ring-{ring_id}-d{k}" for k in range(max(1, len(members) // 5))]
    phones = [f"+86-139-{ring_id}-{k}" for k in range(max(1, len(members) // 8))]
    ips = [f"192.168.{rng.randint(0, 255)}.{k}" for k in range(1, 3)]
    t = _at(start, rng.randint(0, max(0, days - 3)), rng)
    for member in members:
        member.device_id, member.ip = rng.choice(devices), rng.choice(ips)
        member.created_at = t
        t += timedelta(minutes=rng.randint(1, 20))
        out.emit(
            member,
            "registration",
            t,
            scenario="ring",
            is_fraud=1,
            profile=True,
            phone=rng.choice(phones),
        )
        t += timedelta(minutes=rng.randint(1, 10))
        amount = float(rng.choice([3000, 5000, 8000]))
        out.emit(member, "application", t, amount, scenario="ring", is_fraud=1)
        t += timedelta(minutes=rng.randint(1, 30))
        out.emit(member, "disbursement", t, amount, payer="lender", scenario="ring", is_fraud=1)
        t += timedelta(minutes=rng.randint(5, 60))
        out.emit(
            member,
            "withdrawal",
            t,
            amount,
            payee=f"ring-{ring_id}-cash",
            scenario="ring",
            is_fraud=1,
        )


def generate(
    customers: int,
    days: int = 30,
    seed: int = 1,
    victim_rate: float = 0.01,
    lookalike_rate: float = 0.03,
    mule_rate: float = 0.002,
    ring_members_rate: float = 0.004,
    start: datetime | None = None,
    on_progress: Callable[[int], None] | None = None,
    infrastructure: bool = True,
) -> Population:
    """Generate ``customers`` people over ``days``; events come back in time order.

    ``infrastructure`` adds cards, mule payees, households and campus Wi-Fi (see
    :func:`_fraud_infrastructure`); off, the events are those of earlier releases."""
    rng = random.Random(seed)
    start = start or datetime(2026, 3, 1, tzinfo=CST)
    out = _Emitter(rng)
    people = [_customer(rng, i, start) for i in range(customers)]
    victims = 0
    for n, c in enumerate(people):
        r = rng.random()
        _honest_month(out, c, start, days)
        if rng.random() < 0.2:
            _honest_loan(out, c, start, days, "none")
        if rng.random() < 0.03:
            _multi_lender(out, c, start, days)
        if r < victim_rate:
            typology = TYPOLOGIES[victims % 6]
            victims += 1
            if typology == "elderly_investment" and (start.year - c.birth_date.year) < 60:
                c.birth_date = date(start.year - rng.randint(61, 78), 1, 5)
            if typology == "fake_customer_service":
                c.is_student = True
                c.birth_date = date(start.year - rng.randint(19, 22), 1, 5)
            c.role, c.scenario = "victim", typology
            scam_day = rng.randint(1, max(1, days - 1))
            out.emit(c, "login", _at(start, scam_day, rng, 8, 9), profile=True)
            SCAMS[typology](out, c, _at(start, scam_day, rng, 9, 20))
        elif r < victim_rate + lookalike_rate:
            _lookalike(
                out,
                c,
                start,
                days,
                rng.choice(["loan_to_new_payee", "transfer_during_call", "new_phone_then_payment"]),
            )
        elif r < victim_rate + lookalike_rate + mule_rate:
            c.role, c.scenario = "mule", "mule"
            _mule(out, c, start, days)
        if on_progress is not None and n % 500 == 0:
            on_progress(n)
    ring_people = max(0, int(customers * ring_members_rate))
    index = customers
    ring_no = 0
    while ring_people >= 5:
        size = min(ring_people, rng.randint(5, 50))
        members = []
        for _ in range(size):
            member = _customer(rng, index, start)
            member.role, member.scenario, member.ring_id = "fraudster", "ring", f"r{ring_no}"
            index += 1
            members.append(member)
        _ring(out, members, start, days, f"r{ring_no}")
        people.extend(members)
        ring_people -= size
        ring_no += 1
    if infrastructure:
        _fraud_infrastructure(out, people, random.Random(seed * 7919 + 13), start, days)
    out.events.sort(key=lambda e: (e["occurred_at"], e["event_id"]))
    return Population(events=out.events, customers=people, start=start, days=days)


# -- shared infrastructure: what links people (and what links honest people too) ---------------

HOUSEHOLD_RATE = 0.03
CAMPUS_WIFI_SHARE = 0.5
CAMPUS_SIZE = 40
RING_OWN_DEVICE_SHARE = 0.3
MULE_PAYEE_SHARE = 0.6
KIOSK_RATE = 0.01


def _kiosk_onboarding(
    out: _Emitter,
    people: list[Customer],
    rng: random.Random,
    start: datetime,
    days: int,
) -> None:
    """Honest new customers signed up together on a promoter's tablet in a shop or at a campus
    stand: one device, one IP, accounts opened within the hour — the look of a ring at
    registration. Afterwards each uses their own phone and card, borrows a little and repays."""
    total = int(len(people) * KIOSK_RATE)
    index = len(people)
    kiosk = 0
    while total >= 5:
        size = min(total, rng.randint(5, 12))
        total -= size
        device, ip = f"kiosk-{kiosk}-d", f"100.64.{kiosk % 250}.9"
        at = start + timedelta(days=rng.randint(0, max(0, days - 3)), hours=rng.randint(9, 18))
        for _ in range(size):
            c = _customer(rng, index, start)
            index += 1
            at += timedelta(minutes=rng.randint(2, 9))
            c.created_at = at
            out.emit(c, "registration", at, device=device, ip=ip, profile=True)
            c.payees = []
            days_left = max(1, days - (at - start).days)
            t = at + timedelta(days=rng.randint(0, min(3, days_left)), hours=1)
            out.emit(c, "login", t)
            amount = float(rng.choice([1000, 2000, 3000]))
            out.emit(c, "application", t + timedelta(minutes=3), amount)
            out.emit(c, "disbursement", t + timedelta(minutes=20), amount, payer="lender")
            out.events[-1]["card_id"] = f"k-{c.customer_id}"
            for k in range(rng.randint(1, 3)):
                out.emit(
                    c,
                    "payment",
                    t + timedelta(hours=4 + 30 * k),
                    round(amount * rng.uniform(0.1, 0.3), 2),
                    payee=f"m-{rng.randint(1, 400)}",
                )
            people.append(c)
        kiosk += 1


def _fraud_infrastructure(
    out: _Emitter, people: list[Customer], rng: random.Random, start: datetime, days: int
) -> None:
    """Bank cards, mule payees, households and campus Wi-Fi, drawn after everything else.

    A separate random stream, so the month's events keep their content and order for a seed;
    this pass only rewrites link fields and adds the mules' inbound side. What it models:

    * every customer has a bank card (``card_id``) on money events; ring members draw loans to a
      few cards the gang controls (one per four members);
    * victims pay mules: a share of the scam payees are mule accounts' cards, and the mule sees
      the victim's money arrive (a deposit with the victim as payer) a few minutes later;
    * honest confounders: couples and families on one phone and one address (households), and
      students behind a campus Wi-Fi address — links a ring detector must not mistake for a gang;
    * a share of ring members apply from their own phone, so only the shared SIM or card links
      them.
    """
    by_customer: dict[str, list[dict[str, Any]]] = {}
    for event in out.events:
        by_customer.setdefault(event["customer_id"], []).append(event)

    def rewrite(cid: str, field: str, old: str, new: str) -> None:
        for event in by_customer.get(cid, ()):
            if event.get(field) == old:
                event[field] = new

    rings: dict[str, list[Customer]] = {}
    for c in people:
        if c.ring_id:
            rings.setdefault(c.ring_id, []).append(c)
    cards: dict[str, str] = {c.customer_id: f"k-{c.customer_id}" for c in people}
    for ring_id, members in rings.items():
        ring_cards = [f"ring-{ring_id}-k{k}" for k in range(max(1, len(members) // 4))]
        for member in members:
            cards[member.customer_id] = rng.choice(ring_cards)
            if rng.random() < RING_OWN_DEVICE_SHARE:
                own = f"d-{member.customer_id}"
                rewrite(member.customer_id, "device_id", member.device_id, own)
                member.device_id = own
    for cid, events in by_customer.items():
        for event in events:
            if event["type"] in ("disbursement", "withdrawal", "deposit"):
                event["card_id"] = cards[cid]

    honest = [c for c in people if c.role == "honest" and c.scenario == "none"]
    rng.shuffle(honest)
    household_people = int(len(honest) * HOUSEHOLD_RATE)
    index = 0
    household = 0
    while index + 1 < household_people:
        size = 3 if rng.random() < 0.15 else 2
        members = honest[index : index + size]
        index += size
        device, address = f"hh-{household}-d", f"hh-{household}-a"
        household += 1
        for member in members:
            rewrite(member.customer_id, "device_id", member.device_id, device)
            member.device_id = device
            for event in by_customer.get(member.customer_id, ()):
                if "customer" in event:
                    event["address_id"] = address
    students = [c for c in people if c.is_student and c.role == "honest"]
    campus = [c for c in students if rng.random() < CAMPUS_WIFI_SHARE]
    for n, student in enumerate(campus):
        wifi = f"10.250.{n // CAMPUS_SIZE}.1"
        rewrite(student.customer_id, "ip", student.ip, wifi)
        student.ip = wifi

    _kiosk_onboarding(out, people, rng, start, days)

    mules = [c for c in people if c.role == "mule"]
    if not mules:
        return
    mule_of_payee: dict[str, Customer] = {}
    for c in people:
        if c.role != "victim":
            continue
        for event in by_customer.get(c.customer_id, ()):
            payee = event.get("payee_id")
            if (
                not payee
                or not event["attributes"].get("is_fraud")
                or event["type"]
                not in (
                    "transfer",
                    "withdrawal",
                )
            ):
                continue
            if payee not in mule_of_payee:
                if rng.random() >= MULE_PAYEE_SHARE:
                    mule_of_payee[payee] = c  # stays an outside account (marker: the victim)
                    continue
                mule_of_payee[payee] = rng.choice(mules)
            mule = mule_of_payee[payee]
            if mule is c:
                continue
            event["payee_id"] = cards[mule.customer_id]
            arrived = datetime.fromisoformat(event["occurred_at"]) + timedelta(
                minutes=rng.randint(1, 3)
            )
            out.emit(
                mule,
                "deposit",
                arrived,
                float(event["amount"]),
                payer=c.customer_id,
                scenario="mule",
                is_fraud=1,
            )
            out.events[-1]["card_id"] = cards[mule.customer_id]
