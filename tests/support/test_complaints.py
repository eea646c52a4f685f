"""Complaints: the clocks at every boundary (CN R10, US R25, UK R26), extensions, the state
machine, the conflict-of-interest check, the escalation early warning, root causes, the
taxonomy classifier, and the HTTP API on both databases."""

from __future__ import annotations

import csv
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from fixtures import Api, sign_in
from lendguard.models import AuditEntry, ComplaintEvent, ComplaintExtension
from lendguard.policies import clear_cache
from lendguard.privacy.requests import working_days_after
from lendguard.support import taxonomy as taxonomy_module
from lendguard.support.complaints import (
    TRANSITIONS,
    ClockRules,
    ComplaintState,
    ExtensionInvalid,
    InvalidTransition,
    check_extension,
    clock,
    clock_rules,
    conflicted,
    dispatch,
)
from lendguard.support.taxonomy import (
    ComplaintClassifier,
    ModelClassifier,
    RuleClassifier,
    load_taxonomy,
)

# Outcomes here are read against "now": pinned for every test.
pytestmark = pytest.mark.usefixtures("pinned_clock")

CST = ZoneInfo("Asia/Shanghai")
LONDON = ZoneInfo("Europe/London")
NEW_YORK = ZoneInfo("America/New_York")
CFPB = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "cfpb"
CFPB_CSV = CFPB / "complaints_sample.csv"
PROBLEM = "application/problem+json"


@pytest.fixture(autouse=True)
def _rules_classifier(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No trained model unless a test trains one: the rule-based fallback classifies."""
    monkeypatch.setenv(taxonomy_module.MODEL_DIR_ENV, str(tmp_path / "no-model"))


def local(day: date, tz: ZoneInfo, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute, second), tz)


# -- the clock (pure) ------------------------------------------------------------------------------

RECEIVED_CN = local(date(2026, 3, 2), CST, 0, 30)  # 2026-03-01 16:30 UTC: day 0 is 3 March, local


def cn_rules() -> ClockRules:
    return clock_rules("CN", RECEIVED_CN)


class TestCnClock:
    def test_day_15_is_not_overdue_to_its_last_second(self) -> None:
        status = clock(cn_rules(), RECEIVED_CN, None, 0, local(date(2026, 3, 17), CST, 23, 59, 59))
        assert status["day"] == 15
        assert status["overdue"] is False
        assert status["codes"] == []
        assert status["days_left"] == 0

    def test_day_16_is_overdue_from_its_first_second(self) -> None:
        status = clock(cn_rules(), RECEIVED_CN, None, 0, local(date(2026, 3, 18), CST))
        assert status["day"] == 16
        assert status["overdue"] is True
        assert status["status"] == "overdue"
        assert status["codes"] == ["COMPLAINT_OVERDUE"]

    def test_days_count_in_the_local_date_not_utc(self) -> None:
        # Received 00:30 Beijing time = 16:30 UTC the day before: day 0 is the local day.
        assert RECEIVED_CN.astimezone(UTC).date() == date(2026, 3, 1)
        status = clock(cn_rules(), RECEIVED_CN, None, 0, RECEIVED_CN)
        assert (status["received_day"], status["due_day"]) == ("2026-03-02", "2026-03-17")
        # The deadline instant is the end of the local due day.
        assert status["due_at"] == datetime(2026, 3, 17, 16, 0, tzinfo=UTC)
        just_before = datetime(2026, 3, 17, 15, 59, 59, tzinfo=UTC)
        assert clock(cn_rules(), RECEIVED_CN, None, 0, just_before)["overdue"] is False
        at = datetime(2026, 3, 17, 16, 0, tzinfo=UTC)
        assert clock(cn_rules(), RECEIVED_CN, None, 0, at)["overdue"] is True

    def test_a_decision_on_day_15_is_on_time_and_on_day_16_late(self) -> None:
        later = local(date(2026, 4, 30), CST)
        on_time = clock(cn_rules(), RECEIVED_CN, local(date(2026, 3, 17), CST, 23), 0, later)
        assert (on_time["status"], on_time["codes"], on_time["overdue"]) == ("met", [], False)
        late = clock(cn_rules(), RECEIVED_CN, local(date(2026, 3, 18), CST, 9), 0, later)
        assert (late["status"], late["codes"]) == ("met_late", ["COMPLAINT_OVERDUE"])

    def test_an_extension_moves_the_deadline_to_day_30_then_day_60(self) -> None:
        rules = cn_rules()
        day30 = date(2026, 3, 2) + timedelta(days=30)
        assert clock(rules, RECEIVED_CN, None, 1, local(day30, CST, 23, 59))["overdue"] is False
        assert clock(rules, RECEIVED_CN, None, 1, local(day30 + timedelta(days=1), CST))[
            "codes"
        ] == ["COMPLAINT_OVERDUE"]
        day60 = date(2026, 3, 2) + timedelta(days=60)
        assert clock(rules, RECEIVED_CN, None, 2, local(day60, CST, 23, 59))["overdue"] is False
        assert clock(rules, RECEIVED_CN, None, 2, local(day60 + timedelta(days=1), CST))["overdue"]

    def test_the_policy_carries_its_sources(self) -> None:
        from lendguard.policies import load_policy

        policy = load_policy("support", "CN", date(2026, 3, 2))
        assert policy["response_days"].value == 15
        assert policy["response_days"].code == "COMPLAINT_OVERDUE"
        assert "CBIRC" in policy["response_days"].source_text
        assert policy["day_basis"].confidence == "X"
        assert policy["day_basis"].configurable

    def test_working_days_when_a_deployment_configures_them(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        shipped = Path(taxonomy_module.__file__).with_name("policies") / "cn.yaml"
        folder = tmp_path / "policies" / "support"
        folder.mkdir(parents=True)
        text = shipped.read_text(encoding="utf-8").replace("value: calendar", "value: working", 1)
        (folder / "cn.yaml").write_text(text, encoding="utf-8")
        monkeypatch.setenv("LENDGUARD_POLICY_DIR", str(tmp_path / "policies"))
        clear_cache()
        try:
            received = local(date(2025, 9, 30), CST, 10)  # National Day holidays follow
            rules = clock_rules("CN", received)
            assert rules.day_basis == "working"
            status = clock(rules, received, None, 0, received)
            expected = working_days_after(date(2025, 9, 30), 15, "CN")
            assert status["due_day"] == expected.isoformat()
            assert expected > date(2025, 9, 30) + timedelta(days=15)
        finally:
            monkeypatch.delenv("LENDGUARD_POLICY_DIR")
            clear_cache()


class TestCnExtensions:
    def test_to_day_30_with_a_reason_up_to_the_end_of_day_15(self) -> None:
        step = check_extension(
            cn_rules(),
            RECEIVED_CN,
            0,
            local(date(2026, 3, 17), CST, 23, 59),
            "complex",
            None,
            False,
        )
        assert step.to_day == 30

    def test_without_a_reason_is_refused(self) -> None:
        with pytest.raises(ExtensionInvalid) as caught:
            check_extension(cn_rules(), RECEIVED_CN, 0, RECEIVED_CN, "  ", None, False)
        assert caught.value.detail.startswith("EXTENSION_INVALID")
        assert [e.field for e in caught.value.errors] == ["reason"]

    def test_after_day_15_has_ended_is_refused(self) -> None:
        with pytest.raises(ExtensionInvalid, match="has passed"):
            check_extension(
                cn_rules(), RECEIVED_CN, 0, local(date(2026, 3, 18), CST), "complex", None, False
            )

    @pytest.mark.parametrize(
        ("level", "notified", "fields"),
        [
            (None, True, ["approver_level"]),
            ("manager", True, ["approver_level"]),
            ("senior", False, ["complainant_notified"]),
            ("supervisor", False, ["approver_level", "complainant_notified"]),
        ],
    )
    def test_past_day_30_needs_senior_approval_and_notice(
        self, level: str | None, notified: bool, fields: list[str]
    ) -> None:
        with pytest.raises(ExtensionInvalid) as caught:
            check_extension(cn_rules(), RECEIVED_CN, 1, RECEIVED_CN, "complex", level, notified)
        assert caught.value.detail.startswith("EXTENSION_INVALID")
        assert [e.field for e in caught.value.errors] == fields

    @pytest.mark.parametrize("level", ["senior", "executive"])
    def test_to_day_60_with_senior_approval_and_notice_up_to_the_end_of_day_30(
        self, level: str
    ) -> None:
        day30 = local(date(2026, 3, 2) + timedelta(days=30), CST, 23, 59)
        step = check_extension(cn_rules(), RECEIVED_CN, 1, day30, "complex", level, True)
        assert step.to_day == 60
        with pytest.raises(ExtensionInvalid, match="has passed"):
            check_extension(
                cn_rules(), RECEIVED_CN, 1, day30 + timedelta(minutes=1), "x", level, True
            )

    def test_never_beyond_day_60(self) -> None:
        with pytest.raises(ExtensionInvalid, match="no further extension"):
            check_extension(cn_rules(), RECEIVED_CN, 2, RECEIVED_CN, "x", "executive", True)
        with pytest.raises(ExtensionInvalid, match="beyond") as caught:
            check_extension(cn_rules(), RECEIVED_CN, 1, RECEIVED_CN, "x", "senior", True, 90)
        assert caught.value.errors[0].field == "to_day"
        with pytest.raises(ExtensionInvalid, match="runs to day 30"):
            check_extension(cn_rules(), RECEIVED_CN, 0, RECEIVED_CN, "x", "senior", True, 60)


class TestUsAndUkClocks:
    received_us = local(date(2026, 5, 4), NEW_YORK, 9)
    received_uk = local(date(2026, 5, 11), LONDON, 9)  # a Monday (not a bank holiday)

    def test_cfpb_response_is_late_after_day_15(self) -> None:
        rules = clock_rules("US", self.received_us)
        day15 = local(date(2026, 5, 19), NEW_YORK, 23, 59)
        assert clock(rules, self.received_us, None, 0, day15)["codes"] == []
        status = clock(rules, self.received_us, None, 0, day15 + timedelta(minutes=1))
        assert status["codes"] == ["CFPB_RESPONSE_LATE"]

    def test_in_progress_moves_the_final_answer_to_day_60(self) -> None:
        rules = clock_rules("US", self.received_us)
        step = check_extension(
            rules, self.received_us, 0, self.received_us, "in progress", None, False
        )
        assert (step.to_day, step.label) == (60, "in_progress")
        day60 = local(date(2026, 5, 4) + timedelta(days=60), NEW_YORK, 23, 59)
        assert clock(rules, self.received_us, None, 1, day60)["codes"] == []
        late = clock(rules, self.received_us, None, 1, day60 + timedelta(minutes=1))
        assert late["codes"] == ["CFPB_FINAL_LATE"]
        with pytest.raises(ExtensionInvalid):
            check_extension(rules, self.received_us, 1, self.received_us, "x", "executive", True)

    def test_disp_day_56_is_in_time_and_day_57_a_breach(self) -> None:
        rules = clock_rules("UK", self.received_uk)
        day56 = local(date(2026, 5, 11) + timedelta(days=56), LONDON, 23, 59)
        status = clock(rules, self.received_uk, None, 0, day56)
        assert (status["day"], status["overdue"], status["codes"]) == (56, False, [])
        breach = clock(rules, self.received_uk, None, 0, day56 + timedelta(minutes=1))
        assert (breach["day"], breach["codes"]) == (57, ["DISP_8W_BREACH"])

    def test_disp_has_no_extension(self) -> None:
        rules = clock_rules("UK", self.received_uk)
        with pytest.raises(ExtensionInvalid, match="cannot be extended"):
            check_extension(rules, self.received_uk, 0, self.received_uk, "x", "executive", True)

    def test_summary_resolution_by_the_third_business_day(self) -> None:
        rules = clock_rules("UK", self.received_uk)
        thursday = local(date(2026, 5, 14), LONDON, 17)
        friday = local(date(2026, 5, 15), LONDON, 9)
        assert clock(rules, self.received_uk, thursday, 0, friday)["summary_resolution_eligible"]
        assert not clock(rules, self.received_uk, friday, 0, friday)["summary_resolution_eligible"]


# -- state machine, conflict of interest -----------------------------------------------------------


class TestStateMachine:
    def test_the_main_path_and_the_side_states_are_listed(self) -> None:
        S = ComplaintState
        path = [S.received, S.acknowledged, S.investigating, S.responded, S.closed]
        for frm, to in zip(path, path[1:], strict=False):
            assert (frm, to) in TRANSITIONS
        assert TRANSITIONS[(S.investigating, S.extended)] == "extend"
        assert TRANSITIONS[(S.extended, S.extended)] == "extend"
        assert TRANSITIONS[(S.investigating, S.escalated_to_regulator)] == "escalate"

    @pytest.mark.parametrize(
        ("frm", "to"),
        [
            ("received", "closed"),
            ("acknowledged", "received"),
            ("closed", "investigating"),
            ("responded", "extended"),
            ("closed", "escalated_to_regulator"),
        ],
    )
    def test_unlisted_pairs_are_refused_naming_what_is_allowed(self, frm: str, to: str) -> None:
        with pytest.raises(InvalidTransition) as caught:
            dispatch(frm, to)
        assert caught.value.status_code == 409
        assert caught.value.errors[0].field == "to"

    def test_an_unknown_state_is_refused(self) -> None:
        with pytest.raises(InvalidTransition, match="unknown"):
            dispatch("received", "resolved")

    def test_the_handler_may_not_be_complained_about(self) -> None:
        assert conflicted("user:Bob", ["bob"])
        assert conflicted(" BOB ", ["user:bob"])
        assert not conflicted("user:alice", ["bob"])
        assert not conflicted(None, ["bob"])
        assert not conflicted("bob", [])


# -- escalation early warning ----------------------------------------------------------------------


def warning(**overrides: Any) -> dict[str, Any]:
    from lendguard.support.complaints import EscalationModel

    model = EscalationModel.from_taxonomy(load_taxonomy())
    args: dict[str, Any] = {
        "text": "The payment was applied late.",
        "prior_complaints": 0,
        "clock_status": {"status": "on_track", "elapsed_share": 0.0, "extensions": 0},
        "product_risk": 0.3,
        "issue_risk": 0.3,
        "channel": "app",
        **overrides,
    }
    result: dict[str, Any] = model.score(**args)
    return result


def reason_codes(result: dict[str, Any]) -> list[str]:
    return [r["code"] for r in result["reasons"]]


class TestEscalationWarning:
    def test_a_plain_complaint_scores_low_with_only_its_product_and_issue(self) -> None:
        result = warning()
        assert result["band"] == "low"
        assert set(reason_codes(result)) == {"PRODUCT_RISK", "ISSUE_RISK"}

    @pytest.mark.parametrize(
        "text", ["我要投诉到银保监", "再不处理我就打12378", "I will file with the CFPB"]
    )
    def test_naming_a_regulator_is_a_reason(self, text: str) -> None:
        result = warning(text=text)
        assert reason_codes(result)[0] == "REGULATOR_MENTION"
        assert result["score"] > warning()["score"]

    def test_every_cue_adds_and_is_explained_largest_first(self) -> None:
        result = warning(
            text="My elderly mother is in hospital; I will go to the regulator",
            prior_complaints=5,
            clock_status={
                "status": "overdue",
                "elapsed_share": 1.0,
                "overdue": True,
                "codes": ["COMPLAINT_OVERDUE"],
                "extensions": 1,
                "limit_day": 30,
            },
            channel="regulator_referral",
        )
        codes = reason_codes(result)
        for code in (
            "REGULATOR_MENTION",
            "REGULATOR_CHANNEL",
            "REPEAT_COMPLAINT",
            "VULNERABILITY_WORDS",
            "CLOCK_ELAPSED",
            "OVERDUE",
            "EXTENDED",
        ):
            assert code in codes
        points = [r["points"] for r in result["reasons"]]
        assert points == sorted(points, reverse=True)
        repeat = next(r for r in result["reasons"] if r["code"] == "REPEAT_COMPLAINT")
        assert repeat["points"] == pytest.approx(0.8 * 3)  # capped at 3
        assert result["band"] == "high"
        assert 0 <= result["score"] <= 100

    def test_words_inside_other_words_do_not_count(self) -> None:
        assert "REGULATOR_MENTION" not in reason_codes(warning(text="It was a pseudo issue"))


# -- taxonomy and classifier -----------------------------------------------------------------------


class TestTaxonomyAndClassifier:
    def test_every_cfpb_value_in_the_sample_maps_into_the_taxonomy(self) -> None:
        if not CFPB_CSV.exists():
            pytest.skip(f"{CFPB_CSV} not found")
        taxonomy = load_taxonomy()
        with CFPB_CSV.open(encoding="utf-8", newline="") as handle:
            rows = list(csv.DictReader(handle))
        assert {r["Product"] for r in rows if taxonomy.product_of(r["Product"]) is None} == set()
        assert {r["Issue"] for r in rows if taxonomy.issue_of(r["Issue"]) is None} == set()

    def test_the_rules_classify_chinese_and_english(self) -> None:
        rules = RuleClassifier(load_taxonomy())
        found = rules.classify("催收天天打电话给我家人，还威胁要上门")
        assert (found.product, found.issue, found.source) == (
            "debt_collection",
            "collection_conduct",
            "rules",
        )
        assert rules.classify("They charged a late fee and interest").issue == "fees_interest"
        assert rules.classify("nothing to see", product="mortgage").product_source == "given"
        assert rules.classify("nothing to see").issue == "other"

    def test_a_model_trained_on_a_slice_predicts_and_reloads(self, tmp_path: Path) -> None:
        if not CFPB_CSV.exists():
            pytest.skip(f"{CFPB_CSV} not found")
        card = taxonomy_module.train(CFPB_CSV, tmp_path / "m", limit=300, seed=1)
        held = card["metrics"]["held_out"]
        assert card["rows"] == {"train": 240, "held_out": 60}
        for target in ("product", "issue"):
            assert 0.0 <= held[target]["accuracy"] <= 1.0
            assert 0.0 <= held[target]["macro_f1"] <= 1.0
        # Better than always answering the commonest product.
        assert held["product"]["accuracy"] >= held["product"]["majority_baseline_accuracy"]
        model = ModelClassifier.load(tmp_path / "m")
        found = model.classify("Experian reports an account that is not mine on my credit report")
        assert found.product == "credit_reporting"
        assert found.product in card["classes"]["product"]
        assert found.issue in card["classes"]["issue"]
        assert 0.0 < found.product_confidence <= 1.0
        evaluated = taxonomy_module.evaluate(tmp_path / "m", CFPB_CSV)
        assert evaluated["rows"] == 60
        assert evaluated["product"]["accuracy"] == held["product"]["accuracy"]
        assert "rules_fallback" in evaluated

    def test_the_configured_classifier_uses_the_model_and_the_rules_for_chinese(
        self, tmp_path: Path
    ) -> None:
        if not CFPB_CSV.exists():
            pytest.skip(f"{CFPB_CSV} not found")
        taxonomy_module.train(CFPB_CSV, tmp_path / "m", limit=200)
        classifier = ComplaintClassifier.configured(load_taxonomy(), tmp_path / "m")
        assert classifier.source.startswith("model:")
        assert classifier.classify("my credit report is wrong").source.startswith("model:")
        assert classifier.classify("征信报告有错误").source == "rules"
        without = ComplaintClassifier.configured(load_taxonomy(), tmp_path / "nothing")
        assert without.source == "rules"


# -- over HTTP, both databases ---------------------------------------------------------------------


def received(days_ago: int, tz: ZoneInfo = CST) -> str:
    """Noon local time ``days_ago`` local days before today: that is day ``days_ago`` now."""
    today = datetime.now(tz).date()
    return local(today - timedelta(days=days_ago), tz, 12).isoformat()


def intake(api: Api, headers: dict[str, str] | None = None, **body: Any) -> dict[str, Any]:
    payload = {
        "customer_id": "cust-1",
        "channel": "app",
        "narrative": "催收员天天打电话给我家人。我的手机号13812345678。",
        **body,
    }
    response = api.client.post("/v1/complaints", json=payload, headers=headers or api.admin)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def post(api: Api, url: str, body: dict[str, Any]) -> Any:
    return api.client.post(url, json=body, headers=api.admin)


def timeline_and_audit(api: Api, complaint_id: str) -> tuple[int, int, int]:
    with api.services.decisions.db.connect() as conn:
        events = conn.execute(
            select(func.count()).where(ComplaintEvent.complaint_id == complaint_id)
        ).scalar_one()
        audits = conn.execute(
            select(func.count()).where(AuditEntry.target == f"complaint:{complaint_id}")
        ).scalar_one()
        extensions = conn.execute(
            select(func.count()).where(ComplaintExtension.complaint_id == complaint_id)
        ).scalar_one()
    return int(events), int(audits), int(extensions)


class TestIntakeApi:
    def test_intake_masks_classifies_starts_the_clock_and_audits(self, app_client: Api) -> None:
        body = intake(app_client, received_at=received(2), staff_involved=["bob"])
        assert body["state"] == "received"
        assert "13812345678" not in body["narrative"]
        assert "138****5678" in body["narrative"]
        assert body["pii_types"] == ["CN_MOBILE"]
        assert (body["product"], body["issue"], body["classifier"]) == (
            "debt_collection",
            "collection_conduct",
            "rules",
        )
        assert body["clock"]["day"] == 2
        assert body["clock"]["limit_day"] == 15
        assert body["clock"]["status"] == "on_track"
        assert body["escalation"]["reasons"]
        assert "closed" not in body["allowed_transitions"]
        assert timeline_and_audit(app_client, body["id"])[:2] == (1, 1)

    def test_a_given_product_is_kept(self, app_client: Api) -> None:
        body = intake(app_client, product="personal_loan")
        assert (body["product"], body["product_source"]) == ("personal_loan", "given")

    @pytest.mark.parametrize(
        ("change", "field"),
        [
            ({"narrative": ""}, "narrative"),
            ({"channel": "pigeon"}, "channel"),
            ({"product": "yacht"}, "product"),
            ({"jurisdiction": "FR"}, "jurisdiction"),
            ({"received_at": "2026-01-01T10:00:00"}, "received_at"),
            ({"received_at": "2999-01-01T10:00:00+08:00"}, "received_at"),
            ({"customer_id": None}, "customer_id"),
        ],
    )
    def test_a_bad_field_is_a_422_naming_it(
        self, app_client: Api, change: dict[str, Any], field: str
    ) -> None:
        payload = {"customer_id": "c", "channel": "app", "narrative": "n", **change}
        response = app_client.client.post("/v1/complaints", json=payload, headers=app_client.admin)
        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == PROBLEM
        assert field in {e["field"] for e in response.json()["errors"]}

    def test_scopes(self, app_client: Api) -> None:
        reader = app_client.key("complaints:read")
        created = intake(app_client)
        denied = app_client.client.post("/v1/complaints", json={"customer_id": "c"}, headers=reader)
        assert denied.status_code == 403
        assert "complaints:write" in denied.json()["detail"]
        assert app_client.client.get(f"/v1/complaints/{created['id']}", headers=reader).is_success
        other = app_client.key("cases:read")
        assert app_client.client.get("/v1/complaints", headers=other).status_code == 403
        assert app_client.client.get("/v1/complaints").status_code == 401
        writer = app_client.key("complaints:write")
        assert app_client.client.get("/v1/complaints", headers=writer).status_code == 403
        intake(app_client, headers=writer)

    @pytest.mark.parametrize(
        ("narrative", "typology", "cue"),
        [
            (
                "你们平台的人说放款前要先交3000元解冻费，我交了钱贷款还是没到账",
                "advance_fee_loan",
                "fee_before_disbursement",
            ),
            (
                "Your agent said I had to pay a verification fee before the loan could be "
                "released. I paid and never got the loan.",
                "advance_fee_loan",
                "fee_before_disbursement",
            ),
            (
                "我父亲今年80岁，有人打着你们公司的旗号向他推销保本高收益的养老项目，他投了二十万",
                "elderly_investment",
                "elderly_investment",
            ),
            (
                "My 82-year-old mother was sold a high-yield retirement scheme with guaranteed "
                "returns by someone using your name.",
                "elderly_investment",
                "elderly_investment",
            ),
            # written past filters: zero-width spaces, spaced-out characters, look-alike letters
            (
                "你们平台的人说放\u200b款\u200b前要先交3000元解\u200b冻\u200b费，贷款还是没到账",
                "advance_fee_loan",
                "fee_before_disbursement",
            ),
            (
                "你们平台的人说 放 款 前 要 先 交 3000 元 解 冻 费",
                "advance_fee_loan",
                "fee_before_disbursement",
            ),
            (
                "Your agent said I had to pay a ｖｅｒｉｆｉｃａｔｉｏｎ fee bef\u200bore the lоan "
                "could be released.",
                "advance_fee_loan",
                "fee_before_disbursement",
            ),
        ],
    )
    def test_a_scam_told_in_a_complaint_is_triaged_with_its_typology(
        self, app_client: Api, narrative: str, typology: str, cue: str
    ) -> None:
        body = intake(app_client, narrative=narrative)
        assert body["scam"]["cue"] is True
        assert body["scam"]["type"] == typology
        assert cue in body["scam"]["cues"]
        reason = next(r for r in body["scam"]["reasons"] if r["cue"] == cue)["reason"]
        assert reason["zh-CN"]
        assert reason["en"]
        again = app_client.client.get(f"/v1/complaints/{body['id']}", headers=app_client.admin)
        assert again.json()["scam"]["type"] == typology
        assert again.json()["timeline"][0]["detail"]["scam_type"] == typology

    @pytest.mark.parametrize(
        "narrative",
        [
            "催收员天天打电话给我家人。",
            "我父亲80岁了，你们的催收员天天打电话骚扰他",
            "I was charged a late fee twice and want it refunded",
            "My retired father was told the processing fee only after the loan was paid out",
        ],
    )
    def test_an_ordinary_complaint_names_no_scam(self, app_client: Api, narrative: str) -> None:
        body = intake(app_client, narrative=narrative)
        assert body["scam"] == {
            "cue": False,
            "type": None,
            "score": body["scam"]["score"],
            "cues": body["scam"]["cues"],
            "reasons": [],
        }
        assert body["scam"]["score"] < 0.5

    def test_an_unknown_complaint_is_404(self, app_client: Api) -> None:
        response = app_client.client.get("/v1/complaints/cmp_nope", headers=app_client.admin)
        assert response.status_code == 404


class TestClockApi:
    def test_day_15_is_not_overdue_and_day_16_is(self, app_client: Api) -> None:
        d15 = intake(app_client, customer_id="a", received_at=received(15))
        d16 = intake(app_client, customer_id="b", received_at=received(16))
        assert (d15["clock"]["day"], d15["overdue"], d15["clock"]["codes"]) == (15, False, [])
        assert d15["clock"]["status"] == "due_soon"
        assert (d16["clock"]["day"], d16["overdue"]) == (16, True)
        assert d16["clock"]["codes"] == ["COMPLAINT_OVERDUE"]
        assert "OVERDUE" in {r["code"] for r in d16["escalation"]["reasons"]}

    def test_the_queue_puts_overdue_first_and_counts_them(self, app_client: Api) -> None:
        fresh = intake(app_client, customer_id="a", received_at=received(1))
        late = intake(app_client, customer_id="b", received_at=received(20))
        middle = intake(app_client, customer_id="c", received_at=received(10))
        queue = app_client.client.get("/v1/complaints", headers=app_client.admin).json()
        assert (queue["total"], queue["overdue"]) == (3, 1)
        assert [c["id"] for c in queue["complaints"]] == [late["id"], middle["id"], fresh["id"]]
        only_us = app_client.client.get(
            "/v1/complaints", params={"jurisdiction": "US"}, headers=app_client.admin
        ).json()
        assert only_us["total"] == 0
        bad = app_client.client.get(
            "/v1/complaints", params={"state": "lost"}, headers=app_client.admin
        )
        assert bad.status_code == 422

    def test_a_repeat_complaint_raises_the_warning(self, app_client: Api) -> None:
        first = intake(app_client, customer_id="r", received_at=received(30))
        second = intake(app_client, customer_id="r", received_at=received(1))
        assert first["prior_complaints"] == 0
        assert second["prior_complaints"] == 1
        assert "REPEAT_COMPLAINT" in {r["code"] for r in second["escalation"]["reasons"]}

    def test_extensions_over_http(self, app_client: Api) -> None:
        complaint = intake(app_client, received_at=received(10))
        cid = complaint["id"]
        url = f"/v1/complaints/{cid}/extend"
        missing = post(app_client, url, {"approver_level": "senior"})
        assert missing.status_code == 409
        assert missing.json()["detail"].startswith("EXTENSION_INVALID")
        assert [e["field"] for e in missing.json()["errors"]] == ["reason"]
        first = post(app_client, url, {"reason": "needs the collector's call records"})
        assert first.status_code == 200, first.text
        assert (first.json()["state"], first.json()["clock"]["limit_day"]) == ("extended", 30)
        before = (first.json()["revision"], timeline_and_audit(app_client, cid))
        # The approval level is the caller's own: a complaints:write key is staff, whatever
        # its body claims; the admin key is senior (see test_complaint_approvals.py).
        staff = app_client.key("complaints:write")
        for headers, body in (
            (staff, {"reason": "x", "complainant_notified": True}),
            (staff, {"reason": "x", "approver_level": "senior", "complainant_notified": True}),
            (app_client.admin, {"reason": "x", "approver_level": "senior"}),
            (
                app_client.admin,
                {
                    "reason": "x",
                    "approver_level": "senior",
                    "complainant_notified": True,
                    "to_day": 90,
                },
            ),
        ):
            refused = app_client.client.post(url, json=body, headers=headers)
            assert refused.status_code == 409, body
            assert refused.json()["detail"].startswith("EXTENSION_INVALID")
        after = app_client.client.get(f"/v1/complaints/{cid}", headers=app_client.admin).json()
        assert (after["revision"], timeline_and_audit(app_client, cid)) == before
        assert after["clock"]["limit_day"] == 30
        second = post(
            app_client,
            url,
            {
                "reason": "especially complex",
                "approver_level": "senior",
                "approved_by": "head-of-complaints",
                "complainant_notified": True,
            },
        )
        assert second.status_code == 200, second.text
        assert second.json()["clock"]["limit_day"] == 60
        assert [x["to_day"] for x in second.json()["extensions"]] == [30, 60]
        # the approver on record is the caller, not the name the body gave
        assert second.json()["extensions"][1]["approved_by"].startswith("key:bootstrap-admin")
        third = post(
            app_client,
            url,
            {"reason": "more", "approver_level": "executive", "complainant_notified": True},
        )
        assert third.status_code == 409
        assert "no further extension" in third.json()["detail"]

    def test_an_overdue_complaint_cannot_be_extended_back_into_time(self, app_client: Api) -> None:
        complaint = intake(app_client, received_at=received(16))
        refused = post(
            app_client, f"/v1/complaints/{complaint['id']}/extend", {"reason": "complex"}
        )
        assert refused.status_code == 409
        assert "has passed" in refused.json()["detail"]

    def test_us_in_progress_and_uk_breach(self, app_client: Api) -> None:
        us = intake(app_client, jurisdiction="US", received_at=received(16, NEW_YORK))
        assert us["clock"]["codes"] == ["CFPB_RESPONSE_LATE"]
        us_new = intake(app_client, jurisdiction="US", received_at=received(5, NEW_YORK))
        marked = post(
            app_client, f"/v1/complaints/{us_new['id']}/extend", {"reason": "in progress"}
        )
        assert marked.status_code == 200, marked.text
        assert (marked.json()["clock"]["limit_day"], marked.json()["overdue"]) == (60, False)
        uk56 = intake(app_client, jurisdiction="UK", received_at=received(56, LONDON))
        uk57 = intake(app_client, jurisdiction="UK", received_at=received(57, LONDON))
        assert (uk56["overdue"], uk56["clock"]["codes"]) == (False, [])
        assert uk57["clock"]["codes"] == ["DISP_8W_BREACH"]
        refused = post(app_client, f"/v1/complaints/{uk56['id']}/extend", {"reason": "x"})
        assert refused.status_code == 409
        report = app_client.client.get(
            "/v1/complaints/clock-report", headers=app_client.admin
        ).json()
        assert report["codes"] == {"CFPB_RESPONSE_LATE": 1, "DISP_8W_BREACH": 1}
        assert report["by_jurisdiction"]["UK"]["overdue"] == 1
        assert report["extensions_by_step"] == {"1": 1}


class TestWorkingAComplaint:
    def test_the_whole_path_with_root_causes(self, app_client: Api) -> None:
        cid = intake(app_client, received_at=received(3))["id"]
        base = f"/v1/complaints/{cid}"
        for to in ("acknowledged", "investigating"):
            assert post(app_client, f"{base}/transition", {"to": to}).status_code == 200
        no_summary = post(app_client, f"{base}/transition", {"to": "responded"})
        assert no_summary.status_code == 422
        assert no_summary.json()["errors"][0]["field"] == "response_summary"
        responded = post(
            app_client,
            f"{base}/transition",
            {"to": "responded", "response_summary": "Collector replaced; apology sent"},
        )
        assert responded.status_code == 200
        assert responded.json()["clock"]["status"] == "met"
        no_cause = post(app_client, f"{base}/transition", {"to": "closed"})
        assert no_cause.status_code == 422
        assert no_cause.json()["errors"][0]["field"] == "root_cause_tags"
        unknown = post(
            app_client, f"{base}/transition", {"to": "closed", "root_cause_tags": ["bad_luck"]}
        )
        assert unknown.status_code == 422
        assert unknown.json()["errors"][0]["field"] == "root_cause_tags"
        closed = post(
            app_client,
            f"{base}/transition",
            {
                "to": "closed",
                "root_cause_tags": ["third_party_collector", "policy_gap"],
                "root_cause_note": "vendor script allowed calls to relatives",
            },
        )
        assert closed.status_code == 200, closed.text
        body = closed.json()
        assert body["state"] == "closed"
        assert body["root_cause_tags"] == ["third_party_collector", "policy_gap"]
        assert body["allowed_transitions"] == []
        assert [e["kind"] for e in body["timeline"]] == [
            "received",
            "acknowledge",
            "investigate",
            "respond",
            "close",
        ]
        report = app_client.client.get(
            "/v1/complaints/clock-report", headers=app_client.admin
        ).json()
        cn = report["by_jurisdiction"]["CN"]
        assert (cn["decided_on_time"], cn["closed_with_root_cause"], cn["on_time_rate"]) == (
            1,
            1,
            1.0,
        )

    def test_a_refused_transition_changes_nothing(self, app_client: Api) -> None:
        complaint = intake(app_client)
        cid = complaint["id"]
        before = timeline_and_audit(app_client, cid)
        for body in ({"to": "closed"}, {"to": "received"}, {"to": "nonsense"}):
            refused = post(app_client, f"/v1/complaints/{cid}/transition", body)
            assert refused.status_code == 409, body
            assert refused.json()["errors"][0]["field"] == "to"
        stale = post(
            app_client, f"/v1/complaints/{cid}/transition", {"to": "acknowledged", "revision": 7}
        )
        assert stale.status_code == 409
        after = app_client.client.get(f"/v1/complaints/{cid}", headers=app_client.admin).json()
        assert (after["state"], after["revision"]) == ("received", complaint["revision"])
        assert timeline_and_audit(app_client, cid) == before

    def test_escalation_to_the_regulator(self, app_client: Api) -> None:
        cid = intake(app_client, received_at=received(4))["id"]
        base = f"/v1/complaints/{cid}/transition"
        assert post(app_client, base, {"to": "investigating"}).status_code == 200
        escalated = post(
            app_client, base, {"to": "escalated_to_regulator", "regulator_reference": "12378-9"}
        )
        assert escalated.status_code == 200
        assert escalated.json()["regulator_reference"] == "12378-9"
        extended = post(app_client, f"/v1/complaints/{cid}/extend", {"reason": "regulator asks"})
        assert extended.status_code == 200, extended.text
        assert (extended.json()["state"], extended.json()["clock"]["limit_day"]) == (
            "escalated_to_regulator",
            30,
        )
        early_close = post(app_client, base, {"to": "closed", "root_cause_tags": ["policy_gap"]})
        assert early_close.status_code == 409
        assert post(app_client, base, {"to": "responded", "response_summary": "ok"}).is_success
        report = app_client.client.get(
            "/v1/complaints/clock-report", headers=app_client.admin
        ).json()
        assert report["by_jurisdiction"]["CN"]["escalated_to_regulator"] == 1

    def test_the_staff_member_complained_about_may_not_handle_it(self, app_client: Api) -> None:
        complaint = intake(app_client, staff_involved=["bob"])
        cid = complaint["id"]
        refused = post(app_client, f"/v1/complaints/{cid}/assign", {"assignee": "user:Bob"})
        assert refused.status_code == 409
        assert refused.json()["detail"].startswith("CONFLICT_OF_INTEREST")
        assert refused.json()["errors"][0]["field"] == "assignee"
        unchanged = app_client.client.get(f"/v1/complaints/{cid}", headers=app_client.admin)
        assert unchanged.json()["assignee"] is None
        assigned = post(app_client, f"/v1/complaints/{cid}/assign", {"assignee": "user:alice"})
        assert assigned.status_code == 200
        assert assigned.json()["assignee"] == "user:alice"


class TestRoles:
    def test_analysts_work_complaints_officers_read_and_bob_may_not_decide_his_own(
        self, case_app: Api
    ) -> None:
        bob = sign_in(case_app.app, case_app.services, "analyst", username="bob")
        officer = sign_in(case_app.app, case_app.services, "officer")
        created = bob.post(
            "/v1/complaints",
            json={
                "customer_id": "c",
                "channel": "phone",
                "narrative": "rude",
                "staff_involved": [],
            },
        )
        assert created.status_code == 201, created.text
        about_bob = intake(case_app, staff_involved=["bob"])
        cid = about_bob["id"]
        assert bob.post(f"/v1/complaints/{cid}/transition", json={"to": "investigating"}).is_success
        refused = bob.post(
            f"/v1/complaints/{cid}/transition",
            json={"to": "responded", "response_summary": "no fault"},
        )
        assert refused.status_code == 409
        assert refused.json()["detail"].startswith("CONFLICT_OF_INTEREST")
        assert officer.get(f"/v1/complaints/{cid}").status_code == 200
        assert officer.get("/v1/complaints/clock-report").status_code == 200
        denied = officer.post(f"/v1/complaints/{cid}/assign", json={"assignee": "user:x"})
        assert denied.status_code == 403


class TestConsole:
    def test_the_console_takes_complaints_in_and_shows_the_clocks(self, case_app: Api) -> None:
        analyst = sign_in(case_app.app, case_app.services, "analyst")
        officer = sign_in(case_app.app, case_app.services, "officer")
        intake(case_app, customer_id="late", received_at=received(16))
        taken = analyst.post(
            "/console/complaints",
            data={
                "csrf": analyst.csrf,
                "customer_id": "walk-in",
                "channel": "branch",
                "jurisdiction": "CN",
                "product": "",
                "staff_involved": "bob, carol",
                "narrative": "利息太高，客服态度差，卡号4111111111111111",
            },
            follow_redirects=False,
        )
        assert taken.status_code == 303, taken.text
        queue = case_app.client.get("/v1/complaints", headers=case_app.admin).json()
        walk_in = next(c for c in queue["complaints"] if c["customer_id"] == "walk-in")
        assert walk_in["staff_involved"] == ["bob", "carol"]
        assert walk_in["channel"] == "branch"
        assert "4111111111111111" not in walk_in["narrative"]
        assert walk_in["pii_types"] == ["BANK_CARD"]
        page = officer.get("/console/complaints")
        assert page.status_code == 200
        assert 'id="overdue-alert"' in page.text
        assert "COMPLAINT_OVERDUE" in page.text
        assert 'id="clock-report"' in page.text
        assert 'id="intake"' not in page.text  # officers read, they do not take in
        refused = officer.post(
            "/console/complaints",
            data={"csrf": officer.csrf, "customer_id": "x", "channel": "app", "narrative": "n"},
        )
        assert refused.status_code == 403
        bad = analyst.post(
            "/console/complaints",
            data={"csrf": analyst.csrf, "customer_id": "x", "channel": "fax", "narrative": "n"},
        )
        assert bad.status_code == 422
        assert "channel" in bad.text


class TestTheContract:
    """What the OpenAPI document says of complaints is what the service does."""

    def test_a_transition_the_state_does_not_allow_is_a_documented_409(
        self, app_client: Api
    ) -> None:
        spec = app_client.client.get("/openapi.json").json()
        for action in ("transition", "assign", "extend"):
            operation = spec["paths"][f"/v1/complaints/{{complaint_id}}/{action}"]["post"]
            assert "409" in operation["responses"], action
        body = spec["components"]["schemas"]["ComplaintTransition"]
        states = body["properties"]["to"]["enum"]
        assert states == [s.value for s in ComplaintState]
        complaint = intake(app_client)
        refused = post(app_client, f"/v1/complaints/{complaint['id']}/transition", {"to": "closed"})
        assert refused.status_code == 409
        assert refused.headers["content-type"] == "application/problem+json"
        assert "closed" in refused.json()["detail"]

    def test_the_documented_products_and_root_causes_are_the_taxonomy(
        self, app_client: Api
    ) -> None:
        schemas = app_client.client.get("/openapi.json").json()["components"]["schemas"]
        taxonomy = app_client.client.get("/v1/complaints/taxonomy", headers=app_client.admin).json()
        products = schemas["ComplaintCreate"]["properties"]["product"]["anyOf"][0]["enum"]
        assert products == sorted(p["id"] for p in taxonomy["products"])
        tags = schemas["ComplaintTransition"]["properties"]["root_cause_tags"]["anyOf"][0]
        assert tags["items"]["enum"] == sorted(r["id"] for r in taxonomy["root_causes"])

    def test_a_writer_without_the_scope_is_refused_before_the_body_is_read(
        self, app_client: Api
    ) -> None:
        reader = app_client.key("complaints:read")
        refused = app_client.client.post(
            "/v1/complaints/cmp_x/transition", json={"to": 5}, headers=reader
        )
        assert refused.status_code == 403
