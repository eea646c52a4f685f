"""Personal-information detection and masking for free text, log lines and exports.

Pattern recognizers with validators, in the manner of Presidio (recognizer + ``validate`` +
operator), but written for Chinese text and fast enough for every log line:

* ``CN_RESIDENT_ID``: 18-character resident ID (GB 11643-1999, ISO 7064 MOD 11-2 check
  character, a real birth date that is not in the future; lower-case ``x`` accepted) and the
  15-digit legacy form (a real 19YY birth date and a mainland province code, as it has no check
  digit).
* ``CN_MOBILE``: ``1[3-9]`` + 9 digits, optionally after ``+86``/``0086``/``86``/``(+86)``, with
  spaces or hyphens between the 3-4-4 groups (the first group may be in brackets).
* ``BANK_CARD``: 13-19 digits, contiguous or in groups of four, passing Luhn. A number that fails
  Luhn is never a ``BANK_CARD``.
* ``EMAIL``, ``IP_ADDRESS`` (IPv4; IPv6 checked with :mod:`ipaddress`).
* English-language identifiers: ``US_SSN`` (``AAA-GG-SSSS`` or with spaces; area 000, 666 and
  900-999, group 00, serial 0000 and known void numbers refused) and ``UK_NINO`` (HMRC prefix
  letters, six digits, suffix A-D).

Boundaries are lookarounds on ASCII letters and digits, never ``\\b``: in Python's Unicode
``re`` a CJK character is ``\\w``, so ``卡号4111111111111111元`` has no ``\\b`` around the number.
A number glued to ASCII letters or digits (``abc13812345678``, a hex digest) is part of a
token and is not reported. Full-width digits (``１３８…``) are read as ASCII digits; offsets are
Python string indices (code points) into the text as given.

Overlaps: the longest candidate wins; on the same span a resident ID beats everything (an
18-digit string that passes the ID check is an ID even if it also passes Luhn), then the higher
score. Texts with no digit and no ``@`` return at once (the fast path for log lines and chat).

Operators (:class:`PiiMasker`): ``mask`` (``138****5678``, ID and card keep the first 6 and last
4, ``z***@example.com``, IPv4 last octet), ``hash`` (HMAC-SHA256 of the normalised value with the
settings' ``pii_key``, the same :func:`lendguard.kit.crypto.pseudonymise` the contact guard uses,
so a mobile's token equals its ``contact_hash``) and ``encrypt`` (AES-256-GCM, see
:func:`encrypt`).
"""

from __future__ import annotations

import base64
import bisect
import ipaddress
import os
import re
import sys
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

from lendguard.kit.crypto import pseudonymise

CN_RESIDENT_ID = "CN_RESIDENT_ID"
CN_MOBILE = "CN_MOBILE"
BANK_CARD = "BANK_CARD"
EMAIL = "EMAIL"
IP_ADDRESS = "IP_ADDRESS"
US_SSN = "US_SSN"
UK_NINO = "UK_NINO"
ENTITY_TYPES: tuple[str, ...] = (
    CN_RESIDENT_ID,
    CN_MOBILE,
    BANK_CARD,
    EMAIL,
    IP_ADDRESS,
    US_SSN,
    UK_NINO,
)
EntityType = Literal[
    "CN_RESIDENT_ID", "CN_MOBILE", "BANK_CARD", "EMAIL", "IP_ADDRESS", "US_SSN", "UK_NINO"
]
Operator = Literal["mask", "hash", "encrypt"]
OPERATORS: tuple[Operator, ...] = ("mask", "hash", "encrypt")

ENCRYPTED_PREFIX = "e1:"


@dataclass(frozen=True, slots=True)
class Entity:
    """One finding: ``text[start:end]`` of the scanned string (code-point offsets)."""

    type: str
    start: int
    end: int
    text: str
    score: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "start": self.start,
            "end": self.end,
            "text": self.text,
            "score": self.score,
        }


# -- validators ----------------------------------------------------------------------------------

# W_i = 2^(17-i) mod 11, i = 0..16; R = sum mod 11 maps to the check character below.
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
# GB/T 2260 province-level codes of the mainland (the 15-digit legacy form only knew these).
_MAINLAND_PROVINCES = frozenset(
    "11 12 13 14 15 21 22 23 31 32 33 34 35 36 37 41 42 43 44 45 46 50 51 52 53 54 "
    "61 62 63 64 65".split()
)
# Luhn: the value of a doubled digit after subtracting 9.
_LUHN_DOUBLE = (0, 2, 4, 6, 8, 1, 3, 5, 7, 9)


def resident_id_check_char(first17: str) -> str:
    """The MOD 11-2 check character of the first 17 digits of a resident ID."""
    total = sum((ord(c) - 48) * w for c, w in zip(first17, _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11]


def _birth_date_ok(year: int, month: int, day: int, today: date | None = None) -> bool:
    try:
        born = date(year, month, day)
    except ValueError:
        return False
    return born <= (today or date.today())


def is_valid_resident_id(value: str) -> bool:
    """An 18-character ID with a real, past birth date and the right check character, or a
    15-digit legacy ID with a real 19YY birth date and a mainland province code."""
    if len(value) == 18:
        if not value[:17].isascii() or not value[:17].isdigit() or value[0] == "0":
            return False
        if not _birth_date_ok(int(value[6:10]), int(value[10:12]), int(value[12:14])):
            return False
        return resident_id_check_char(value[:17]) == value[17].upper()
    if len(value) == 15:
        if not value.isascii() or not value.isdigit():
            return False
        if value[:2] not in _MAINLAND_PROVINCES:
            return False
        return _birth_date_ok(1900 + int(value[6:8]), int(value[8:10]), int(value[10:12]))
    return False


def legacy_id_to_18(value: str) -> str:
    """The 18-character form of a 15-digit legacy ID: ``19`` after the address code, plus the
    check character (``110105491231002`` → ``11010519491231002X``)."""
    first17 = value[:6] + "19" + value[6:]
    return first17 + resident_id_check_char(first17)


def luhn_valid(digits: str) -> bool:
    """The Luhn check over ASCII digits (from the right, every second digit doubled)."""
    total = 0
    double = False
    for ch in reversed(digits):
        d = ord(ch) - 48
        total += _LUHN_DOUBLE[d] if double else d
        double = not double
    return total % 10 == 0


def is_cn_mobile(value: str) -> bool:
    """A mainland mobile number: 11 digits ``1[3-9]…``, optionally with +86/0086/86."""
    digits = _digits(value)
    if len(digits) == 13 and digits.startswith("86"):
        digits = digits[2:]
    elif len(digits) == 15 and digits.startswith("0086"):
        digits = digits[4:]
    return len(digits) == 11 and digits[0] == "1" and digits[1] in "3456789"


def _digits(value: str) -> str:
    return "".join(c for c in value if "0" <= c <= "9")


# -- detectors -----------------------------------------------------------------------------------

_B = r"(?<![0-9A-Za-z])"  # not after an ASCII letter or digit (CJK characters are fine)
_E = r"(?![0-9A-Za-z])"
_MMDD = r"(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01])"
_ID18 = re.compile(_B + r"[1-9][0-9]{5}(?:18|19|20)[0-9]{2}" + _MMDD + r"[0-9]{3}[0-9Xx]" + _E)
_ID15 = re.compile(_B + r"[1-9][0-9]{5}[0-9]{2}" + _MMDD + r"[0-9]{3}" + _E)
_MOBILE = re.compile(
    _B + r"(?:(?:\((?:\+|00)?86\)|(?:\+|00)?86)[ -]?)?(?:1[3-9][0-9]|\(1[3-9][0-9]\))"
    r"[ -]?[0-9]{4}[ -]?[0-9]{4}" + _E
)
_CARD = re.compile(_B + r"(?:[0-9]{13,19}|[0-9]{4}(?:[ -][0-9]{4}){2,3}(?:[ -][0-9]{1,4})?)" + _E)
_EMAIL = re.compile(
    r"(?<![A-Za-z0-9._%+\-])[A-Za-z0-9][A-Za-z0-9._%+\-]{0,63}@"
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}(?![A-Za-z0-9\-])"
)
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
_IPV4 = re.compile(
    r"(?<![0-9A-Za-z.])" + _OCTET + r"(?:\." + _OCTET + r"){3}(?![0-9A-Za-z]|\.[0-9])"
)
_H = r"[0-9A-Fa-f]{1,4}"
_IPV6 = re.compile(
    r"(?<![0-9A-Za-z:.])(?:" + _H + r"(?::" + _H + r"){7}|(?:" + _H + r"(?::" + _H + r"){0,6})?::"
    r"(?:" + _H + r"(?::" + _H + r"){0,6})?)(?![0-9A-Za-z:])"
)
_SSN = re.compile(_B + r"(?!000|666|9)[0-9]{3}([- ])(?!00)[0-9]{2}\1(?!0000)[0-9]{4}" + _E)
_SSN_VOID = frozenset({"078051120", "219099999", "123456789"})
_NINO = re.compile(
    _B + r"(?!BG|GB|KN|NK|NT|TN|ZZ)[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z]"
    r"( ?)[0-9]{2}\1[0-9]{2}\1[0-9]{2}\1[A-D]" + _E
)
# Anything worth scanning has a digit or an @ (ASCII or full-width digits).
_TRIGGER = re.compile(r"[0-9@\uff10-\uff19]")
_FULLWIDTH = re.compile(r"[\uff10-\uff19\uff38\uff58\uff0b]")
_TO_ASCII = str.maketrans("０１２３４５６７８９Ｘｘ＋", "0123456789Xx+")

# A candidate: (start, end, type, score).
_Candidate = tuple[int, int, str, float]


def _resident_ids(text: str, out: list[_Candidate]) -> None:
    for m in _ID18.finditer(text):
        if is_valid_resident_id(m.group()):
            out.append((m.start(), m.end(), CN_RESIDENT_ID, 1.0))
    for m in _ID15.finditer(text):
        if is_valid_resident_id(m.group()):
            out.append((m.start(), m.end(), CN_RESIDENT_ID, 0.7))


def _mobiles(text: str, out: list[_Candidate]) -> None:
    for m in _MOBILE.finditer(text):
        # with a country code (more than 11 digits) the reading is surer
        score = 0.85 if len(_digits(m.group())) > 11 else 0.8
        out.append((m.start(), m.end(), CN_MOBILE, score))


def _card_score(digits: str) -> float:
    if digits.startswith("62") and len(digits) >= 16:
        return 0.95  # UnionPay
    if digits[0] == "4" or digits[:2] in ("34", "35", "37") or "51" <= digits[:2] <= "55":
        return 0.9  # Visa, Amex, JCB, Mastercard
    if "2221" <= digits[:4] <= "2720" or digits[0] == "6":
        return 0.9  # Mastercard 2-series, Discover and other 6-series
    return 0.6


def _cards(text: str, out: list[_Candidate]) -> None:
    for m in _CARD.finditer(text):
        value = m.group()
        digits = value if value.isdigit() else _digits(value)
        if 13 <= len(digits) <= 19 and luhn_valid(digits):
            out.append((m.start(), m.end(), BANK_CARD, _card_score(digits)))


def _emails(text: str, out: list[_Candidate]) -> None:
    for m in _EMAIL.finditer(text):
        out.append((m.start(), m.end(), EMAIL, 1.0))


def _ips(text: str, out: list[_Candidate]) -> None:
    if "." in text:
        for m in _IPV4.finditer(text):
            out.append((m.start(), m.end(), IP_ADDRESS, 0.9))
    if "::" in text or text.count(":") >= 7:
        for m in _IPV6.finditer(text):
            value = m.group()
            if sum(1 for g in value.split(":") if g) < 2 or not any(c.isdigit() for c in value):
                continue
            try:
                ipaddress.IPv6Address(value)
            except ValueError:
                continue
            out.append((m.start(), m.end(), IP_ADDRESS, 0.9))


def _ssns(text: str, out: list[_Candidate]) -> None:
    for m in _SSN.finditer(text):
        digits = _digits(m.group())
        if digits in _SSN_VOID or len(set(digits)) == 1:
            continue
        out.append((m.start(), m.end(), US_SSN, 0.85 if m.group(1) == "-" else 0.6))


def _ninos(text: str, out: list[_Candidate]) -> None:
    for m in _NINO.finditer(text):
        out.append((m.start(), m.end(), UK_NINO, 0.85))


_DETECTORS: tuple[Callable[[str, list[_Candidate]], None], ...] = (
    _resident_ids,
    _mobiles,
    _cards,
    _ips,
    _ssns,
    _ninos,
)


def _resolve(candidates: list[_Candidate]) -> list[_Candidate]:
    """Non-overlapping candidates: longest first; on one span a resident ID, then the score."""
    if len(candidates) < 2:
        return candidates
    in_order = sorted(candidates)
    if all(a[1] <= b[0] for a, b in zip(in_order, in_order[1:], strict=False)):
        return in_order  # no overlap at all: the common case
    ranked = sorted(candidates, key=lambda c: (c[0] - c[1], c[2] != CN_RESIDENT_ID, -c[3], c[0]))
    kept: list[_Candidate] = []  # non-overlapping, so sorted by start and by end alike
    starts: list[int] = []
    for cand in ranked:
        i = bisect.bisect_right(starts, cand[0])
        if i > 0 and kept[i - 1][1] > cand[0]:
            continue
        if i < len(kept) and kept[i][0] < cand[1]:
            continue
        kept.insert(i, cand)
        starts.insert(i, cand[0])
    return kept


def scan(text: str, types: Collection[str] | None = None) -> list[Entity]:
    """Every finding in ``text``, in order, non-overlapping. ``types`` limits the entity types
    reported (default: all of :data:`ENTITY_TYPES`); overlaps are settled before that filter,
    so a span is the same type whatever is asked for (an ID that passes Luhn is no card)."""
    if not _TRIGGER.search(text):
        return []
    norm = text.translate(_TO_ASCII) if _FULLWIDTH.search(text) else text
    candidates: list[_Candidate] = []
    for detector in _DETECTORS:
        detector(norm, candidates)
    if "@" in norm:
        _emails(norm, candidates)
    return [
        Entity(t, s, e, text[s:e], score)
        for s, e, t, score in _resolve(candidates)
        if types is None or t in types
    ]


# -- operators -----------------------------------------------------------------------------------


def _is_digit_like(ch: str) -> bool:
    return "0" <= ch <= "9" or "\uff10" <= ch <= "\uff19" or ch in "XxＸｘ"


def _mask_positions(value: str, keep_first: int, keep_last: int, char: str = "*") -> str:
    """``value`` with its digits masked except the first ``keep_first`` and last ``keep_last``;
    separators and prefixes stay."""
    positions = [i for i, ch in enumerate(value) if _is_digit_like(ch)]
    hidden = set(positions[keep_first : max(keep_first, len(positions) - keep_last)])
    return "".join(char if i in hidden else ch for i, ch in enumerate(value))


def mask_value(entity_type: str, value: str) -> str:
    """The masked form of one finding (the ``mask`` operator)."""
    if entity_type == CN_RESIDENT_ID or entity_type == BANK_CARD:
        return _mask_positions(value, 6, 4)
    if entity_type == CN_MOBILE:
        n = sum(1 for ch in value if _is_digit_like(ch))
        # keep the country code, the 3-digit network prefix and the last 4 digits
        return _mask_positions(value, n - 8, 4)
    if entity_type == EMAIL:
        local, _, domain = value.rpartition("@")
        return f"{local[:1]}***@{domain}"
    if entity_type == IP_ADDRESS:
        if ":" in value:
            groups = ipaddress.IPv6Address(value.translate(_TO_ASCII)).exploded.split(":")
            return ":".join(format(int(g, 16), "x") for g in groups[:3]) + "::*"
        return value[: value.rfind(".") + 1] + "*"
    if entity_type == US_SSN:
        return _mask_positions(value, 0, 4)
    if entity_type == UK_NINO:
        return _mask_positions(value, 0, 0)
    return "*" * len(value)


def normalise(entity_type: str, value: str) -> str:
    """The canonical form hashed by the ``hash`` operator, so one identifier written two ways
    gives one token: mobiles as E.164 (``+8613812345678``, as the contact guard stores them),
    IDs upper-case and 15-digit IDs converted to 18, cards digits only, e-mail case-folded."""
    value = value.translate(_TO_ASCII)
    if entity_type == CN_MOBILE:
        return "+86" + _digits(value)[-11:]
    if entity_type == CN_RESIDENT_ID:
        value = value.upper()
        return legacy_id_to_18(value) if len(value) == 15 else value
    if entity_type in (BANK_CARD, US_SSN):
        return _digits(value)
    if entity_type == EMAIL:
        return value.casefold()
    if entity_type == IP_ADDRESS:
        return str(ipaddress.ip_address(value))
    if entity_type == UK_NINO:
        return value.replace(" ", "").upper()
    return value


def derive_encryption_key(secret: str | bytes) -> bytes:
    """A 256-bit AES key derived (HKDF-SHA256) from a secret such as the settings' ``pii_key``.

    A stand-in: production keys come from the key ring of the encryption-at-rest item; callers
    pass a key to :func:`encrypt`/:func:`decrypt` and never care where it came from.
    """
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    raw = secret.encode() if isinstance(secret, str) else secret
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"lendguard/pii/aes-gcm/v1")
    return hkdf.derive(raw)


def encrypt(text: str, key: bytes) -> str:
    """AES-GCM (a 128/192/256-bit ``key``) with a random 96-bit nonce: ``e1:`` + base64url of
    nonce ‖ ciphertext ‖ tag. Not deterministic; use the ``hash`` operator to join."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    nonce = os.urandom(12)
    sealed = AESGCM(key).encrypt(nonce, text.encode("utf-8"), None)
    return ENCRYPTED_PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode("ascii").rstrip("=")


def decrypt(token: str, key: bytes) -> str:
    """The text sealed by :func:`encrypt`; raises ``ValueError`` on a wrong key or a tampered
    token."""
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    if not token.startswith(ENCRYPTED_PREFIX):
        raise ValueError("not an encrypted token")
    body = token[len(ENCRYPTED_PREFIX) :]
    raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    try:
        return AESGCM(key).decrypt(raw[:12], raw[12:], None).decode("utf-8")
    except InvalidTag:
        raise ValueError("the token does not decrypt with this key") from None


class PiiMasker:
    """The three operators over detected entities.

    ``hash_key``: the HMAC key (the settings' ``pii_key``), so tokens join across tables and with
    the contact guard's ``contact_hash``. ``encryption_key``: an AES key; by default derived from
    ``hash_key`` with :func:`derive_encryption_key` (see there).
    """

    def __init__(
        self, hash_key: str | bytes | None = None, encryption_key: bytes | None = None
    ) -> None:
        self.hash_key = hash_key.encode() if isinstance(hash_key, str) else hash_key
        self._encryption_key = encryption_key

    @property
    def encryption_key(self) -> bytes:
        if self._encryption_key is None:
            if self.hash_key is None:
                raise ValueError("the encrypt operator needs a key")
            self._encryption_key = derive_encryption_key(self.hash_key)
        return self._encryption_key

    def replacement(self, entity: Entity, operator: Operator = "mask") -> str:
        if operator == "mask":
            return mask_value(entity.type, entity.text)
        if operator == "hash":
            if self.hash_key is None:
                raise ValueError("the hash operator needs a key")
            token = pseudonymise(normalise(entity.type, entity.text), self.hash_key)
            return f"<{entity.type}:{token}>"
        if operator == "encrypt":
            return f"<{entity.type}:{encrypt(entity.text, self.encryption_key)}>"
        raise ValueError(f"unknown operator {operator!r}")

    def apply(
        self, text: str, operator: Operator = "mask", types: Collection[str] | None = None
    ) -> tuple[str, list[Entity]]:
        """``text`` with every finding replaced, and the findings (offsets into ``text``)."""
        entities = scan(text, types)
        if not entities:
            return text, entities
        return self.substitute(text, entities, operator)[0], entities

    def substitute(
        self, text: str, entities: list[Entity], operator: Operator = "mask"
    ) -> tuple[str, list[str]]:
        """``text`` with ``entities`` (in order, non-overlapping) replaced, and each
        replacement written."""
        parts: list[str] = []
        replacements: list[str] = []
        at = 0
        for entity in entities:
            replacement = self.replacement(entity, operator)
            parts.append(text[at : entity.start])
            parts.append(replacement)
            replacements.append(replacement)
            at = entity.end
        parts.append(text[at:])
        return "".join(parts), replacements


def as_operator(name: str) -> Operator:
    """``name`` as an :data:`Operator`; ``ValueError`` if it is not one."""
    for operator in OPERATORS:
        if operator == name:
            return operator
    raise ValueError(f"unknown operator {name!r}; one of {', '.join(OPERATORS)}")


_MASKER = PiiMasker()


def mask_text(text: str, types: Collection[str] | None = None) -> str:
    """``text`` with every finding masked (the ``mask`` operator needs no key)."""
    entities = scan(text, types)
    return _MASKER.substitute(text, entities)[0] if entities else text


def stdin_lines() -> Iterator[str]:
    """Standard input as UTF-8 lines, terminators dropped, read as they come."""
    stream = getattr(sys.stdin, "buffer", None)
    if stream is not None:
        for raw in stream:
            yield raw.decode("utf-8", errors="replace").rstrip("\r\n")
    else:
        for line in sys.stdin:
            yield line.rstrip("\r\n")
