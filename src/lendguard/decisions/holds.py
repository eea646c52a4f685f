"""Hold terms: until when a held payment may wait, and what the customer is told to release it.

A payment the engine intercepts (or blocks) is held while the case flow looks at it. A hold
without an end is not allowed: the UK's regime (Payment Services Regulations 2017, reg. 86 as
amended in 2024) lets a provider delay a suspicious outbound payment only until the end of the
fourth business day after the day it was ordered, and only if it tells the customer how to
release it. The other markets have no such ceiling, so the platform applies the same one there
(policy data, configurable).

The numbers and words are data (``decisions/policies/holds.yaml``; a deployment's own copy at
``$LENDGUARD_POLICY_DIR/decisions/holds.yaml`` replaces it), per jurisdiction and, optionally,
per product (the event type: ``transfer``, ``withdrawal``, ...):

- ``deadline_business_days``: N. The deadline is the end (midnight, local time) of the N-th
  business day after the local day of the decision, that day being day 0, on the
  jurisdiction's working-day calendar (:mod:`lendguard.kit.calendars`). A year the calendar does
  not cover is counted with the calendar's stricter fallback, which never gives a later day
  than the official calendar could: the payment is never held longer than the rule allows,
  only, at worst, released earlier.
- ``time_zone``: where "the day" is counted.
- ``instructions``: what the customer reads, zh-CN and en, with ``{date}`` replaced by the
  deadline's local date written for a reader.

Pure: no database and no web framework, so the engine layer may import it.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from importlib import resources
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from lendguard.kit.calendars import working_days_after

POLICY_DIR_ENV = "LENDGUARD_POLICY_DIR"
LOCALES = ("zh-CN", "en")
# A hold longer than this many business days is a typo in the policy, not a policy.
MAX_BUSINESS_DAYS = 30
_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
_WEEKDAYS_EN = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_WEEKDAYS_ZH = ("一", "二", "三", "四", "五", "六", "日")


class HoldPolicyError(Exception):
    """The hold policy file is malformed (it fails at load, not on the first held payment)."""


class UnknownJurisdiction(ValueError):
    """A jurisdiction the hold policy has no terms for."""


@dataclass(frozen=True, slots=True)
class HoldRule:
    """The terms of one jurisdiction (or one product in it)."""

    jurisdiction: str
    time_zone: str
    deadline_business_days: int
    source: str
    instructions: dict[str, str]


@dataclass(frozen=True, slots=True)
class HoldPolicy:
    version: str
    default_jurisdiction: str
    # The decision actions held with a deadline.
    actions: frozenset[str]
    sources: dict[str, str]
    rules: dict[str, HoldRule]
    # (jurisdiction, product) -> the rule that replaces the jurisdiction's for that product
    products: dict[tuple[str, str], HoldRule] = field(default_factory=dict)
    file: str = ""

    def rule(self, jurisdiction: str | None, product: str | None = None) -> HoldRule:
        """The rule for ``jurisdiction`` (the default one when None) and ``product``."""
        key = (jurisdiction or self.default_jurisdiction).strip().upper()
        if key not in self.rules:
            raise UnknownJurisdiction(
                f"no hold terms for jurisdiction '{key}' (known: {', '.join(sorted(self.rules))})"
            )
        if product is not None:
            found = self.products.get((key, product))
            if found is not None:
                return found
        return self.rules[key]


@dataclass(frozen=True, slots=True)
class HoldTerms:
    """What a held decision carries: its deadline (UTC), how it was counted, and the customer's
    release instructions per locale."""

    deadline: datetime
    business_days: int
    jurisdiction: str
    time_zone: str
    # The local date of the last day the payment may be held (the deadline is its end).
    last_day: date
    instructions: dict[str, str]
    policy_version: str


# -- loading ---------------------------------------------------------------------------------------

_cache: dict[str, HoldPolicy] = {}
_cache_lock = threading.Lock()


def load_hold_policy() -> HoldPolicy:
    """The hold policy in force: the deployment's copy under ``$LENDGUARD_POLICY_DIR`` if it
    has one, else the shipped file (parsed once per process and directory)."""
    override = os.environ.get(POLICY_DIR_ENV) or ""
    found = _cache.get(override)
    if found is not None:
        return found
    with _cache_lock:
        if override not in _cache:
            candidate = Path(override) / "decisions" / "holds.yaml" if override else None
            if candidate is not None and candidate.is_file():
                text, file = candidate.read_text(encoding="utf-8"), str(candidate)
            else:
                shipped = resources.files("lendguard.decisions").joinpath("policies/holds.yaml")
                text, file = shipped.read_text(encoding="utf-8"), str(shipped)
            _cache[override] = parse_hold_policy(text, file)
        return _cache[override]


def clear_cache() -> None:
    """Forget parsed files (tests, or after editing the file)."""
    with _cache_lock:
        _cache.clear()


def parse_hold_policy(text: str, file: str = "<holds>") -> HoldPolicy:
    """Parse and validate a hold policy; :class:`HoldPolicyError` naming the place otherwise."""
    raw = yaml.safe_load(text)
    if not isinstance(raw, dict):
        raise HoldPolicyError(f"{file}: expected a mapping at the top")
    sources = raw.get("sources")
    if not isinstance(sources, dict) or not sources:
        raise HoldPolicyError(f"{file}: 'sources' must map citation ids to citations")
    sources = {str(k): " ".join(str(v).split()) for k, v in sources.items()}
    actions = raw.get("actions")
    if not isinstance(actions, list) or not actions:
        raise HoldPolicyError(f"{file}: 'actions' must list the held decision actions")
    bad_actions = [a for a in actions if a not in ("intercept", "block")]
    if bad_actions:
        raise HoldPolicyError(f"{file}: actions {bad_actions} are not held (intercept, block)")
    body = raw.get("jurisdictions")
    if not isinstance(body, dict) or not body:
        raise HoldPolicyError(f"{file}: 'jurisdictions' must map a jurisdiction to its terms")
    rules: dict[str, HoldRule] = {}
    products: dict[tuple[str, str], HoldRule] = {}
    for name, terms in body.items():
        jurisdiction = str(name).strip().upper()
        where = f"{file}: jurisdictions.{jurisdiction}"
        rule = _rule(jurisdiction, terms, None, sources, where)
        rules[jurisdiction] = rule
        for product, overrides in (terms.get("products") or {}).items():
            products[(jurisdiction, str(product))] = _rule(
                jurisdiction, overrides, rule, sources, f"{where}.products.{product}"
            )
    default = str(raw.get("default_jurisdiction") or "").strip().upper()
    if default not in rules:
        raise HoldPolicyError(
            f"{file}: default_jurisdiction must be one of {sorted(rules)}, got {default!r}"
        )
    return HoldPolicy(
        version=str(raw.get("version") or "unversioned"),
        default_jurisdiction=default,
        actions=frozenset(str(a) for a in actions),
        sources=sources,
        rules=rules,
        products=products,
        file=file,
    )


def _rule(
    jurisdiction: str,
    terms: Any,
    base: HoldRule | None,
    sources: dict[str, str],
    where: str,
) -> HoldRule:
    """One rule; a product's (``base`` given) inherits what it does not set."""
    if not isinstance(terms, dict):
        raise HoldPolicyError(f"{where}: expected a mapping")
    known = {"time_zone", "deadline_business_days", "source", "instructions"}
    if base is None:
        known.add("products")
    unknown = set(terms) - known
    if unknown:
        raise HoldPolicyError(f"{where}: unknown keys {sorted(unknown)}")

    def pick(key: str) -> Any:
        value = terms.get(key)
        if value is None and base is not None:
            return getattr(base, key)
        if value is None:
            raise HoldPolicyError(f"{where}.{key} is required")
        return value

    zone = str(pick("time_zone"))
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise HoldPolicyError(f"{where}.time_zone: unknown time zone {zone!r}") from exc
    days = pick("deadline_business_days")
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_BUSINESS_DAYS:
        raise HoldPolicyError(
            f"{where}.deadline_business_days must be a whole number from 1 to {MAX_BUSINESS_DAYS}"
        )
    source = str(pick("source"))
    if source not in sources:
        raise HoldPolicyError(f"{where}.source must be one of {sorted(sources)}")
    texts = pick("instructions")
    if not isinstance(texts, dict):
        raise HoldPolicyError(f"{where}.instructions must map a locale to a text")
    instructions: dict[str, str] = {}
    for locale in LOCALES:
        text = texts.get(locale)
        if not isinstance(text, str) or not text.strip():
            raise HoldPolicyError(f"{where}.instructions.{locale} is required")
        try:
            text.format(date="x")
        except (KeyError, IndexError, ValueError) as exc:
            raise HoldPolicyError(
                f"{where}.instructions.{locale}: only {{date}} may be filled in ({exc})"
            ) from exc
        instructions[locale] = " ".join(text.split())
    return HoldRule(jurisdiction, zone, days, source, instructions)


# -- counting --------------------------------------------------------------------------------------


def hold_terms(
    decided_at: datetime,
    jurisdiction: str | None = None,
    product: str | None = None,
    policy: HoldPolicy | None = None,
) -> HoldTerms:
    """The terms of a payment held by a decision made at ``decided_at``: the deadline is the
    end of the N-th business day after the decision's local day (module docstring), in UTC.

    ``jurisdiction`` None: the policy's default. A naive ``decided_at`` is read as UTC.
    :class:`UnknownJurisdiction` for a jurisdiction without terms."""
    policy = policy or load_hold_policy()
    rule = policy.rule(jurisdiction, product)
    zone = ZoneInfo(rule.time_zone)
    if decided_at.tzinfo is None:
        decided_at = decided_at.replace(tzinfo=UTC)
    local_day = decided_at.astimezone(zone).date()
    last_day = working_days_after(local_day, rule.deadline_business_days, rule.jurisdiction)
    deadline = _end_of(last_day, zone)
    return HoldTerms(
        deadline=deadline,
        business_days=rule.deadline_business_days,
        jurisdiction=rule.jurisdiction,
        time_zone=rule.time_zone,
        last_day=last_day,
        instructions=_filled(rule, last_day),
        policy_version=policy.version,
    )


def release_instructions(
    deadline: datetime,
    jurisdiction: str | None = None,
    product: str | None = None,
    policy: HoldPolicy | None = None,
) -> dict[str, str]:
    """The customer's instructions for a hold whose deadline is already set (a stored
    ``hold_deadline``), per locale: the date they name is the deadline's last local day."""
    policy = policy or load_hold_policy()
    rule = policy.rule(jurisdiction, product)
    if deadline.tzinfo is None:
        deadline = deadline.replace(tzinfo=UTC)
    # The deadline is a local midnight: the day it ends is the one before.
    last_day = (deadline.astimezone(ZoneInfo(rule.time_zone)) - timedelta(microseconds=1)).date()
    return _filled(rule, last_day)


def _end_of(day: date, zone: ZoneInfo) -> datetime:
    """The instant ``day`` ends in ``zone`` (the next local midnight), in UTC."""
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone).astimezone(UTC)


def _filled(rule: HoldRule, last_day: date) -> dict[str, str]:
    written = {"zh-CN": written_zh(last_day), "en": written_en(last_day)}
    return {locale: rule.instructions[locale].format(date=written[locale]) for locale in LOCALES}


def written_en(day: date) -> str:
    """``Friday 6 March 2026``: no machine locale involved."""
    return f"{_WEEKDAYS_EN[day.weekday()]} {day.day} {_MONTHS[day.month - 1]} {day.year}"


def written_zh(day: date) -> str:
    """``2026年3月6日（星期五）``."""
    return f"{day.year}年{day.month}月{day.day}日（星期{_WEEKDAYS_ZH[day.weekday()]}）"


def hold_notice(
    decision: dict[str, Any], policy: HoldPolicy | None = None
) -> dict[str, Any] | None:
    """What a decision that holds money tells the lender and the customer (issue #19): the
    release deadline in business days and the customer's release instructions. For an action
    the policy holds with a deadline (intercept, block) or any decision with a DELAY measure;
    None otherwise. A function of the decision's time, so a read shows what the answer did."""
    policy = policy or load_hold_policy()
    if decision.get("action") not in policy.actions and "DELAY" not in (
        decision.get("measures") or ()
    ):
        return None
    decided_at = decision.get("decided_at")
    if not isinstance(decided_at, datetime):
        return None
    terms = hold_terms(decided_at, None, decision.get("event_type"), policy)
    return {
        "deadline": terms.deadline,
        "business_days": terms.business_days,
        "jurisdiction": terms.jurisdiction,
        "instructions": terms.instructions,
    }
