"""The lexicon hears a scam SCRIPT a customer pastes or reads out, not only a victim's account.

Hand-written script cues (zh-CN and en), the ``phrases`` / ``min_distinct`` cue fields that the
derived cue uses, and the procedure that writes the derived phrases
(:func:`derive_script_phrases`, :func:`derive_script_rule`). The corpus figures are
``bench/eval_lexicon.py``'s (``make eval``), not a test's.
"""

from __future__ import annotations

import pytest

from lendguard.support.cues import (
    DERIVED_MIN_DISTINCT,
    SCAM_CUES,
    LexiconError,
    ScamDetector,
    count_phrases,
    derive_script_phrases,
    derive_script_rule,
    find_cues,
    load_lexicon,
)

SCRIPTS = [
    # police impersonation
    "您好，我是上海市公安局的民警，您的身份证被他人盗用，涉嫌一起洗钱案件，请配合调查。",
    "This is Officer Brown from the police. Your identity has been used in a money laundering "
    "case and a warrant will be issued unless you cooperate.",
    # fake customer service
    "我是京东金条的客服，您的账户存在风险，请下载会议软件，我们指导您操作。",
    "Hello, this is Amazon customer support. Your account has been suspended; please download "
    "our app and give me the verification code we sent you.",
    # safe account
    "Transfer all your savings to a safe account today or your account will be frozen.",
    # refund
    "You are eligible for a refund of $120. Please download the app so we can process it and "
    "give me your card number.",
    # advance fee before a loan
    "Your loan is pre-approved! Just pay the processing fee before the loan is released.",
    "我们可以为您办理无抵押贷款，秒批，放款前需要先交一笔保证金。",
    # rebate task
    "Earn $300 per day from home: like videos and complete tasks, a small deposit to unlock "
    "your commission.",
    # investment
    "Join our crypto investment group, guaranteed returns of 5% per day.",
    # acquaintance on a new number
    "Mum, it's me, this is my new number. I had an accident, can you send me £500?",
    "爸，我换了新手机号，我出事了，急需用钱，你先帮我转一下。",
]

ORDINARY = [
    "我生病住院了，没法按时还款",
    "我换了新手机号，怎么在App上改绑",
    "家里出事了，能不能缓一缓再还",
    "This is customer service: your repayment of 1,200 is due on the 15th.",
    "I lost my phone, how do I log in to the app on a new one?",
    "客服你好，我想问一下提前还款要不要手续费",
    "Please download the statement for March.",
]


@pytest.mark.parametrize("text", SCRIPTS)
def test_scam_scripts_are_flagged(text: str) -> None:
    result = ScamDetector().analyze(text)
    assert result.cue is True, [h.cue.name for h in result.hits]


@pytest.mark.parametrize("text", ORDINARY)
def test_ordinary_messages_are_not(text: str) -> None:
    result = ScamDetector().analyze(text)
    assert result.cue is False, [(h.cue.name, h.evidence) for h in result.hits]


def test_script_cues_are_bilingual_and_hand_written_and_nothing_derived_ships() -> None:
    by_name = {c.name: c for c in SCAM_CUES}
    scripts = [c for c in SCAM_CUES if c.name.endswith("_script")]
    assert len(scripts) == 10
    for cue in scripts:
        assert cue.provenance.startswith("hand-written")
        assert set(cue.scripts) >= {"zh", "latin"}, cue.name
        assert cue.reason_zh
        assert cue.reason_en
    # Nothing derived from the research-only corpus ships (a lender derives its own block).
    assert "scam_script_phrases" not in by_name
    assert all(c.min_distinct == 1 for c in SCAM_CUES)


def _lexicon(body: str) -> str:
    return (
        "fragments: {}\ncues:\n  scam_victim:\n    - name: phrases\n      weight: 0.5\n"
        "      typology: null\n      reason: {zh-CN: '话术', en: 'script'}\n"
        f"{body}  crisis: []\n  vulnerability: []\n  complaint: []\n"
    )


def test_a_cue_of_phrases_counts_only_with_min_distinct_different_ones() -> None:
    (cue,) = load_lexicon(
        _lexicon(
            "      min_distinct: 2\n      provenance: 'a test'\n"
            "      phrases: [安全账户, 账户冻结, wire it]\n"
        )
    )["scam_victim"]
    assert cue.min_distinct == 2
    assert cue.provenance == "a test"
    assert find_cues("请把钱转到安全账户", (cue,)) == []
    assert find_cues("安全账户，安全账户", (cue,)) == []  # the same phrase twice is one
    # overlapping phrases are both seen; the evidence quotes each, in text order
    (hit,) = find_cues("您的安全账户冻结了", (cue,))
    assert hit.evidence == "安全账户 … 账户冻结"
    (hit,) = find_cues("安全账户: WIRE IT now", (cue,))
    assert hit.evidence == "安全账户 … WIRE IT"


def test_a_cue_of_phrases_with_the_default_min_distinct_is_one_phrase() -> None:
    (cue,) = load_lexicon(_lexicon("      phrases: [安全账户]\n"))["scam_victim"]
    assert [h.evidence for h in find_cues("转到安全账户", (cue,))] == ["安全账户"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("      phrases: [Upper]\n", "lower case"),
        ("      phrases: [a, a]\n", "twice"),
        ("      phrases: a\n", "list of phrases"),
        ("      phrases: [a]\n      min_distinct: 0\n", "min_distinct"),
        ("      phrases: [a]\n      provenance: [x]\n", "provenance"),
        ("      min_distinct: 2\n", "missing ['patterns']"),
    ],
)
def test_a_malformed_cue_of_phrases_is_refused_by_place(body: str, message: str) -> None:
    with pytest.raises(LexiconError, match="cues.scam_victim\\[0\\]") as refused:
        load_lexicon(_lexicon(body))
    assert message in str(refused.value)


def test_the_procedure_keeps_frequent_scam_only_phrases_and_drops_longer_copies() -> None:
    scam = ["请转到安全账户配合调查"] * 4 + ["配合调查"] * 2 + ["罕见说法"]
    normal = ["配合我们的促销活动", "查看账户余额"]
    phrases = dict(derive_script_phrases(scam, normal))
    assert phrases["安全"] == 4
    assert phrases["调查"] == 6
    assert "配合" not in phrases
    assert "账户" not in phrases
    assert "安全账户" not in phrases  # it holds 安全, kept already
    assert "罕见" not in phrases  # one scam text: under the floor of 3
    assert all(2 <= len(p) <= 6 for p in phrases)
    # known_normal candidates count as normal
    assert "调查" not in dict(derive_script_phrases(scam, normal, {"调查"}))
    # deterministic: most frequent first, ties by the phrase
    assert derive_script_phrases(scam, normal) == derive_script_phrases(scam[::-1], normal)


def test_count_phrases_counts_different_phrases_as_the_cue_does() -> None:
    assert count_phrases(["安全账户", "账户冻结"], ["您的安全账户冻结了", "无关", ""]) == [2, 0, 0]
    assert count_phrases([], ["任何"]) == [0]


def test_the_rule_chooses_min_distinct_on_inner_folds_only() -> None:
    scam = [f"公安局民警通知洗钱案件配合调查第{i}号" for i in range(40)]
    normal = [f"商场促销活动第{i}号欢迎光临" for i in range(40)]
    phrases, min_distinct = derive_script_rule(scam, normal)
    assert min_distinct == DERIVED_MIN_DISTINCT[0]  # no normal text holds any phrase
    assert phrases
    assert all(count >= 3 for _, count in phrases)
    # normal texts that hold many rare scam-only phrases push the number up
    noisy = normal + [f"{s}促销" for s in ("公安局民警通知", "洗钱案件配合调查")]
    _, stricter = derive_script_rule(scam, noisy)
    assert stricter >= min_distinct
