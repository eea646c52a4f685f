"""One canonical form per identifier kind, so that two lenders hash the same person to the same
point however each of them wrote the value down.

The PSI and the lookups compare hashes of these strings, never the raw input: ``138 1234-5678``
at one lender and ``+86 13812345678`` at another must give one string, or the alliance silently
misses the match. Every kind is validated on the way (checksum, birth date, length), because a
typo on a blacklist is worse than a refusal: it would hash to someone else's number.

Kinds (:data:`KINDS`):

- ``resident_id``: 18 characters (GB 11643-1999), a 15-digit legacy ID converted to 18 (``19``
  inserted after the address code, then the MOD 11-2 check character), the check ``X``
  upper-case, a real birth date not in the future, the check character verified.
- ``mobile``: E.164. Without a country prefix the region is mainland China (+86); ``+86``,
  ``0086`` and a bare ``86`` before 11 digits are accepted; spaces, dashes, dots, brackets and
  full-width characters (``０``-``９``, ``＋``) are tolerated. A +86 number must be a mainland
  mobile (``1[3-9]`` and 11 digits); another country's number is kept as E.164 (8 to 15 digits,
  no leading zero), with no carrier rules of its own.
- ``card``: the digits of a bank card (separators dropped), 12 to 19 of them, Luhn valid
  (UnionPay's 19-digit cards included).
- ``device_id``: NFKC, trimmed, lower-case, 1 to 128 characters, no control characters.

Errors are :class:`CanonicalError` (a ``ValueError``) whose message names what is wrong, never
the value itself (it is personal information and may end up in a log or a problem document).
"""

from __future__ import annotations

import unicodedata
from datetime import date
from typing import Final

KINDS: Final = ("resident_id", "mobile", "card", "device_id")

# W_i = 2^(17-i) mod 11 for i = 0..16 (ISO 7064:1983 MOD 11-2); R = sum mod 11 maps to the
# check character at index R of _ID_CHECK.
_ID_WEIGHTS: Final = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK: Final = "10X98765432"
# Luhn: a doubled digit after subtracting 9.
_LUHN_DOUBLE: Final = (0, 2, 4, 6, 8, 1, 3, 5, 7, 9)
# Separators people type inside numbers (after NFKC, so full-width forms are already ASCII).
_SEPARATORS: Final = str.maketrans("", "", " \t-.()/\u00a0")
_DEVICE_ID_MAX: Final = 128
_CARD_MIN, _CARD_MAX = 12, 19
_E164_MIN, _E164_MAX = 8, 15


class CanonicalError(ValueError):
    """An identifier that cannot be put in canonical form; the message says why."""


def canonicalise(kind: str, value: str, *, today: date | None = None) -> str:
    """The canonical string of ``value`` as an identifier of ``kind``.

    ``today`` bounds a resident ID's birth date (default: the local date); tests pass one.
    """
    if not isinstance(value, str):
        raise CanonicalError(f"{kind}: the value must be a string")
    if kind == "resident_id":
        return _resident_id(value, today or date.today())
    if kind == "mobile":
        return _mobile(value)
    if kind == "card":
        return _card(value)
    if kind == "device_id":
        return _device_id(value)
    raise CanonicalError(f"unknown identifier kind {kind!r}; expected one of {', '.join(KINDS)}")


def mask(kind: str, canonical: str) -> str:
    """A display form that shows an agent which entry it is without showing the identifier:
    ``138****5678``; resident ID and card keep the first 6 and last 4; a device id its first 4."""
    if kind == "mobile":
        national = canonical[3:] if canonical.startswith("+86") else canonical.lstrip("+")
        if len(national) <= 7:
            return "*" * len(national)
        prefix = "" if canonical.startswith("+86") else "+"
        return f"{prefix}{national[:3]}{'*' * (len(national) - 7)}{national[-4:]}"
    if kind in ("resident_id", "card"):
        if len(canonical) <= 10:
            return "*" * len(canonical)
        return f"{canonical[:6]}{'*' * (len(canonical) - 10)}{canonical[-4:]}"
    if kind == "device_id":
        return f"{canonical[:4]}****"
    raise CanonicalError(f"unknown identifier kind {kind!r}; expected one of {', '.join(KINDS)}")


# -- resident ID -----------------------------------------------------------------------------------


def resident_id_check_char(first17: str) -> str:
    """The MOD 11-2 check character of the first 17 digits of a resident ID."""
    total = sum((ord(c) - 48) * w for c, w in zip(first17, _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11]


def _resident_id(value: str, today: date) -> str:
    text = unicodedata.normalize("NFKC", value).strip().translate(_SEPARATORS).upper()
    if len(text) == 15:
        if not _ascii_digits(text):
            raise CanonicalError("resident_id: a 15-character ID has digits only")
        first17 = text[:6] + "19" + text[6:]
        text = first17 + resident_id_check_char(first17)
    elif len(text) != 18:
        raise CanonicalError("resident_id: an ID has 18 characters (or 15 digits, the old form)")
    first17, check = text[:17], text[17]
    if not _ascii_digits(first17):
        raise CanonicalError("resident_id: the first 17 characters must be digits")
    if check != "X" and not _ascii_digits(check):
        raise CanonicalError("resident_id: the last character must be a digit or X")
    if first17[0] == "0":
        raise CanonicalError("resident_id: the address code cannot start with 0")
    try:
        born = date(int(first17[6:10]), int(first17[10:12]), int(first17[12:14]))
    except ValueError:
        raise CanonicalError(
            "resident_id: the birth date (characters 7-14) is no real date"
        ) from None
    if born.year < 1800 or born > today:
        raise CanonicalError("resident_id: the birth date is out of range (before 1800 or future)")
    if resident_id_check_char(first17) != check:
        raise CanonicalError("resident_id: wrong check character (ISO 7064 MOD 11-2)")
    return text


# -- mobile ------------------------------------------------------------------------------------


def _mobile(value: str) -> str:
    text = unicodedata.normalize("NFKC", value).strip().translate(_SEPARATORS)
    if text.startswith("+"):
        international = text[1:]
    elif text.startswith("00"):
        international = text[2:]
    else:
        international = None
    if international is not None:
        if not _ascii_digits(international):
            raise CanonicalError("mobile: a number has digits only after its + or 00 prefix")
        if international.startswith("86"):
            return "+86" + _mainland_mobile(international[2:])
        if international.startswith("0"):
            raise CanonicalError("mobile: a country code cannot start with 0")
        if not _E164_MIN <= len(international) <= _E164_MAX:
            raise CanonicalError("mobile: an international number has 8 to 15 digits (E.164)")
        return "+" + international
    if not _ascii_digits(text):
        raise CanonicalError("mobile: a number has digits only (spaces and dashes aside)")
    if len(text) == 13 and text.startswith("86"):
        text = text[2:]
    return "+86" + _mainland_mobile(text)


def _mainland_mobile(national: str) -> str:
    if len(national) != 11:
        raise CanonicalError("mobile: a mainland mobile number has 11 digits")
    if national[0] != "1" or national[1] not in "3456789":
        raise CanonicalError("mobile: a mainland mobile number starts with 13-19")
    return national


# -- card ----------------------------------------------------------------------------------------


def luhn_valid(digits: str) -> bool:
    """The Luhn check over ASCII digits (from the right, every second digit doubled)."""
    total = 0
    double = False
    for ch in reversed(digits):
        d = ord(ch) - 48
        total += _LUHN_DOUBLE[d] if double else d
        double = not double
    return total % 10 == 0


def _card(value: str) -> str:
    text = unicodedata.normalize("NFKC", value).strip().translate(_SEPARATORS)
    if not _ascii_digits(text):
        raise CanonicalError("card: a card number has digits only (spaces and dashes aside)")
    if not _CARD_MIN <= len(text) <= _CARD_MAX:
        raise CanonicalError(f"card: a card number has {_CARD_MIN} to {_CARD_MAX} digits")
    if not luhn_valid(text):
        raise CanonicalError("card: the number fails the Luhn check")
    return text


# -- device id -----------------------------------------------------------------------------------


def _device_id(value: str) -> str:
    text = unicodedata.normalize("NFKC", value).strip().lower()
    if not text:
        raise CanonicalError("device_id: the value is empty")
    if len(text) > _DEVICE_ID_MAX:
        raise CanonicalError(f"device_id: at most {_DEVICE_ID_MAX} characters")
    if any(unicodedata.category(ch) in ("Cc", "Cf") for ch in text):
        raise CanonicalError("device_id: control characters are not allowed")
    return text


def _ascii_digits(text: str) -> bool:
    return bool(text) and text.isascii() and text.isdigit()
