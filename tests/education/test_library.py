"""The content library (policy data): complete in both locales, a quiz per topic whose correct
options exist, a topic for every scam typology the engine knows, content for every reason a
decision can give (but a score), and which content answers a decision's or a case's reasons."""

from __future__ import annotations

import copy
from importlib import resources
from typing import Any

import pytest
import yaml

from lendguard.decisions.rules.loader import parse_ruleset
from lendguard.decisions.service import default_ruleset_text
from lendguard.education.library import LOCALES, education_for, library, parse_library
from lendguard.simulate.generator import TYPOLOGIES

# Reasons that say how much risk was seen, not what kind: no content answers them.
SCORE_REASONS = {
    "MODEL_SCORE_HIGH",
    "MODEL_SCORE_VERY_HIGH",
    "COMBINED_RISK",
    "HIGH_COMBINED_RISK",
    "VERY_HIGH_COMBINED_RISK",
}
# The cases' scam types (cases/scripts/call_scripts.yaml) that name a scam, not a situation.
CASE_SCAM_TYPES = {
    "safe_account",
    "remote_control",
    "impersonation",
    "advance_fee",
    "task_rebate",
    "investment",
    "account_takeover",
    "mule",
}


def test_every_text_has_both_locales_and_every_quiz_its_correct_option() -> None:
    lib = library()
    texts = []
    for item in lib.items:
        texts += [item.title, item.summary]
        texts += [t for t in (item.body, item.transcript_summary) if t is not None]
        assert sorted(item.locales) == sorted(LOCALES)
        if item.kind == "article":
            assert item.body is not None
        else:
            assert item.duration_s
            assert item.transcript_summary is not None
    for quiz in lib.quizzes:
        assert 3 <= len(quiz.questions) <= 5
        assert 1 <= quiz.pass_mark <= len(quiz.questions)
        for question in quiz.questions:
            assert question.correct in {o.id for o in question.options}
            texts += [question.text, question.explanation, *(o.text for o in question.options)]
    for text in texts:
        assert set(text) == set(LOCALES)
        assert all(v.strip() for v in text.values())
        # no internal names in what a customer reads
        assert "_" not in text["en"]
        assert "_" not in text["zh-CN"]
    assert {i.topic for i in lib.items} == set(lib.quiz_by_topic)


def test_topics_cover_every_typology_over_borrowing_and_privacy() -> None:
    topics = set(library().quiz_by_topic)
    assert set(TYPOLOGIES) | {"over_borrowing", "privacy_rights"} <= topics
    covered = {t for i in library().items for t in i.typologies}
    assert CASE_SCAM_TYPES <= covered


def test_every_reason_but_a_score_has_content() -> None:
    ruleset = parse_ruleset(default_ruleset_text())
    reasons = {rule.reason for rule in ruleset.rules if rule.reason}
    assert reasons, "the default rules name their reasons"
    answered = {c for i in library().items for c in i.reason_codes}
    assert reasons - SCORE_REASONS - answered == set()


def test_a_broken_library_fails_at_load() -> None:
    text = resources.files("lendguard.education").joinpath("library.yaml").read_text("utf-8")
    shipped = yaml.safe_load(text)
    raw = copy.deepcopy(shipped)
    del raw["items"][0]["title"]["en"]
    with pytest.raises(ValueError, match="locales"):
        parse_library(yaml.safe_dump(raw, allow_unicode=True))
    raw = copy.deepcopy(shipped)
    raw["quizzes"][0]["questions"][0]["correct"] = "z"
    with pytest.raises(ValueError, match="correct option"):
        parse_library(yaml.safe_dump(raw, allow_unicode=True))
    raw = copy.deepcopy(shipped)
    raw["quizzes"] = [q for q in raw["quizzes"] if q["topic"] != "mule"]
    with pytest.raises(ValueError, match="without a quiz"):
        parse_library(yaml.safe_dump(raw, allow_unicode=True))


class TestEducationFor:
    def test_the_typology_first_then_the_reasons_in_order_one_per_topic(self) -> None:
        links = education_for(["SCREEN_SHARING", "CALL_ACTIVE"], typology="mule")
        assert [(x.topic, x.kind) for x in links] == [
            ("mule", "article"),
            ("remote_control", "article"),
        ]
        assert links[0].url == f"/v1/education/content/{links[0].content_id}"
        assert set(links[0].title) == set(LOCALES)

    def test_stored_reasons_and_a_second_item_of_a_topic_only_when_nothing_else(self) -> None:
        stored: list[dict[str, Any]] = [
            {"code": "CALL_ACTIVE", "weight": 30},
            {"code": "MODEL_SCORE_HIGH"},
        ]
        links = education_for(stored, limit=3)
        assert [(x.topic, x.kind) for x in links] == [
            ("fake_customer_service", "article"),
            ("fake_customer_service", "video"),
        ]

    def test_nothing_for_a_score_alone_or_a_zero_limit(self) -> None:
        assert education_for(["MODEL_SCORE_HIGH"]) == []
        assert education_for(["CALL_ACTIVE"], limit=0) == []
        assert education_for([], typology="privacy_rights")[0].topic == "privacy_rights"
        assert education_for([], typology="safe_account")[0].topic == "fake_customer_service"
