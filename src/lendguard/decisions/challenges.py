"""Challenges: the bespoke questions a decision carries, and the follow-up their answers give.

Pure (no I/O past reading the shipped policy once): the live path attaches a challenge to a
decision with :func:`challenge_for`, the interventions area computes the follow-up with
:func:`follow_up` when the lender posts the answers, and the backtest runs the very same two
functions over a replayed month, so what is measured is what is served.

Policy data: ``policies/challenges.yaml`` (its header says what each answer does and why a "no"
to a scam question never clears coaching evidence).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import yaml

from lendguard.decisions.policy import HOLDING_MEASURES
from lendguard.decisions.rules.loader import LOCALES, Action

_RANK = {a.value: a.rank for a in Action}
ANSWER_KINDS = ("yes_no", "choice", "verification")


class ChallengeAnswerError(ValueError):
    """Answers that do not fit the challenge: ``field`` names the offending one."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True, slots=True)
class Question:
    id: str
    kind: str  # yes_no | choice | verification
    text: dict[str, str]
    options: tuple[tuple[str, dict[str, str]], ...] = ()
    scam_answer: str | None = None

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"id": self.id, "kind": self.kind, "text": dict(self.text)}
        if self.kind == "yes_no":
            body["options"] = [
                {"value": "yes", "text": {"zh-CN": "是", "en": "Yes"}},
                {"value": "no", "text": {"zh-CN": "否", "en": "No"}},
            ]
        elif self.options:
            body["options"] = [{"value": v, "text": dict(t)} for v, t in self.options]
        return body


@dataclass(frozen=True, slots=True)
class QuestionSet:
    id: str
    kind: str  # questions | verification
    priority: int
    reasons: frozenset[str]
    clears: frozenset[str]
    questions: tuple[Question, ...]
    # "clear" (the reasons go) or "cool_off" (they go, and the payment waits the cooling-off)
    on_pass: str = "clear"


@dataclass(frozen=True, slots=True)
class ChallengePolicy:
    version: str
    event_types: frozenset[str]
    min_rank: int
    liveness_min: float
    face_match_min: float
    novelty_reasons: frozenset[str]
    combined_reasons: dict[str, str]
    scam_purposes: frozenset[str]
    cooling_off_hours: float
    no_challenge_when: frozenset[str]
    not_asked_about: frozenset[str]
    sets: tuple[QuestionSet, ...]
    fallback: QuestionSet
    purpose: Question
    messages: dict[str, dict[str, str]]


def _text(raw: Any, where: str) -> dict[str, str]:
    if not isinstance(raw, dict) or any(not isinstance(raw.get(loc), str) for loc in LOCALES):
        raise ValueError(f"challenges policy: {where} needs a text in each of {LOCALES}")
    return {loc: raw[loc] for loc in LOCALES}


def _question(raw: dict[str, Any]) -> Question:
    kind = str(raw["kind"])
    if kind not in ANSWER_KINDS:
        raise ValueError(f"challenges policy: question {raw.get('id')}: unknown kind {kind}")
    options = tuple(
        (str(o["value"]), _text(o["text"], f"option {o.get('value')}"))
        for o in raw.get("options") or ()
    )
    scam = raw.get("scam_answer")
    return Question(
        id=str(raw["id"]),
        kind=kind,
        text=_text(raw["text"], f"question {raw['id']}"),
        options=options,
        scam_answer=None if scam is None else str(scam),
    )


def parse_policy(raw: dict[str, Any]) -> ChallengePolicy:
    """The policy from its YAML document (refuses a text missing a locale, an unknown kind)."""
    sets = tuple(
        sorted(
            (
                QuestionSet(
                    id=str(s["id"]),
                    kind=str(s["kind"]),
                    priority=int(s.get("priority", 100)),
                    reasons=frozenset(s.get("reasons") or ()),
                    clears=frozenset(s.get("clears") or ()),
                    questions=tuple(_question(q) for q in s["questions"]),
                    on_pass=str(s.get("on_pass", "clear")),
                )
                for s in raw["question_sets"]
            ),
            key=lambda s: (s.priority, s.id),
        )
    )
    by_id = {s.id: s for s in sets}
    applies = raw["applies_to"]
    verification = raw.get("verification") or {}
    return ChallengePolicy(
        version=str(raw["version"]),
        event_types=frozenset(applies["event_types"]),
        min_rank=Action(applies.get("min_action", "dissuade")).rank,
        liveness_min=float(verification.get("liveness_min", 0.5)),
        face_match_min=float(verification.get("face_match_min", 0.7)),
        novelty_reasons=frozenset(raw.get("novelty_reasons") or ()),
        combined_reasons={str(k): str(v) for k, v in (raw.get("combined_reasons") or {}).items()},
        scam_purposes=frozenset(raw.get("scam_purposes") or ()),
        cooling_off_hours=float(raw.get("cooling_off_hours", 12)),
        no_challenge_when=frozenset(raw.get("no_challenge_when") or ()),
        not_asked_about=frozenset(raw.get("not_asked_about") or ()),
        sets=sets,
        fallback=by_id[str(raw["fallback_set"])],
        purpose=_question(raw["purpose"]),
        messages={k: _text(v, f"message {k}") for k, v in raw["messages"].items()},
    )


@cache
def load_policy() -> ChallengePolicy:
    """The shipped policy (read once per process)."""
    text = (
        resources.files("lendguard.decisions")
        .joinpath("policies/challenges.yaml")
        .read_text(encoding="utf-8")
    )
    return parse_policy(yaml.safe_load(text))


def _reason_codes(decision: dict[str, Any]) -> list[str]:
    return [r["code"] for r in decision.get("reasons") or ()]


def _chosen_sets(policy: ChallengePolicy, decision: dict[str, Any]) -> list[QuestionSet]:
    codes = set(_reason_codes(decision))
    chosen = [s for s in policy.sets if s.reasons & codes]
    if not any(s.kind == "questions" for s in chosen):
        fraud = any(r.get("category") == "fraud" for r in decision.get("reasons") or ())
        if fraud and not chosen:
            chosen.append(policy.fallback)
    return chosen


def challenge_for(
    decision: dict[str, Any], policy: ChallengePolicy | None = None
) -> dict[str, Any] | None:
    """The challenge a decision carries, or None: only at ``min_action`` or more, on the listed
    event types, with a fraud reason (a wellbeing or compliance intervention is not a scam
    question). Deterministic: the same decision always gets the same challenge id and questions,
    so ``GET /v1/decisions/{id}`` shows what ``POST /v1/events`` answered."""
    policy = policy or load_policy()
    action = decision["action"]
    if _RANK[action] < policy.min_rank or decision["event_type"] not in policy.event_types:
        return None
    reasons = decision.get("reasons") or ()
    codes = {r["code"] for r in reasons}
    if codes & policy.no_challenge_when:
        return None
    asked = [r for r in reasons if r["code"] not in policy.not_asked_about]
    if not any(r.get("category") == "fraud" for r in asked):
        return None
    sets = _chosen_sets(policy, {**decision, "reasons": asked})
    if not sets:
        return None
    questions: list[Question] = []
    for question_set in sets:
        seen = {q.id for q in questions}
        questions.extend(q for q in question_set.questions if q.id not in seen)
    if decision["event_type"] in ("transfer", "withdrawal", "payment"):
        questions.append(policy.purpose)
    kinds = {s.kind for s in sets}
    digest = hashlib.sha256(f"{policy.version}|{decision['decision_id']}".encode()).hexdigest()[:16]
    return {
        "challenge_id": f"chl_{digest}",
        "policy_version": policy.version,
        "kind": kinds.pop() if len(kinds) == 1 else "mixed",
        "question_sets": [s.id for s in sets],
        "questions": [q.as_dict() for q in questions],
    }


@dataclass(slots=True)
class FollowUp:
    """The follow-up decision's content (the caller gives it an id and stores it)."""

    outcome: str  # escalated | passed | unchanged | failed
    action: str
    score: int
    reasons: list[dict[str, Any]]
    measures: list[str]
    messages: list[dict[str, str]]
    # A cooling-off hold: the payment goes ahead by itself this many seconds after the decision.
    release_after_s: float | None = None


def check_answers(
    challenge: dict[str, Any],
    answers: dict[str, Any],
    verification: dict[str, Any] | None,
) -> None:
    """Every question answered with one of its options, no unknown question, and vendor scores
    in [0, 1] when the challenge asks for a verification. Raises :class:`ChallengeAnswerError`
    naming the field."""
    asked = {q["id"]: q for q in challenge["questions"]}
    for key in answers:
        if key not in asked:
            raise ChallengeAnswerError(f"answers.{key}", "not a question of this challenge")
    for qid, question in asked.items():
        if question["kind"] == "verification":
            if verification is None:
                raise ChallengeAnswerError(
                    "verification", "this challenge needs the face check's scores"
                )
            continue
        value = answers.get(qid)
        if value is None:
            raise ChallengeAnswerError(f"answers.{qid}", "this question needs an answer")
        allowed = [o["value"] for o in question.get("options") or ()]
        if value not in allowed:
            raise ChallengeAnswerError(f"answers.{qid}", f"one of {', '.join(allowed)}")


def follow_up(
    decision: dict[str, Any],
    challenge: dict[str, Any],
    answers: dict[str, Any],
    verification: dict[str, Any] | None,
    params: dict[str, Any],
    policy: ChallengePolicy | None = None,
) -> FollowUp:
    """The follow-up decision the answers give. ``params`` are the rule set's parameters (the
    combined-score thresholds). Answers must have passed :func:`check_answers`."""
    policy = policy or load_policy()
    reasons = [dict(r) for r in decision.get("reasons") or ()]
    first_rank = _RANK[decision["action"]]
    asked = {q["id"]: q for q in challenge["questions"]}
    admitted = [
        qid
        for qid, q in asked.items()
        if q["kind"] == "yes_no" and answers.get(qid) == _scam_answer(policy, qid)
    ]
    purpose = answers.get(policy.purpose.id)
    if purpose in policy.scam_purposes:
        admitted.append(f"purpose:{purpose}")
    if admitted:
        action = decision["action"] if first_rank >= Action.intercept.rank else "intercept"
        reason = {
            "code": "SCAM_TOLD_BY_CUSTOMER",
            "category": "fraud",
            "rule_id": None,
            "action": action,
            "weight": 100,
            "description": "the customer's answers describe a scam: " + ", ".join(admitted),
            "values": {"answers": ", ".join(admitted)},
        }
        measures = sorted({*decision.get("measures", ()), "DELAY", "CALLBACK"})
        return FollowUp(
            outcome="escalated",
            action=action,
            score=max(int(decision.get("score") or 0), 100),
            reasons=[reason, *reasons],
            measures=measures,
            messages=_messages(policy, "escalated"),
        )
    sets = [s for s in policy.sets if s.id in set(challenge.get("question_sets") or ())]
    cleared: set[str] = set()
    failed = cool_off = False
    if any(s.kind == "verification" for s in sets):
        passed = verification is not None and _verified(policy, verification)
        if passed:
            for question_set in sets:
                cleared |= question_set.clears
                cool_off = cool_off or (
                    question_set.on_pass == "cool_off"
                    and bool(question_set.clears & {r["code"] for r in reasons})
                )
        else:
            failed = True
    kept = [r for r in reasons if r["code"] not in cleared]
    if cool_off:
        kept.append(
            {
                "code": "COOLING_OFF",
                "category": "fraud",
                "rule_id": None,
                "action": Action.dissuade.value,
                "weight": 0,
                "description": "face check passed after a recent change: the payment waits out "
                "the cooling-off period",
                "values": {"hours": policy.cooling_off_hours},
            }
        )
    if purpose == "family_known":
        for r in kept:
            if r["code"] in policy.novelty_reasons:
                r["weight"] = 0
    score = sum(int(r.get("weight") or 0) for r in kept if r["code"] not in policy.combined_reasons)
    kept = [
        r
        for r in kept
        if r["code"] not in policy.combined_reasons
        or score >= float(params.get(policy.combined_reasons[r["code"]], 0))
    ]
    acting = [r for r in kept if _RANK.get(r.get("action", "allow"), 0) > 0]
    rank = max((_RANK[r["action"]] for r in acting), default=0)
    action = next(a.value for a in Action if a.rank == rank)
    if failed:
        kept.insert(
            0,
            {
                "code": "IDENTITY_NOT_VERIFIED",
                "category": "fraud",
                "rule_id": None,
                "action": decision["action"],
                "weight": 0,
                "description": "the face check did not confirm the customer",
                "values": {},
            },
        )
        action = decision["action"]
    kept.sort(key=lambda r: (-_RANK.get(r.get("action", "allow"), 0), -int(r.get("weight") or 0)))
    release_after_s = None
    if _RANK[action] >= first_rank:
        outcome = "failed" if failed else "unchanged"
        action = decision["action"]
        measures = list(decision.get("measures") or ())
        messages = (
            _messages(policy, "unverified") if failed else list(decision.get("messages") or ())
        )
    else:
        outcome = "passed"
        measures = (
            []
            if action == Action.allow.value
            else [m for m in decision.get("measures") or () if m not in HOLDING_MEASURES]
        )
        messages = [] if action == Action.allow.value else _messages(policy, "passed_remind")
    if cool_off and action == Action.dissuade.value:
        # The only hold left is the cooling-off: it ends by itself.
        measures = sorted({*measures, "DELAY"})
        hours = f"{policy.cooling_off_hours:g}"
        messages = [
            {"locale": m["locale"], "text": m["text"].replace("{hours}", hours)}
            for m in _messages(policy, "cooling_off")
        ]
        release_after_s = policy.cooling_off_hours * 3600
    return FollowUp(outcome, action, min(score, 100), kept, measures, messages, release_after_s)


def _scam_answer(policy: ChallengePolicy, qid: str) -> str | None:
    for question_set in policy.sets:
        for question in question_set.questions:
            if question.id == qid:
                return question.scam_answer
    return None


def _verified(policy: ChallengePolicy, verification: dict[str, Any]) -> bool:
    liveness = verification.get("liveness_score")
    face = verification.get("face_match_score")
    if liveness is None or face is None:
        return False
    return float(liveness) >= policy.liveness_min and float(face) >= policy.face_match_min


def _messages(policy: ChallengePolicy, key: str) -> list[dict[str, str]]:
    return [{"locale": loc, "text": policy.messages[key][loc]} for loc in LOCALES]
