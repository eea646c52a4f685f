"""Money and other decimal numbers as lenders send them: one reading for the event contract,
the APR engine and offer checks.

A decimal string (``"19000.00"``) and a JSON number (``19000``) are the same amount everywhere;
before this, events took both, the APR engine only numbers and offers anything pydantic would
coerce (booleans included)."""

from __future__ import annotations

import math
import re
from decimal import Context, Decimal, InvalidOperation
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator
from pydantic_core import PydanticCustomError

# Amounts and balances: up to one trillion in the loan's or event's currency (events, offers and
# APR schedules alike).
MAX_AMOUNT = Decimal("1000000000000")
# Past 10^30 no amount, rate or percentage is meant, and under 10^-400 (not zero) nothing is
# either: refused before any arithmetic, which at exponents such as 1e999999999 overflowed the
# decimal context (an internal assertion) and at -1e-999999999 underflowed a negative amount to
# zero (it then passed "at least 0"). The lower bound is below the smallest float (5e-324), so
# binary noise a lender's float arithmetic leaves (0.1 + 0.2 - 0.3) still reads as a number and
# the field's own decimal-places rule decides.
MAX_MAGNITUDE = 30
MIN_MAGNITUDE = -400
# The one spelling of a number in a string: ASCII digits 0-9, an optional sign, point and
# exponent, blanks (space, tab) around it. Python's Decimal would also read "1_000", Arabic-Indic
# "١٢٣" and full-width "１２" digits; a lender's system never sends them on purpose, and another
# system reading the stored event with [0-9] would see a different amount, so they are refused.
_DECIMAL_TEXT = re.compile(r"[ \t]*[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?[ \t]*")
_NOT_FINITE_TEXT = re.compile(r"[ \t]*[+-]?(?:s?nan[0-9]*|inf|infinity)[ \t]*", re.IGNORECASE)
_PARSING_MESSAGE = (
    'must be a decimal number such as "19000.00": digits 0-9 with an optional sign, point and '
    "exponent, no separators"
)


def decimal_input(value: Any) -> Any:
    """A number as a lender sends it, a decimal string (``"19000.00"``) or a JSON number
    (``19000``, ``19000.5``), as a ``Decimal``: one reading of money and rates for events, APR
    schedules and offers. ``true``/``false``, NaN and infinities are refused (JSON has none of
    the latter, but Python callers and ``"NaN"`` strings do); anything else is left to the
    field's own type check, which names what it expected."""
    if isinstance(value, bool):
        raise PydanticCustomError(
            "decimal_type", 'must be a decimal number such as "19000.00", not true or false'
        )
    if isinstance(value, float):
        if not math.isfinite(value):
            raise PydanticCustomError("finite_number", "must be a finite decimal number")
        # repr is the shortest text that reads back as this float: 0.1 stays 0.1.
        value = Decimal(repr(value))
    if isinstance(value, int):
        value = Decimal(value)
    if isinstance(value, str):
        if _NOT_FINITE_TEXT.fullmatch(value):
            raise PydanticCustomError("finite_number", "must be a finite decimal number")
        if not _DECIMAL_TEXT.fullmatch(value):
            raise PydanticCustomError("decimal_parsing", _PARSING_MESSAGE)
        try:
            value = Decimal(value.strip(" \t"))
        except InvalidOperation:  # an exponent past the decimal module's own limits
            raise _out_of_range() from None
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise PydanticCustomError("finite_number", "must be a finite decimal number")
        if value.is_zero():
            return Decimal(0)  # "-0", "0e999999999": zero, without an exponent to overflow
        if not MIN_MAGNITUDE <= value.adjusted() <= MAX_MAGNITUDE:
            raise _out_of_range()
    return value


def _out_of_range() -> PydanticCustomError:
    return PydanticCustomError(
        "decimal_range",
        "is out of range: a number of size between 10^{low} and 10^{high}, or zero, is expected",
        {"low": MIN_MAGNITUDE, "high": MAX_MAGNITUDE},
    )


def canonical_money(value: Decimal) -> Decimal:
    """The one spelling of an amount: trailing zeros dropped, then at least two decimals
    (``19000``, ``19000.0`` and ``"19000.00"`` all become ``19000.00``; ``0.125`` stays). An
    event resent with the same amount spelt differently is the same event (same content hash),
    and the usual ``"19000.00"`` is stored as sent."""
    if value.is_zero():
        return Decimal("0.00")
    # Exact: a context wide enough that neither step rounds (the fields' ranges refuse the
    # over-long values afterwards, naming the field).
    digits = max(len(value.as_tuple().digits), value.adjusted() + 3) + 2
    exact = Context(prec=min(digits, 100), traps=[InvalidOperation])
    normal = value.normalize(exact)
    exponent = normal.as_tuple().exponent
    assert isinstance(exponent, int)  # finite: decimal_input refused NaN and infinities
    if exponent < -2:
        return normal
    try:
        return normal.quantize(Decimal("0.01"), context=exact)
    except InvalidOperation:  # 1E+30 and the like: far out of any field's range
        return value


# Decimal numbers (rates, percentages): a string or a JSON number, finite, never a boolean.
DecimalNumber = Annotated[Decimal, BeforeValidator(decimal_input)]
# Money: as DecimalNumber, spelt one way (canonical_money). Fields add their own range.
Money = Annotated[Decimal, BeforeValidator(decimal_input), AfterValidator(canonical_money)]


def float_input(value: Any) -> Any:
    """:func:`decimal_input` as a float, for engines that compute in floats (the APR
    solver). A JSON number comes back as the very same float; a value too large for a float
    becomes infinity, which the field's ``allow_inf_nan=False`` refuses."""
    value = decimal_input(value)
    return float(value) if isinstance(value, Decimal) else value


# A float-valued number (amounts and rates of the APR engine), read as decimal_input reads it.
FloatNumber = Annotated[float, BeforeValidator(float_input)]


def not_a_boolean(value: Any) -> Any:
    """Refuse ``true``/``false`` where a count or a measure is expected: pydantic reads them
    as 1 and 0, so ``"consecutive_missed_repayments": true`` was one missed repayment."""
    if isinstance(value, bool):
        raise PydanticCustomError("number_type", "must be a number, not true or false")
    return value


# Counts and measures that are not money (missed repayments, periods a year, a font size): as
# int and float, never a boolean.
WholeNumber = Annotated[int, BeforeValidator(not_a_boolean)]
Measure = Annotated[float, BeforeValidator(not_a_boolean)]
