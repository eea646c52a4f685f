"""APR engine: Regulation Z Appendix J actuarial APR and China's annualised rate (年化利率).

Two rates answer two different questions about the same schedule:

* **Appendix J** (12 CFR 1026, Appendix J; R22): the US disclosure rate. It solves the general
  equation ``Σ A_j / ((1 + f_j·i)(1 + i)^t_j) = Σ P_k / ((1 + f_k·i)(1 + i)^t_k)`` for the
  unit-period rate ``i`` and reports ``APR = i × unit periods per year`` (nominal, not
  compounded). ``t`` counts whole unit periods and ``f`` is the leftover fraction, both measured
  *backward* from each payment (or advance) to the start of the term. Odd days therefore sit at
  the start of the term and earn simple interest, exactly as the regulation's examples do. The
  amount financed is taken as given: under Reg Z it is already net of prepaid finance charges
  (12 CFR 1026.18(b)), so ``withheld`` and ``fees`` are *not* subtracted from it again.
* **China's IRR** (PBOC Announcement [2021] No. 3; R2-R4): the internal rate of return of the
  cash flows the borrower actually sees: principal as actually disbursed (advances less interest
  or fees withheld, less fees paid at or before the first advance), every instalment, and every
  later loan-related fee whoever collects it (lender, guarantor, insurer...). The periodic IRR
  ``r`` is annualised two ways and both are labelled: simple ``r × k`` (单利) and compound
  ``(1 + r)^k - 1`` (复利). Time is measured with the same backward count as Appendix J, but
  discounting is compound over the fractional period too: ``(1 + r)^-(t + f)``.

Everything here is pure: :class:`Schedule` (Pydantic) in, :class:`AprResult` (exact floats) out.
Nothing is rounded internally; :meth:`AprResult.as_answer` gives percent to 4 decimals.

The root finder is a safeguarded Newton iteration inside a bracket that is grown until the
equation changes sign (Numerical Recipes' ``rtsafe``): every Newton step that would leave the
bracket is replaced by bisection, so it always converges once a sign change is found and needs
no SciPy (which is only a transitive dependency of scikit-learn here).
"""

from __future__ import annotations

import math
import re
from calendar import monthrange
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Annotated, Any, Literal, NamedTuple

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    WithJsonSchema,
)

from lendguard.errors import FieldError, ValidationFailed
from lendguard.kit.bounds import plausible_date
from lendguard.kit.money import MAX_AMOUNT, FloatNumber

#: Unit periods per year that Appendix J's counting rules cover. 24 is the semimonth (1st/16th).
ALLOWED_UNIT_PERIODS: tuple[int, ...] = (1, 2, 4, 6, 12, 13, 24, 26, 52, 365)
#: Most schedules one CLI or HTTP call may carry.
MAX_SCHEDULES = 1_000
#: R21 (12 CFR 1026.22(a)(2)-(3)): tolerance in percentage points.
TOLERANCE_REGULAR = 0.125
TOLERANCE_IRREGULAR = 0.25
OUT_OF_TOLERANCE = "APR_OUT_OF_TOLERANCE"

METHOD_LABELS: dict[str, str] = {
    "apr_percent": "appendix_j_actuarial",
    "irr_periodic": "irr_per_unit_period",
    "apr_simple": "irr_simple_annualised (单利)",
    "apr_compound": "irr_compound_annualised (复利)",
}

# A 'term' unit period (single payment, unit = the whole term) is accepted when the given
# unit_periods_per_year is 365/term_days to this relative precision (4 significant decimals).
_TERM_RELATIVE_TOLERANCE = 1e-4
# Appendix J month-based units: unit_periods_per_year -> months per unit period.
_MONTHS_PER_UNIT = {12: 1, 6: 2, 4: 3, 2: 6}
# Week-based units: unit_periods_per_year -> days per unit period.
_DAYS_PER_UNIT = {52: 7, 26: 14, 13: 28, 365: 1}
# An object with any of these keys is one schedule (so a missing 'payments' is named as such).
_SCHEDULE_KEYS = frozenset({"payments", "amount_financed", "advance_date"})
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# A calendar date of a schedule as the contract states it: 1900-01-01 to 2199-12-31
# (kit.bounds.plausible_date); the "date" format rules out days a month lacks.
DATE_PATTERN = r"^(?:19|2[01])[0-9]{2}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])$"
# Highest periodic rate searched (1e6 = 100,000,000 % per unit period) before giving up.
_MAX_PERIODIC_RATE = 1e6


# -- input model --------------------------------------------------------------------------------


def _iso_date(value: Any) -> Any:
    """Dates are ISO ``YYYY-MM-DD`` strings (or ``date`` objects from Python callers): no
    timestamps, no datetimes, so a schedule means the same thing wherever it is read."""
    if isinstance(value, date):
        return value
    if isinstance(value, str) and _ISO_DATE.match(value):
        try:
            return date.fromisoformat(value)
        except ValueError as exc:
            raise ValueError(f"not a calendar date: {exc}") from None
    raise ValueError("expected an ISO date, YYYY-MM-DD")


def _id(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


# Integer digits of the largest amount a string may spell: kit.money.MAX_AMOUNT is 10^12, the
# string pattern stops just below it and the number branch states the bound itself.
_INTEGER_DIGITS = len(str(int(MAX_AMOUNT))) - 1


def amount_pattern(*, positive: bool, decimals: int | None) -> str:
    """The decimal strings :func:`lendguard.kit.money.decimal_input` reads as an amount in
    range: plain digits with an optional point (no sign, exponent or separators), at most
    ``decimals`` places (None: any), above zero when ``positive``. Narrower than what is read
    (an exponent is read too), never wider: every string it matches is accepted."""
    places = "+" if decimals is None else f"{{1,{decimals}}}"
    fraction = f"(?:\\.[0-9]{places})?"
    integer = f"(?:0|[1-9][0-9]{{0,{_INTEGER_DIGITS - 1}}})"
    if positive:
        # Some digit other than 0 (the lookahead reads the whole text).
        return f"^(?=[^1-9]*[1-9]){integer}{fraction}$"
    return f"^{integer}{fraction}$"


def money_schema(*, positive: bool, decimals: int | None = None) -> dict[str, Any]:
    """The JSON schema of an amount as :mod:`lendguard.kit.money` reads it: a JSON number up to
    one trillion, or a decimal string (:func:`amount_pattern`). A client generator then offers
    both spellings, and every amount the schema allows is accepted.

    Where the places are limited (``decimals``, offers), the number branch is stated as an
    integer: a binary float has no decimal places to count (0.1 * 3 is 0.30000000000000004),
    so the string carries the cents."""
    number: dict[str, Any] = {"type": "number" if decimals is None else "integer"}
    number["maximum"] = int(MAX_AMOUNT) if decimals is not None else float(MAX_AMOUNT)
    number["exclusiveMinimum" if positive else "minimum"] = 0
    text = {"type": "string", "pattern": amount_pattern(positive=positive, decimals=decimals)}
    return {"anyOf": [number, text], "examples": ["19000.00"]}


def rate_schema() -> dict[str, Any]:
    """A rate or percentage at or above 0 as :mod:`lendguard.kit.money` reads it: a JSON
    number (below 10^30, past which no rate is meant), or a plain decimal string."""
    number = {"type": "number", "minimum": 0, "maximum": 1e30}
    text = {"type": "string", "pattern": "^(?:0|[1-9][0-9]{0,29})(?:\\.[0-9]{1,8})?$"}
    return {"anyOf": [number, text], "examples": ["7.2"]}


DATE_SCHEMA: dict[str, Any] = {"type": "string", "format": "date", "pattern": DATE_PATTERN}
IsoDate = Annotated[
    date, BeforeValidator(_iso_date), AfterValidator(plausible_date), WithJsonSchema(DATE_SCHEMA)
]
# Amounts and rates: decimal strings or JSON numbers, as in events and offers (kit.money).
# Up to one trillion, as everywhere (kit.money.MAX_AMOUNT): past it a schedule is a typo, and
# 1e30 financed against 36 payments of 322.67 gave a negative APR instead of a refusal.
Amount = Annotated[
    FloatNumber,
    Field(gt=0, le=float(MAX_AMOUNT), allow_inf_nan=False),
    WithJsonSchema(money_schema(positive=True)),
]
NonNegativeAmount = Annotated[
    FloatNumber,
    Field(ge=0, le=float(MAX_AMOUNT), allow_inf_nan=False),
    WithJsonSchema(money_schema(positive=False)),
]


class CashFlow(BaseModel):
    """A dated amount: a payment by the borrower or an advance to them."""

    model_config = ConfigDict(
        extra="ignore", frozen=True, json_schema_extra={"additionalProperties": False}
    )

    date: IsoDate
    amount: Amount


class ScheduleFee(BaseModel):
    """A loan-related fee the borrower pays to anyone (lender, guarantor, insurer, platform).

    A fee dated on the first advance is treated as taken at disbursement (it lowers the
    principal actually received); a later fee is a cash flow on its date, so a fee paid with an
    instalment adds to that instalment.
    """

    model_config = ConfigDict(
        extra="ignore", frozen=True, json_schema_extra={"additionalProperties": False}
    )

    date: IsoDate
    amount: NonNegativeAmount
    payee: str | None = Field(default=None, max_length=200)


class Schedule(BaseModel):
    """One closed-end credit schedule.

    ``advances`` (optional) lists every advance, the first included, for multiple-advance
    transactions: they must total ``amount_financed`` and the earliest must fall on
    ``advance_date``. ``withheld`` is interest or fees deducted from the first advance at
    disbursement (砍头息, R4). ``unit_periods_per_year`` is one of :data:`ALLOWED_UNIT_PERIODS`
    or, for a single-advance single-payment schedule whose unit period is the whole term
    (Appendix J (c)(5)(i)), ``365 / term_days``. ``unit_period`` is a free-text hint only.
    """

    model_config = ConfigDict(
        extra="ignore", frozen=True, json_schema_extra={"additionalProperties": False}
    )

    id: Annotated[str, BeforeValidator(_id), Field(min_length=1, max_length=200)]
    amount_financed: Amount
    advance_date: IsoDate
    payments: Annotated[list[CashFlow], Field(min_length=1)]
    unit_periods_per_year: Annotated[
        FloatNumber,
        Field(gt=0, allow_inf_nan=False),
        WithJsonSchema(
            {
                "anyOf": [
                    {"type": "number", "enum": list(ALLOWED_UNIT_PERIODS)},
                    {"type": "number", "exclusiveMinimum": 0, "maximum": 365},
                    {"type": "string", "pattern": amount_pattern(positive=True, decimals=8)},
                ],
                "description": "one of 1, 2, 4, 6, 12, 13, 24, 26, 52, 365; or 365/term_days "
                "for one advance and one payment whose unit period is the term",
            }
        ),
    ]
    unit_period: str | None = Field(default=None, max_length=200)
    advances: list[CashFlow] | None = None
    fees: list[ScheduleFee] = Field(default_factory=list)
    withheld: NonNegativeAmount = 0.0
    disclosed_apr_percent: Annotated[
        FloatNumber | None,
        Field(allow_inf_nan=False),
        WithJsonSchema(
            {
                "anyOf": [
                    {"type": "number", "minimum": -1e30, "maximum": 1e30},
                    {"type": "string", "pattern": r"^-?(?:0|[1-9][0-9]{0,29})(?:\.[0-9]{1,8})?$"},
                    {"type": "null"},
                ]
            }
        ),
    ] = None


# -- time measurement ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Unit:
    """How a unit period is counted: ``kind`` and its ``size`` (months or days per unit)."""

    kind: Literal["months", "semimonth", "days", "years"]
    size: int
    per_year: float

    def describe(self) -> str:
        if self.kind == "semimonth":
            return "half-month (1st/16th)"
        if self.kind == "years":
            return "1 year"
        if self.kind == "months":
            return f"{self.size} month(s)"
        if self.per_year in _DAYS_PER_UNIT and _DAYS_PER_UNIT[int(self.per_year)] == self.size:
            return "1 day" if self.size == 1 else f"{self.size // 7} week(s)"
        return f"term ({self.size} days)"


@dataclass(frozen=True, slots=True)
class Span:
    """Time from the start of the term to a cash flow: ``whole`` unit periods and the leftover
    ``fraction`` of one (Appendix J's ``t`` and ``f``)."""

    whole: int
    fraction: float

    @property
    def periods(self) -> float:
        return self.whole + self.fraction


def _months_back(d: date, n: int) -> date:
    """``d`` moved back ``n`` whole months, keeping the day of the month (clamped to the month's
    end). Always computed from the original date, so clamping in a short month never drifts."""
    index = d.year * 12 + d.month - 1 - n
    year, month0 = divmod(index, 12)
    return date(year, month0 + 1, min(d.day, monthrange(year, month0 + 1)[1]))


def _semimonths_back(d: date, n: int) -> date:
    """``d`` moved back ``n`` half-months: the 16th steps to the 1st and the 1st to the 16th of
    the month before; other days move by 15 the same way (day d ≤ 15 ↔ d + 15), clamped."""
    half = 0 if d.day <= 15 else 1
    offset = d.day if half == 0 else d.day - 15
    index = (d.year * 12 + d.month - 1) * 2 + half - n
    month_index, target_half = divmod(index, 2)
    year, month0 = divmod(month_index, 12)
    last = monthrange(year, month0 + 1)[1]
    day = min(offset, 15) if target_half == 0 else min(offset + 15, last)
    return date(year, month0 + 1, day)


def _years_back(d: date, n: int) -> date:
    year = d.year - n
    return date(year, d.month, min(d.day, monthrange(year, d.month)[1]))


def span(start: date, end: date, unit: Unit) -> Span:
    """Appendix J's time from ``start`` (the first advance) to ``end`` (a later cash flow).

    Whole unit periods are counted *backward* from ``end`` for as long as the stepped date does
    not pass ``start``; what remains between ``start`` and the last stepped date is the odd
    fraction. Counting from the payment backward (not from the advance forward) is what puts
    the odd days at the start of the term and keeps every payment of a regular schedule exactly
    one unit apart, whatever the month lengths in between.

    The leftover is converted the regulation's way: for month-based units it is *whole months
    plus days/30*, divided by the months in a unit. Counting whole months first matters: in
    example (c)(4)(ii) (two-month unit) the 50 odd days are 1 month + 22 days, a fraction of
    (1 + 22/30)/2 = 0.8667, which gives the regulation's 7.30 %; 50/60 would give 7.33 %.
    Semimonths leave days/15, weeks days/(7·k), years days/365; a daily unit has no fraction.
    """
    if end < start:
        raise ValueError("a cash flow before the start of the term")
    if unit.kind == "days":
        days = (end - start).days
        whole, rest = divmod(days, unit.size)
        return Span(whole, rest / unit.size)
    if unit.kind == "months":
        count = (end.year - start.year) * 12 + end.month - start.month
        if _months_back(end, count) < start:
            count -= 1
        whole, extra_months = divmod(count, unit.size)
        days = (_months_back(end, count) - start).days
        return Span(whole, (extra_months + days / 30) / unit.size)
    if unit.kind == "semimonth":
        count = 2 * ((end.year - start.year) * 12 + end.month - start.month)
        count += (0 if end.day <= 15 else 1) - (0 if start.day <= 15 else 1)
        if _semimonths_back(end, count) < start:
            count -= 1
        return Span(count, (_semimonths_back(end, count) - start).days / 15)
    count = end.year - start.year
    if _years_back(end, count) < start:
        count -= 1
    return Span(count, (_years_back(end, count) - start).days / 365)


def first_advance_date(schedule: Schedule) -> date:
    if schedule.advances:
        return min(a.date for a in schedule.advances)
    return schedule.advance_date


def advances_of(schedule: Schedule) -> list[CashFlow]:
    """Every advance: the ``advances`` list, or the one ``amount_financed`` on ``advance_date``."""
    if schedule.advances:
        return list(schedule.advances)
    return [CashFlow(date=schedule.advance_date, amount=schedule.amount_financed)]


def _term_days(schedule: Schedule) -> int | None:
    """Days of the term when ``unit_periods_per_year`` names a 'term' unit (365/term_days)."""
    if len(schedule.payments) != 1 or (schedule.advances and len(schedule.advances) > 1):
        return None
    days = (schedule.payments[0].date - first_advance_date(schedule)).days
    if days <= 0:
        return None
    expected = 365 / days
    if abs(schedule.unit_periods_per_year - expected) <= _TERM_RELATIVE_TOLERANCE * expected:
        return days
    return None


def unit_of(schedule: Schedule) -> Unit:
    """The schedule's unit period, from ``unit_periods_per_year``.

    A 'term' unit (Appendix J (c)(5)(i): one advance, one payment, the unit period is the
    term) is recognised when ``unit_periods_per_year`` equals 365/term_days; the exact ratio is
    then used, so a value given to 4 decimals (1.4314 for 255 days) gives the same answer.
    """
    per_year = schedule.unit_periods_per_year
    if per_year in ALLOWED_UNIT_PERIODS:
        k = int(per_year)
        if k in _MONTHS_PER_UNIT:
            return Unit("months", _MONTHS_PER_UNIT[k], k)
        if k in _DAYS_PER_UNIT:
            return Unit("days", _DAYS_PER_UNIT[k], k)
        if k == 24:
            return Unit("semimonth", 1, 24)
        return Unit("years", 1, 1)
    term = _term_days(schedule)
    if term is None:
        raise ValueError("unit_periods_per_year is not an allowed value")
    return Unit("days", term, 365 / term)


# -- validation ---------------------------------------------------------------------------------


def schedule_problems(schedule: Schedule) -> list[FieldError]:
    """Rules that span fields (Pydantic checks types and signs): field paths are relative."""
    problems: list[FieldError] = []
    start = first_advance_date(schedule)
    if schedule.advances is not None:
        if not schedule.advances:
            problems.append(FieldError("advances", "give at least one advance, or leave it out"))
        else:
            if start != schedule.advance_date:
                problems.append(
                    FieldError(
                        "advance_date",
                        f"must be the date of the first advance ({start.isoformat()})",
                    )
                )
            total = sum(a.amount for a in schedule.advances)
            if abs(total - schedule.amount_financed) > 0.005:
                problems.append(
                    FieldError(
                        "advances",
                        f"the advances total {total:.2f} but amount_financed is "
                        f"{schedule.amount_financed:.2f}",
                    )
                )
    for i, payment in enumerate(schedule.payments):
        if payment.date < start:
            problems.append(
                FieldError(
                    f"payments[{i}].date",
                    f"{payment.date.isoformat()} is before the advance on {start.isoformat()}",
                )
            )
    for i, fee in enumerate(schedule.fees):
        if fee.date < start:
            problems.append(
                FieldError(
                    f"fees[{i}].date",
                    f"{fee.date.isoformat()} is before the advance on {start.isoformat()}",
                )
            )
    per_year = schedule.unit_periods_per_year
    if per_year not in ALLOWED_UNIT_PERIODS and not problems and _term_days(schedule) is None:
        problems.append(
            FieldError(
                "unit_periods_per_year",
                f"must be one of {', '.join(str(k) for k in ALLOWED_UNIT_PERIODS)}, or "
                "365/term_days for a single payment whose unit period is the term",
            )
        )
    if not problems:
        at_start = sum(a.amount for a in advances_of(schedule) if a.date == start)
        fees_at_start = sum(f.amount for f in schedule.fees if f.date == start)
        if schedule.withheld + fees_at_start >= at_start:
            problems.append(
                FieldError(
                    "withheld",
                    f"withheld ({schedule.withheld:.2f}) plus fees at disbursement "
                    f"({fees_at_start:.2f}) leave nothing of the {at_start:.2f} advanced",
                )
            )
    return problems


def _path(prefix: str, loc: Iterable[int | str]) -> str:
    out = prefix
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "body"


def _prefixed(prefix: str, problems: Iterable[FieldError]) -> list[FieldError]:
    return [
        FieldError(_path(prefix, [e.field]) if prefix else e.field, e.message) for e in problems
    ]


def parse_schedule(raw: Any, prefix: str = "") -> Schedule:
    """One schedule from JSON-like data, or :class:`ValidationFailed` naming each bad field
    (``prefix`` goes in front, e.g. ``schedules[2]``)."""
    try:
        schedule = Schedule.model_validate(raw)
    except ValidationError as exc:
        errors = [
            FieldError(_path(prefix, e["loc"]), e["msg"]) for e in exc.errors(include_url=False)
        ]
        raise ValidationFailed("the schedule is invalid", errors=errors) from None
    problems = schedule_problems(schedule)
    if problems:
        raise ValidationFailed("the schedule is invalid", errors=_prefixed(prefix, problems))
    return schedule


def _items(raw: Any, limit: int) -> tuple[list[Any], str]:
    """The schedule objects of a request and the name of their list (``""``: just one)."""
    if isinstance(raw, dict) and _SCHEDULE_KEYS & raw.keys():
        return [raw], ""
    shape = (
        "expected a schedule, a list of schedules or an object whose one list-valued key holds them"
    )
    key = "schedules"
    items: Any = raw
    if isinstance(raw, dict):
        lists = [str(k) for k, v in raw.items() if isinstance(v, list)]
        if len(lists) != 1:
            found = f" ({', '.join(lists)})" if lists else ""
            raise ValidationFailed(
                shape,
                errors=[
                    FieldError(
                        "body",
                        f"found {len(lists)} list-valued keys{found} and no schedule fields",
                    )
                ],
            )
        key = lists[0]
        items = raw[key]
    if not isinstance(items, list):
        raise ValidationFailed(
            shape, errors=[FieldError("body", "expected a JSON object or array")]
        )
    if not items:
        raise ValidationFailed("no schedules", errors=[FieldError(key, "at least one schedule")])
    if len(items) > limit:
        raise ValidationFailed(
            f"at most {limit} schedules per call",
            errors=[FieldError(key, f"at most {limit} items, got {len(items)}")],
        )
    return items, key


def located_schedules(raw: Any, limit: int) -> list[tuple[str, Schedule]]:
    """:func:`parse_schedules` with each schedule's name in the request (``schedules[2]``,
    ``KEY[2]``, ``""`` for a lone one), for the errors :func:`compute` raises later."""
    items, key = _items(raw, limit)
    located: list[tuple[str, Schedule]] = []
    errors: list[FieldError] = []
    for i, item in enumerate(items):
        prefix = f"{key}[{i}]" if key else ""
        try:
            located.append((prefix, parse_schedule(item, prefix)))
        except ValidationFailed as exc:
            errors.extend(exc.errors)
    if errors:
        detail = (
            "the schedule is invalid" if not key else f"{len(errors)} problem(s) in the schedules"
        )
        raise ValidationFailed(detail, errors=errors)
    return located


def parse_schedules(raw: Any, limit: int = MAX_SCHEDULES) -> list[Schedule]:
    """The schedules in a request: one schedule (an object with ``payments``), a list of them,
    or an object whose one list-valued key holds them (as in ``appendix_j_examples.json``).

    Errors of every schedule are collected; in a list they are named ``schedules[i]....`` (or
    ``KEY[i]....`` after the wrapping object's key), so a caller can find the bad entry. At
    most ``limit`` schedules are accepted.
    """
    return [schedule for _, schedule in located_schedules(raw, limit)]


# -- solving ------------------------------------------------------------------------------------


class NoSolution(ValidationFailed):
    """No rate in range solves the equation (say, payments that never repay the advance in
    a multiple-advance schedule whose equation has no sign change)."""


@dataclass(frozen=True, slots=True)
class _Term:
    """``amount`` (payments +, advances -) at ``span``."""

    amount: float
    whole: int
    fraction: float


def _exp(x: float) -> float:
    return math.exp(x) if x < 700 else math.inf


def _value(rate: float, terms: Sequence[_Term], simple_fraction: bool) -> tuple[float, float]:
    """The equation's value and derivative at ``rate``.

    ``simple_fraction``: Appendix J's ``1/((1 + f·i)(1 + i)^t)``; otherwise compound over the
    whole time, ``(1 + r)^-(t + f)`` (the IRR).
    """
    log_growth = math.log1p(rate)
    total = 0.0
    slope = 0.0
    for term in terms:
        if simple_fraction:
            odd = 1 + term.fraction * rate
            discounted = term.amount * _exp(-term.whole * log_growth) / odd
            total += discounted
            slope -= discounted * (term.fraction / odd + term.whole / (1 + rate))
        else:
            periods = term.whole + term.fraction
            discounted = term.amount * _exp(-periods * log_growth)
            total += discounted
            slope -= discounted * periods / (1 + rate)
    return total, slope


def _scan_grid() -> tuple[float, ...]:
    """Rates from just above -100 % to :data:`_MAX_PERIODIC_RATE`, dense near 0 (log-spaced)."""
    near_minus_one = [-1 + 10 ** (-k / 4) for k in range(2, 49)]
    negative = [-(10 ** (-k / 8)) for k in range(8, 81)]
    positive = [10 ** (k / 8) for k in range(-80, 49)]
    return tuple(sorted({*near_minus_one, *negative, 0.0, *positive}))


_GRID = _scan_grid()


def _bracket(value: Callable[[float], float]) -> tuple[float, float] | None:
    """Two rates where ``value`` has opposite signs (or one root twice), or None.

    Conventional flows (advances first, payments after) have one sign change, so the value
    falls as the rate rises: walk up from 0 when it is positive, down towards -100 % when it
    is negative. Anything else (an advance after payments) is scanned on a grid and the sign
    change nearest 0 is kept — such schedules can have several roots, and the one closest to
    zero is the economically plausible one.
    """
    at_zero = value(0.0)
    if at_zero == 0:
        return 0.0, 0.0
    if at_zero > 0:
        low, high = 0.0, 1.0
        while high <= _MAX_PERIODIC_RATE:
            if value(high) < 0:
                return low, high
            low, high = high, high * 2
    else:
        low, high = -0.5, 0.0
        while 1 + low >= 1e-12:
            if value(low) > 0:
                return low, high
            low, high = -1 + (1 + low) / 4, low
    values = [(rate, value(rate)) for rate in _GRID]
    changes = [
        (a, b)
        for (a, va), (b, vb) in zip(values, values[1:], strict=False)
        if not (math.isnan(va) or math.isnan(vb)) and (va > 0) != (vb > 0)
    ]
    if not changes:
        return None
    return min(changes, key=lambda pair: min(abs(pair[0]), abs(pair[1])))


def _solve(terms: Sequence[_Term], simple_fraction: bool) -> float | None:
    """The periodic rate (> -1) where the discounted payments equal the discounted advances,
    or None when no sign change is found between -100 % and :data:`_MAX_PERIODIC_RATE`."""

    def value(rate: float) -> float:
        return _value(rate, terms, simple_fraction)[0]

    found = _bracket(value)
    if found is None:
        return None
    low, high = found
    if low == high:
        return low
    low_positive = value(low) > 0
    # Safeguarded Newton: a step that would leave the bracket becomes a bisection.
    rate = low
    for _ in range(300):
        v, slope = _value(rate, terms, simple_fraction)
        if v == 0:
            return rate
        if (v > 0) == low_positive:
            low = rate
        else:
            high = rate
        step = v / slope if slope != 0 and math.isfinite(slope) else math.nan
        candidate = rate - step
        if not (low < candidate < high):
            candidate = (low + high) / 2
        if abs(candidate - rate) <= 1e-15 * max(1.0, abs(rate)) or high - low <= 1e-16:
            return candidate
        rate = candidate
    return rate


def appendix_j_terms(schedule: Schedule, unit: Unit | None = None) -> list[_Term]:
    """Advances (negative) and payments (positive) on the time scale of the first advance."""
    unit = unit or unit_of(schedule)
    start = first_advance_date(schedule)
    terms = []
    for advance in advances_of(schedule):
        s = span(start, advance.date, unit)
        terms.append(_Term(-advance.amount, s.whole, s.fraction))
    for payment in schedule.payments:
        s = span(start, payment.date, unit)
        terms.append(_Term(payment.amount, s.whole, s.fraction))
    return terms


def disbursed_principal(schedule: Schedule) -> float:
    """R2/R4: principal actually disbursed at the first advance, after withheld interest and
    fees and after every fee paid at or before disbursement."""
    start = first_advance_date(schedule)
    at_start = sum(a.amount for a in advances_of(schedule) if a.date == start)
    fees_at_start = sum(f.amount for f in schedule.fees if f.date <= start)
    return at_start - schedule.withheld - fees_at_start


def china_terms(schedule: Schedule, unit: Unit | None = None) -> list[_Term]:
    """The borrower's actual cash flows: net disbursement at t0, later advances, every
    instalment, every fee after t0 (on its own date; one paid with an instalment adds to it)."""
    unit = unit or unit_of(schedule)
    start = first_advance_date(schedule)
    terms = [_Term(-disbursed_principal(schedule), 0, 0.0)]
    for advance in advances_of(schedule):
        if advance.date != start:
            s = span(start, advance.date, unit)
            terms.append(_Term(-advance.amount, s.whole, s.fraction))
    for payment in schedule.payments:
        s = span(start, payment.date, unit)
        terms.append(_Term(payment.amount, s.whole, s.fraction))
    for fee in schedule.fees:
        if fee.date > start and fee.amount > 0:
            s = span(start, fee.date, unit)
            terms.append(_Term(fee.amount, s.whole, s.fraction))
    return terms


# -- results ------------------------------------------------------------------------------------


class ToleranceCheck(NamedTuple):
    """R21: ``ok`` when the disclosed APR is within ``tolerance`` points of ``exact``."""

    ok: bool
    tolerance: float
    exact: float


@dataclass(frozen=True, slots=True)
class AprResult:
    """Exact (unrounded) rates as fractions: 0.0969 is 9.69 %."""

    id: str
    apr: float
    irr_periodic: float
    apr_simple: float
    apr_compound: float
    unit: Unit
    principal_disbursed: float
    fees_total: float
    irregular_reasons: list[str] = field(default_factory=list)
    disclosed_apr_percent: float | None = None

    def tolerance(self) -> ToleranceCheck | None:
        if self.disclosed_apr_percent is None:
            return None
        return _tolerance(self.apr * 100, self.disclosed_apr_percent, self.irregular_reasons)

    def as_answer(self) -> dict[str, Any]:
        """The JSON answer: rates in percent, 4 decimals, with the method of each."""
        out: dict[str, Any] = {
            "id": self.id,
            "apr_percent": _percent(self.apr),
            "irr_periodic": _percent(self.irr_periodic),
            "apr_simple": _percent(self.apr_simple),
            "apr_compound": _finite_percent(self.apr_compound),
            "unit_periods_per_year": self.unit.per_year,
            "unit_period": self.unit.describe(),
            "principal_disbursed": round(self.principal_disbursed, 2),
            "fees_total": round(self.fees_total, 2),
            "method": dict(METHOD_LABELS),
        }
        check = self.tolerance()
        if check is not None:
            out["tolerance"] = {
                "disclosed_apr_percent": self.disclosed_apr_percent,
                "exact_apr_percent": round(check.exact, 4),
                "tolerance_points": check.tolerance,
                "irregular": bool(self.irregular_reasons),
                "irregular_reasons": list(self.irregular_reasons),
                "ok": check.ok,
                "code": None if check.ok else OUT_OF_TOLERANCE,
            }
        return out


def _percent(rate: float) -> float:
    return round(rate * 100, 4)


def _finite_percent(rate: float) -> float | None:
    """Percent to 4 decimals, or None for a rate past any float (see :func:`_compounded`)."""
    return _percent(rate) if math.isfinite(rate * 100) else None


def _require_valid(schedule: Schedule) -> None:
    problems = schedule_problems(schedule)
    if problems:
        raise ValidationFailed("the schedule is invalid", errors=problems)


def appendix_j_rate(schedule: Schedule) -> float:
    """The Appendix J unit-period rate ``i`` (a fraction), unrounded."""
    _require_valid(schedule)
    rate = _solve(appendix_j_terms(schedule), simple_fraction=True)
    if rate is None:
        raise NoSolution(
            "no rate solves the Appendix J equation for this schedule",
            errors=[FieldError("payments", "no APR makes these payments repay the advances")],
        )
    return rate


def appendix_j_apr(schedule: Schedule) -> float:
    """The Appendix J APR as a fraction (``i × unit periods per year``), unrounded."""
    return appendix_j_rate(schedule) * unit_of(schedule).per_year


def compute(schedule: Schedule, prefix: str = "") -> AprResult:
    """Both rates for one valid schedule. ``prefix`` names the schedule in a solver error."""
    try:
        _require_valid(schedule)
    except ValidationFailed as exc:
        raise ValidationFailed(exc.detail, errors=_prefixed(prefix, exc.errors)) from None
    unit = unit_of(schedule)
    i = _solve(appendix_j_terms(schedule, unit), simple_fraction=True)
    r = _solve(china_terms(schedule, unit), simple_fraction=False)
    for rate, what in ((i, "the Appendix J equation"), (r, "the IRR of the actual cash flows")):
        if rate is None:
            raise NoSolution(
                f"no rate solves {what} for schedule {schedule.id!r}",
                errors=[
                    FieldError(
                        _path(prefix, ["payments"]),
                        f"no rate solves {what}: check the amounts and dates",
                    )
                ],
            )
    assert i is not None
    assert r is not None
    k = unit.per_year
    return AprResult(
        id=schedule.id,
        apr=i * k,
        irr_periodic=r,
        apr_simple=r * k,
        apr_compound=_compounded(r, k),
        unit=unit,
        principal_disbursed=disbursed_principal(schedule),
        fees_total=schedule.withheld + sum(f.amount for f in schedule.fees),
        irregular_reasons=irregularities(schedule),
        disclosed_apr_percent=schedule.disclosed_apr_percent,
    )


def _compounded(periodic: float, per_year: float) -> float:
    """``(1 + r)^k - 1``, or infinity where that is past any float (a schedule that repays a
    million times the advance the next day): the answer then says null, not a 500."""
    try:
        return math.expm1(per_year * math.log1p(periodic))
    except OverflowError:
        return math.inf


def apr_answers(raw: Any, limit: int = MAX_SCHEDULES) -> list[dict[str, Any]]:
    """The CLI's and API's answer for a request body: one entry per schedule, in order."""
    located = located_schedules(raw, limit)
    return [compute(schedule, prefix).as_answer() for prefix, schedule in located]


# -- R21 tolerance ------------------------------------------------------------------------------


def _one_unit_apart(earlier: date, later: date, unit: Unit) -> bool:
    """Whether ``later`` is exactly one unit period after ``earlier``. For month-based units a
    day clamped to a short month's end still counts (Jan 31 → Feb 28 → Mar 31)."""
    if unit.kind == "days":
        return (later - earlier).days == unit.size
    if unit.kind == "semimonth":
        return _semimonths_back(later, 1) == earlier or _semimonths_back(earlier, -1) == later
    months = unit.size if unit.kind == "months" else 12
    gap = (later.year - earlier.year) * 12 + later.month - earlier.month
    if gap != months:
        return False
    if later.day == earlier.day:
        return True
    end_of = monthrange(later.year, later.month)[1], monthrange(earlier.year, earlier.month)[1]
    clamped = later.day == end_of[0] or earlier.day == end_of[1]
    return clamped and min(later.day, earlier.day) >= 28


def irregularities(schedule: Schedule) -> list[str]:
    """Why a transaction is 'irregular' for R21 (12 CFR 1026.22(a)(3)): multiple advances,
    irregular payment periods, or irregular payment amounts — *other than* an irregular first
    period or an irregular first or final payment, which leave it regular. Empty: regular."""
    reasons: list[str] = []
    if schedule.advances is not None and len(schedule.advances) > 1:
        reasons.append("multiple_advances")
    unit = unit_of(schedule)
    payments = sorted(schedule.payments, key=lambda p: p.date)
    if any(
        not _one_unit_apart(a.date, b.date, unit)
        for a, b in zip(payments, payments[1:], strict=False)
    ):
        reasons.append("irregular_payment_periods")
    middle = {p.amount for p in payments[1:-1]}
    if len(middle) > 1:
        reasons.append("irregular_payment_amounts")
    return reasons


def _tolerance(exact: float, disclosed: float, reasons: Sequence[str]) -> ToleranceCheck:
    tolerance = TOLERANCE_IRREGULAR if reasons else TOLERANCE_REGULAR
    # 1e-9 absorbs binary floating point (10.125 - 10.0 is exactly 1/8 and must pass).
    return ToleranceCheck(abs(disclosed - exact) <= tolerance + 1e-9, tolerance, exact)


def apr_tolerance_check(schedule: Schedule, disclosed_percent: float) -> ToleranceCheck:
    """R21: is ``disclosed_percent`` accurate for ``schedule``? ``tolerance`` is 1/8 point for a
    regular transaction and 1/4 for an irregular one; ``exact`` is the unrounded Appendix J APR
    in percent."""
    exact = appendix_j_apr(schedule) * 100
    return _tolerance(exact, disclosed_percent, irregularities(schedule))
