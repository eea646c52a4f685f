"""The decision engine: pure, no I/O.

``evaluate`` takes an event, the entity states it touches (already loaded), the compiled rule set
and the lists, and returns the outcome with its reasons, measures and messages. The caller
persists it and then calls :func:`lendguard.decisions.features.compute.apply_event`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lendguard.decisions.features.compute import (
    FeatureContext,
    FeatureValue,
    LazyFeatures,
)
from lendguard.decisions.policy import ListsView, apply_guardrails, strongest
from lendguard.decisions.rules.language import Compiled
from lendguard.decisions.rules.loader import (
    LOCALES,
    Action,
    Category,
    Measure,
    Rule,
    RuleSet,
    render_message,
)

_MEASURE_ORDER = {m: i for i, m in enumerate(Measure)}

GENERIC_MESSAGES: dict[str, dict[str, str]] = {
    "DENY_LISTED": {
        "zh-CN": "为保护您的资金安全，本次操作已被暂停，请联系官方客服核实。",
        "en": "To protect your money this action has been stopped. Please contact official "
        "customer service to verify.",
    },
}


@dataclass(slots=True)
class Reason:
    code: str
    category: str
    rule_id: str | None
    action: str
    weight: int
    description: str
    values: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "category": self.category,
            "rule_id": self.rule_id,
            "action": self.action,
            "weight": self.weight,
            "description": self.description,
            "values": self.values,
        }


@dataclass(slots=True)
class EngineResult:
    action: Action
    score: int
    reasons: list[Reason]
    measures: list[Measure]
    messages: list[dict[str, str]]
    guardrails: list[dict[str, str]] = field(default_factory=list)
    features: dict[str, FeatureValue] = field(default_factory=dict)


def _reason(rule: Rule, values: dict[str, FeatureValue]) -> Reason:
    names = sorted(rule.condition.names)
    return Reason(
        code=rule.reason,
        category=rule.category.value,
        rule_id=rule.id,
        action=rule.action.value,
        weight=rule.weight,
        description=rule.description,
        values={n: values[n] for n in names},
    )


def _allow_listed(allowed_by: str) -> Reason:
    return Reason(
        "ALLOW_LISTED",
        Category.fraud.value,
        None,
        Action.allow.value,
        0,
        f"the {allowed_by} is on the allow list: fraud rules skipped",
        {"list": allowed_by},
    )


def _run_filtered(
    tests: tuple[tuple[Compiled, Rule], ...],
    values: LazyFeatures,
    hits: list[Rule],
    allowed_by: str | None,
    lists: ListsView,
    customer: str,
    ts: float,
) -> int:
    """Evaluate ``rules`` but those an allow list or a suppression turns off; the hits' weight."""
    weight = 0
    for test, rule in tests:
        if allowed_by is not None and rule.category == Category.fraud:
            continue
        if lists.suppressions and lists.suppressed(customer, rule.id, ts):
            continue
        if test(values):
            hits.append(rule)
            weight += rule.weight
    return weight


def evaluate(
    ctx: FeatureContext,
    ruleset: RuleSet,
    lists: ListsView,
    values: LazyFeatures | None = None,
) -> EngineResult:
    """Decide one event. ``values`` may be passed in when a model already read features."""
    event = ctx.event
    if values is None:
        values = LazyFeatures(ctx, ruleset.params)

    denied = lists.denied(event, ctx.ts) if lists.deny else None
    if denied is not None:
        reason = Reason(
            "DENY_LISTED",
            Category.fraud.value,
            None,
            Action.block.value,
            100,
            f"the {denied} is on the deny list",
            {"list": denied},
        )
        # Guardrails hold for lists too: a deny-listed customer's repayment still goes through.
        action, measures, notes = apply_guardrails(event, Action.block, [Measure.SUSPEND], False)
        return EngineResult(
            action=action,
            score=100,
            reasons=[reason],
            measures=measures,
            messages=[
                {"locale": loc, "text": GENERIC_MESSAGES["DENY_LISTED"][loc]} for loc in LOCALES
            ],
            guardrails=[{"code": g.code, "detail": g.detail} for g in notes],
        )
    allowed_by = lists.allowed(event, ctx.ts) if lists.allow else None

    hits: list[Rule] = []
    score = 0
    kind = ctx.type
    if ctx.model_score is not None or "model_score" in values:
        first = ruleset.first_pass_tests_by_type[kind]
    else:
        # No model score: rules that compare it cannot fire (see the RuleSet field).
        first = ruleset.first_pass_tests_without_model_by_type[kind]
    if allowed_by is None and not lists.suppressions:
        # The usual case, with nothing to skip: the loop does nothing but evaluate.
        for test, rule in first:
            if test(values):
                hits.append(rule)
                score += rule.weight
    else:
        score = _run_filtered(first, values, hits, allowed_by, lists, event.customer_id, ctx.ts)
    score = min(score, ruleset.score_cap)
    second = ruleset.second_pass_tests_by_type[kind]
    if second and score >= ruleset.second_pass_floor_by_type[kind]:
        values["score"] = score
        extra = _run_filtered(second, values, hits, allowed_by, lists, event.customer_id, ctx.ts)
        score = min(score + extra, ruleset.score_cap)
    values["score"] = score

    if not hits:
        # Most events: nothing fired, so the action is allow, with no measure, message or
        # guardrail (guardrails only ever lower a hold or add a callback to a dissuasion).
        return EngineResult(
            action=Action.allow,
            score=score,
            reasons=[] if allowed_by is None else [_allow_listed(allowed_by)],
            measures=[],
            messages=[],
            guardrails=[],
            features=values,
        )
    hits.sort(key=lambda r: (-r.action.rank, -r.weight))
    action = strongest([r.action for r in hits])
    measure_set: set[Measure] = set()
    for rule in hits:
        if rule.action != Action.allow:
            measure_set.update(rule.measures)
    measures = sorted(measure_set, key=_MEASURE_ORDER.__getitem__)
    vulnerable = action == Action.dissuade and bool(values["is_vulnerable"] or values["is_elderly"])
    action, measures, notes = apply_guardrails(event, action, measures, vulnerable)

    messages: list[dict[str, str]] = []
    if hits and action != Action.allow:
        primary = hits[0]
        for locale in LOCALES:
            template = primary.messages.get(locale)
            if template:
                messages.append(
                    {"locale": locale, "text": render_message(template, values, ruleset.params)}
                )
    reasons = [_reason(r, values) for r in hits]
    if allowed_by is not None:
        reasons.append(_allow_listed(allowed_by))
    return EngineResult(
        action=action,
        score=score,
        reasons=reasons,
        measures=measures,
        messages=messages,
        guardrails=[{"code": g.code, "detail": g.detail} for g in notes],
        features=values,
    )
