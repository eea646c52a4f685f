"""The customer page's interventions panel (issue #19) without a browser: an agent records a
challenge's answers read out on a call (channel "agent"), releases or cancels a held payment
with a reason, locks the customer's money (kill switch) and unlocks it with a verification;
each form is refused without its scope or CSRF token, and a bad form renders the page again
with the refusal in the page's language, its status code, and nothing changed."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from fixtures import MISSING, T0, Api, UserClient, make_event, r39_scam_events, sign_in
from lendguard.cases.service import ReleasePolicy
from lendguard.console.i18n import EN, ZH
from lendguard.console.routes import CHALLENGE_OUTCOMES, DONE_NOTICES, REFUSALS
from lendguard.models import AuditEntry, CaseDecision, ChallengeResponse, CustomerLock

pytestmark = pytest.mark.usefixtures("pinned_clock")

CUSTOMER = "cust-iv"
PAGE = f"/console/customers/{CUSTOMER}"
CODE_WORD = re.compile(r"\b(?:[a-z]+(?:_[a-z]+)+|[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)\b")
PROBLEM = re.compile(r'id="iv-problem">(.*?)</div>', re.S)


def _seed(api: Api) -> tuple[dict[str, Any], dict[str, Any]]:
    """The student's intercepted 19,000 (held under a case) and, two hours later, a 3,000
    transfer while sharing the screen (dissuaded, with questions)."""
    *_, intercepted = [api.decide(e) for e in r39_scam_events(CUSTOMER)]
    assert intercepted["action"] == "intercept"
    dissuaded = api.decide(
        make_event(
            customer_id=CUSTOMER,
            occurred_at=T0 + timedelta(hours=2),
            amount="3000.00",
            payee_id="payee-x",
            session={"screen_share_active": True},
        )
    )
    assert dissuaded["action"] == "dissuade", dissuaded
    assert dissuaded["challenge"] is not None
    return dissuaded, intercepted


def _text(html: str) -> str:
    main = html.split("<main", 1)[-1].split("</main>", 1)[0]
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", main.split(">", 1)[-1]))


def _problem(response: Any) -> str:
    found = PROBLEM.search(response.text)
    assert found is not None, response.text[-2000:]
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", found.group(1))).strip()


def _count(api: Api, model: Any, *where: Any) -> int:
    with api.services.decisions.db.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(model).where(*where)).scalar_one())


def _hold_status(api: Api, decision_id: str) -> str:
    with api.services.decisions.db.connect() as conn:
        return str(
            conn.execute(
                select(CaseDecision.hold_status).where(CaseDecision.decision_id == decision_id)
            ).scalar_one()
        )


def _answers(decision: dict[str, Any], first: str = "yes") -> dict[str, str]:
    ids = [q["id"] for q in decision["challenge"]["questions"]]
    answers = {f"answer.{qid}": "no" for qid in ids if qid != "purpose"}
    answers[f"answer.{ids[0]}"] = first
    answers["answer.purpose"] = "other"
    return answers


def _audited(api: Api, action: str, actor: str) -> int:
    return _count(api, AuditEntry, AuditEntry.action == action, AuditEntry.actor == actor)


# -- challenges ----------------------------------------------------------------------------------


def test_an_agent_records_the_answers_read_out_on_a_call_and_sees_the_follow_up(
    case_app: Api,
) -> None:
    dissuaded, _ = _seed(case_app)
    analyst = sign_in(case_app.app, case_app.services, "analyst")
    decision_id = dissuaded["decision_id"]

    for locale, catalogue in (("zh-CN", ZH), ("en", EN)):
        page = analyst.get(f"{PAGE}?lang={locale}")
        assert page.status_code == 200
        form = re.search(
            rf'<form[^>]*id="challenge-form-{decision_id}">(.*?)</form>', page.text, re.S
        )
        assert form is not None
        first = dissuaded["challenge"]["questions"][0]
        assert first["text"][locale] in form.group(1)
        assert f'name="answer.{first["id"]}" value="yes"' in form.group(1)
        assert catalogue.get("Record the answers", "Record the answers") in form.group(1)
        assert CODE_WORD.findall(_text(page.text)) == [], locale

    done = analyst.post(
        f"{PAGE}/challenges/{decision_id}?lang=zh-CN",
        data={"csrf": analyst.csrf, **_answers(dissuaded)},
        follow_redirects=False,
    )
    assert done.status_code == 303, done.text
    assert done.headers["location"].endswith("?done=answered#interventions")
    with case_app.services.decisions.db.connect() as conn:
        row = conn.execute(select(*ChallengeResponse.__table__.columns)).one()
    assert (row.decision_id, row.channel, row.actor) == (decision_id, "agent", analyst.actor)
    # the questions were read out in the page's language, and kept as shown
    assert row.locale == "zh-CN"
    assert row.questions[0]["text"] == dissuaded["challenge"]["questions"][0]["text"]["zh-CN"]
    assert row.outcome == "escalated"
    assert _audited(case_app, "console.challenge_answered", analyst.actor) == 1

    page = analyst.get(f"{PAGE}?lang=en&done=answered")
    shown = re.search(rf'id="follow-up-{decision_id}">(.*?)</div>', page.text, re.S)
    assert shown is not None
    assert "Intercept" in shown.group(1)
    assert CHALLENGE_OUTCOMES["escalated"].replace("'", "&#39;") in shown.group(1)
    assert "The customer&#39;s answers describe a scam" in shown.group(1)  # the reason, in words
    assert f'id="challenge-form-{decision_id}"' not in page.text
    assert DONE_NOTICES["answered"] in page.text
    # the escalation holds the 3,000 under a case: a second held payment on the page
    assert len(re.findall(r'class="hold-row held"', page.text)) == 2


def test_a_missing_answer_is_refused_naming_the_question_and_nothing_is_kept(
    case_app: Api,
) -> None:
    dissuaded, _ = _seed(case_app)
    analyst = sign_in(case_app.app, case_app.services, "analyst")
    answers = _answers(dissuaded)
    second = dissuaded["challenge"]["questions"][1]
    del answers[f"answer.{second['id']}"]
    for locale in ("zh-CN", "en"):
        refused = analyst.post(
            f"{PAGE}/challenges/{dissuaded['decision_id']}?lang={locale}",
            data={"csrf": analyst.csrf, **answers},
        )
        assert refused.status_code == 422
        message = _problem(refused)
        assert second["text"][locale] in message.replace("&#34;", '"')
        assert ZH["Please check: %s"].split("%")[0] in message or "Please check" in message
        assert "Traceback" not in refused.text
    # an option the question does not have, and a made-up question: 422 too
    for bad in ({f"answer.{second['id']}": "maybe"}, {"answer.made_up": "yes"}):
        refused = analyst.post(
            f"{PAGE}/challenges/{dissuaded['decision_id']}",
            data={"csrf": analyst.csrf, **answers, **bad},
        )
        assert refused.status_code == 422, refused.text
    assert _count(case_app, ChallengeResponse) == 0


def test_a_face_check_is_shown_as_done_in_the_customers_app_and_not_offered(
    case_app: Api,
) -> None:
    # customers sign up one after another on one tablet: the fourth is asked for a face check
    decisions = [
        case_app.decide(
            make_event(
                type="registration",
                customer_id=f"kiosk-{i}",
                device_id="tablet-1",
                occurred_at=T0 + timedelta(minutes=5 * i),
                amount=MISSING,
                payee_id=MISSING,
            )
        )
        for i in range(4)
    ]
    flagged = decisions[-1]
    assert flagged["challenge"]["kind"] == "verification"
    analyst = sign_in(case_app.app, case_app.services, "analyst")
    page = analyst.get("/console/customers/kiosk-3?lang=en")
    assert page.status_code == 200
    assert "The face check happens in the customer&#39;s app." in page.text
    assert "only the customer&#39;s app can do" in page.text
    assert f'id="challenge-form-{flagged["decision_id"]}"' not in page.text
    refused = analyst.post(
        f"/console/customers/kiosk-3/challenges/{flagged['decision_id']}?lang=en",
        data={"csrf": analyst.csrf},
    )
    assert refused.status_code == 422
    assert "Face check" in _problem(refused)
    assert _count(case_app, ChallengeResponse) == 0


def test_another_customers_decision_is_not_found_here(case_app: Api) -> None:
    dissuaded, _ = _seed(case_app)
    analyst = sign_in(case_app.app, case_app.services, "analyst")
    refused = analyst.post(
        f"/console/customers/someone-else/challenges/{dissuaded['decision_id']}",
        data={"csrf": analyst.csrf, **_answers(dissuaded)},
    )
    assert refused.status_code == 404
    assert REFUSALS[(404, "")] in _problem(refused)
    assert _count(case_app, ChallengeResponse) == 0


# -- holds ---------------------------------------------------------------------------------------


def test_a_held_payment_shows_its_deadline_and_is_released_with_a_reason(case_app: Api) -> None:
    _, intercepted = _seed(case_app)
    held = intercepted["decision_id"]
    analyst = sign_in(case_app.app, case_app.services, "analyst")
    hold = case_app.services.cases.holds.get(held)
    page = analyst.get(f"{PAGE}?lang=zh-CN")
    row = re.search(rf'<tr class="hold-row held" id="hold-row-{held}">(.*?)</tr>', page.text, re.S)
    assert row is not None
    # the deadline in the operator's zone (the console's default, Asia/Shanghai), zone named
    deadline = hold["hold_deadline"]
    assert f'<time datetime="{deadline.isoformat()}"' in row.group(1)
    assert "UTC+8" in row.group(1)
    assert hold["release_instructions"]["zh-CN"][:20] in row.group(1)
    assert ZH["held"] in row.group(1)

    refused = analyst.post(
        f"{PAGE}/holds/{held}/release?lang=en", data={"csrf": analyst.csrf, "note": "  "}
    )
    assert refused.status_code == 422
    assert _problem(refused) == "Not done: Please check: Reason"
    assert _hold_status(case_app, held) == "held"

    done = analyst.post(
        f"{PAGE}/holds/{held}/release",
        data={"csrf": analyst.csrf, "note": "called back: paying her own landlord"},
        follow_redirects=False,
    )
    assert done.status_code == 303
    assert done.headers["location"].endswith("?done=released#interventions")
    assert _hold_status(case_app, held) == "released"
    page = analyst.get(f"{PAGE}?lang=en&done=released")
    row = re.search(rf'id="hold-row-{held}">(.*?)</tr>', page.text, re.S)
    assert row is not None
    assert "Released" in row.group(1)
    assert EN["released_by_agent"] in row.group(1)
    assert f'id="release-{held}"' not in page.text
    assert DONE_NOTICES["released"] in page.text

    again = analyst.post(
        f"{PAGE}/holds/{held}/cancel?lang=en", data={"csrf": analyst.csrf, "note": "too late"}
    )
    assert again.status_code == 409
    assert REFUSALS[(409, "hold_status")] in _problem(again)
    assert _hold_status(case_app, held) == "released"


def test_cancelling_needs_a_reason_here_and_tells_the_page(case_app: Api) -> None:
    _, intercepted = _seed(case_app)
    held = intercepted["decision_id"]
    analyst = sign_in(case_app.app, case_app.services, "analyst")
    refused = analyst.post(f"{PAGE}/holds/{held}/cancel?lang=zh-CN", data={"csrf": analyst.csrf})
    assert refused.status_code == 422
    assert ZH["Reason"] in _problem(refused)
    assert _hold_status(case_app, held) == "held"
    done = analyst.post(
        f"{PAGE}/holds/{held}/cancel",
        data={"csrf": analyst.csrf, "note": "customer confirmed the scam"},
        follow_redirects=False,
    )
    assert done.status_code == 303
    assert _hold_status(case_app, held) == "cancelled"
    page = analyst.get(f"{PAGE}?lang=zh-CN")
    assert ZH["cancelled_by_agent"] in page.text


def test_a_release_above_the_policy_needs_a_second_person(case_app: Api) -> None:
    _, intercepted = _seed(case_app)
    held = intercepted["decision_id"]
    case_app.services.cases.holds.release_policy = ReleasePolicy(10_000, "CNY")
    first = sign_in(case_app.app, case_app.services, "analyst")
    second = sign_in(case_app.app, case_app.services, "analyst")
    note = {"note": "verified on a video call"}
    proposed = first.post(
        f"{PAGE}/holds/{held}/release", data={"csrf": first.csrf, **note}, follow_redirects=False
    )
    assert proposed.status_code == 303
    assert proposed.headers["location"].endswith("?done=release_proposed#interventions")
    assert _hold_status(case_app, held) == "held"
    again = first.post(f"{PAGE}/holds/{held}/release?lang=en", data={"csrf": first.csrf, **note})
    assert again.status_code == 403
    assert REFUSALS[(403, "approver")] in _problem(again)
    approved = second.post(
        f"{PAGE}/holds/{held}/release", data={"csrf": second.csrf, **note}, follow_redirects=False
    )
    assert approved.status_code == 303
    assert _hold_status(case_app, held) == "released"


def test_a_hold_of_another_customer_is_not_found_here(case_app: Api) -> None:
    _, intercepted = _seed(case_app)
    analyst = sign_in(case_app.app, case_app.services, "analyst")
    refused = analyst.post(
        f"/console/customers/someone-else/holds/{intercepted['decision_id']}/release",
        data={"csrf": analyst.csrf, "note": "a reason"},
    )
    assert refused.status_code == 404
    assert _hold_status(case_app, intercepted["decision_id"]) == "held"


# -- the money lock ------------------------------------------------------------------------------


def _lock_state(api: Api) -> tuple[str, bool, int] | None:
    with api.services.decisions.db.connect() as conn:
        row = conn.execute(
            select(CustomerLock.state, CustomerLock.kill_switch, CustomerLock.revision)
        ).one_or_none()
    return None if row is None else (str(row[0]), bool(row[1]), int(row[2]))


def _revision(page: Any) -> str:
    found = re.search(r'name="revision" value="(\d+)"', page.text)
    assert found is not None
    return found.group(1)


def test_an_agent_locks_with_the_kill_switch_and_unlocks_by_video(case_app: Api) -> None:
    analyst = sign_in(case_app.app, case_app.services, "analyst")
    page = analyst.get(f"{PAGE}?lang=en")
    assert "The customer has never locked their money." in page.text
    assert 'id="unlock-form"' not in page.text

    locked = analyst.post(
        f"{PAGE}/lock",
        data={"csrf": analyst.csrf, "kill_switch": "on", "note": "caller says police told him"},
        follow_redirects=False,
    )
    assert locked.status_code == 303
    assert locked.headers["location"].endswith("?done=locked#interventions")
    assert _lock_state(case_app) == ("locked", True, 1)
    assert _audited(case_app, "locks.locked", analyst.actor) == 1
    page = analyst.get(f"{PAGE}?lang=zh-CN")
    assert re.search(r'id="lock-state">已锁定<', page.text)
    assert ZH["On: new devices are suspended"] in page.text
    assert ZH["agent"] in page.text  # the history says an agent locked on the customer's behalf
    assert 'id="lock-form"' not in page.text  # locked with the kill switch: nothing to add
    revision = _revision(page)

    # by video without the call's reference: refused naming the field, still locked
    refused = analyst.post(
        f"{PAGE}/unlock?lang=en",
        data={"csrf": analyst.csrf, "method": "video", "revision": revision, "verified_by": "ana"},
    )
    assert refused.status_code == 422
    assert _problem(refused) == "Not done: Please check: Reference (branch visit or video call)"
    assert 'value="ana"' in refused.text  # what was typed is kept
    # a method the policy does not know, a revision that is not a number: 422 too
    for bad in ({"method": "by_email"}, {"revision": "one"}):
        form = {"csrf": analyst.csrf, "method": "video", "revision": revision, **bad}
        assert analyst.post(f"{PAGE}/unlock", data=form).status_code == 422
    # a stale revision: 409, the page shows the lock as it is now
    stale = analyst.post(
        f"{PAGE}/unlock?lang=en",
        data={
            "csrf": analyst.csrf,
            "method": "video",
            "revision": str(int(revision) + 5),
            "reference": "vc-2026-0042",
            "verified_by": "ana",
        },
    )
    assert stale.status_code == 409
    assert REFUSALS[(409, "revision")] in _problem(stale).replace("&#39;", "'")
    assert _revision(stale) == revision
    assert _lock_state(case_app) == ("locked", True, 1)

    unlocked = analyst.post(
        f"{PAGE}/unlock",
        data={
            "csrf": analyst.csrf,
            "method": "video",
            "revision": revision,
            "reference": "vc-2026-0042",
            "verified_by": "ana",
        },
        follow_redirects=False,
    )
    assert unlocked.status_code == 303
    assert unlocked.headers["location"].endswith("?done=unlocked#interventions")
    assert _lock_state(case_app) == ("unlocked", False, 2)
    page = analyst.get(f"{PAGE}?lang=en")
    assert re.search(r'id="lock-state">Unlocked<', page.text)
    history = re.search(r'<ol class="timeline" id="lock-history">(.*?)</ol>', page.text, re.S)
    assert history is not None
    assert "Video call" in history.group(1)
    assert "vc-2026-0042" in history.group(1)
    assert 'id="unlock-form"' not in page.text
    assert CODE_WORD.findall(_text(page.text)) == []

    # unlocking again: nothing is locked (409, in words)
    again = analyst.post(
        f"{PAGE}/unlock?lang=en",
        data={
            "csrf": analyst.csrf,
            "method": "in_person",
            "revision": "2",
            "reference": "branch-1",
            "verified_by": "ana",
        },
    )
    assert again.status_code == 409
    assert "nothing to unlock" in _problem(again)


def test_a_cooling_off_unlock_keeps_the_lock_until_it_ends(case_app: Api) -> None:
    analyst = sign_in(case_app.app, case_app.services, "analyst")
    analyst.post(f"{PAGE}/lock", data={"csrf": analyst.csrf})
    done = analyst.post(
        f"{PAGE}/unlock",
        data={"csrf": analyst.csrf, "method": "cooling_off", "revision": "1"},
        follow_redirects=False,
    )
    assert done.headers["location"].endswith("?done=unlock_pending#interventions")
    page = analyst.get(f"{PAGE}?lang=en")
    assert re.search(r'id="lock-state">Cooling-off \(still locked\)<', page.text)
    # the customer changed their mind: locking again cancels the pending unlock
    assert 'id="lock-form"' in page.text
    analyst.post(f"{PAGE}/lock", data={"csrf": analyst.csrf})
    assert _lock_state(case_app) == ("locked", False, 3)


# -- who may, and the CSRF token -----------------------------------------------------------------


def _posts(dissuaded: dict[str, Any], intercepted: dict[str, Any]) -> list[tuple[str, dict]]:
    held = intercepted["decision_id"]
    return [
        (f"{PAGE}/challenges/{dissuaded['decision_id']}", _answers(dissuaded)),
        (f"{PAGE}/holds/{held}/release", {"note": "a reason"}),
        (f"{PAGE}/holds/{held}/cancel", {"note": "a reason"}),
        (f"{PAGE}/lock", {"kill_switch": "on"}),
        (
            f"{PAGE}/unlock",
            {"method": "video", "revision": "1", "reference": "r", "verified_by": "v"},
        ),
    ]


def _nothing_changed(api: Api, intercepted: dict[str, Any]) -> None:
    assert _count(api, ChallengeResponse) == 0
    assert _hold_status(api, intercepted["decision_id"]) == "held"
    assert _lock_state(api) is None


def test_an_officer_reads_the_panel_but_cannot_answer_release_or_lock(case_app: Api) -> None:
    dissuaded, intercepted = _seed(case_app)
    officer: UserClient = sign_in(case_app.app, case_app.services, "officer")
    page = officer.get(f"{PAGE}?lang=en")
    assert page.status_code == 200
    assert 'id="interventions"' in page.text
    assert 'class="challenge-form"' not in page.text
    assert "Waiting for the customer&#39;s answers." in page.text
    assert f'id="hold-row-{intercepted["decision_id"]}"' in page.text  # officers read cases
    assert 'class="actions hold-release"' not in page.text
    assert 'id="lock-form"' not in page.text  # the lock's history names staff: not for them
    assert "Money lock" not in page.text
    for url, form in _posts(dissuaded, intercepted):
        refused = officer.post(url, data={"csrf": officer.csrf, **form}, follow_redirects=False)
        assert refused.status_code == 403, url
    _nothing_changed(case_app, intercepted)


def test_every_form_is_refused_without_the_sessions_csrf_token(case_app: Api) -> None:
    dissuaded, intercepted = _seed(case_app)
    analyst = sign_in(case_app.app, case_app.services, "analyst")
    for url, form in _posts(dissuaded, intercepted):
        for token in ({}, {"csrf": "not-the-token"}):
            refused = analyst.client.post(url, data={**form, **token}, follow_redirects=False)
            assert refused.status_code == 403, url
    _nothing_changed(case_app, intercepted)


def test_signed_out_posts_go_to_the_sign_in_page(case_app: Api) -> None:
    dissuaded, intercepted = _seed(case_app)
    for url, form in _posts(dissuaded, intercepted):
        response = case_app.client.post(url, data=form, follow_redirects=False)
        assert response.status_code == 303
        assert response.headers["location"].startswith("/console/login")
    _nothing_changed(case_app, intercepted)
