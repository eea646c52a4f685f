"""The evidence pack: one export of every intervention of a case or a customer, for disputes,
reimbursement claims and the regulator (issue #19, item 6).

A reimbursement regime holds a customer to an intervention only when it can be shown what was
said to them, when, where, in which language, what they answered and what happened next. The
pack gathers it from the tables that already record it, without a new copy that could drift:

* what was shown: each decision at remind or more, its messages exactly as stored and its
  reasons in the customer's words (the explanation of the rule-set version that made it);
* the questions and answers of a challenge, and the customer's choice (its follow-up decision);
* holds and their end, the case timeline, the calls made, the release or cancel instructions
  sent to the lender, the money lock's history and the trusted person's confirmations.

Free text typed by people (call notes, timeline notes, answers, lock details) is masked again
on the way out, whatever was stored: a note written before masking existed, or a masker that
improved since, must not put a phone number in a printed bundle.

Every section is ordered by time. The digest is the SHA-256 of the canonical JSON of the scope
and the sections (keys sorted, no spaces, UTF-8), so a printed copy (HTML) and the JSON export
of the same evidence carry the same digest and can be matched; the export time and the
requester are outside it. Every export is audited (``read.evidence``) before it is handed out.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import orjson
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy import Connection, Engine, or_, select

from lendguard.auth import audit
from lendguard.cases.service import load_scripts
from lendguard.decisions.explain import reason_sentence
from lendguard.decisions.rules.loader import Action
from lendguard.errors import NotFound
from lendguard.models.cases import (
    Case,
    CaseActivity,
    CaseDecision,
    OutreachTask,
    WebhookAttempt,
    WebhookDelivery,
)
from lendguard.models.decision import DecisionRecord, EventRecord
from lendguard.models.interventions import (
    ChallengeResponse,
    CustomerLockEvent,
    TrustedConfirmation,
)
from lendguard.privacy import intake, pii

LOCALES = ("zh-CN", "en")
# Decisions that intervene: everything above allow.
INTERVENTIONS = tuple(a.value for a in Action if a.rank >= Action.remind.rank)
# The most interventions one customer export holds (the newest); ``scope.truncated`` says when
# older ones were left out. A case holds few; a customer's whole history could be unbounded.
MAX_INTERVENTIONS = 2_000
DEFAULT_CHANNEL = "app"
DIGEST_COVERS = (
    "SHA-256 of the UTF-8 JSON of {scope, sections}, keys sorted, no spaces; generated_at and "
    "requested_by are outside it"
)

# explain(decision, locale) -> {"text", "reasons": [{"code", "text"}], ...}
Explainer = Callable[[dict[str, Any], str], dict[str, Any]]


@dataclass(frozen=True)
class _Scope:
    kind: str
    case_id: str | None
    customer_id: str


class EvidencePacks:
    """Builds evidence packs from the database. ``explain`` is the decision service's
    explanation of a stored decision (the wording of the rule-set version that made it);
    ``pii_key`` resolves a customer id the lender sends to the id as stored."""

    def __init__(self, engine: Engine, explain: Explainer, pii_key: bytes) -> None:
        self.db = engine
        self.explain = explain
        self.pii_key = pii_key

    # -- the two exports ---------------------------------------------------------------------

    def for_case(
        self, case_id: str, actor: str, ip: str | None = None, fmt: str = "json"
    ) -> dict[str, Any]:
        """Every intervention filed under ``case_id`` (and its challenges' follow-ups), the
        case's holds, timeline, calls and lender instructions, and the customer's money lock
        history. 404 for an unknown case."""
        with self.db.connect() as conn:
            case = conn.execute(select(Case).where(Case.id == case_id)).one_or_none()
            if case is None:
                raise NotFound(f"case '{case_id}' does not exist")
            links = _case_links(conn, [case_id])
            filed = [link.decision_id for link in links]
            # A case may hold the first decision or the follow-up its answers gave (a "yes" to
            # a scam question holds the money under a case): the challenge is found either way.
            challenges = _rows(
                conn,
                select(ChallengeResponse).where(
                    or_(
                        ChallengeResponse.decision_id.in_(filed),
                        ChallengeResponse.follow_up_decision_id.in_(filed),
                    )
                ),
            )
            ids = [*filed, *(c.decision_id for c in challenges)]
            follow_ups = [c.follow_up_decision_id for c in challenges]
            decisions = _rows(
                conn,
                select(DecisionRecord).where(
                    DecisionRecord.decision_id.in_(ids),
                    DecisionRecord.action.in_(INTERVENTIONS),
                ),
            )
            scope = _Scope("case", case_id, str(case.customer_id))
            sections = self._sections(
                conn,
                scope,
                decisions,
                challenges,
                [case],
                links,
                _rows(
                    conn,
                    select(TrustedConfirmation).where(
                        TrustedConfirmation.decision_id.in_(ids + follow_ups)
                    ),
                ),
            )
        return self._issue(scope, False, sections, actor, ip, fmt)

    def for_customer(
        self, customer_id: str, actor: str, ip: str | None = None, fmt: str = "json"
    ) -> dict[str, Any]:
        """Every intervention of a customer (the newest :data:`MAX_INTERVENTIONS`), their
        cases, challenges, money lock history and trusted confirmations. The id is resolved as
        the decision endpoints resolve it (an id holding personal information is stored as its
        pseudonym). 404 when there is nothing to export."""
        stored = intake.stored_identifier(customer_id, self.pii_key)
        with self.db.connect() as conn:
            decisions = _rows(
                conn,
                select(DecisionRecord)
                .where(
                    DecisionRecord.customer_id == stored,
                    DecisionRecord.action.in_(INTERVENTIONS),
                )
                .order_by(DecisionRecord.decided_at.desc())
                .limit(MAX_INTERVENTIONS + 1),
            )
            truncated = len(decisions) > MAX_INTERVENTIONS
            decisions = decisions[:MAX_INTERVENTIONS]
            cases = _rows(conn, select(Case).where(Case.customer_id == stored))
            links = _case_links(conn, [c.id for c in cases])
            challenges = _rows(
                conn, select(ChallengeResponse).where(ChallengeResponse.customer_id == stored)
            )
            confirmations = _rows(
                conn,
                select(TrustedConfirmation).where(TrustedConfirmation.customer_id == stored),
            )
            scope = _Scope("customer", None, stored)
            sections = self._sections(
                conn, scope, decisions, challenges, cases, links, confirmations
            )
        if not any(sections.values()):
            raise NotFound(f"customer '{customer_id}' has no intervention to export")
        return self._issue(scope, truncated, sections, actor, ip, fmt)

    # -- assembling ----------------------------------------------------------------------------

    def _sections(
        self,
        conn: Connection,
        scope: _Scope,
        decisions: Sequence[Any],
        challenges: Sequence[Any],
        cases: Sequence[Any],
        links: Sequence[Any],
        confirmations: Sequence[Any],
    ) -> dict[str, list[dict[str, Any]]]:
        case_ids = [c.id for c in cases]
        # The decisions the challenges answered (for their follow-ups' event and wording),
        # read whatever their place in the export.
        originals = {d.decision_id: d for d in decisions}
        missing = [c.decision_id for c in challenges if c.decision_id not in originals]
        if missing:
            originals.update(
                (d.decision_id, d)
                for d in _rows(
                    conn, select(DecisionRecord).where(DecisionRecord.decision_id.in_(missing))
                )
            )
        bodies: dict[str, dict[str, Any]] = dict(
            conn.execute(
                select(EventRecord.event_id, EventRecord.body).where(
                    EventRecord.event_id.in_([d.event_id for d in originals.values()])
                )
            ).all()
        )
        case_of = {link.decision_id: link.case_id for link in links}
        challenge_of = {c.decision_id: c for c in challenges}
        shown = [
            self._shown(d, bodies.get(d.event_id, {}), case_of, challenge_of) for d in decisions
        ]
        shown += [
            self._follow_up_shown(c, originals.get(c.decision_id), bodies, case_of)
            for c in challenges
            if _rank(c.follow_up_action) >= Action.remind.rank
        ]
        return {
            "interventions": sorted(shown, key=lambda i: (i["decided_at"], i["decision_id"])),
            "challenges": [
                _challenge(c) for c in sorted(challenges, key=lambda c: (c.answered_at, c.id))
            ],
            "holds": [_hold(link) for link in sorted(links, key=lambda r: (r.added_at, r.id))],
            "cases": [_case(c) for c in sorted(cases, key=lambda c: (c.opened_at, c.id))],
            "case_timeline": _timeline(conn, case_ids),
            "calls": _calls(conn, case_ids),
            "lender_notifications": _notifications(conn, case_ids),
            "money_lock": _lock_events(conn, scope.customer_id),
            "trusted_confirmations": [
                _confirmation(t)
                for t in sorted(confirmations, key=lambda t: (t.requested_at, t.id))
            ],
        }

    def _shown(
        self,
        decision: Any,
        body: dict[str, Any],
        case_of: dict[str, str],
        challenge_of: dict[str, Any],
    ) -> dict[str, Any]:
        stored = dict(decision._mapping)
        explanation = {}
        for locale in LOCALES:
            words = self.explain(stored, locale)
            explanation[locale] = {
                "text": words["text"],
                "reasons": [{"code": r["code"], "text": r["text"]} for r in words["reasons"]],
            }
        channel = body.get("channel")
        amount = body.get("amount")
        return {
            "decision_id": decision.decision_id,
            "event_id": decision.event_id,
            "event_type": decision.event_type,
            "occurred_at": decision.occurred_at,
            "decided_at": decision.decided_at,
            "channel": str(channel) if channel else DEFAULT_CHANNEL,
            "action": decision.action,
            "amount": None if amount is None else str(amount),
            "currency": body.get("currency"),
            "messages": list(decision.messages or []),
            "explanation": explanation,
            "case_id": case_of.get(decision.decision_id),
            "follow_up_of": None,
            "customer_choice": _choice(challenge_of.get(decision.decision_id)),
        }

    def _follow_up_shown(
        self,
        challenge: Any,
        original: Any | None,
        bodies: dict[str, dict[str, Any]],
        case_of: dict[str, str],
    ) -> dict[str, Any]:
        """The decision the answers gave, as shown after them: it lives on the challenge's row
        (the decision log holds the first decision only)."""
        stored = {
            "decision_id": challenge.follow_up_decision_id,
            "action": challenge.follow_up_action,
            "reasons": [r for r in challenge.follow_up_reasons or [] if isinstance(r, dict)],
            "measures": list(challenge.follow_up_measures or []),
            "guardrails": [],
            "ruleset_version": original.ruleset_version if original is not None else None,
            "model_version": None,
        }
        explanation = {}
        for locale in LOCALES:
            words = self.explain(stored, locale)
            explanation[locale] = {
                "text": words["text"],
                "reasons": [{"code": r["code"], "text": r["text"]} for r in words["reasons"]],
            }
        body = bodies.get(original.event_id, {}) if original is not None else {}
        amount = body.get("amount")
        return {
            "decision_id": challenge.follow_up_decision_id,
            "event_id": original.event_id if original is not None else None,
            "event_type": original.event_type if original is not None else None,
            "occurred_at": original.occurred_at if original is not None else None,
            "decided_at": challenge.answered_at,
            "channel": challenge.channel or DEFAULT_CHANNEL,
            "action": challenge.follow_up_action,
            "amount": None if amount is None else str(amount),
            "currency": body.get("currency"),
            "messages": list(challenge.follow_up_messages or []),
            "explanation": explanation,
            "case_id": case_of.get(challenge.follow_up_decision_id),
            "follow_up_of": challenge.decision_id,
            "customer_choice": _choice(None),
        }

    def _issue(
        self,
        scope: _Scope,
        truncated: bool,
        sections: dict[str, list[dict[str, Any]]],
        actor: str,
        ip: str | None,
        fmt: str,
    ) -> dict[str, Any]:
        """The pack as sent: JSON-plain (times as ISO 8601 strings, exactly what is hashed),
        digested, and audited before it is handed out (a failed entry means no export)."""
        content = plain(
            {
                "scope": {
                    "kind": scope.kind,
                    "case_id": scope.case_id,
                    "customer_id": scope.customer_id,
                    "truncated": truncated,
                },
                "sections": sections,
            }
        )
        value = digest(content)
        target = f"case:{scope.case_id}" if scope.case_id else f"customer:{scope.customer_id}"
        counts = {name: len(items) for name, items in content["sections"].items()}
        audit.record_read(
            self.db,
            actor,
            "evidence",
            target,
            ip,
            {"format": fmt, "digest": value, "truncated": truncated, "counts": counts},
        )
        return {
            "scope": content["scope"],
            "generated_at": datetime.now(UTC).isoformat(),
            "requested_by": actor,
            "sections": content["sections"],
            "digest": {"algorithm": "sha256", "value": value, "covers": DIGEST_COVERS},
        }


# -- the digest ------------------------------------------------------------------------------------


def plain(value: Any) -> Any:
    """``value`` as JSON gives it back: datetimes as ISO 8601 strings, tuples as lists."""
    return orjson.loads(orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS))


def digest(content: dict[str, Any]) -> str:
    """SHA-256 (hex) of the canonical JSON of ``{scope, sections}``: keys sorted, no spaces,
    UTF-8 (``json.dumps(x, sort_keys=True, separators=(",", ":"), ensure_ascii=False)``)."""
    wanted = {"scope": content["scope"], "sections": content["sections"]}
    return hashlib.sha256(orjson.dumps(wanted, option=orjson.OPT_SORT_KEYS)).hexdigest()


# -- rows ------------------------------------------------------------------------------------------


def _rows(conn: Connection, query: Any) -> list[Any]:
    return list(conn.execute(query).all())


def _case_links(conn: Connection, case_ids: list[str]) -> list[Any]:
    return _rows(conn, select(CaseDecision).where(CaseDecision.case_id.in_(case_ids)))


def masked(value: Any) -> Any:
    """Every string in ``value`` (nested in dicts and lists) with personal information masked."""
    if isinstance(value, str):
        return pii.mask_text(value) if value else value
    if isinstance(value, dict):
        return {str(k): masked(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [masked(v) for v in value]
    return value


def _choice(challenge: Any | None) -> dict[str, Any]:
    """The customer's choice: known only from answered questions (their follow-up decision);
    a follow-up at intercept or more stopped the payment."""
    if challenge is None:
        return {
            "code": "unknown",
            "challenge_outcome": None,
            "follow_up_decision_id": None,
            "follow_up_action": None,
        }
    rank = _rank(challenge.follow_up_action)
    if rank >= Action.intercept.rank:
        code = "stopped_after_questions"
    elif rank == Action.dissuade.rank:
        code = "warned_again_after_questions"
    else:
        code = "proceeded_after_questions"
    return {
        "code": code,
        "challenge_outcome": challenge.outcome,
        "follow_up_decision_id": challenge.follow_up_decision_id,
        "follow_up_action": challenge.follow_up_action,
    }


def _rank(action: str) -> int:
    try:
        return Action(action).rank
    except ValueError:
        return -1


def _reason_code(reason: Any) -> str | None:
    if isinstance(reason, dict):
        code = reason.get("code")
        return str(code) if code else None
    return str(reason) if isinstance(reason, str) and reason else None


def _challenge(row: Any) -> dict[str, Any]:
    reasons: dict[str, list[str]] = {}
    for locale in LOCALES:
        texts: list[str] = []
        for reason in row.follow_up_reasons or []:
            code = _reason_code(reason)
            text = reason_sentence(code, locale) if code else None
            if text and text not in texts:
                texts.append(text)
        reasons[locale] = texts
    return {
        "decision_id": row.decision_id,
        "challenge_id": row.challenge_id,
        "policy_version": row.policy_version,
        "locale": row.locale,
        "channel": row.channel,
        "questions": list(row.questions or []),
        "answers": masked(dict(row.answers or {})),
        "outcome": row.outcome,
        "follow_up_decision_id": row.follow_up_decision_id,
        "follow_up_action": row.follow_up_action,
        "follow_up_reasons": reasons,
        "follow_up_messages": list(row.follow_up_messages or []),
        # a cooling-off hold: the payment goes ahead by itself at this instant
        "release_at": getattr(row, "release_at", None),
        "shown_at": row.shown_at,
        "answered_at": row.answered_at,
        "actor": row.actor,
    }


def _hold(link: Any) -> dict[str, Any]:
    return {
        "case_id": link.case_id,
        "decision_id": link.decision_id,
        "event_id": link.event_id,
        "action": link.action,
        "amount": link.amount,
        "added_at": link.added_at,
        "hold_status": link.hold_status,
        "hold_deadline": link.hold_deadline,
        "hold_ended_at": link.hold_ended_at,
        "hold_end_reason": link.hold_end_reason,
    }


def _case(case: Any) -> dict[str, Any]:
    return {
        "case_id": case.id,
        "case_type": case.case_type,
        "state": case.state,
        "scam_type": case.scam_type,
        "outcome": case.outcome,
        "opened_at": case.opened_at,
        "resolved_at": case.resolved_at,
    }


def _timeline(conn: Connection, case_ids: list[str]) -> list[dict[str, Any]]:
    rows = _rows(
        conn,
        select(CaseActivity)
        .where(CaseActivity.case_id.in_(case_ids))
        .order_by(CaseActivity.at, CaseActivity.id),
    )
    return [
        {
            "case_id": a.case_id,
            "at": a.at,
            "actor": a.actor,
            "kind": a.kind,
            "detail": masked(dict(a.detail or {})),
        }
        for a in rows
    ]


def _calls(conn: Connection, case_ids: list[str]) -> list[dict[str, Any]]:
    rows = _rows(
        conn,
        select(OutreachTask)
        .where(OutreachTask.case_id.in_(case_ids))
        .order_by(OutreachTask.created_at, OutreachTask.id),
    )
    return [
        {
            "case_id": t.case_id,
            "kind": t.kind,
            "status": t.status,
            "outcome": t.outcome,
            "notes": masked(t.notes or ""),
            "created_at": t.created_at,
            "done_at": t.done_at,
            "done_by": t.done_by,
        }
        for t in rows
    ]


def _notifications(conn: Connection, case_ids: list[str]) -> list[dict[str, Any]]:
    deliveries = _rows(
        conn,
        select(WebhookDelivery)
        .where(WebhookDelivery.case_id.in_(case_ids))
        .order_by(WebhookDelivery.created_at, WebhookDelivery.id),
    )
    attempts: dict[str, int] = {}
    for (delivery_id,) in conn.execute(
        select(WebhookAttempt.delivery_id).where(
            WebhookAttempt.delivery_id.in_([d.id for d in deliveries])
        )
    ).all():
        attempts[delivery_id] = attempts.get(delivery_id, 0) + 1
    return [
        {
            "case_id": d.case_id,
            "event_id": d.event_id,
            "instruction": d.instruction,
            "status": d.status,
            "attempts": max(attempts.get(d.id, 0), int(d.attempts or 0)),
            "created_at": d.created_at,
            "delivered_at": d.delivered_at,
        }
        for d in deliveries
    ]


def _lock_events(conn: Connection, customer_id: str) -> list[dict[str, Any]]:
    rows = _rows(
        conn,
        select(CustomerLockEvent)
        .where(CustomerLockEvent.customer_id == customer_id)
        .order_by(CustomerLockEvent.at, CustomerLockEvent.id),
    )
    return [
        {"at": e.at, "kind": e.kind, "actor": e.actor, "detail": masked(dict(e.detail or {}))}
        for e in rows
    ]


def _confirmation(row: Any) -> dict[str, Any]:
    return {
        "decision_id": row.decision_id,
        "status": row.status,
        "amount": row.amount,
        "requested_at": row.requested_at,
        "expires_at": row.expires_at,
        "answered_at": row.answered_at,
        "actor": row.actor,
    }


# -- the printable page ----------------------------------------------------------------------------

_TEMPLATES = Path(__file__).resolve().parent / "templates"
_env = Environment(
    loader=FileSystemLoader(str(_TEMPLATES)),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)

# The page's words, in both languages. Codes the tables store are shown in these words; a code
# not listed here (a new timeline kind) is shown as stored rather than hidden.
WORDS: dict[str, dict[str, str]] = {
    "en": {
        "title": "Evidence of interventions",
        "scope": "Scope",
        "scope.case": "One case",
        "scope.customer": "One customer",
        "case": "Case",
        "customer": "Customer",
        "generated_at": "Generated at",
        "requested_by": "Requested by",
        "digest": "SHA-256 digest",
        "digest_note": "The JSON export of the same evidence carries the same digest: SHA-256 "
        "of the JSON of its scope and sections, keys sorted, no spaces.",
        "truncated": "This customer had more interventions than one export holds: the oldest "
        "are left out.",
        "none": "None",
        "interventions": "What the customer was shown",
        "challenges": "Questions and answers",
        "holds": "Held payments and their release",
        "cases": "Cases",
        "case_timeline": "Case timeline",
        "calls": "Calls made",
        "lender_notifications": "Instructions sent to the lender",
        "money_lock": "Money lock",
        "trusted_confirmations": "Trusted person's confirmations",
        "decided_at": "Shown at",
        "occurred_at": "Payment time",
        "channel": "Channel",
        "action": "Intervention",
        "amount": "Amount",
        "messages": "Message shown (exact text)",
        "why": "Why, in the customer's words",
        "choice": "Customer's choice",
        "decision": "Decision",
        "answered_at": "Answered at",
        "shown_at": "Questions shown at",
        "language": "Language",
        "question": "Question",
        "answer": "Answer",
        "outcome": "Outcome",
        "follow_up": "What happened next",
        "status": "Status",
        "deadline": "Release deadline",
        "ended_at": "Ended at",
        "end_reason": "How it ended",
        "at": "Time",
        "who": "By",
        "what": "What",
        "detail": "Detail",
        "kind": "Kind",
        "notes": "Notes",
        "created_at": "Created at",
        "done_at": "Done at",
        "instruction": "Instruction",
        "attempts": "Attempts",
        "delivered_at": "Delivered at",
        "requested_at": "Requested at",
        "expires_at": "Expires at",
        "state": "State",
        "scam_type": "Scam type",
        "opened_at": "Opened at",
        "resolved_at": "Resolved at",
        "no_answer": "(no answer)",
        "release_at": "Goes ahead by itself at",
        "after_answers": "Shown after the customer answered the questions",
    },
    "zh-CN": {
        "title": "干预证据包",
        "scope": "范围",
        "scope.case": "单个案件",
        "scope.customer": "单个客户",
        "case": "案件",
        "customer": "客户",
        "generated_at": "生成时间",
        "requested_by": "导出人",
        "digest": "SHA-256 摘要",
        "digest_note": "同一证据的 JSON 导出带有相同摘要：对其范围和各部分的 JSON"
        "（键排序、无空格）计算 SHA-256。",
        "truncated": "该客户的干预记录超过单次导出上限，最早的记录未包含在内。",
        "none": "无",
        "interventions": "向客户展示的内容",
        "challenges": "问题与回答",
        "holds": "暂缓的付款及其放行",
        "cases": "案件",
        "case_timeline": "案件时间线",
        "calls": "外呼记录",
        "lender_notifications": "发给放贷机构的指令",
        "money_lock": "资金锁",
        "trusted_confirmations": "紧急联系人确认",
        "decided_at": "展示时间",
        "occurred_at": "付款时间",
        "channel": "渠道",
        "action": "干预方式",
        "amount": "金额",
        "messages": "展示的提示（原文）",
        "why": "原因（客户可读）",
        "choice": "客户的选择",
        "decision": "决策",
        "answered_at": "回答时间",
        "shown_at": "问题展示时间",
        "language": "语言",
        "question": "问题",
        "answer": "回答",
        "outcome": "结果",
        "follow_up": "后续处理",
        "status": "状态",
        "deadline": "放行期限",
        "ended_at": "结束时间",
        "end_reason": "结束方式",
        "at": "时间",
        "who": "操作人",
        "what": "事项",
        "detail": "详情",
        "kind": "类型",
        "notes": "备注",
        "created_at": "创建时间",
        "done_at": "完成时间",
        "instruction": "指令",
        "attempts": "尝试次数",
        "delivered_at": "送达时间",
        "requested_at": "请求时间",
        "expires_at": "到期时间",
        "state": "状态",
        "scam_type": "诈骗类型",
        "opened_at": "创建时间",
        "resolved_at": "结案时间",
        "no_answer": "（未回答）",
        "release_at": "冷静期结束自动放行时间",
        "after_answers": "客户回答问题后展示",
    },
}

# Stored codes in words (actions, states, outcomes, timeline kinds).
CODES: dict[str, dict[str, str]] = {
    "en": {
        "allow": "Allowed",
        "remind": "Reminder",
        "dissuade": "Dissuasion",
        "intercept": "Payment held",
        "block": "Blocked",
        "proceeded_after_questions": "Answered the questions and went on",
        "warned_again_after_questions": "Answered the questions; was warned again",
        "stopped_after_questions": "Answered the questions; the payment was stopped",
        "unknown": "Not known (no questions were answered)",
        "passed": "Passed",
        "unchanged": "Nothing cleared",
        "failed": "Failed",
        "escalated": "Passed to a person",
        "held": "Held",
        "released": "Released",
        "cancelled": "Cancelled",
        "deadline": "Released at the deadline",
        "case_resolved": "Settled by the case",
        "released_by_agent": "Released by an agent",
        "cancelled_by_agent": "Cancelled by an agent",
        "hold_released": "Hold released",
        "hold_cancelled": "Hold cancelled",
        "hold_release_proposed": "Release of a hold proposed",
        "kill_switch_on": "Emergency lock turned on",
        "relocked": "Locked again (waiting unlock cancelled)",
        "in_person": "In person",
        "video": "Video call",
        "cooling_off": "After a waiting period",
        "new": "New",
        "triage": "Triage",
        "contacting_customer": "Contacting the customer",
        "resolved_fraud": "Resolved: fraud",
        "resolved_legit": "Resolved: legitimate",
        "resolved_scam_victim": "Resolved: scam victim",
        "escalated_police": "Escalated to the police",
        "resolved_supported": "Closed: support given",
        "opened": "Case opened",
        "joined": "Decision joined the case",
        "assigned": "Assigned",
        "note": "Note",
        "outreach": "Call recorded",
        "transition": "State change",
        "release_proposed": "Release proposed",
        "dissuasion_callback": "Dissuasion call-back",
        "trusted_contact_call": "Call to the trusted contact",
        "confirmed_scam": "Customer confirmed a scam",
        "insisted": "Customer insisted on paying",
        "unreachable": "Unreachable",
        "open": "Open",
        "done": "Done",
        "release": "Release",
        "cancel": "Cancel",
        "pending": "Pending",
        "delivered": "Delivered",
        "locked": "Locked",
        "unlock_requested": "Unlock requested",
        "unlocked": "Unlocked",
        "confirmed": "Confirmed",
        "declined": "Declined",
        "expired": "Expired",
        "scam": "Scam",
        "app": "App",
        "web": "Web",
    },
    "zh-CN": {
        "allow": "放行",
        "remind": "提醒",
        "dissuade": "劝阻",
        "intercept": "暂缓付款",
        "block": "阻断",
        "proceeded_after_questions": "回答问题后继续付款",
        "warned_again_after_questions": "回答问题后再次收到劝阻",
        "stopped_after_questions": "回答问题后付款被拦下",
        "unknown": "未知（未回答问题）",
        "passed": "通过",
        "unchanged": "未消除疑点",
        "failed": "未通过",
        "escalated": "转人工",
        "held": "暂缓中",
        "released": "已放行",
        "cancelled": "已取消",
        "deadline": "到期自动放行",
        "case_resolved": "随案件结案处理",
        "released_by_agent": "坐席放行",
        "cancelled_by_agent": "坐席取消",
        "hold_released": "放行暂缓付款",
        "hold_cancelled": "取消暂缓付款",
        "hold_release_proposed": "提议放行暂缓付款",
        "kill_switch_on": "开启紧急锁定",
        "relocked": "重新锁定（取消等待中的解锁）",
        "in_person": "网点当面核验",
        "video": "视频核验",
        "cooling_off": "冷静期后解锁",
        "new": "新建",
        "triage": "研判中",
        "contacting_customer": "联系客户中",
        "resolved_fraud": "已结案：欺诈",
        "resolved_legit": "已结案：正常",
        "resolved_scam_victim": "已结案：诈骗受害人",
        "escalated_police": "已移交公安",
        "resolved_supported": "已结案：已提供援助",
        "opened": "创建案件",
        "joined": "新决策并入",
        "assigned": "分派",
        "note": "备注",
        "outreach": "记录外呼",
        "transition": "状态变更",
        "release_proposed": "提议放行",
        "dissuasion_callback": "劝阻回访",
        "trusted_contact_call": "联系紧急联系人",
        "confirmed_scam": "客户确认被骗",
        "insisted": "客户坚持转账",
        "unreachable": "无法联系",
        "open": "处理中",
        "done": "已完成",
        "release": "放行",
        "cancel": "取消",
        "pending": "待发送",
        "delivered": "已送达",
        "locked": "已锁定",
        "unlock_requested": "已申请解锁",
        "unlocked": "已解锁",
        "confirmed": "已确认",
        "declined": "已拒绝",
        "expired": "已过期",
        "scam": "诈骗",
        "app": "App",
        "web": "网页",
    },
}


def _when(value: Any) -> str:
    """An ISO 8601 time as ``YYYY-MM-DD HH:MM:SS UTC`` (empty for none)."""
    if not value:
        return ""
    try:
        at = datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)
    if at.tzinfo is not None:
        at = at.astimezone(UTC)
    return at.strftime("%Y-%m-%d %H:%M:%S") + " UTC"


def _as_text(value: Any) -> str:
    """A stored value (answer, detail) as text: lists joined, nested values as JSON."""
    if value is None:
        return ""
    if isinstance(value, list):
        return ", ".join(_as_text(v) for v in value)
    if isinstance(value, dict):
        return orjson.dumps(value).decode()
    if isinstance(value, bool):
        return "✓" if value else "✗"
    return str(value)


# Detail keys shown on the page, in words; ids and reason codes are left to the JSON export (the
# page says what happened, in the reader's words).
DETAIL_WORDS: dict[str, dict[str, str]] = {
    "en": {
        "note": "Note",
        "text": "Note",
        "notes": "Notes",
        "outcome": "Outcome",
        "from": "From",
        "to": "To",
        "kind": "Kind",
        "assignee": "Assigned to",
        "scam_type": "Scam type",
        "amount": "Amount",
        "channel": "Channel",
        "reason": "Reason",
        "method": "How verified",
        "kill_switch": "Kill switch",
        "instruction": "Instruction",
        "reference": "Reference",
        "verified_by": "Verified by",
        "cooling_off_hours": "Waiting period (hours)",
        "effective_at": "Takes effect at",
        "threshold": "Threshold",
        "face_check": "Face check",
        "face_check_reference": "Face check reference",
    },
    "zh-CN": {
        "note": "备注",
        "text": "备注",
        "notes": "备注",
        "outcome": "结果",
        "from": "原状态",
        "to": "新状态",
        "kind": "类型",
        "assignee": "处理人",
        "scam_type": "诈骗类型",
        "amount": "金额",
        "channel": "渠道",
        "reason": "原因",
        "method": "核验方式",
        "kill_switch": "紧急冻结",
        "instruction": "指令",
        "reference": "凭证编号",
        "verified_by": "核验人",
        "cooling_off_hours": "冷静期（小时）",
        "effective_at": "生效时间",
        "threshold": "金额门槛",
        "face_check": "人脸核验",
        "face_check_reference": "人脸核验流水号",
    },
}
_HIDDEN_DETAIL = frozenset({"decision_id", "event_id", "task_id", "reasons", "delivery_id"})


@lru_cache(maxsize=1)
def scam_titles() -> dict[str, dict[str, str]]:
    """Each scam type's title in both languages (the cases area's call scripts)."""
    return {name: dict(script.title) for name, script in load_scripts()[0].items()}


def _question_text(question: Any) -> str:
    if isinstance(question, dict):
        return str(question.get("text") or question.get("id") or "")
    return str(question)


def _other_answers(questions: list[Any], answers: dict[str, Any]) -> dict[str, Any]:
    """Answers kept beside the questions' (a face check's result, its reference)."""
    asked = {str(q["id"]) for q in questions if isinstance(q, dict) and "id" in q}
    return {k: v for k, v in answers.items() if k not in asked}


def _answer_text(question: Any, answers: dict[str, Any]) -> str | None:
    """The answer to ``question`` in the words of the option chosen, when it names one."""
    if not isinstance(question, dict) or "id" not in question:
        return None
    given = answers.get(str(question["id"]))
    if given is None:
        return None
    options = question.get("options") or []
    chosen = given if isinstance(given, list) else [given]
    words = []
    for value in chosen:
        label = next(
            (
                str(o.get("text") or o.get("label") or value)
                for o in options
                if isinstance(o, dict) and str(o.get("id", o.get("value"))) == str(value)
            ),
            None,
        )
        words.append(label if label is not None else _as_text(value))
    return ", ".join(words)


def render_html(pack: dict[str, Any], locale: str) -> str:
    """The pack as one printable, self-contained page (inline styles, no script, no external
    asset) with headings in ``locale``; every stored text is escaped."""
    loc = "zh-CN" if locale.lower().startswith("zh") else "en"
    words = WORDS[loc]
    codes = CODES[loc]

    titles = scam_titles()
    detail_words = DETAIL_WORDS[loc]

    def code(value: Any) -> str:
        return codes.get(str(value), str(value)) if value is not None else ""

    def scam(value: Any) -> str:
        return titles.get(str(value), {}).get(loc, str(value)) if value else ""

    def detail(items: dict[str, Any]) -> list[tuple[str, str]]:
        """A timeline or lock detail as (label, value) lines: stored codes in words, ids and
        reason codes left out."""
        lines = []
        for key, value in items.items():
            if key in _HIDDEN_DETAIL or value in (None, "", [], {}):
                continue
            if key == "scam_type":
                shown = scam(value)
            elif key.endswith("_at") and isinstance(value, str):
                shown = _when(value)
            elif isinstance(value, str):
                shown = code(value)
            else:
                shown = _as_text(value)
            lines.append((detail_words.get(key, key), shown))
        return lines

    template = _env.get_template("evidence.html")
    return template.render(
        pack=pack,
        loc=loc,
        t=words,
        code=code,
        scam=scam,
        detail=detail,
        when=_when,
        as_text=_as_text,
        question_text=_question_text,
        answer_text=_answer_text,
        other_answers=_other_answers,
    )
