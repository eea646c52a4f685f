"""Console pages. Server-rendered (Jinja2), one stylesheet shipped in the package, SVG charts
drawn on the server: nothing is fetched from a CDN and every page works without JavaScript.

Every page checks the signed-in user's role through the same scopes as the API; every form
carries the session's CSRF token; every change goes through the same services as the API
(and so into the same audit trail and case timelines).

Nothing here blocks the event loop: the pages are plain ``def`` routes (FastAPI runs them on
worker threads), and the ``async`` form handlers read the form on the loop and do everything
else (the session lookup, the password hash, the services' database work) on a worker thread.
Sign-in attempts are rate limited per client IP and per username (429 with ``Retry-After``).
"""

from __future__ import annotations

import difflib
import hmac
import re
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import structlog
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, pass_context, select_autoescape
from jinja2.runtime import Context
from markupsafe import Markup
from starlette.concurrency import run_in_threadpool

from lendguard.auth import audit
from lendguard.auth.dependencies import SESSION_COOKIE, client_ip
from lendguard.auth.passwords import verify_password_async
from lendguard.auth.service import Scope
from lendguard.auth.users import SESSION_LIFETIME, LoginCandidate, LoginFailed, SessionInfo
from lendguard.console.i18n import ENUMS, LOCALES, actor_name, reason_text, translator
from lendguard.console.labels import evidence_value, feature_label
from lendguard.errors import FieldError, LendGuardError, NotFound, RateLimited, ValidationFailed
from lendguard.interventions.effectiveness import UNKNOWN_TYPOLOGY, intervention_rows, summarise
from lendguard.interventions.evidence_endpoints import MAX_RANGE
from lendguard.kit.calendars import calendar_gaps
from lendguard.kit.charts import horizontal_bars, stacked_bars
from lendguard.kit.params import RowNumber
from lendguard.kit.validation import validated
from lendguard.reporting.definitions import text as definition_text
from lendguard.reporting.definitions import title as definition_title

if TYPE_CHECKING:
    from lendguard.decisions.service import DecisionService

log = structlog.get_logger()
router = APIRouter(prefix="/console", include_in_schema=False)
LANG_COOKIE = "lg_lang"
ACTIONS = ("allow", "remind", "dissuade", "intercept", "block")

_HERE = Path(str(resources.files("lendguard.console")))
_env = Environment(
    loader=FileSystemLoader(str(_HERE / "templates")),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
static_files = StaticFiles(directory=str(_HERE / "static"))
# Offered in the console's time-zone menu; any other IANA name can be set through the form too.
TIMEZONES = (
    "Asia/Shanghai",
    "Asia/Hong_Kong",
    "Asia/Singapore",
    "Asia/Tokyo",
    "Europe/London",
    "America/New_York",
    "UTC",
)
DASHBOARD_DAYS = 30


def zone_label(moment: datetime) -> str:
    """The zone as an offset from UTC (``UTC+8``, ``UTC-4``, ``UTC+5:30``): unambiguous where
    abbreviations are not (CST is China, and also the US Central zone)."""
    offset = moment.utcoffset() or timedelta(0)
    minutes = int(offset.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    hours, rest = divmod(abs(minutes), 60)
    if not minutes:
        return "UTC"
    return f"UTC{sign}{hours}" + (f":{rest:02d}" if rest else "")


@pass_context
def when(context: Context, value: datetime | str | None, fmt: str = "%Y-%m-%d %H:%M") -> Markup:
    """Every time the console shows: in the operator's zone, with the zone named. Stored times
    are UTC; a time without a zone is taken as UTC (how SQLite hands some of them back)."""
    if value is None or value == "":
        return Markup("—")
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    zone_name = str(context.get("tz") or "UTC")
    local = value.astimezone(ZoneInfo(zone_name))
    return Markup('<time datetime="{}" title="{}">{} {}</time>').format(
        value.astimezone(UTC).isoformat(), zone_name, local.strftime(fmt), zone_label(local)
    )


def risk_band(score: int | float | None) -> str:
    """The band a case's risk score falls in; the queue colours it with a CSS class (the
    console's CSP allows no inline style)."""
    value = float(score or 0)
    if value >= 90:
        return "critical"
    if value >= 70:
        return "high"
    if value >= 40:
        return "medium"
    return "low"


def words(name: str) -> str:
    """A feature's name as words (``screen_share_active`` → ``screen share active``): the
    evidence beside a reason is read by people, not parsed."""
    return str(name).replace("_", " ")


_env.filters["when"] = when
_env.filters["words"] = words
_env.filters["risk_band"] = risk_band


class _Redirect(Exception):
    def __init__(self, url: str) -> None:
        self.url = url


def _session(request: Request) -> SessionInfo | None:
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    info: SessionInfo | None = request.app.state.services.users.session(token)
    return info


def _locale(request: Request, info: SessionInfo | None) -> str:
    chosen = request.query_params.get("lang") or request.cookies.get(LANG_COOKIE)
    if chosen in LOCALES:
        return chosen
    if info is not None:
        return info.locale
    return request.app.state.services.settings.default_locale


def _zone(request: Request, info: SessionInfo | None) -> str:
    """The operator's time zone: their own choice, else the deployment's console_timezone."""
    if info is not None and info.timezone:
        return info.timezone
    return str(request.app.state.services.settings.console_timezone)


def _render(
    request: Request,
    template: str,
    info: SessionInfo | None,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    locale = _locale(request, info)
    html = _env.get_template(template).render(
        t=translator(locale),
        locale=locale,
        tz=_zone(request, info),
        timezones=TIMEZONES,
        reason=lambda code, fallback="": reason_text(code, locale, fallback),
        who=lambda actor: actor_name(actor, locale),
        # the values a reason read, by their labels (``screen_share_active`` is never shown)
        evidence=lambda name: feature_label(name, locale) or words(name),
        shown=lambda value: evidence_value(value, translator(locale)),
        user=info.principal if info else None,
        csrf=info.csrf_token if info else "",
        path=request.url.path,
        # Working-day calendar years not entered yet: a banner for signed-in staff.
        calendar_gaps=calendar_gaps(datetime.now(UTC).date()) if info else [],
        **context,
    )
    response = HTMLResponse(html, status_code=status_code)
    if request.query_params.get("lang") in LOCALES:
        response.set_cookie(LANG_COOKIE, locale, samesite="strict", httponly=True)
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'"
    )
    return response


def _page(request: Request, scope: Scope) -> SessionInfo:
    info = _session(request)
    if info is None:
        raise _Redirect(f"/console/login?next={quote(request.url.path)}")
    if not info.principal.has(scope):
        raise _Forbidden(info, scope)
    return info


class _Forbidden(Exception):
    def __init__(self, info: SessionInfo, scope: Scope) -> None:
        self.info = info
        self.scope = scope


async def _form(request: Request, info: SessionInfo) -> dict[str, str]:
    form = await request.form()
    sent = str(form.get("csrf", ""))
    if not hmac.compare_digest(sent.encode(), info.csrf_token.encode()):
        raise _Forbidden(info, Scope.admin)  # shown as "not allowed"; nothing changes
    return {k: str(v) for k, v in form.items()}


async def _posted(request: Request, scope: Scope) -> tuple[SessionInfo, dict[str, str]]:
    """A form post's session (looked up on a worker thread) and its checked form."""
    info = await run_in_threadpool(_page, request, scope)
    return info, await _form(request, info)


def install(app: Any) -> None:
    """Mount the console and its error handling on the app."""
    app.mount("/console/static", static_files, name="console-static")
    app.include_router(router)

    @app.exception_handler(_Redirect)
    async def _redirect(request: Request, exc: _Redirect) -> Response:
        return RedirectResponse(exc.url, status_code=303)

    @app.exception_handler(_Forbidden)
    async def _forbidden(request: Request, exc: _Forbidden) -> Response:
        t = translator(_locale(request, exc.info))
        return _render(
            request,
            "error.html",
            exc.info,
            403,
            title=t("Not allowed"),
            message=t("Your role does not allow this page or action."),
        )


def _error_page(request: Request, info: SessionInfo, exc: LendGuardError) -> HTMLResponse:
    details = "; ".join(f"{e.field}: {e.message}" for e in exc.errors)
    return _render(
        request,
        "error.html",
        info,
        exc.status_code,
        title=exc.title,
        message=exc.detail + (f" ({details})" if details else ""),
    )


# -- sign in and out -----------------------------------------------------------------------------


@router.get("/login")
def login_page(request: Request) -> HTMLResponse:
    return _render(request, "login.html", None, failed=False, next=request.query_params.get("next"))


@router.post("/login")
async def login(request: Request) -> Response:
    form = await request.form()
    username, password = str(form.get("username", "")), str(form.get("password", ""))
    target = str(form.get("next") or "")
    ip = client_ip(request)
    try:
        # Before the password is checked: a refused attempt costs no hash.
        request.app.state.services.limits.check_login(ip, username)
    except RateLimited as exc:
        log.warning("console.login_rate_limited", ip=ip, limit=exc.errors[0].field)
        if "text/html" not in request.headers.get("accept", ""):
            raise  # an RFC 9457 problem document with Retry-After
        response = _render(
            request, "login.html", None, 429, limited=exc.retry_after, next=target or None
        )
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    # The database on worker threads; the argon2 hash (tens to hundreds of milliseconds of CPU)
    # on the hashing pool, waited for here without holding a thread.
    users = request.app.state.services.users
    candidate = await run_in_threadpool(users.login_candidate, username)
    matched = await verify_password_async(candidate.password_hash, password)
    return await run_in_threadpool(
        _sign_in, request, candidate, matched, username, password, target
    )


def _sign_in(
    request: Request,
    candidate: LoginCandidate,
    matched: bool,
    username: str,
    password: str,
    target: str,
) -> Response:
    services = request.app.state.services
    try:
        token, info = services.users.finish_login(candidate, matched, password, client_ip(request))
    except LoginFailed as failed:
        if not failed.audited:
            # A refusal that changed no account (unknown, disabled, locked): its own entry.
            audit.record_now(
                services.decisions.db,
                f"user:{username[:64]}",
                "console.login_failed",
                "console",
                client_ip(request),
            )
        return _render(request, "login.html", None, 401, failed=True, next=target or None)
    if not target.startswith("/console"):
        target = "/console"
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(SESSION_LIFETIME.total_seconds()),
        httponly=True,
        secure=services.settings.cookie_secure,
        samesite="strict",
        path="/",
    )
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    info = await run_in_threadpool(_session, request)
    if info is not None:
        await _form(request, info)
        await run_in_threadpool(
            request.app.state.services.users.logout, request.cookies.get(SESSION_COOKIE, "")
        )
    response = RedirectResponse("/console/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


# -- dashboard -----------------------------------------------------------------------------------


def decisions_by_event_day(
    decisions: DecisionService, zone: str, now: datetime | None = None, days: int = DASHBOARD_DAYS
) -> tuple[list[str], dict[str, list[int]], Counter[str]]:
    """The decisions made in the last ``days`` days, by the operator's calendar day *of the
    event* (each event's own ``occurred_at``, not the moment it was decided) and action, and
    the reason codes of the interventions among them.

    A replayed or imported month therefore shows as the month it happened in, not as one bar
    on the day it was loaded; every day from its first event to its last is on the axis (days
    without decisions stay empty). Events marked ``attributes.warmup`` (history loaded only to
    build window state, as the demo and the backtests replay it) are not outcomes and are left
    out, so the counts are those of the demo's summary."""
    local = ZoneInfo(zone)
    since = (now or datetime.now(UTC)) - timedelta(days=days)
    # Counted by UTC hour in the database; the hours are put into the operator's days here
    # (a zone with a half-hour offset gets each hour on the day it starts).
    rows, reasons = decisions.actions_by_hour(since)
    by_day: dict[date, Counter[str]] = {}
    for bucket, action, count in rows:
        start = datetime.strptime(str(bucket)[:13], "%Y-%m-%d %H").replace(tzinfo=UTC)
        by_day.setdefault(start.astimezone(local).date(), Counter())[action] += int(count)
    if not by_day:
        return [], {a: [] for a in ACTIONS}, reasons
    first, last = min(by_day), max(by_day)
    labels = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    series = {a: [0] * len(labels) for a in ACTIONS}
    for i, day in enumerate(labels):
        for action, count in by_day.get(day, Counter()).items():
            series.setdefault(action, [0] * len(labels))[i] += count
    return [d.isoformat() for d in labels], series, reasons


@router.get("")
@router.get("/")
def dashboard(request: Request) -> HTMLResponse:
    info = _page(request, Scope.decisions_read)
    services = request.app.state.services
    locale = _locale(request, info)
    t = translator(locale)
    days, series, reasons = decisions_by_event_day(services.decisions, _zone(request, info))
    totals = {a: sum(v) for a, v in series.items()}
    outcomes = services.cases.outcomes()
    top = [(reason_text(code, locale), n) for code, n in reasons.most_common(8)]
    return _render(
        request,
        "dashboard.html",
        info,
        chart=stacked_bars(
            days,
            series,
            legend={a: t(a) for a in series},
            label=t("Decisions per day"),
            empty=t("No decisions yet."),
        ),
        reasons_chart=horizontal_bars(top, label=t("Top reasons")) if top else "",
        totals=totals,
        interventions=sum(totals[a] for a in ("remind", "dissuade", "intercept", "block")),
        # The same figure as the protection report's (and make eval's): one definition.
        interventions_title=definition_title("interventions", locale),
        interventions_definition=definition_text("interventions", locale),
        can_report=info.principal.has(Scope.reports_read),
        outcomes=outcomes,
        open_cases=sum(
            outcomes["cases_by_state"][s] for s in ("new", "triage", "contacting_customer")
        ),
    )


@router.post("/preferences/timezone")
async def set_timezone(request: Request) -> Response:
    """The signed-in user's own time zone for every console page (empty: the default)."""
    info = await run_in_threadpool(_session, request)
    if info is None:
        return RedirectResponse("/console/login", status_code=303)
    form = await _form(request, info)  # any signed-in user may choose their own zone
    return await run_in_threadpool(_set_timezone, request, info, form)


def _set_timezone(request: Request, info: SessionInfo, form: dict[str, str]) -> Response:
    chosen = form.get("timezone", "").strip() or None
    try:
        request.app.state.services.users.set_timezone(info.principal.key_id, chosen)
    except LendGuardError as exc:
        return _error_page(request, info, exc)
    target = form.get("next", "")
    if not target.startswith("/console") or "//" in target:
        target = "/console"
    return RedirectResponse(target, status_code=303)


@router.get("/decisions")
def live_decisions(request: Request) -> HTMLResponse:
    info = _page(request, Scope.decisions_read)
    action = request.query_params.get("action")
    decisions = request.app.state.services.decisions.latest_decisions(
        action if action in ACTIONS else None, 100
    )
    return _render(
        request, "decisions.html", info, decisions=decisions, action=action, actions=ACTIONS
    )


# -- cases ---------------------------------------------------------------------------------------


@router.get("/cases")
def queue(request: Request) -> HTMLResponse:
    info = _page(request, Scope.cases_read)
    try:
        page = max(1, int(request.query_params.get("page", "1")))
    except ValueError:
        page = 1
    size = 50
    result = request.app.state.services.cases.queue(limit=size, offset=(page - 1) * size)
    pages = max(1, -(-result["total"] // size))
    return _render(
        request,
        "queue.html",
        info,
        cases=result["cases"],
        total=result["total"],
        page=page,
        pages=pages,
        empty=request.query_params.get("empty") == "1",
    )


@router.post("/cases/next")
async def take_next(request: Request) -> Response:
    info, _ = await _posted(request, Scope.cases_write)
    case = await run_in_threadpool(
        request.app.state.services.cases.next_case, info.principal.actor, client_ip(request)
    )
    if case is None:
        return RedirectResponse("/console/cases?empty=1", status_code=303)
    return RedirectResponse(f"/console/cases/{case['id']}", status_code=303)


@router.get("/cases/{case_id}")
def case_page(case_id: str, request: Request) -> HTMLResponse:
    info = _page(request, Scope.cases_read)
    services = request.app.state.services
    try:
        case = services.cases.get(case_id)
    except LendGuardError as exc:
        return _error_page(request, info, exc)
    events = services.decisions.customer_events(case["customer_id"], 50)
    return _render(
        request,
        "case.html",
        info,
        case=case,
        events=events,
        can_work=info.principal.has(Scope.cases_write),
    )


@router.post("/cases/{case_id}/transition")
async def case_transition(case_id: str, request: Request) -> Response:
    info, form = await _posted(request, Scope.cases_write)
    return await run_in_threadpool(_case_transition, case_id, request, info, form)


def _case_transition(
    case_id: str, request: Request, info: SessionInfo, form: dict[str, str]
) -> Response:
    try:
        request.app.state.services.cases.transition(
            case_id,
            form.get("to", ""),
            info.principal.actor,
            form.get("note", ""),
            int(form["revision"]) if form.get("revision", "").isdigit() else None,
            client_ip(request),
        )
    except LendGuardError as exc:
        return _error_page(request, info, exc)
    return RedirectResponse(f"/console/cases/{case_id}", status_code=303)


@router.post("/cases/{case_id}/outreach/{task_id}")
async def case_outreach(case_id: str, task_id: RowNumber, request: Request) -> Response:
    info, form = await _posted(request, Scope.cases_write)
    return await run_in_threadpool(_case_outreach, case_id, task_id, request, info, form)


def _case_outreach(
    case_id: str, task_id: int, request: Request, info: SessionInfo, form: dict[str, str]
) -> Response:
    try:
        request.app.state.services.cases.record_outreach(
            case_id,
            task_id,
            form.get("outcome", ""),
            form.get("notes", ""),
            info.principal.actor,
            client_ip(request),
        )
    except LendGuardError as exc:
        return _error_page(request, info, exc)
    return RedirectResponse(f"/console/cases/{case_id}", status_code=303)


@router.post("/cases/{case_id}/notes")
async def case_note(case_id: str, request: Request) -> Response:
    info, form = await _posted(request, Scope.cases_write)
    return await run_in_threadpool(_case_note, case_id, request, info, form)


def _case_note(case_id: str, request: Request, info: SessionInfo, form: dict[str, str]) -> Response:
    try:
        request.app.state.services.cases.add_note(
            case_id, form.get("text", ""), info.principal.actor, client_ip(request)
        )
    except LendGuardError as exc:
        return _error_page(request, info, exc)
    return RedirectResponse(f"/console/cases/{case_id}", status_code=303)


# -- customers -----------------------------------------------------------------------------------


@router.get("/customers/{customer_id}")
def customer_page(customer_id: str, request: Request) -> HTMLResponse:
    info = _page(request, Scope.decisions_read)
    return _customer_response(request, info, customer_id)


def _customer_response(
    request: Request,
    info: SessionInfo,
    customer_id: str,
    status_code: int = 200,
    **extra: Any,
) -> HTMLResponse:
    """The customer page; a refused intervention form renders it again with the problem
    (``extra``: ``problem`` and what was sent) and the refusal's status code."""
    services = request.app.state.services
    decisions = services.decisions.customer_decisions(customer_id, 100, None)
    cases = services.cases.for_customer(customer_id) if info.principal.has(Scope.cases_read) else []
    return _render(
        request,
        "customer.html",
        info,
        status_code,
        customer_id=customer_id,
        decisions=decisions,
        cases=cases,
        **_interventions_panel(request, info, customer_id, decisions),
        **extra,
    )


# -- customers: interventions (issue #19) -----------------------------------------------------
#
# The customer page's interventions panel: the questions of decisions waiting for answers (an
# agent reads them out on a call and records the answers), the customer's held payments with
# their deadlines (release or cancel with a reason), and the money lock (lock, with the kill
# switch; unlock with a stronger verification). Every form goes through the same services and
# typed bodies as the API (ChallengeService, the case service's HoldDesk, LockService), so the
# same checks, the same audit trail and the same case timelines apply. A refused form renders
# the page again with the refusal in the page's language and its status code; nothing changes.

# What a challenge's answers led to, in words (the follow-up's ``outcome``).
CHALLENGE_OUTCOMES = {
    "escalated": "The customer's answers describe a scam: the payment is stopped, the money held "
    "and a case opened.",
    "passed": "The answers cleared the doubts: the payment may go ahead with a lighter check.",
    "unchanged": "The answers changed nothing: the first decision stands.",
    "failed": "The face check did not confirm the customer: the first decision stands.",
}
# Shown once after a form went through (``?done=``); any other value shows nothing.
DONE_NOTICES = {
    "answered": "The answers were recorded.",
    "released": "The payment was released.",
    "release_proposed": "Release proposed: above the release limit a second person must "
    "approve it by releasing it too.",
    "cancelled": "The payment was cancelled.",
    "locked": "The customer's money is locked.",
    "unlocked": "The customer's money is unlocked.",
    "unlock_pending": "The unlock waits out the cooling-off; the lock holds until then.",
}
# The fields a refusal may name, as the forms label them.
FORM_FIELDS = {
    "note": "Reason",
    "reference": "Reference (branch visit or video call)",
    "verified_by": "Verified by",
    "method": "Verification",
    "revision": "Lock revision",
    "customer_id": "Customer",
    "kill_switch": "Kill switch",
    "verification": "Face check",
    "answers": "Answers",
}
# A refusal's message by its status and the field it names (no field: "").
REFUSALS = {
    (409, "revision"): "The lock changed since this page was loaded. It is shown below as it "
    "is now: check it and send the form again.",
    (409, "customer_id"): "The customer's money is not locked: there is nothing to unlock.",
    (409, "method"): "A cooling-off unlock is already running.",
    (409, "hold_status"): "This payment is no longer held: someone, the case or its deadline "
    "already ended the hold.",
    (409, "answers"): "Other answers were already recorded for these questions.",
    (409, ""): "This cannot be done in the state it is in now.",
    (403, "approver"): "You proposed this release yourself: a different person must approve it.",
    (404, ""): "Not found: it may belong to another customer or no longer exist.",
}


def _stored_customer(request: Request, customer_id: str) -> str:
    """The id as the events and decisions carry it (a pseudonym when it holds personal
    information)."""
    from lendguard.privacy import intake

    services = request.app.state.services
    return intake.stored_identifier(customer_id, services.decisions.pii_key)


def _lock_service(request: Request) -> Any:
    from lendguard.interventions.lock_service import LockService

    return LockService(request.app.state.services.decisions)


def _localized_question(question: dict[str, Any], locale: str) -> dict[str, Any]:
    def text(texts: dict[str, str]) -> str:
        return texts.get(locale) or texts.get("en") or ""

    return {
        "id": question["id"],
        "kind": question["kind"],
        "text": text(question["text"]),
        "options": [(o["value"], text(o["text"])) for o in question.get("options") or ()],
    }


def _interventions_panel(
    request: Request, info: SessionInfo, customer_id: str, decisions: list[dict[str, Any]]
) -> dict[str, Any]:
    """What the panel shows, each part only to a role that may read it: challenges to every
    decision reader, holds to case readers, the money lock (whose history names staff) to
    those who may lock."""
    services = request.app.state.services
    principal = info.principal
    locale = _locale(request, info)
    stored = _stored_customer(request, customer_id)
    events = {e["event_id"]: e["body"] for e in services.decisions.customer_events(stored, 200)}
    challenges = []
    for decision in decisions:
        challenge = decision.get("challenge")
        if challenge is None:
            continue
        follow = services.decisions.get_decision(decision["decision_id"]).get("follow_up")
        body = events.get(decision["event_id"]) or {}
        questions = [_localized_question(q, locale) for q in challenge["questions"]]
        told = (follow or {}).get("messages") or ()  # what the customer is told, per locale
        challenges.append(
            {
                "decision": decision,
                "amount": body.get("amount"),
                "currency": body.get("currency") or "",
                "questions": questions,
                "needs_face_check": any(q["kind"] == "verification" for q in questions),
                "follow_up": follow,
                "outcome": CHALLENGE_OUTCOMES.get(str(follow["outcome"])) if follow else None,
                "told": next((m["text"] for m in told if m["locale"] == locale), None),
            }
        )
    panel: dict[str, Any] = {
        "challenges": challenges,
        "can_answer": principal.has(Scope.challenges_answer),
        "holds": None,
        "can_hold": principal.has(Scope.cases_write),
        "lock_visible": principal.has(Scope.locks_write),
        "lock": None,
        "unlock_methods": [],
        "cooling_off_hours": None,
        "notice": DONE_NOTICES.get(request.query_params.get("done", "")),
        "customer_url": f"/console/customers/{quote(customer_id, safe='')}",
    }
    if principal.has(Scope.cases_read):
        holds = services.cases.holds.listing(stored, None, 100, 0)["holds"]
        for hold in holds:
            hold["currency"] = (events.get(hold["event_id"]) or {}).get("currency") or ""
        panel["holds"] = holds
    if panel["lock_visible"]:
        locks = _lock_service(request)
        try:
            panel["lock"] = locks.view(customer_id)
        except LendGuardError:
            panel["lock"] = None  # never locked (or an id no lock can have)
        policy = locks.policy(locks.clock())
        panel["unlock_methods"] = [str(m) for m in policy["unlock_methods"].value]
        panel["cooling_off_hours"] = float(policy["cooling_off_hours"].value)
    return panel


def _refused(
    request: Request,
    info: SessionInfo,
    customer_id: str,
    form_name: str,
    exc: LendGuardError,
    sent: dict[str, str],
    labels: dict[str, str] | None = None,
) -> HTMLResponse:
    """The customer page again, with the refusal in the page's language above the panel:
    what was wrong and which fields (by their labels on the form), never a stack trace."""
    t = translator(_locale(request, info))
    fields = [e.field for e in exc.errors]
    first = fields[0].split(".")[0] if fields else ""
    known = REFUSALS.get((exc.status_code, first)) or REFUSALS.get((exc.status_code, ""))

    def label(field: str) -> str:
        if labels and field in labels:
            return labels[field]
        return t(FORM_FIELDS.get(field.split(".")[0], "Form"))

    named = list(dict.fromkeys(label(f) for f in fields))
    if exc.status_code == 422:
        message = t("Please check: %s") % "; ".join(named or [t("Form")])
    elif known is not None:
        message = t(known)
    else:
        message = t("The request could not be completed.")
    log.info("console.intervention_refused", form=form_name, status=exc.status_code, fields=fields)
    return _customer_response(
        request,
        info,
        customer_id,
        exc.status_code,
        problem={"form": form_name, "message": message, "fields": named},
        sent=sent,
    )


def _done(customer_id: str, notice: str) -> RedirectResponse:
    url = f"/console/customers/{quote(customer_id, safe='')}?done={notice}#interventions"
    return RedirectResponse(url, status_code=303)


@router.post("/customers/{customer_id}/challenges/{decision_id}")
async def answer_challenge(customer_id: str, decision_id: str, request: Request) -> Response:
    info, form = await _posted(request, Scope.challenges_answer)
    return await run_in_threadpool(_answer_challenge, customer_id, decision_id, request, info, form)


def _answer_challenge(
    customer_id: str, decision_id: str, request: Request, info: SessionInfo, form: dict[str, str]
) -> Response:
    """Answers an agent read out and recorded on a call (channel ``agent``), in the language
    the page showed the questions in; the follow-up shows on the page."""
    from lendguard.interventions.challenge_schemas import ChallengeAnswers
    from lendguard.interventions.challenges import ChallengeService

    services = request.app.state.services
    locale = _locale(request, info)
    labels: dict[str, str] = {}
    try:
        decision = services.decisions.get_decision(decision_id)
        if decision["customer_id"] != _stored_customer(request, customer_id):
            raise NotFound(f"decision '{decision_id}' is not this customer's")
        for question in (decision.get("challenge") or {}).get("questions") or ():
            shown = _localized_question(question, locale)
            labels[f"answers.{question['id']}"] = shown["text"]
        labels["verification"] = translator(locale)("Face check (in the customer's app)")
        body = validated(
            ChallengeAnswers,
            {
                "answers": {
                    key.removeprefix("answer."): value
                    for key, value in form.items()
                    if key.startswith("answer.")
                },
                "locale": locale,
                "channel": "agent",
            },
            "the answers are invalid",
        )
        ChallengeService(services.decisions, services.cases).answer(
            decision_id, body, info.principal.actor
        )
        audit.record_now(
            services.decisions.db,
            info.principal.actor,
            "console.challenge_answered",
            f"decision:{decision_id}",
            client_ip(request),
            {"channel": "agent", "locale": locale},
        )
    except LendGuardError as exc:
        return _refused(request, info, customer_id, "challenge", exc, form, labels)
    return _done(customer_id, "answered")


@router.post("/customers/{customer_id}/holds/{decision_id}/release")
async def release_hold(customer_id: str, decision_id: str, request: Request) -> Response:
    info, form = await _posted(request, Scope.cases_write)
    return await run_in_threadpool(
        _end_hold, customer_id, decision_id, "release", request, info, form
    )


@router.post("/customers/{customer_id}/holds/{decision_id}/cancel")
async def cancel_hold(customer_id: str, decision_id: str, request: Request) -> Response:
    info, form = await _posted(request, Scope.cases_write)
    return await run_in_threadpool(
        _end_hold, customer_id, decision_id, "cancel", request, info, form
    )


def _end_hold(
    customer_id: str,
    decision_id: str,
    instruction: str,
    request: Request,
    info: SessionInfo,
    form: dict[str, str],
) -> Response:
    """Release or cancel one of the customer's held payments, with a reason (the console asks
    for one to cancel too: the lender and the customer are told the payment will not go)."""
    from lendguard.interventions.hold_schemas import HoldCancelBody, HoldReleaseBody

    holds = request.app.state.services.cases.holds
    note = form.get("note", "")
    try:
        if holds.get(decision_id)["customer_id"] != _stored_customer(request, customer_id):
            raise NotFound(f"decision '{decision_id}' is not this customer's")
        if instruction == "release":
            body: HoldReleaseBody | HoldCancelBody = validated(
                HoldReleaseBody, {"note": note}, "invalid hold release"
            )
        else:
            body = validated(HoldCancelBody, {"note": note}, "invalid hold cancellation")
            if not body.note.strip():
                raise ValidationFailed(
                    "cancelling a held payment here needs a reason",
                    errors=[FieldError("note", "required: why the payment must not go")],
                )
        done = holds.end(
            decision_id, instruction, info.principal.actor, body.note, client_ip(request)
        )
    except LendGuardError as exc:
        return _refused(request, info, customer_id, f"hold-{instruction}", exc, form)
    if done.proposal is not None:
        return _done(customer_id, "release_proposed")
    return _done(customer_id, "released" if instruction == "release" else "cancelled")


@router.post("/customers/{customer_id}/lock")
async def lock_money(customer_id: str, request: Request) -> Response:
    info, form = await _posted(request, Scope.locks_write)
    return await run_in_threadpool(_lock_money, customer_id, request, info, form)


def _lock_money(
    customer_id: str, request: Request, info: SessionInfo, form: dict[str, str]
) -> Response:
    """Lock on the customer's behalf (channel ``agent``): locking is always easy."""
    from lendguard.interventions.lock_schemas import LockBody

    try:
        body = validated(
            LockBody,
            {
                "channel": "agent",
                "kill_switch": form.get("kill_switch") == "on",
                "note": form.get("note", "").strip() or None,
            },
            "invalid lock",
        )
        _lock_service(request).lock(
            customer_id,
            body.channel,
            body.kill_switch,
            info.principal.actor,
            note=body.note,
            ip=client_ip(request),
        )
    except LendGuardError as exc:
        return _refused(request, info, customer_id, "lock", exc, form)
    return _done(customer_id, "locked")


@router.post("/customers/{customer_id}/unlock")
async def unlock_money(customer_id: str, request: Request) -> Response:
    info, form = await _posted(request, Scope.locks_write)
    return await run_in_threadpool(_unlock_money, customer_id, request, info, form)


def _unlock_money(
    customer_id: str, request: Request, info: SessionInfo, form: dict[str, str]
) -> Response:
    """Unlock with the verification the policy accepts; ``revision`` is the lock as the page
    showed it (a stale page gets 409 and the lock as it is now)."""
    from lendguard.interventions.lock_schemas import UnlockBody

    revision = form.get("revision", "")
    try:
        body = validated(
            UnlockBody,
            {
                "method": form.get("method", ""),
                "reference": form.get("reference", "").strip() or None,
                "verified_by": form.get("verified_by", "").strip() or None,
                "revision": int(revision) if revision.isdigit() else revision,
            },
            "invalid unlock",
        )
        view = _lock_service(request).unlock(
            customer_id,
            body.method,
            body.revision,
            info.principal.actor,
            reference=body.reference,
            verified_by=body.verified_by,
            ip=client_ip(request),
        )
    except LendGuardError as exc:
        return _refused(request, info, customer_id, "unlock", exc, form)
    return _done(customer_id, "unlocked" if view["state"] == "unlocked" else "unlock_pending")


# -- rules and approvals -------------------------------------------------------------------------


@router.get("/rules")
def rules_page(request: Request) -> HTMLResponse:
    info = _page(request, Scope.rules_write)
    service = request.app.state.services.decisions
    active_model = service.model[0] if service.model is not None else None
    return _render(
        request,
        "rules.html",
        info,
        versions=list(reversed(service.rulesets.list_versions())),
        active=service.ruleset_version,
        models=list(reversed(service.models.list_versions())),
        active_model=active_model,
        can_approve=info.principal.has(Scope.rules_approve),
    )


@router.get("/rules/{version}")
def rule_version_page(version: RowNumber, request: Request) -> HTMLResponse:
    info = _page(request, Scope.rules_write)
    service = request.app.state.services.decisions
    try:
        candidate = service.rulesets.source(version)
        active = service.rulesets.source(service.ruleset_version)
        backtest = service.rulesets.compare_on_history(version)
    except LendGuardError as exc:
        return _error_page(request, info, exc)
    diff = list(
        difflib.unified_diff(
            active["source"].splitlines(),
            candidate["source"].splitlines(),
            f"v{service.ruleset_version} (active)",
            f"v{version}",
            lineterm="",
        )
    )
    return _render(
        request,
        "rule.html",
        info,
        version=candidate,
        active_version=service.ruleset_version,
        diff=diff,
        backtest=backtest,
        actions=ACTIONS,
        own=candidate["created_by"] == info.principal.actor,
        can_approve=info.principal.has(Scope.rules_approve),
    )


@router.post("/rules/{version}/approve")
async def approve_version(version: RowNumber, request: Request) -> Response:
    info, _ = await _posted(request, Scope.rules_approve)
    return await run_in_threadpool(_approve_version, version, request, info)


def _approve_version(version: int, request: Request, info: SessionInfo) -> Response:
    service = request.app.state.services.decisions
    try:
        service.rulesets.activate(version, info.principal.actor, client_ip(request))
    except LendGuardError as exc:
        return _error_page(request, info, exc)
    return RedirectResponse(f"/console/rules/{version}", status_code=303)


@router.post("/models/{version}/approve")
async def approve_model(version: RowNumber, request: Request) -> Response:
    info, _ = await _posted(request, Scope.rules_approve)
    return await run_in_threadpool(_approve_model, version, request, info)


def _approve_model(version: int, request: Request, info: SessionInfo) -> Response:
    service = request.app.state.services.decisions
    try:
        service.models.activate(version, info.principal.actor, client_ip(request))
    except LendGuardError as exc:
        return _error_page(request, info, exc)
    return RedirectResponse("/console/rules", status_code=303)


@router.get("/privacy")
def privacy_queue(request: Request) -> HTMLResponse:
    """Open data-subject requests, soonest due first, with an overdue alert."""
    info = _page(request, Scope.privacy_requests)
    requests = request.app.state.services.privacy_requests.queue()
    overdue = sum(1 for r in requests if r["overdue"])
    return _render(request, "privacy.html", info, requests=requests, overdue=overdue)


# -- lists -----------------------------------------------------------------------------------------


@router.get("/lists")
def lists_page(request: Request) -> HTMLResponse:
    info = _page(request, Scope.cases_read)
    rows = request.app.state.services.decisions.lists.rows()
    return _render(
        request,
        "lists.html",
        info,
        entries=rows["entries"],
        suppressions=rows["suppressions"],
        can_edit=info.principal.has(Scope.lists_write),
    )


@router.post("/lists")
async def lists_add(request: Request) -> Response:
    info, form = await _posted(request, Scope.lists_write)
    return await run_in_threadpool(_lists_add, request, info, form)


def _lists_add(request: Request, info: SessionInfo, form: dict[str, str]) -> Response:
    service = request.app.state.services.decisions
    try:
        if form.get("kind") == "suppression":
            # The form's date and time are the operator's, in the zone every page shows.
            until = datetime.fromisoformat(form.get("until", "")).replace(
                tzinfo=ZoneInfo(_zone(request, info))
            )
            service.lists.add_suppression(
                form.get("customer_id", ""),
                form.get("rule_id", ""),
                until,
                form.get("reason", ""),
                info.principal.actor,
                client_ip(request),
            )
        else:
            service.lists.add_entry(
                form.get("list_type", ""),
                form.get("field", ""),
                form.get("value", ""),
                form.get("reason", ""),
                info.principal.actor,
                ip=client_ip(request),
            )
    except (LendGuardError, ValueError) as exc:
        if isinstance(exc, ValueError):
            exc = LendGuardError(str(exc))
            exc.status_code = 422
        return _error_page(request, info, exc)
    return RedirectResponse("/console/lists", status_code=303)


# -- complaints --------------------------------------------------------------------------------

_COMPLAINTS_ZH = {
    "Complaints": "投诉",
    "Clock compliance": "时限合规",
    "Jurisdiction": "辖区",
    "Open": "未结",
    "Due soon": "即将到期",
    "Decided on time": "按时答复",
    "Decided late": "逾期答复",
    "On-time rate": "按时率",
    "Extended": "已延期",
    "Escalated to regulator": "已转监管",
    "Closed with root cause": "已结且有根因",
    "Product": "产品",
    "Issue": "问题",
    "Day": "天数",
    "Due day": "到期日",
    "Escalation risk": "升级风险",
    "New complaint": "登记投诉",
    "Channel": "渠道",
    "Narrative": "投诉内容",
    "Staff complained about (comma-separated)": "被投诉员工（逗号分隔）",
    "Product (optional: classified from the narrative)": "产品（可空：按内容自动分类）",
    "Take in": "登记",
    "Personal information in the narrative is masked before it is stored.": (
        "投诉内容中的个人信息在保存前已脱敏。"
    ),
}


@router.get("/complaints")
def complaints_page(request: Request) -> HTMLResponse:
    """The complaint queue (undecided first, overdue at the top) with clock compliance per
    jurisdiction, and the intake form for users who may take complaints in."""
    from lendguard.support.complaint_endpoints import complaint_service

    info = _page(request, Scope.complaints_read)
    service = complaint_service(request.app)
    queue = service.queue(limit=200)
    report = service.clock_report()
    base = translator(_locale(request, info))
    zh = _locale(request, info) == "zh-CN"

    def tc(text: str) -> str:
        return _COMPLAINTS_ZH.get(text, base(text)) if zh else text

    locale = _locale(request, info)
    taxonomy = service.taxonomy

    def named(code: str | None) -> str:
        """A product or issue by the taxonomy's name in the page's language, not its id."""
        if not code:
            return ""
        found = taxonomy.products.get(code) or taxonomy.issues.get(code)
        if found is None:
            return str(code).replace("_", " ")
        return str(found.name.get(locale) or found.name.get("en") or code)

    return _render(
        request,
        "complaints.html",
        info,
        tc=tc,
        named=named,
        complaints=queue["complaints"],
        total=queue["total"],
        overdue=queue["overdue"],
        report=report,
        products=sorted(service.taxonomy.products),
        can_write=info.principal.has(Scope.complaints_write),
        done=request.query_params.get("created"),
    )


@router.post("/complaints")
async def complaints_intake(request: Request) -> Response:
    info, form = await _posted(request, Scope.complaints_write)
    body: dict[str, Any] = {
        "customer_id": form.get("customer_id", ""),
        "channel": form.get("channel", ""),
        "jurisdiction": form.get("jurisdiction", "CN"),
        "narrative": form.get("narrative", ""),
        "staff_involved": [s for s in form.get("staff_involved", "").split(",") if s.strip()],
    }
    if form.get("product"):
        body["product"] = form["product"]
    return await run_in_threadpool(_complaints_intake, request, info, body)


def _complaints_intake(request: Request, info: SessionInfo, body: dict[str, Any]) -> Response:
    from lendguard.support.complaint_endpoints import complaint_service

    try:
        created = complaint_service(request.app).create(
            body, info.principal.actor, client_ip(request)
        )
    except LendGuardError as exc:
        return _error_page(request, info, exc)
    return RedirectResponse(f"/console/complaints?created={quote(created['id'])}", status_code=303)


# -- service metrics ---------------------------------------------------------------------------

SERVICE_PERIODS = (7, 30)


def duration(seconds: float | None) -> str:
    """A time to first response as people read it: 45 s, 2.5 min, 3.2 h, 1.5 d."""
    if seconds is None:
        return "—"
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.1f} min"
    if seconds < 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def percent(share: float | None) -> str:
    return "—" if share is None else f"{share * 100:.0f}%"


@router.get("/service")
def service_page(request: Request) -> HTMLResponse:
    """Service metrics of the last 7 or 30 days: first-contact resolution, time to first
    response and CSAT, overall and by channel."""
    info = _page(request, Scope.cases_read)
    try:
        days = int(request.query_params.get("days", "30"))
    except ValueError:
        days = 30
    if days not in SERVICE_PERIODS:
        days = 30
    figures = request.app.state.services.service_desk.metrics(days)
    t = translator(_locale(request, info))
    distribution = figures["satisfaction"]["distribution"]
    csat_chart = horizontal_bars(
        [(f"{score} ★", distribution[score]) for score in ("5", "4", "3", "2", "1")],
        row=22,
        label=t("Satisfaction scores"),
        colour="#137333",
    )
    waits = [
        (t(channel), round(block["first_response"]["median_seconds"]))
        for channel, block in figures["by_channel"].items()
        if block["first_response"]["median_seconds"] is not None
    ]
    wait_chart = horizontal_bars(
        waits, row=22, label=t("Median time to first response (seconds)"), colour="#f08a4b"
    )
    return _render(
        request,
        "service.html",
        info,
        m=figures,
        days=days,
        periods=SERVICE_PERIODS,
        duration=duration,
        percent=percent,
        csat_chart=csat_chart if figures["satisfaction"]["responses"] else "",
        wait_chart=wait_chart if waits else "",
    )


# -- interventions' effectiveness (issue #19, item 7) ------------------------------------------
#
# The figures of GET /v1/interventions/effectiveness over a period of the operator's calendar
# days, per intervention (with or without questions) and per scam typology, in words. The period
# is checked as the API checks its range (not empty, at most MAX_RANGE); a bad one renders the
# page again with the reason and no figures.

EFFECTIVENESS_DAYS = 30
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
# A typology that is a case's scam type (or case type) is named by the catalogue; any other is
# the code of a decision's strongest reason.
_CASE_TYPOLOGIES = frozenset(ENUMS["scam types"]) | frozenset(ENUMS["case types"])


def effectiveness_period(
    raw_from: str | None, raw_to: str | None, zone: str, now: datetime
) -> tuple[date, date, datetime, datetime]:
    """The days chosen (both included, the operator's calendar) and the instants they span
    (``[start, end)``). No day given: the last :data:`EFFECTIVENESS_DAYS` days up to today.

    Raises ValidationFailed naming ``from`` or ``to`` with an English sentence the console
    catalogue translates."""
    local = ZoneInfo(zone)
    errors: list[FieldError] = []

    def day(raw: str | None, field: str) -> date | None:
        text = (raw or "").strip()
        if not text:
            return None
        try:
            if not _DAY.fullmatch(text):
                raise ValueError(text)
            return date.fromisoformat(text)
        except ValueError:
            errors.append(FieldError(field, "Enter a date as year-month-day, e.g. 2025-03-01."))
            return None

    chosen_from, chosen_to = day(raw_from, "from"), day(raw_to, "to")
    if errors:
        raise ValidationFailed("the period is not a date range", errors=errors)
    to_day = chosen_to or now.astimezone(local).date()
    from_day = chosen_from or to_day - timedelta(days=EFFECTIVENESS_DAYS - 1)
    if from_day > to_day:
        raise ValidationFailed(
            "the period is empty",
            errors=[FieldError("from", "The first day must not be after the last day.")],
        )
    try:
        start = datetime.combine(from_day, datetime.min.time(), local).astimezone(UTC)
        end = datetime.combine(to_day + timedelta(days=1), datetime.min.time(), local)
        end = end.astimezone(UTC)
    except (OverflowError, ValueError):
        raise ValidationFailed(
            "the period is out of range",
            errors=[FieldError("from", "Enter a date as year-month-day, e.g. 2025-03-01.")],
        ) from None
    if end - start > MAX_RANGE:
        raise ValidationFailed(
            "the period is too long",
            errors=[FieldError("from", "The period can be at most 366 days.")],
        )
    return from_day, to_day, start, end


def typology_name(code: str, locale: str, ruleset: Any = None) -> tuple[str, str]:
    """A typology in words: (the short name shown, the whole sentence for its tooltip).

    A case's scam type has a name in the catalogue. A reason code is named by the first part of
    the sentence the customer was told for it (the built-in catalogue, else the rule's own
    explanation); a code nothing explains is "another reason", never the code itself."""
    t = translator(locale)
    if code == UNKNOWN_TYPOLOGY:
        return t("No reason recorded"), ""
    if code in _CASE_TYPOLOGIES:
        return t(code), ""
    own = ""
    for rule in getattr(ruleset, "rules", ()) or ():
        if rule.reason == code and rule.explanation:
            own = rule.explanation.get(locale) or rule.explanation.get("en") or ""
            break
    sentence = reason_text(code, locale, own)
    if not sentence or sentence == code:
        return t("Another reason"), ""
    short = re.split(r"[;；。]|\.\s", sentence, maxsplit=1)[0].strip().rstrip(",，.。")
    return short or sentence, sentence


def count_text(value: int) -> str:
    return f"{value:,}"


def rate_text(share: float | None) -> str:
    """A share of those shown, to one decimal (``33.3%``); none shown: a dash."""
    return "—" if share is None else f"{share * 100:.1f}%"


def delay_text(minutes: float | None, locale: str) -> str:
    """A delay as people read it, in the page's language: minutes, hours, then days."""
    t = translator(locale)
    if minutes is None:
        return "—"
    if minutes < 1:
        return t("under a minute")
    if minutes < 60:
        return t("%s min") % f"{minutes:.0f}"
    if minutes < 24 * 60:
        return t("%s h") % f"{minutes / 60:.1f}"
    return t("%s days") % f"{minutes / (24 * 60):.1f}"


@router.get("/interventions")
def effectiveness_page(request: Request) -> HTMLResponse:
    """How well interventions work over a period: shown, abandoned, confirmed scam later,
    honest customers delayed and the median delay, per intervention and scam typology."""
    info = _page(request, Scope.decisions_read)
    services = request.app.state.services
    locale = _locale(request, info)
    t = translator(locale)
    zone = _zone(request, info)
    raw_from = request.query_params.get("from")
    raw_to = request.query_params.get("to")
    common: dict[str, Any] = {
        "count": count_text,
        "rate": rate_text,
        "delay": lambda minutes: delay_text(minutes, locale),
        "kind": lambda action, questions: "{} · {}".format(
            t(action), t("with questions") if questions else t("without questions")
        ),
    }
    try:
        from_day, to_day, start, end = effectiveness_period(
            raw_from, raw_to, zone, datetime.now(UTC)
        )
    except ValidationFailed as exc:
        fields = {"from": t("From"), "to": t("To")}
        problems = [f"{fields.get(e.field, e.field)}: {t(e.message)}" for e in exc.errors]
        return _render(
            request,
            "effectiveness.html",
            info,
            422,
            problems=problems,
            chosen_from=(raw_from or "")[:32],
            chosen_to=(raw_to or "")[:32],
            report=None,
            **common,
        )
    with services.decisions.db.connect() as conn:
        rows = intervention_rows(conn, start, end)
    report = summarise(rows)
    ruleset = services.decisions.ruleset
    return _render(
        request,
        "effectiveness.html",
        info,
        problems=[],
        chosen_from=from_day.isoformat(),
        chosen_to=to_day.isoformat(),
        report=report,
        typology=lambda code: typology_name(code, locale, ruleset),
        **common,
    )
