"""The borrower's privacy centre (issue #21): the pages a customer opens from the signed link
the lender's app sent them. A face beside the console, for customers, not staff.

``GET /portal/open/<token>`` checks the link (:class:`lendguard.privacy.portal.LinkSigner`),
puts the same signed grant in a short-lived cookie (HttpOnly, SameSite=Strict, Secure unless
``cookie_secure`` is off; it expires with the link) and redirects to ``/portal``, so the token
leaves the address bar. Every page and form checks the cookie again; every form also carries a
CSRF token bound to it. An invalid, tampered or expired link or cookie gets the same 403 page
in both languages, saying nothing of which.

Pages: mobile first, no script at all, one stylesheet of our own; no-referrer, CSP
``default-src 'self'``, no framing, no caching."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.concurrency import run_in_threadpool

from lendguard.auth.dependencies import client_ip
from lendguard.console.portal_i18n import LOCALES, translator
from lendguard.errors import Conflict, LendGuardError, NotFound, RateLimited
from lendguard.interventions.lock_service import LockService
from lendguard.privacy.portal import (
    PORTAL_REQUEST_KINDS,
    SWITCH_SCOPES,
    Grant,
    LinkSigner,
    PortalDenied,
    PortalService,
)
from lendguard.privacy.portal_endpoints import link_signer

router = APIRouter(prefix="/portal", include_in_schema=False)

COOKIE = "lg_portal"
MAX_FORM_BYTES = 16_384
_HERE = Path(str(resources.files("lendguard.console")))
_env = Environment(
    loader=FileSystemLoader(str(_HERE / "templates")),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
SECURITY_HEADERS = {
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; "
    "script-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
}
# What a finished form says on the page it returns to (the query names one of these).
_DONE = ("consent", "request")


def _secured(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers[name] = value
    return response


def _signer(request: Request) -> LinkSigner:
    services = request.app.state.services
    signer: LinkSigner | None = getattr(request.app.state, "portal_signer", None)
    if signer is None:
        signer = request.app.state.portal_signer = link_signer(services.settings)
    return signer


def _service(request: Request) -> PortalService:
    services = request.app.state.services
    locks = LockService(services.decisions)

    def lock_view(customer_id: str) -> dict[str, Any] | None:
        try:
            return locks.view(customer_id)
        except (NotFound, LendGuardError):
            return None

    return PortalService(
        services.decisions.db,
        services.consent,
        services.privacy_requests,
        services.decisions.pii_key,
        lock_view,
    )


def _zone(request: Request) -> ZoneInfo:
    return ZoneInfo(str(request.app.state.services.settings.console_timezone))


def _shown_time(zone: ZoneInfo) -> Any:
    """Times as the customer reads them: in the deployment's zone, with its offset."""

    def shown(value: datetime | None, with_time: bool = True) -> str:
        if value is None:
            return "—"
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        local = value.astimezone(zone)
        offset = local.utcoffset() or timedelta(0)
        minutes = int(offset.total_seconds() // 60)
        sign = "+" if minutes >= 0 else "-"
        hours, rest = divmod(abs(minutes), 60)
        label = "UTC" if not minutes else f"UTC{sign}{hours}" + (f":{rest:02d}" if rest else "")
        text = local.strftime("%Y-%m-%d %H:%M" if with_time else "%Y-%m-%d")
        return f"{text} ({label})"

    return shown


def _render(
    request: Request, template: str, locale: str, status_code: int = 200, **context: Any
) -> Response:
    html = _env.get_template(template).render(
        say=translator(locale),
        locale=locale,
        when=_shown_time(_zone(request)),
        **context,
    )
    return _secured(HTMLResponse(html, status_code=status_code))


def _denied(request: Request) -> Response:
    """The one refusal page, in both languages, saying nothing of why."""
    html = _env.get_template("portal_denied.html").render(
        zh=translator("zh-CN"), en=translator("en")
    )
    response = _secured(HTMLResponse(html, status_code=403))
    response.delete_cookie(COOKIE, path="/portal")
    return response


def _grant(request: Request) -> tuple[str, Grant] | None:
    token = request.cookies.get(COOKIE)
    if not token:
        return None
    try:
        return token, _signer(request).verify(token, datetime.now(UTC))
    except PortalDenied:
        return None


def _page_locale(request: Request, grant: Grant, sent: str | None = None) -> str:
    chosen = sent or request.query_params.get("lang")
    return chosen if chosen in LOCALES else grant.locale


# -- opening the link -----------------------------------------------------------------------------


@router.get("/open/{token}")
def open_link(request: Request, token: str) -> Response:
    try:
        grant = _signer(request).verify(token, datetime.now(UTC))
    except PortalDenied:
        return _denied(request)
    settings = request.app.state.services.settings
    response = _secured(RedirectResponse(f"/portal?lang={grant.locale}", status_code=303))
    response.set_cookie(
        COOKIE,
        token,
        max_age=max(1, int((grant.expires_at - datetime.now(UTC)).total_seconds())),
        expires=grant.expires_at,
        path="/portal",
        httponly=True,
        secure=settings.cookie_secure,
        samesite="strict",
    )
    return response


# -- the page --------------------------------------------------------------------------------------


@router.get("")
def portal_page(request: Request) -> Response:
    found = _grant(request)
    if found is None:
        # A link opened from another site's page: the redirect that follows it carries no
        # SameSite=Strict cookie. One same-site reload (a plain link; no script) sends it.
        if (
            COOKIE not in request.cookies
            and request.headers.get("sec-fetch-site") == "cross-site"
            and request.query_params.get("again") != "1"
        ):
            lang = request.query_params.get("lang")
            locale = lang if lang in LOCALES else "zh-CN"
            target = "/portal?" + urlencode({"lang": locale, "again": "1"})
            return _render(request, "portal_opening.html", locale, target=target)
        return _denied(request)
    token, grant = found
    locale = _page_locale(request, grant)
    now = datetime.now(UTC)
    data = _service(request).page(grant, locale, now)
    done = request.query_params.get("done")
    due: datetime | None = None
    if done == "request":
        due_text = request.query_params.get("due", "")
        try:
            due = datetime.fromisoformat(due_text) if len(due_text) <= 40 else None
        except ValueError:
            due = None
        # only the due date of one of the customer's own open requests: the address is not
        # ours to trust, and a made-up date would be a promise on our page
        if due is not None and not any(r["due_at"] == due for r in data["requests"]):
            due = None
    return _render(
        request,
        "portal.html",
        locale,
        grant=grant,
        csrf=_signer(request).csrf_token(token),
        done=done if done in _DONE else None,
        due=due,
        now=now,
        other_locale="en" if locale == "zh-CN" else "zh-CN",
        scopes=SWITCH_SCOPES,
        kinds=PORTAL_REQUEST_KINDS,
        **data,
    )


async def _posted(request: Request) -> tuple[Grant, dict[str, str], str] | Response:
    """The grant and the checked form of a post to the page; a refusal page otherwise."""
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > MAX_FORM_BYTES):
        return _denied(request)
    found = _grant(request)
    if found is None:
        return _denied(request)
    token, grant = found
    form = await request.form(max_files=0, max_fields=10, max_part_size=MAX_FORM_BYTES)
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    locale = _page_locale(request, grant, fields.get("lang"))
    if not _signer(request).csrf_ok(token, fields.get("csrf", "")):
        return _message(request, locale, 403, "form_expired")
    return grant, fields, locale


def _message(request: Request, locale: str, status: int, key: str) -> Response:
    return _render(
        request, "portal_message.html", locale, status, message=key, back=f"/portal?lang={locale}"
    )


def _back(locale: str, **query: str) -> Response:
    target = "/portal?" + urlencode({"lang": locale, **query})
    anchor = {"consent": "#switches", "request": "#requests"}.get(query.get("done", ""), "")
    return _secured(RedirectResponse(target + anchor, status_code=303))


@router.post("/consent")
async def set_consent(request: Request) -> Response:
    posted = await _posted(request)
    if isinstance(posted, Response):
        return posted
    grant, fields, locale = posted
    scope, value = fields.get("scope", ""), fields.get("allowed", "")
    if scope not in SWITCH_SCOPES or value not in ("yes", "no"):
        return _message(request, locale, 422, "form_invalid")
    service = _service(request)
    try:
        await run_in_threadpool(
            service.set_switch, grant, scope, value == "yes", client_ip(request)
        )
    except RateLimited:
        return _message(request, locale, 429, "too_many_changes")
    except LendGuardError:
        return _message(request, locale, 409, "switches_unavailable")
    return _back(locale, done="consent")


@router.post("/requests")
async def open_request(request: Request) -> Response:
    posted = await _posted(request)
    if isinstance(posted, Response):
        return posted
    grant, fields, locale = posted
    kind = fields.get("kind", "")
    if kind not in PORTAL_REQUEST_KINDS:
        return _message(request, locale, 422, "form_invalid")
    service = _service(request)
    try:
        made = await run_in_threadpool(
            service.open_request, grant, kind, fields.get("note"), client_ip(request)
        )
    except Conflict:
        return _message(request, locale, 409, "request_already_open")
    except LendGuardError:
        return _message(request, locale, 422, "form_invalid")
    due = made["due_at"]
    return _back(locale, done="request", due=due.astimezone(UTC).isoformat())
