"""What the agent is given when a customer speaks of ending their life (a crisis cue).

A crisis is not one more vulnerability to note for later: the agent must take over now, stay on
the line and give a crisis hotline. So the assistant puts it first on the agent's screen with a
script written for the agent (the ``crisis`` script of ``cases/scripts/call_scripts.yaml``, the
same one the crisis case shows) and the hotlines and emergency numbers of the jurisdiction.

The numbers are policy data (``crisis_hotlines`` and ``emergency_numbers`` in
``support/policies/<jurisdiction>.yaml``), not code: a deployment corrects or adds one with its
own policy file, and every number carries its source. Without a jurisdiction the locale chooses
(zh-CN: mainland China; en: the UK and the US, both listed).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from functools import lru_cache
from typing import Any

from lendguard.policies import NoPolicyInForce, PolicyError, load_policy

POLICY_KIND = "support"
CRISIS_CASE_TYPE = "crisis"
CRISIS_SCRIPT = "crisis"
JURISDICTIONS = ("CN", "UK", "US")
DEFAULT_JURISDICTIONS: dict[str, tuple[str, ...]] = {"zh-CN": ("CN",), "en": ("UK", "US")}


def jurisdictions_for(locale: str, jurisdiction: str | None = None) -> tuple[str, ...]:
    """The jurisdiction asked for, else the locale's default ones."""
    if jurisdiction:
        return (jurisdiction.upper(),)
    return DEFAULT_JURISDICTIONS.get(locale, DEFAULT_JURISDICTIONS["en"])


def _localised(value: Any, locale: str | None) -> Any:
    if locale is None:
        return {k: str(v) for k, v in value.items()} if isinstance(value, dict) else str(value)
    if isinstance(value, dict):
        return str(value.get(locale) or value.get("en") or "")
    return str(value)


def hotlines(
    jurisdictions: Sequence[str], locale: str | None, on_date: date
) -> list[dict[str, Any]]:
    """The crisis hotlines and emergency numbers in force on ``on_date``, per jurisdiction, with
    names in the agent's locale (``None``: both, ``{"zh-CN": ..., "en": ...}``, for a screen
    that shows either). A jurisdiction without a policy (or without numbers in it) lists
    nothing rather than failing the hand-off."""
    out: list[dict[str, Any]] = []
    for jurisdiction in jurisdictions:
        try:
            policy = load_policy(POLICY_KIND, jurisdiction, on_date)
        except (NoPolicyInForce, PolicyError):
            continue
        for name, kind in (("crisis_hotlines", "hotline"), ("emergency_numbers", "emergency")):
            found = policy.get(name)
            for line in found.value if found is not None else []:
                entry: dict[str, Any] = {
                    "jurisdiction": jurisdiction,
                    "kind": kind,
                    "name": _localised(line.get("name"), locale),
                    "number": str(line.get("number")),
                }
                if line.get("hours"):
                    entry["hours"] = _localised(line["hours"], locale)
                out.append(entry)
    return out


def hotlines_for(jurisdictions: list[str] | None, on_date: date) -> list[dict[str, Any]]:
    """:func:`hotlines` in both languages for a crisis case: the jurisdictions it was opened
    for, or every one with a policy (the cases area is handed this function by the app)."""
    return hotlines(jurisdictions or list(JURISDICTIONS), None, on_date)


@lru_cache(maxsize=1)
def _script() -> tuple[dict[str, str], dict[str, list[str]]]:
    from lendguard.cases.service import load_scripts

    scripts, _ = load_scripts()
    found = scripts[CRISIS_SCRIPT]
    return found.title, found.steps


def script(locale: str) -> dict[str, Any]:
    """The agent's crisis script in ``locale`` (title and steps)."""
    title, steps = _script()
    chosen = locale if locale in steps else "en"
    return {"locale": chosen, "title": title.get(chosen, title["en"]), "steps": list(steps[chosen])}
