"""Personal information sent where the event contract has no place for it, caught on intake.

A lender should send opaque identifiers — its own customer number, an account reference, a
device fingerprint — and put phone numbers, card numbers and addresses in the fields made for
them (``phone``, ``card_id``, ``address_id``), which LendGuard pseudonymises. Not every
integration does: a ``customer_id`` that is the customer's mobile number, a ``payee_id`` that is
a bank card number, an ID number or an e-mail address in ``attributes``. LendGuard protects
itself: :meth:`lendguard.decisions.service.DecisionService._pseudonymise` applies what is here
before the event is hashed for idempotency, decided, logged or folded into the state, so no such
value reaches the event log, the decisions, the window state, the link graph or the answer.

What is looked for (:data:`INTAKE_TYPES`, the detectors of :mod:`lendguard.privacy.pii`): resident
IDs, mainland mobiles, bank cards (Luhn), e-mail addresses, US SSNs and UK NINOs. IP addresses are
not: the event's own ``ip`` field is kept as sent, and dotted version strings would be mangled.

* **Identifiers** (:data:`IDENTIFIER_FIELDS`): a value that is or contains one of those is
  replaced *whole* by its keyed pseudonym (:func:`lendguard.kit.crypto.pseudonymise`, HMAC-SHA256
  under the settings' ``pii_key``; see :func:`protect_identifier`). The pseudonym is
  deterministic, so the same raw event gives the same stored body and idempotency hash, one
  customer's events still meet in the window state and the link graph, and a payee that is a
  card number gets the very token ``card_id`` gets for that number (money paid to a customer's
  own card still finds the customer). With a vault the service keeps the clear value there
  (kind ``identifier``), found by the pseudonym. A value glued to ASCII letters
  (``C13812345678``) is a token, not a number, and is left alone (the detectors' boundaries).
* **Free-form values** (``attributes`` and the extra fields of ``customer``, nested objects and
  lists; see :func:`mask_free_form`): each finding inside a string is masked in place with the
  ``mask`` operator (``139****4321``, ``622202*********3446``, ``110105********002X``,
  ``z***@example.com``), also when the string is nothing but the identifier. Nothing in LendGuard
  links on these values, so a pseudonym would buy nothing, while the mask keeps what a rule or an
  analyst may use (the e-mail's domain, the card's issuer) and is what notes, narratives and logs
  already get. The clear value is not kept anywhere (data minimisation). Two exceptions: a *key*
  holding an identifier is replaced by its pseudonym (two masked keys could merge and lose a
  value), and an integer of 11 to 19 digits that is an identifier (a mobile sent as a JSON number)
  becomes its masked string. ``contact_phones`` are pseudonymised by the service before this runs
  (the graph links them); a genuine pseudonym is never touched, so applying this twice changes
  nothing.

Not bank cards here: numbers beginning with ``1`` (ISO/IEC 7812 major industry identifier 1,
airlines; no bank card starts with it). That keeps snowflake-style numeric ids (19 digits
beginning with 1, one in ten of which passes Luhn) from being taken for cards.

Cost: a string is scanned only if it has an ``@`` or six digits in a row (as three pairs, a
space or a hyphen allowed between two pairs: every identifier above has that) and is not a
pseudonym — one ``in`` and one regular-expression search, a few hundred nanoseconds for the
short ids and values of ordinary traffic. A string that does hold an identifier costs a full
:func:`lendguard.privacy.pii.scan` (tens of microseconds) plus the hash or the mask.
``bench/intake_pii.py`` measures both.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from typing import Any

from lendguard.kit.crypto import PSEUDONYM_PREFIX, pseudonymise
from lendguard.privacy.pii import (
    BANK_CARD,
    CN_MOBILE,
    CN_RESIDENT_ID,
    EMAIL,
    UK_NINO,
    US_SSN,
    Entity,
    PiiMasker,
    normalise,
    scan,
)

INTAKE_TYPES: frozenset[str] = frozenset(
    {CN_RESIDENT_ID, CN_MOBILE, BANK_CARD, EMAIL, US_SSN, UK_NINO}
)
# The identifier fields of an event, pseudonymised whole when they hold personal information.
IDENTIFIER_FIELDS: tuple[str, ...] = ("customer_id", "payee_id", "payer_id", "device_id")
# The vault kind under which the clear value of such an identifier is kept.
VAULT_KIND = "identifier"

# The pre-check: an @, or six digits (ASCII or full-width) as three pairs, a space or a hyphen
# allowed between two pairs. Every digit-bearing type of INTAKE_TYPES has such a run (IDs and
# cards in one piece; a mobile's or a grouped card's ``dddd dddd``; an SSN's ``dd-dd-dd`` inside
# ``ddd-dd-dddd``; a NINO's ``dd dd dd``), so a string without one has no finding. Ordinary ids
# such as ``dev-00031-0`` or ``cust-00042`` do not match. (The ``@`` is tested on its own: an
# alternation in the pattern would make every search slower.)
_PAIR = r"[0-9\uff10-\uff19]{2}"
_CANDIDATE = re.compile(_PAIR + r"[ \-]?" + _PAIR + r"[ \-]?" + _PAIR)
_search = _CANDIDATE.search
_PSEUDONYM = re.compile(re.escape(PSEUDONYM_PREFIX) + r"[0-9a-f]{64}")
# Integers that may be an identifier: 11 digits (a mobile) to 19 (the longest card).
_INT_LOW = 10**10
_INT_HIGH = 10**19
_MASKER = PiiMasker()


def is_pseudonym(value: str) -> bool:
    """Whether ``value`` is a keyed pseudonym as :func:`pseudonymise` writes it."""
    return value.startswith(PSEUDONYM_PREFIX) and _PSEUDONYM.fullmatch(value) is not None


def may_hold_pii(text: str) -> bool:
    """The cheap pre-check: ``False`` means :func:`find_pii` finds nothing in ``text``."""
    return "@" in text or _search(text) is not None


def find_pii(text: str) -> list[Entity]:
    """The findings of :data:`INTAKE_TYPES` in ``text`` (none in a pseudonym)."""
    if ("@" not in text and _search(text) is None) or is_pseudonym(text):
        return []
    found = scan(text, INTAKE_TYPES)
    if found and any(e.type == BANK_CARD for e in found):
        found = [e for e in found if not _airline_number(e)]
    return found


def _airline_number(entity: Entity) -> bool:
    return entity.type == BANK_CARD and normalise(BANK_CARD, entity.text).startswith("1")


def _keyed_hash(value: str, key: bytes) -> str:
    if value.startswith(PSEUDONYM_PREFIX):
        # Looks like ours but is not (is_pseudonym said so): hashed all the same, where
        # ``pseudonymise`` would pass it through.
        return PSEUDONYM_PREFIX + hmac.new(key, value.encode("utf-8"), hashlib.sha256).hexdigest()
    return pseudonymise(value, key)


def protect_identifier(value: str, key: bytes) -> str | None:
    """The pseudonym to keep instead of ``value`` when it holds personal information, else
    ``None`` (keep ``value``). The same value always gives the same pseudonym; a pseudonym
    gives ``None``. It equals ``pseudonymise(value, key)``, so a payee that is a card number
    joins ``card_id`` and the vault finds the clear value under it."""
    if "@" not in value and _search(value) is None:
        return None  # the common case, without a call to find_pii
    if not find_pii(value):
        return None
    return _keyed_hash(value, key)


def stored_identifier(value: str, key: bytes) -> str:
    """``value`` as LendGuard stores it: its pseudonym when it holds personal information,
    else ``value``. For every place that takes an identifier from a lender (lists, look-ups by
    customer) and must meet the events."""
    return protect_identifier(value, key) or value


def mask_text_in(text: str) -> str:
    """``text`` with each finding of :data:`INTAKE_TYPES` masked; ``text`` itself (the same
    object) when there is none."""
    if "@" not in text and _search(text) is None:
        return text
    found = find_pii(text)
    if not found:
        return text
    return _MASKER.substitute(text, found)[0]


def mask_free_form(value: Any, key: bytes) -> Any:
    """A JSON value (``attributes``) with personal information masked in its strings, keys
    holding it pseudonymised and integers that are identifiers masked (see the module).

    Returns ``value`` itself when nothing changed, else a new value: containers are copied
    where something inside them changed, never modified in place."""
    if isinstance(value, str):
        return mask_text_in(value)
    if isinstance(value, dict):
        changed: dict[Any, Any] | None = None
        for i, (name, item) in enumerate(value.items()):
            new_name = name
            if isinstance(name, str):
                token = protect_identifier(name, key)
                if token is not None:
                    new_name = token
            new_item = mask_free_form(item, key)
            if changed is None and (new_name is not name or new_item is not item):
                changed = dict(list(value.items())[:i])
            if changed is not None:
                changed[new_name] = new_item
        return value if changed is None else changed
    if isinstance(value, list):
        copied: list[Any] | None = None
        for i, item in enumerate(value):
            new_item = mask_free_form(item, key)
            if new_item is not item:
                if copied is None:
                    copied = list(value)
                copied[i] = new_item
        return value if copied is None else copied
    if (
        isinstance(value, int)
        and not isinstance(value, bool)
        and _INT_LOW <= abs(value) < _INT_HIGH
    ):
        text = str(value)
        masked = mask_text_in(text)
        return value if masked is text else masked
    return value
