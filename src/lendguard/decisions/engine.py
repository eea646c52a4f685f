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
from lendguard.decisions.policy import (
    LOCKED_CREDIT_TYPES,
    LOCKED_OUTFLOW_TYPES,
    ListsView,
    LockState,
    apply_guardrails,
    strongest,
)
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
from lendguard.events.schemas import EventType

_MEASURE_ORDER = {m: i for i, m in enumerate(Measure)}

GENERIC_MESSAGES: dict[str, dict[str, str]] = {
    "DENY_LISTED": {
        "zh-CN": "为保护您的资金安全，本次操作已被暂停，请联系官方客服核实。",
        "en": "To protect your money this action has been stopped. Please contact official "
        "customer service to verify.",
    },
    # The customer's own money lock (issue #19): they asked for it, so the message says so and
    # says how to undo it.
    "MONEY_LOCKED": {
        "zh-CN": "您已开启资金锁：在您解锁之前，转账、付款、提现和新的借款都会被暂停。"
        "如需解锁，请通过官方渠道申请，我们会在网点或视频中核实是您本人，"
        "或在您申请后等待一段冷静期再解锁。",
        "en": "You locked your money: transfers, payments, withdrawals and new borrowing are "
        "stopped until you unlock it. To unlock, ask us through an official channel: we will "
        "check it is really you at a branch or on a video call, or unlock it after a waiting "
        "period.",
    },
    "SESSION_SUSPENDED": {
        "zh-CN": "您已开启紧急锁定，新设备上的登录和操作都已暂停。"
        "如果是您本人，请使用您以前用过的设备，或通过官方客服申请解锁。",
        "en": "You turned on the emergency lock, so sign-ins and actions on a new device are "
        "suspended. If this is you, use a device you have used before, or contact official "
        "customer service to unlock.",
    },
    # The customer's trusted person must confirm outflows above the amount the customer chose.
    "TRUSTED_CONFIRMATION_REQUIRED": {
        "zh-CN": "本次付款超过了您设定的金额，我们会先暂缓处理，等您的可信联系人确认后再继续。"
        "对方回复后我们会马上通知您。",
        "en": "This payment is above the amount you chose, so we are holding it until your "
        "trusted contact confirms it. We will let you know as soon as they answer.",
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


def _device_suspended(ctx: FeatureContext, lock: LockState) -> bool:
    """Kill switch: the event comes from a device the customer had not used before the lock.

    Compared with the lock's time, not with "new to the customer" alone: an event the lock
    blocked is still folded into the state, so a fraudster's second try from the same device
    would otherwise find it known. A customer with no device before the lock cannot be told
    apart from anyone else, so then no device is suspended (as ``is_new_device``)."""
    device = ctx.event.device_id
    if not device:
        return False
    known = ctx.states.customer.known
    seen = known.get(f"device:{device}")
    if seen is not None and seen[0] < lock.since:
        return False
    return any(k.startswith("device:") and v[0] < lock.since for k, v in known.items())


def _locked(ctx: FeatureContext, lock: LockState, values: LazyFeatures) -> EngineResult | None:
    """The decision a money lock makes for this event, or None when it does not touch it.

    Every outflow and every new credit (an application, a disbursement, a limit raised) is
    blocked; with the kill switch, so is any event from a device new since the lock. A
    repayment is never held (the guardrails lower it to a reminder)."""
    event = ctx.event
    kind = event.type
    moves_money = (
        kind in LOCKED_OUTFLOW_TYPES
        or kind in LOCKED_CREDIT_TYPES
        or (kind == EventType.limit_change and bool(values["is_limit_increase"]))
    )
    suspended = lock.kill_switch and _device_suspended(ctx, lock)
    if not moves_money and not suspended:
        return None
    reasons: list[Reason] = []
    if suspended:
        reasons.append(
            Reason(
                "SESSION_SUSPENDED",
                Category.fraud.value,
                None,
                Action.block.value,
                100,
                "kill switch on: the device is new since the customer locked their money",
                {"kill_switch": True},
            )
        )
    if moves_money:
        reasons.append(
            Reason(
                "MONEY_LOCKED",
                Category.fraud.value,
                None,
                Action.block.value,
                100,
                "the customer locked outflows and new credit",
                {"locked": True},
            )
        )
    action, measures, notes = apply_guardrails(event, Action.block, [Measure.SUSPEND], False)
    primary = reasons[0].code
    return EngineResult(
        action=action,
        score=100,
        reasons=reasons,
        measures=measures,
        messages=[{"locale": loc, "text": GENERIC_MESSAGES[primary][loc]} for loc in LOCALES],
        guardrails=[{"code": g.code, "detail": g.detail} for g in notes],
        features=values,
    )


def _with_trusted_person(ctx: FeatureContext, result: EngineResult, threshold: float) -> None:
    """An outflow above the customer's chosen amount waits for their trusted person: at least
    intercept, with DELAY, and the reason first when it decides the action (in place)."""
    reason = Reason(
        "TRUSTED_CONFIRMATION_REQUIRED",
        Category.fraud.value,
        None,
        Action.intercept.value,
        0,
        "the outflow is above the amount the customer's trusted person must confirm",
        {"amount": ctx.amount, "threshold": threshold},
    )
    if result.action.rank >= Action.intercept.rank:
        # Already held as much or more: the trusted person is one more reason, not the message.
        result.reasons.append(reason)
        if Measure.DELAY not in result.measures:
            result.measures = sorted(
                [*result.measures, Measure.DELAY], key=_MEASURE_ORDER.__getitem__
            )
        return
    result.action = Action.intercept
    result.reasons.insert(0, reason)
    result.measures = sorted({*result.measures, Measure.DELAY}, key=_MEASURE_ORDER.__getitem__)
    result.messages = [
        {"locale": loc, "text": GENERIC_MESSAGES["TRUSTED_CONFIRMATION_REQUIRED"][loc]}
        for loc in LOCALES
    ]


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

    if lists.locks:
        lock = lists.locks.get(event.customer_id)
        if lock is not None and lock.active(ctx.ts):
            locked = _locked(ctx, lock, values)
            if locked is not None:
                return locked
    result = _evaluate_lists_and_rules(ctx, ruleset, lists, values)
    if lists.trusted and event.type in LOCKED_OUTFLOW_TYPES:
        threshold = lists.trusted.get(event.customer_id)
        if threshold is not None and ctx.amount > threshold:
            _with_trusted_person(ctx, result, threshold)
    return result


def _evaluate_lists_and_rules(
    ctx: FeatureContext, ruleset: RuleSet, lists: ListsView, values: LazyFeatures
) -> EngineResult:
    """The deny and allow lists, then the rules, then the guardrails."""
    event = ctx.event
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
