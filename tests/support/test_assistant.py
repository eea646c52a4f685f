"""The agent assistant: the scam-victim fixture end to end (analyze → the next transfer to a new
payee is intercepted with SCAM_CUE_IN_CONVERSATION), the engine feature and rule, vulnerability
→ marketing suppressed, abstention, the knowledge base, the CLI and the API's refusals."""

from __future__ import annotations

import csv
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import structlog
from pydantic import TypeAdapter
from sqlalchemy import select
from typer.testing import CliRunner

from fixtures import T0, Api, EngineRun, make_event, r39_scam_events, reason_codes
from lendguard.cli.main import app as cli_app
from lendguard.config import get_settings
from lendguard.models.decision import EventRecord
from lendguard.support import intents as intent_models
from lendguard.support.assistant import Assistant, get_assistant, shipped_articles
from lendguard.support.assistant_endpoints import contact_event_id
from lendguard.support.assistant_schemas import AnalyzeResponse, AssistantWarning
from lendguard.support.cues import (
    CRISIS_CUES,
    SCAM_CUES,
    SCAM_TYPES,
    VULNERABILITY_CUES,
    ScamDetector,
    find_cues,
)

# Outcomes here are read against "now": pinned for every test.
pytestmark = pytest.mark.usefixtures("pinned_clock")

FIXTURE_ZH = "客服说我的校园贷账户要注销，让我把钱转到安全账户"
# The example: a crisis said in passing, after job loss and not being able to pay.
CRISIS_ZH = "我最近失业了，还不上钱…不想活了"
FIXTURE_EN = (
    "Customer service said my campus loan account has to be cancelled and told me to move "
    "my money to a safe account"
)
KB = Path(intent_models.shipped_path("eval_out_of_scope.csv")).parent


def _rows(name: str) -> list[dict[str, str]]:
    with open(KB / name, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def assistant() -> Assistant:
    return get_assistant(None)


def _analyze(api: Api, **body: Any) -> dict[str, Any]:
    response = api.client.post("/v1/assistant/analyze", json=body, headers=api.admin)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def _transfer(customer: str, at: datetime, payee: str = "new-payee-1", amount: str = "5000"):
    return make_event(
        customer_id=customer, occurred_at=at, amount=amount, payee_id=payee, device_id="dev-9"
    )


# -- the fixture, end to end over HTTP ----------------------------------------------------------


@pytest.mark.parametrize(("text", "locale"), [(FIXTURE_ZH, "zh-CN"), (FIXTURE_EN, "en")])
def test_scam_cue_in_conversation_stops_next_transfer_to_new_payee(
    app_client: Api, text: str, locale: str
) -> None:
    customer = f"victim-{locale}"
    now = datetime.now(UTC)
    # some ordinary history: a payee paid before, so "new payee" means something
    api = app_client
    api.decide(_transfer(customer, now - timedelta(days=20), payee="landlord", amount="3000"))
    result = _analyze(api, customer_id=customer, text=text, conversation_id="conv-1")
    assert result["locale"] == locale
    assert result["scam"]["cue"] is True
    assert result["scam"]["type"] == "fake_customer_service"
    kinds = {w["kind"] for w in result["warnings"]}
    assert "scam_victim" in kinds
    scam = next(w for w in result["warnings"] if w["kind"] == "scam_victim")
    cues = {r["cue"] for r in scam["reasons"]}
    assert {"safe_account", "campus_loan_cancellation"} <= cues
    assert result["handoff"] is True
    assert result["answers"][0]["article_id"] == "scam-warning"
    assert result["answers"][0]["locale"] == locale
    decision = result["effects"]["decision"]
    assert decision["action"] == "allow"  # the contact itself is never refused
    assert decision["event_id"] == contact_event_id(customer, "conv-1", text)

    # the next transfer of 5,000 to a new payee: intercepted, slowed down, routed to a person
    after = api.decide(_transfer(customer, now + timedelta(minutes=5)))
    assert after["action"] in ("intercept", "dissuade")
    assert "SCAM_CUE_IN_CONVERSATION" in reason_codes(after)
    assert {"DELAY", "CALLBACK"} <= set(after["measures"])
    assert after["action"] != "block"
    # the payee paid before is not held by this rule
    known = api.decide(
        _transfer(customer, now + timedelta(minutes=6), payee="landlord", amount="3000")
    )
    assert "SCAM_CUE_IN_CONVERSATION" not in reason_codes(known)


def test_without_a_scam_cue_the_same_transfer_is_not_held_for_it(app_client: Api) -> None:
    customer = "ordinary-1"
    result = _analyze(app_client, customer_id=customer, text="When is my next repayment due?")
    assert result["scam"]["cue"] is False
    assert result["effects"]["decision"] is None
    after = app_client.decide(_transfer(customer, datetime.now(UTC) + timedelta(minutes=5)))
    assert "SCAM_CUE_IN_CONVERSATION" not in reason_codes(after)


def test_retry_is_idempotent_and_the_text_never_reaches_the_event_log(app_client: Api) -> None:
    body = {"customer_id": "victim-retry", "text": FIXTURE_ZH, "conversation_id": "c-9"}
    first = _analyze(app_client, **body)
    events_before = app_client.rows("events")
    second = _analyze(app_client, **body)  # another occurred_at (now): the first record stands
    assert app_client.rows("events") == events_before
    assert (
        second["effects"]["decision"]["decision_id"] == first["effects"]["decision"]["decision_id"]
    )
    assert second["effects"]["decision"]["replayed"] is True
    with app_client.services.decisions.db.connect() as conn:
        stored = conn.execute(
            select(EventRecord.body).where(
                EventRecord.event_id == first["effects"]["decision"]["event_id"]
            )
        ).scalar_one()
    dumped = json.dumps(stored, ensure_ascii=False)
    assert "安全账户" not in dumped
    assert "校园贷" not in dumped
    assert stored["attributes"]["conversation_cues"] == ["scam_victim"]
    assert stored["type"] == "contact"


def test_vulnerability_cue_suppresses_marketing(app_client: Api) -> None:
    customer = "hardship-1"
    flags = app_client.services.conduct.flags
    assert not flags.marketing_suppressed(customer, datetime.now(UTC))
    result = _analyze(
        app_client, customer_id=customer, text="我上个月失业了，这个月的贷款实在还不上"
    )
    assert set(result["vulnerability"]) >= {"job_loss", "cannot_pay"}
    assert result["scam"]["cue"] is False
    assert result["effects"]["rescue"]["set"] is True
    assert result["answers"][0]["article_id"] == "hardship-help"
    assert flags.marketing_suppressed(customer, datetime.now(UTC) + timedelta(seconds=1))
    again = _analyze(app_client, customer_id=customer, text="My husband passed away last week")
    assert again["vulnerability"] == ["bereavement"]
    assert again["effects"]["rescue"] == {
        "flag": "marketing_suppressed",
        "set": False,
        "already": True,
    }


def test_crisis_cue_is_an_urgent_handoff_with_a_case_and_the_rescue_suppressions(
    app_client: Api,
) -> None:
    customer = "crisis-1"
    api = app_client
    flags = api.services.conduct.flags
    # an intercepted transfer of someone else: an open scam case with a high risk score
    for event in r39_scam_events("student-crisis"):
        api.decide(event)
    result = _analyze(
        api, customer_id=customer, text=CRISIS_ZH, conversation_id="conv-c", locale="zh-CN"
    )
    assert result["crisis"] == ["self_harm"]
    assert result["urgent"] is True
    assert result["handoff"] is True
    assert [w["kind"] for w in result["warnings"]][0] == "crisis"
    effects = result["effects"]["crisis"]
    assert effects["case_opened"] is True
    assert effects["marketing_suppressed"] == {"set": True, "already": False}
    assert effects["collection_paused"] == {"set": True, "already": False}
    later = datetime.now(UTC) + timedelta(seconds=1)
    assert flags.marketing_suppressed(customer, later)
    assert flags.collection_paused(customer, later)
    steps = {s["step"] for s in api.services.rescue.customer(customer)["steps"]}
    assert {"MARKETING_SUPPRESSED", "COLLECTION_PAUSED"} <= steps
    # the hardship ladder's own vulnerability effect saw marketing already suppressed
    assert result["effects"]["rescue"]["already"] is True

    case = api.client.get(f"/v1/cases/{effects['case_id']}", headers=api.admin).json()
    assert case["case_type"] == "crisis"
    assert case["customer_id"] == customer
    assert case["script"]["title"]["zh-CN"]
    assert case["script"]["steps"]["en"]
    opened = case["timeline"][0]
    assert opened["kind"] == "opened"
    assert opened["detail"]["cues"] == ["self_harm"]
    assert "不想活" not in json.dumps(case, ensure_ascii=False)  # the words stay out
    hotline = next(h for h in case["hotlines"] if h["number"] == "12356")
    assert hotline["name"] == {
        "zh-CN": "全国心理援助热线",
        "en": "National psychological assistance hotline",
    }
    # the crisis case comes first in the queue and to the next analyst, above the scam case
    queue = api.client.get("/v1/cases", headers=api.admin).json()["cases"]
    assert [c["case_type"] for c in queue] == ["crisis", "scam"]
    taken = api.client.post("/v1/cases/next", headers=api.admin).json()["case"]
    assert taken["id"] == effects["case_id"]

    # the same words again: no second case, no second flag
    again = _analyze(api, customer_id=customer, text=CRISIS_ZH, conversation_id="conv-c")
    assert again["effects"]["crisis"]["case_id"] == effects["case_id"]
    assert again["effects"]["crisis"]["case_opened"] is False
    assert again["effects"]["crisis"]["collection_paused"] == {"set": False, "already": True}
    crisis_cases = [
        c
        for c in api.client.get("/v1/cases", headers=api.admin).json()["cases"]
        if c["case_type"] == "crisis"
    ]
    assert len(crisis_cases) == 1

    # in English, for a customer in the UK: the Samaritans' number
    uk = _analyze(
        api,
        customer_id="crisis-uk",
        text="I can't pay any of it and I just want to end it all.",
        jurisdiction="UK",
    )
    warning = uk["warnings"][0]
    assert warning["kind"] == "crisis"
    assert [h["number"] for h in warning["hotlines"] if h["kind"] == "hotline"] == ["116 123"]
    assert uk["effects"]["crisis"]["case_opened"] is True
    bad = api.client.post(
        "/v1/assistant/analyze",
        json={"customer_id": "c", "text": "hi", "jurisdiction": "FR"},
        headers=api.admin,
    )
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"].endswith("jurisdiction")


def test_a_crisis_case_closes_as_support_given_and_only_a_crisis_case_does(
    app_client: Api,
) -> None:
    """A crisis case has its own close: support given or referral made, with a note. It writes
    no fraud label and settles no holds; a fraud or scam case cannot take it."""
    api = app_client
    for event in r39_scam_events("student-crisis-close"):
        api.decide(event)
    crisis = _analyze(api, customer_id="crisis-close", text=CRISIS_ZH, locale="zh-CN")
    case_id = crisis["effects"]["crisis"]["case_id"]
    cases = api.client.get("/v1/cases", headers=api.admin).json()["cases"]
    scam_id = next(c["id"] for c in cases if c["case_type"] == "scam")

    def move(case: str, to: str, note: str = "") -> Any:
        return api.client.post(
            f"/v1/cases/{case}/transition", json={"to": to, "note": note}, headers=api.admin
        )

    assert move(case_id, "triage").status_code == 200
    crisis_case = api.client.get(f"/v1/cases/{case_id}", headers=api.admin).json()
    assert "resolved_supported" in crisis_case["allowed_transitions"]
    scam_case = api.client.get(f"/v1/cases/{scam_id}", headers=api.admin).json()
    assert "resolved_supported" not in scam_case["allowed_transitions"]

    no_note = move(case_id, "resolved_supported")
    assert no_note.status_code == 422
    assert no_note.json()["errors"][0]["field"].endswith("note")
    closed = move(case_id, "resolved_supported", "Stayed on the line; referred to 12356")
    assert closed.status_code == 200, closed.text
    assert closed.json()["state"] == "resolved_supported"
    assert closed.json()["outcome"] == "resolved_supported"

    assert move(scam_id, "triage").status_code == 200
    refused = move(scam_id, "resolved_supported", "n/a")
    assert refused.status_code == 409
    assert refused.json()["errors"][0]["field"].endswith("to")
    scam_after = api.client.get(f"/v1/cases/{scam_id}", headers=api.admin).json()
    assert scam_after["state"] == "triage"


@pytest.mark.parametrize("note", ["\u200b\u200b", "\u200b \ufeff\u2060", "\u00ad\n"])
def test_a_crisis_case_does_not_close_on_an_invisible_note(app_client: Api, note: str) -> None:
    """A note of zero-width characters passed 'a note is required' (str.strip keeps them) and
    closed the case with nothing said about the support given."""
    api = app_client
    crisis = _analyze(api, customer_id="crisis-blank", text=CRISIS_ZH, locale="zh-CN")
    case_id = crisis["effects"]["crisis"]["case_id"]
    url = f"/v1/cases/{case_id}/transition"
    assert api.client.post(url, json={"to": "triage"}, headers=api.admin).status_code == 200
    refused = api.client.post(
        url, json={"to": "resolved_supported", "note": note}, headers=api.admin
    )
    assert refused.status_code == 422, refused.text
    assert refused.json()["errors"][0]["field"] == "note"
    assert api.client.get(f"/v1/cases/{case_id}", headers=api.admin).json()["state"] == "triage"
    blank_note = api.client.post(
        f"/v1/cases/{case_id}/notes", json={"text": note}, headers=api.admin
    )
    assert blank_note.status_code == 422, blank_note.text


def test_complaint_and_out_of_scope_over_http(app_client: Api) -> None:
    complaint = _analyze(
        app_client, customer_id="c-1", text="I want to complain, your collector harassed me"
    )
    assert complaint["complaint"] is True
    assert any(w["kind"] == "complaint" for w in complaint["warnings"])
    weather = _analyze(app_client, customer_id="c-1", text="明天上海会下雨吗？", locale="zh-CN")
    assert weather["intent"]["abstained"] is True
    assert weather["handoff"] is True
    assert weather["answers"] == []
    assert weather["models"]["intent"] == "builtin:lending-intents"
    assert weather["models"]["scam"] == "lexicon"


def test_scope_and_validation(app_client: Api) -> None:
    url = "/v1/assistant/analyze"
    body = {"customer_id": "c-1", "text": "hello"}
    assert app_client.client.post(url, json=body).status_code == 401
    wrong = app_client.key("events:write", "decisions:read")
    assert app_client.client.post(url, json=body, headers=wrong).status_code == 403
    agent = app_client.key("cases:write")
    assert app_client.client.post(url, json=body, headers=agent).status_code == 200
    for bad in (
        {"customer_id": "c-1"},
        {"customer_id": "c-1", "text": ""},
        {"customer_id": "c-1", "text": "hi", "locale": "fr"},
        {"customer_id": "c-1", "text": "hi", "extra": 1},
        {"customer_id": "", "text": "hi"},
        {"customer_id": "c-1", "text": "x" * 4001},
    ):
        response = app_client.client.post(url, json=bad, headers=agent)
        assert response.status_code == 422, bad
        assert response.json()["errors"]


# -- the engine: feature and rule ---------------------------------------------------------------


def _contact(customer: str, at: datetime, cues: list[str] | None) -> dict[str, Any]:
    attributes = {"conversation_cues": cues} if cues is not None else {}
    return make_event(
        type="contact",
        customer_id=customer,
        occurred_at=at,
        amount=None,
        currency=None,
        payee_id=None,
        attributes=attributes,
    )


def test_rule_fires_within_the_window_only() -> None:
    run = EngineRun()
    run.decide(make_event(customer_id="v", occurred_at=T0 - timedelta(days=40), payee_id="old"))
    assert run.features(_transfer("v", T0), ["hours_since_scam_cue"]) == {
        "hours_since_scam_cue": None
    }
    run.decide(_contact("v", T0, ["scam_victim"]))
    soon = _transfer("v", T0 + timedelta(hours=2))
    assert run.features(soon, ["hours_since_scam_cue"]) == {"hours_since_scam_cue": 2.0}
    result = run.decide(soon)
    assert result.action.value == "intercept"
    assert "SCAM_CUE_IN_CONVERSATION" in reason_codes(result)
    late = run.decide(_transfer("v", T0 + timedelta(hours=73), payee="another-new"))
    assert "SCAM_CUE_IN_CONVERSATION" not in reason_codes(late)


def test_rule_ignores_contacts_without_scam_cues_and_known_payees() -> None:
    run = EngineRun()
    run.decide(make_event(customer_id="w", occurred_at=T0 - timedelta(days=3), payee_id="mum"))
    run.decide(_contact("w", T0, None))
    run.decide(_contact("w", T0, ["vulnerability"]))
    plain = run.decide(_transfer("w", T0 + timedelta(minutes=5)))
    assert "SCAM_CUE_IN_CONVERSATION" not in reason_codes(plain)
    run.decide(_contact("w", T0 + timedelta(minutes=6), ["scam_victim"]))
    known = run.decide(_transfer("w", T0 + timedelta(minutes=7), payee="mum"))
    assert "SCAM_CUE_IN_CONVERSATION" not in reason_codes(known)
    # an earlier event arriving late does not see a cue recorded after it (point in time)
    earlier = run.decide(_transfer("w", T0 - timedelta(minutes=1), payee="late-new"))
    assert "SCAM_CUE_IN_CONVERSATION" not in reason_codes(earlier)


# -- the models ---------------------------------------------------------------------------------


def test_builtin_model_abstains_out_of_scope_and_answers_in_scope(assistant: Assistant) -> None:
    oos = [r["text"] for r in _rows("eval_out_of_scope.csv")]
    assert len(oos) >= 60
    assert {r["topic"] for r in _rows("eval_out_of_scope.csv")} == {"weather", "cooking", "sports"}
    assert {r["locale"] for r in _rows("eval_out_of_scope.csv")} == {"zh-CN", "en"}
    abstained = intent_models.abstention_on(assistant.intents, oos)
    assert abstained >= 0.9
    in_scope = [r["text"] for r in _rows("scam_victim_paraphrases.csv") if r["label"] == "normal"]
    # the built-in fallback knows the lending intents only (no cards, passwords, ...): the
    # trained model's figures (>= 90 % answered) are measured by `make eval`
    answered = 1 - intent_models.abstention_on(assistant.intents, in_scope)
    assert answered >= 0.7


def test_lexicon_on_the_paraphrase_set(assistant: Assistant) -> None:
    rows = _rows("scam_victim_paraphrases.csv")
    scams = [r for r in rows if r["label"] == "scam"]
    normal = [r for r in rows if r["label"] == "normal"]
    assert len(scams) >= 30
    assert len(normal) >= 30
    detector = ScamDetector()
    caught = sum(detector.analyze(r["text"]).cue for r in scams)
    flagged = sum(detector.analyze(r["text"]).cue for r in normal)
    assert caught / len(scams) >= 0.95
    assert flagged / len(normal) <= 0.05
    for r in scams:
        assert detector.analyze(r["text"]).type in SCAM_TYPES


def test_one_weak_cue_alone_does_not_flag() -> None:
    detector = ScamDetector()
    weak = detector.analyze("上次客服说我的还款日可以调整，现在怎么操作？")
    assert [h.cue.name for h in weak.hits] == ["customer_service_caller"]
    assert weak.cue is False
    assert 0 < weak.score < 0.5
    assert detector.analyze("I want to close my account").cue is False
    assert detector.analyze("逾期会影响征信吗").cue is False


# Representative sentences per cue, zh-CN and en (written for these tests, apart from both
# hold-out rounds): each flags, and names the cue.
CUE_SENTENCES = [
    ("customer_service_caller", "有个号称是你们售后的人加了我微信，让我把钱转到他给的卡上"),
    (
        "customer_service_caller",
        "A woman claiming to be from your support team asked me to send the loan to her account",
    ),
    ("police_caller", "一个自称刑警的人说我的银行卡涉嫌洗钱，要我配合调查"),
    (
        "police_caller",
        "A man posing as a police officer said I would be arrested unless I paid a fine by "
        "transfer",
    ),
    ("crime_accusation", "一个自称刑警的人说我的银行卡涉嫌洗钱，要我配合调查"),
    ("safe_account", "对方要我把存款都转进一个监管账户，说查完就还"),
    (
        "safe_account",
        "They want me to put my savings into a supervised account while the case is open",
    ),
    ("campus_loan_cancellation", "自称平台客服的说我读书时开的学生贷账户还在，得注销掉"),
    (
        "campus_loan_cancellation",
        "The caller said my college loan account is still active and I must close it or my "
        "credit report will be damaged",
    ),
    ("credit_repair", "有个中介说能帮我把征信上的黑记录洗掉，收费五千"),
    (
        "credit_repair",
        "A firm promised they could erase the late payments on my credit report for 300 dollars",
    ),
    ("fee_before_disbursement", "网贷平台说额度批下来了，要先交两千块激活费才能提现"),
    (
        "fee_before_disbursement",
        "They said my loan was approved but I need to pay an activation fee before it can be "
        "paid out",
    ),
    ("screen_sharing", "对方让我下载钉钉进会议，开屏幕共享给他看"),
    ("screen_sharing", "He asked me to install TeamViewer so he could see my screen"),
    ("borrow_to_clear_limit", "客服说我的额度异常，要我全部借出来转到指定账户才能注销额度"),
    (
        "borrow_to_clear_limit",
        "The caller wanted me to max out my credit line and send it over so the limit could be "
        "cleared",
    ),
    ("asked_for_code", "那人让我把短信里的验证码报给他"),
    ("asked_for_code", "Someone asked me for the one-time passcode I got by text"),
    ("task_rebate", "做兼职刷单，对方让我先垫付三千，说完成任务返佣金"),
    (
        "task_rebate",
        "I joined a review job and they need me to top up before I can withdraw my commission",
    ),
    ("investment_pitch", "投资群的导师说稳赚不赔，让我借钱加仓"),
    (
        "borrow_to_invest",
        "My dad's trading mentor promised guaranteed returns and told him to borrow to invest more",
    ),
    ("new_number_money_request", "我侄子用新号码发消息说出事了，急用钱让我转两万"),
    (
        "new_number_money_request",
        "My daughter texted from a new number asking me to transfer money urgently",
    ),
    # an agent's note in the third person
    ("told_to_move_money", "客户称对方让其把钱转到他提供的账户，说是核查资金"),
    (
        "coached_borrowing",
        "Customer says she was told to take out a loan on another app and pass the money on",
    ),
]

# Hard negatives: the same words in an ordinary request (closing an account, the real customer
# service, the police after a theft, fees, early repayment, the limit, a screen reader, a
# meeting at work, a credit-report dispute, a code that did not arrive).
HARD_NEGATIVES = [
    "我在派出所报了案，民警说让我联系发卡行冻结卡片，你们这边能冻结吗",
    "身份证丢了，警察让我先挂失，借款账户需要做什么",
    "我想注销账户，还需要先结清吗",
    "不注销账户会影响征信吗",
    "校园贷我早就还清了，征信多久能更新",
    "能不能把我的额度降低一点，怕自己乱花",
    "贷款前需要交哪些材料",
    "放款的时候会扣服务费吗",
    "我的信用分太低了，怎么提高",
    "征信上有一条错误的逾期记录，怎么申请异议更正",
    "验证码一直收不到怎么办",
    "我在用腾讯会议开会，晚点再打给我",
    "我现在在会议中，晚点再打给我",
    "我是视障人士，屏幕朗读读不出还款按钮",
    "我的卡被冻结了，解冻需要带什么证件",
    "提前还款需要交违约金吗",
    "我转到你们的还款专用账户了，怎么还没显示",
    "怎么保护账户安全，最近老收到骚扰短信",
    "我老公想用他的个人账户帮我还款",
    "I reported the theft to the police and they told me to call my bank, can you block my card?",
    "How can I improve my credit score?",
    "Will closing my account affect my credit score?",
    "I'd like to reduce my credit limit",
    "Is there a processing fee on the loan?",
    "What fees are there before the money is paid out?",
    "The code you sent me isn't working",
    "I'm on a Teams call with my manager, can you email me instead?",
    "Can I use a screen reader with your app?",
    "My account is frozen, what do I need to unfreeze it?",
    "Can I pay off my loan early without a penalty?",
    "Customer service told me my due date could change, where do I do that?",
    "How can I transfer money to a beneficiary?",
    "I was made to pay a fee for making a transaction with card.",
    "Customer asks how to dispute an error on her credit report through the official process",
    "I have to pay my council tax this week, can I move my repayment date?",
]


@pytest.mark.parametrize(("cue", "text"), CUE_SENTENCES)
def test_cue_sentences_flag_with_the_right_cue(cue: str, text: str) -> None:
    result = ScamDetector().analyze(text)
    assert result.cue is True
    assert cue in [h.cue.name for h in result.hits]
    assert result.type in SCAM_TYPES


@pytest.mark.parametrize("text", HARD_NEGATIVES)
def test_hard_negatives_do_not_flag(text: str) -> None:
    result = ScamDetector().analyze(text)
    assert result.cue is False, [(h.cue.name, h.evidence) for h in result.hits]


def test_lexicon_on_holdout_round_one_used_for_development() -> None:
    # round 1 was measured once blind (recall 0.40), then used to generalise the lexicon: a
    # development fit, kept as a regression check. Round 2 is the blind figure (bench/eval.py).
    rows = _rows("eval_scam_paraphrases_holdout.csv")
    detector = ScamDetector()
    scams = [detector.analyze(r["text"]).cue for r in rows if r["label"] == "scam"]
    normal = [detector.analyze(r["text"]).cue for r in rows if r["label"] == "normal"]
    assert sum(scams) / len(scams) >= 0.95
    assert not any(normal)


def test_holdout_round_two_is_there_in_both_locales() -> None:
    rows = _rows("eval_scam_paraphrases_holdout2.csv")
    for label in ("scam", "normal"):
        chosen = [r for r in rows if r["label"] == label]
        assert len(chosen) >= 60
        for locale in ("zh-CN", "en"):
            assert sum(r["locale"] == locale for r in chosen) >= 25


def test_cues_case_script_and_evidence() -> None:
    """Patterns run on the ASCII-lowered text, each only on a text of its script: same hits as
    trying every pattern case-insensitively, and the evidence is quoted from the original."""
    texts = [r["text"] for r in _rows("scam_victim_paraphrases.csv")]
    texts += [r["text"] for r in _rows("eval_scam_paraphrases_holdout.csv")]
    texts += [t for _, t in CUE_SENTENCES] + HARD_NEGATIVES
    texts += [t.upper() for t in texts] + ["客服让我用ZOOM开会议，把验证码告诉他 then SEND IT"]
    for text in texts:
        found = [(h.cue.name, h.evidence) for h in find_cues(text, SCAM_CUES)]
        expected = []
        for cue in SCAM_CUES:
            if any(re.search(g.pattern, text, re.IGNORECASE) for g in cue.unless):
                continue
            for pattern in cue.patterns:
                match = re.search(pattern.pattern, text, re.IGNORECASE)
                if match is not None:
                    expected.append((cue.name, match.group(0)[:80]))
                    break
        assert found == expected, text
    shouted = ScamDetector().analyze("SOMEONE TOLD ME TO MOVE MY MONEY TO A SAFE ACCOUNT")
    assert shouted.cue is True
    assert "SAFE ACCOUNT" in [h.evidence for h in shouted.hits]


def test_vulnerability_cues() -> None:
    def names(text: str) -> list[str]:
        return [h.cue.name for h in find_cues(text, VULNERABILITY_CUES)]

    assert names("我妈妈上个月去世了") == ["bereavement"]
    assert names("I was in hospital for surgery") == ["illness"]
    assert names("I got laid off and can't afford the payment") == ["job_loss", "cannot_pay"]
    assert names("When is my repayment due?") == []


# -- crisis: the customer speaks of ending their life ---------------------------------------------

CRISIS_SENTENCES = [
    CRISIS_ZH,
    "活不下去了，真的撑不住",
    "我有时候觉得活着没意思",
    "我想死",
    "他说还不上就去跳楼",
    "客户称压力太大想自杀",
    "她最近有轻生的念头",
    "死了一了百了",
    "我想结束自己的生命",
    "I want to end it",
    "Honestly I just want to end it all.",
    "If this goes on I'll kill myself",
    "I've been thinking about suicide",
    "I want to end my life",
    "There's no reason to live any more",
    "My family would be better off dead without me, I mean I would be better off dead",
    "I don't want to live anymore",
]
# Words that only sound like it: idioms of laughter or tiredness, a sale, "kill" a process.
CRISIS_NEGATIVES = [
    "笑死了，你们这个客服机器人太逗了",
    "累死了，今天加班到十点才看到短信",
    "烦死了，钱怎么还没到账",
    "跳楼价清仓的手机能分期吗",
    "好久不见，想死你们了",
    # 活动/活跃/活泼 (exercise, active, lively) begin with 活: "不想活" is not in them
    "周末不想活动，只想在家躺着",
    "我不想活跃在催收群里了",
    "一次性还清，一了百了",
    "Please kill the application, I don't need the loan any more",
    "This late fee is killing me, can you waive it?",
    "I'm dying to know whether my limit went up",
    "I want to end it with your company and close my account",
]


def test_crisis_said_in_passing_comes_first(assistant: Assistant) -> None:
    """The issue's example raised job loss and inability to pay only: now the crisis too, first
    on the agent's screen, as an urgent hand-off with the agent's script and the hotlines."""
    analysis = assistant.analyze(CRISIS_ZH)
    assert analysis.crisis_names() == ["self_harm"]
    assert analysis.vulnerability_names() == ["job_loss", "cannot_pay"]
    assert analysis.urgent
    assert analysis.handoff
    kinds = [w["kind"] for w in analysis.warnings]
    assert kinds == ["crisis", "vulnerability"]
    crisis = analysis.warnings[0]
    assert crisis["urgent"] is True
    assert crisis["reasons"][0]["evidence"] == "不想活"
    assert crisis["reasons"][0]["reason"].startswith("客户流露轻生")
    assert crisis["script"]["locale"] == "zh-CN"
    assert any("一直在线" in step for step in crisis["script"]["steps"])
    numbers = {h["number"]: h for h in crisis["hotlines"]}
    assert numbers["12356"]["name"] == "全国心理援助热线"
    assert numbers["010-82951332"]["jurisdiction"] == "CN"
    assert numbers["120"]["kind"] == "emergency"
    assert analysis.row()["crisis"] == ["self_harm"]


def test_crisis_hotlines_are_the_jurisdictions(assistant: Assistant) -> None:
    text = "I lost my job, I can't pay and I want to end my life"
    default = assistant.analyze(text).warnings[0]
    assert default["kind"] == "crisis"
    assert default["script"]["locale"] == "en"
    assert "stay on the line" in " ".join(default["script"]["steps"])
    lines = [
        (h["jurisdiction"], h["number"]) for h in default["hotlines"] if h["kind"] == "hotline"
    ]
    assert lines == [("UK", "116 123"), ("US", "988")]
    us = assistant.analyze(text, jurisdiction="US").warnings[0]
    assert [h["number"] for h in us["hotlines"]] == ["988", "911"]
    cn = assistant.analyze(text, jurisdiction="CN").warnings[0]
    assert cn["hotlines"][0] == {
        "jurisdiction": "CN",
        "kind": "hotline",
        "name": "National psychological assistance hotline",
        "number": "12356",
    }


@pytest.mark.parametrize("text", CRISIS_SENTENCES)
def test_crisis_sentences_raise_the_crisis_cue(text: str) -> None:
    assert [h.cue.name for h in find_cues(text, CRISIS_CUES)] == ["self_harm"]


# Real evasions and real typing: zero-width spaces (people write 不\u200b想\u200b活 to slip past
# filters), a soft hyphen or a byte-order mark pasted inside, spaces between the characters,
# full-width Latin from a Chinese keyboard, a Cyrillic look-alike letter.
CRISIS_DISGUISED = [
    pytest.param("不\u200b想\u200b活了", id="zero-width-space"),
    pytest.param("不\u200c想\u200d活了", id="zero-width-joiners"),
    pytest.param("我想自\u2060杀", id="word-joiner"),
    pytest.param("不\ufeff想活了", id="byte-order-mark"),
    pytest.param("不想\u00ad活了", id="soft-hyphen"),
    pytest.param("不 想 活 了", id="spaces-between-characters"),
    pytest.param("不\u3000想\u3000活了", id="ideographic-spaces"),
    pytest.param("我在考虑ｓｕｉｃｉｄｅ", id="full-width-latin"),
    pytest.param("我真的想suicide了", id="english-word-inside-chinese"),
    pytest.param("I want to k\u200bill myself", id="zero-width-in-english"),
    pytest.param("I want to kill my\u0455elf", id="cyrillic-dze-for-s"),
    pytest.param("I want to \u0435nd my life", id="cyrillic-ie-for-e"),
]


@pytest.mark.parametrize("text", CRISIS_DISGUISED)
def test_a_disguised_crisis_is_heard(assistant: Assistant, text: str) -> None:
    assert [h.cue.name for h in find_cues(text, CRISIS_CUES)] == ["self_harm"]
    analysis = assistant.analyze(text)
    assert analysis.urgent is True
    assert analysis.warnings[0]["kind"] == "crisis"


def test_a_disguised_crisis_over_http_opens_the_crisis_case(app_client: Api) -> None:
    result = _analyze(
        app_client, customer_id="crisis-zwsp", text="还不上了\u200b不\u200b想\u200b活\u200b了"
    )
    assert result["crisis"] == ["self_harm"]
    assert result["effects"]["crisis"]["case_opened"] is True
    # the evidence the agent reads is the words, without the invisible characters
    assert result["warnings"][0]["reasons"][0]["evidence"] == "不想活"


@pytest.mark.parametrize("text", CRISIS_NEGATIVES)
def test_crisis_look_alikes_do_not(assistant: Assistant, text: str) -> None:
    assert find_cues(text, CRISIS_CUES) == []
    assert assistant.analyze(text).urgent is False


# -- elderly investment and advance fees ---------------------------------------------------------

ELDERLY_AND_ADVANCE_FEE = [
    (
        "elderly_investment",
        "elderly_investment",
        "我爸今年80岁了，有人给他推销保本高收益的养老项目",
    ),
    ("elderly_investment", "elderly_investment", "有人上门给我父亲推销以房养老，说每月拿高额利息"),
    (
        "elderly_investment",
        "elderly_investment",
        "客户称其母亲72岁，被人拉进投资群，对方承诺稳赚不赔",
    ),
    (
        "elderly_investment",
        "elderly_investment",
        "My 80-year-old father was pitched a guaranteed-return investment",
    ),
    (
        "elderly_investment",
        "elderly_investment",
        "A salesman sold my elderly mother a high-yield retirement scheme, risk-free he said",
    ),
    ("fee_before_disbursement", "advance_fee_loan", "对方说要先交解冻费才能放款"),
    ("fee_before_disbursement", "advance_fee_loan", "贷款批了，但放款前要先交5000元保证金"),
    ("fee_before_disbursement", "advance_fee_loan", "他们让我先交验资费，再刷流水才能下款"),
    (
        "fee_before_disbursement",
        "advance_fee_loan",
        "They want an unfreezing fee before the loan is paid out",
    ),
    (
        "fee_before_disbursement",
        "advance_fee_loan",
        "I was told to pay a verification fee before they release the loan",
    ),
]
ELDERLY_AND_ADVANCE_FEE_NEGATIVES = [
    "我爸今年80岁了，想问下他的还款日是哪天",
    "我妈退休了，有没有保本的定期存款推荐",
    "我退休了，还能申请贷款吗",
    "放款前需要准备哪些材料",
    "My 80-year-old father wants to know when his repayment is due",
    "I'm a pensioner, is there a fixed-rate savings account?",
    "What fees are there before the money is paid out?",
]


@pytest.mark.parametrize(("cue", "typology", "text"), ELDERLY_AND_ADVANCE_FEE)
def test_elderly_investment_and_advance_fee_are_scam_victim_cues(
    assistant: Assistant, cue: str, typology: str, text: str
) -> None:
    analysis = assistant.analyze(text)
    assert analysis.scam.cue is True
    assert analysis.scam.type == typology
    assert cue in [h.cue.name for h in analysis.scam.hits]
    assert analysis.warnings[0]["kind"] == "scam_victim"


@pytest.mark.parametrize("text", ELDERLY_AND_ADVANCE_FEE_NEGATIVES)
def test_ordinary_elderly_and_fee_questions_do_not_flag(text: str) -> None:
    result = ScamDetector().analyze(text)
    assert result.cue is False, [(h.cue.name, h.evidence) for h in result.hits]


def test_knowledge_base_articles_ship_in_both_locales(assistant: Assistant) -> None:
    articles = shipped_articles()
    by_id: dict[str, set[str]] = {}
    for article in articles:
        by_id.setdefault(article.id, set()).add(article.locale)
        assert article.passages
        assert article.title
    assert len(by_id) >= 12
    assert all(locales == {"zh-CN", "en"} for locales in by_id.values())
    found = assistant.kb.search("怎么提前还款，有违约金吗", "zh-CN", "early_repayment")
    assert found[0].article_id == "early-repayment"
    assert found[0].passage in next(
        a.passages for a in articles if a.id == "early-repayment" and a.locale == "zh-CN"
    )
    ranked = [a.score for a in found]
    assert ranked == sorted(ranked, reverse=True)


# -- the CLI ------------------------------------------------------------------------------------


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.delenv("LENDGUARD_ASSISTANT_MODEL_DIR", raising=False)
    logging_config = structlog.get_config()
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()
    structlog.configure(**logging_config)


def test_cli_train_evaluate_and_analyze(cli: CliRunner, tmp_path: Path) -> None:
    # a small intents file: the shipped lending intents, split in two
    rows = _rows("intents_lending.csv")
    train_rows, test_rows = rows[::2] + rows[1::4], rows[3::4]
    for name, chosen in (("train.csv", train_rows), ("test.csv", test_rows)):
        with open(tmp_path / name, "w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["text", "category"])
            writer.writerows([(r["text"], r["category"]) for r in chosen])
    model = tmp_path / "model"
    trained = cli.invoke(
        cli_app,
        [
            "assistant",
            "train",
            "--intents",
            str(tmp_path / "train.csv"),
            "--out",
            str(model),
            "--no-lending",
        ],
        catch_exceptions=False,
    )
    assert trained.exit_code == 0, trained.output
    assert (model / "manifest.json").exists()
    evaluated = cli.invoke(
        cli_app,
        [
            "assistant",
            "evaluate",
            "--model",
            str(model),
            "--intents",
            str(tmp_path / "test.csv"),
            "--json",
        ],
        catch_exceptions=False,
    )
    assert evaluated.exit_code == 0, evaluated.output
    figures = json.loads(evaluated.stdout)
    assert 0.4 <= figures["accuracy"] <= 1.0
    assert 0.0 <= figures["macro_f1"] <= 1.0
    assert {"coverage", "answered_precision"} <= set(figures)

    texts = tmp_path / "messages.csv"
    with open(texts, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "message"])
        writer.writerows(
            [
                ("1", FIXTURE_ZH),
                ("2", "When is my next repayment due?"),
                ("3", ""),
                ("4", "我生病住院了，这个月还不上"),
            ]
        )
    out = tmp_path / "out" / "analysis.jsonl"
    for extra in ([], ["--model", str(model)]):
        analyzed = cli.invoke(
            cli_app,
            [
                "assistant",
                "analyze",
                "--texts",
                str(texts),
                "--column",
                "message",
                "--out",
                str(out),
                *extra,
            ],
            catch_exceptions=False,
        )
        assert analyzed.exit_code == 0, analyzed.output
        lines = [json.loads(line) for line in out.read_text("utf-8").splitlines()]
        assert len(lines) == 4
        for line in lines:
            assert {"intent", "scam_cue", "scam_score", "scam_type", "vulnerability"} <= set(line)
            assert isinstance(line["scam_cue"], bool)
            assert 0.0 <= line["scam_score"] <= 1.0
            assert line["scam_type"] in SCAM_TYPES
            assert isinstance(line["vulnerability"], list)
        assert lines[0]["scam_cue"] is True
        assert lines[0]["scam_type"] == "fake_customer_service"
        assert lines[1]["scam_cue"] is False
        assert lines[1]["vulnerability"] == []
        assert lines[1]["intent"] == "repayment_date"
        assert lines[2]["scam_cue"] is False
        assert lines[3]["vulnerability"] == ["illness", "cannot_pay"]
    missing = cli.invoke(
        cli_app,
        ["assistant", "analyze", "--texts", str(texts), "--column", "nope", "--out", str(out)],
    )
    assert missing.exit_code == 2
    loaded = Assistant.from_folder(model)
    assert loaded.models["intent"] == "trained:model"


# -- the typed contract ---------------------------------------------------------------------------

AssistantWarningModel: TypeAdapter[Any] = TypeAdapter(AssistantWarning)


def test_every_key_of_the_analysis_reaches_the_agent_through_the_response_model(
    app_client: Api, assistant: Assistant
) -> None:
    """The response model names every key the analysis has (one it lacked would be dropped
    from the JSON without a word), and each warning reads as its own kind's model."""
    text = CRISIS_ZH + "。" + FIXTURE_ZH
    result = _analyze(app_client, customer_id="typed-1", text=text, conversation_id="conv-t")
    analysis = assistant.analyze(text, None, None).as_dict()
    assert set(result) == set(analysis) | {"customer_id", "conversation_id", "effects"}
    assert [w["kind"] for w in result["warnings"]] == [w["kind"] for w in analysis["warnings"]]
    for answered, analysed in zip(result["warnings"], analysis["warnings"], strict=True):
        assert set(answered) == set(analysed)
        assert set(AssistantWarningModel.validate_python(answered).model_fields_set) == set(
            answered
        )
    assert {"crisis", "scam_victim"} <= {w["kind"] for w in result["warnings"]}
    assert set(result["effects"]) == {"crisis", "decision", "rescue"}
    assert AnalyzeResponse.model_validate(result).effects.crisis is not None


@pytest.mark.parametrize("field", ["customer_id", "conversation_id"])
def test_an_identifier_with_a_tab_is_refused_before_anything_is_recorded(
    app_client: Api, field: str
) -> None:
    """The ids go into the contact event the engine decides, where no control character is
    allowed (tab included): a 422 naming the field, not a 500 after the analysis."""
    body = {"customer_id": "tab-1", "text": FIXTURE_ZH, "conversation_id": "conv-1"}
    body[field] = "tab\t1"
    response = app_client.client.post("/v1/assistant/analyze", json=body, headers=app_client.admin)
    assert response.status_code == 422, response.text
    assert [e["field"] for e in response.json()["errors"]] == [field]
    assert app_client.rows("events") == 0
