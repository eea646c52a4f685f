"""How the simulated customers answer a challenge (issue #19).

The model, stated so it can be argued with:

* an **honest** customer (and any customer's ordinary activity) answers truthfully: "no" to every
  scam question, the true purpose of the payment, and passes the face check unless the vendor
  falsely rejects them (``HONEST_FALSE_REJECT``);
* a **coached victim** is consistent within one challenge: with the typology's
  ``VICTIM_LIES`` probability they follow the scammer's script ("no" to every scam question and
  the cover story as purpose), otherwise they tell the truth (a "yes" where the question
  describes what is happening to them, and the real purpose). A victim is the real account
  holder, so they pass the face check as honest customers do;
* a **fraudster** (account takeover, ring member, mule) always lies; they pass the face check
  only as often as their identity allows (``FRAUDSTER_PASSES``): a takeover is someone else's
  face, a ring's new accounts are mostly borrowed or synthetic identities, a mule is who they
  say they are.

Draws are seeded by the event id, so a backtest is reproducible and both sides of a
side-by-side see the same answers.
"""

from __future__ import annotations

import random
from typing import Any

# Probability that a coached victim answers as the scammer told them to.
VICTIM_LIES: dict[str, float] = {
    "fake_customer_service": 0.6,
    "credit_repair": 0.5,
    "advance_fee_loan": 0.4,
    "rebate_task": 0.5,
    "elderly_investment": 0.3,
}
DEFAULT_VICTIM_LIES = 0.5
# The purpose a truthful victim gives, and the cover story a coached one gives.
VICTIM_PURPOSE: dict[str, tuple[str, str]] = {
    "fake_customer_service": ("safe_account", "family_known"),
    "credit_repair": ("safe_account", "family_known"),
    "advance_fee_loan": ("fee_for_loan", "goods_services"),
    "rebate_task": ("other", "goods_services"),
    "elderly_investment": ("investment", "family_known"),
}
# Which scam questions describe each typology (a truthful victim answers "yes" to these).
VICTIM_TRUE_QUESTIONS: dict[str, frozenset[str]] = {
    "fake_customer_service": frozenset({"told_by_authority", "screen_watched"}),
    "credit_repair": frozenset({"told_by_authority", "screen_watched", "cancel_student_account"}),
    "advance_fee_loan": frozenset({"fee_before_loan", "account_given_by_stranger"}),
    "rebate_task": frozenset({"pay_to_unlock", "account_given_by_stranger"}),
    "elderly_investment": frozenset({"guaranteed_return", "account_given_by_stranger"}),
}
HONEST_FALSE_REJECT = 0.03
FRAUDSTER_PASSES: dict[str, float] = {"account_takeover": 0.05, "ring": 0.2, "mule": 0.9}
FRAUDSTER_SCENARIOS = frozenset(FRAUDSTER_PASSES)
HONEST_PURPOSES: dict[str, tuple[tuple[str, float], ...]] = {
    "transfer": (("family_known", 0.5), ("goods_services", 0.3), ("bills", 0.2)),
    "payment": (("goods_services", 0.8), ("bills", 0.2)),
    "withdrawal": (("other", 0.6), ("bills", 0.4)),
}


def _pick(rng: random.Random, weighted: tuple[tuple[str, float], ...]) -> str:
    r, acc = rng.random(), 0.0
    for value, weight in weighted:
        acc += weight
        if r < acc:
            return value
    return weighted[-1][0]


def answer(
    challenge: dict[str, Any],
    event_type: str,
    event_id: str,
    scenario: str,
    seed: int = 1,
) -> tuple[dict[str, str], dict[str, float] | None]:
    """The answers and (when asked) the face check's scores the simulated customer gives. Every
    event of a scam (``scenario``) is answered as coached, not only the labelled ones."""
    rng = random.Random(f"{seed}:{event_id}")
    questions = challenge["questions"]
    needs_face = any(q["kind"] == "verification" for q in questions)
    answers: dict[str, str] = {}
    if scenario in FRAUDSTER_SCENARIOS:
        # Lies throughout: the answers that clear, the purpose that looks ordinary.
        for q in questions:
            if q["kind"] == "yes_no":
                answers[q["id"]] = "no"
            elif q["kind"] == "choice":
                answers[q["id"]] = "goods_services"
        passes = rng.random() < FRAUDSTER_PASSES[scenario]
        return answers, (_scores(rng, passes) if needs_face else None)
    if scenario in VICTIM_PURPOSE:
        lies = rng.random() < VICTIM_LIES.get(scenario, DEFAULT_VICTIM_LIES)
        true_purpose, cover = VICTIM_PURPOSE[scenario]
        describes = VICTIM_TRUE_QUESTIONS.get(scenario, frozenset())
        for q in questions:
            if q["kind"] == "yes_no":
                answers[q["id"]] = "yes" if (not lies and q["id"] in describes) else "no"
            elif q["kind"] == "choice":
                answers[q["id"]] = cover if lies else true_purpose
        passes = rng.random() >= HONEST_FALSE_REJECT
        return answers, (_scores(rng, passes) if needs_face else None)
    for q in questions:
        if q["kind"] == "yes_no":
            answers[q["id"]] = "no"
        elif q["kind"] == "choice":
            answers[q["id"]] = _pick(rng, HONEST_PURPOSES.get(event_type, (("other", 1.0),)))
    passes = rng.random() >= HONEST_FALSE_REJECT
    return answers, (_scores(rng, passes) if needs_face else None)


def _scores(rng: random.Random, passes: bool) -> dict[str, float]:
    """Vendor scores on either side of the default thresholds (0.5 liveness, 0.7 face)."""
    if passes:
        return {
            "liveness_score": round(rng.uniform(0.8, 1.0), 3),
            "face_match_score": round(rng.uniform(0.8, 1.0), 3),
        }
    return {
        "liveness_score": round(rng.uniform(0.6, 1.0), 3),
        "face_match_score": round(rng.uniform(0.1, 0.5), 3),
    }
