"""The FastAPI application: wiring only (services are built here and shared by every route)."""

from __future__ import annotations

import gc
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from lendguard.alliance.service import AllianceService
from lendguard.auth.passwords import dummy_hash
from lendguard.auth.ratelimit import RateLimits
from lendguard.auth.service import ApiKeyService, Scope
from lendguard.auth.users import UserService
from lendguard.cases.service import CaseService
from lendguard.cases.webhooks import WebhookSender
from lendguard.conduct.contacts import ContactGuard
from lendguard.config import Settings, get_settings
from lendguard.db import make_engine, upgrade
from lendguard.decisions.service import DecisionService
from lendguard.decisions.state import MemoryStateStore, SharedStateStore, StateStore
from lendguard.errors import LendGuardError, RateLimited
from lendguard.graph.index import LinkIndex
from lendguard.lending.rescue_ladder import RescueService
from lendguard.logging import configure_logging
from lendguard.privacy.consent import ConsentLedger
from lendguard.privacy.requests import RequestService
from lendguard.privacy.vault import Vault, master_key_from
from lendguard.support import crisis
from lendguard.support.service_desk import ServiceDesk
from lendguard.web.fastpath import LendGuardAPI
from lendguard.web.guard import ControlCharacterGuard, install_error_handlers
from lendguard.web.openapi import install_openapi
from lendguard.web.responses import JSONResponse, problem


@dataclass
class Services:
    settings: Settings
    decisions: DecisionService
    api_keys: ApiKeyService
    users: UserService
    cases: CaseService
    webhooks: WebhookSender
    conduct: ContactGuard
    rescue: RescueService
    consent: ConsentLedger
    privacy_requests: RequestService
    vault: Vault
    service_desk: ServiceDesk
    limits: RateLimits
    alliance: AllianceService

    def close(self) -> None:
        self.webhooks.stop()
        self.decisions.close()


def build_services(settings: Settings, migrate: bool = True) -> Services:
    configure_logging(settings.log_level)
    if migrate:
        upgrade(settings.database_url)
    engine = make_engine(settings.database_url, settings.sqlite_synchronous)
    store: StateStore
    if settings.state_backend == "shared":
        store = SharedStateStore(engine)
    else:
        store = MemoryStateStore(engine, checkpoint_every=settings.state_checkpoint_events)
    decisions = DecisionService(engine, store, pii_key=settings.pii_key, link_index=LinkIndex)
    decisions.start()
    api_keys = ApiKeyService(engine)
    if settings.bootstrap_admin_key:
        api_keys.ensure("bootstrap-admin", [Scope.admin.value], settings.bootstrap_admin_key)
    webhooks = WebhookSender(
        engine,
        settings.webhook_url,
        settings.webhook_secret,
        base_delay_s=settings.webhook_base_delay_s,
        max_attempts=settings.webhook_max_attempts,
    )
    cases = CaseService(
        engine, webhooks, elderly_age=settings.elderly_age, crisis_hotlines=crisis.hotlines_for
    )
    cases.on_labels = decisions.labels.apply_new
    decisions.after_commit.append(cases.take_in)
    # Education answering an intervention's reasons (the same links for the same reasons).
    decisions.education_for = _education_links
    cases.education_for = _case_education_links
    # The consent ledger answers the contact guard's consent questions; what it does not know
    # falls back to the guard's own preference store.
    vault = Vault(
        engine, master_key_from(settings.master_key, settings.pii_key), settings.pii_key.encode()
    )
    vault.ensure_active_key()
    decisions.vault = vault
    consent = ConsentLedger(engine)
    conduct = ContactGuard(engine, pii_key=settings.pii_key, consent=consent)
    consent.fallback = conduct.preferences
    # The rescue ladder writes the flags the contact guard reads (marketing suppressed,
    # collection paused).
    rescue = RescueService(engine, conduct.flags)
    decisions.after_commit.append(rescue.take_in)
    # The hash an unknown username is verified against is made now, so the first such sign-in
    # takes as long as any other (no enumeration by timing).
    dummy_hash()
    # Interventions decided before a crash but never filed get their case now.
    cases.sweep()
    webhooks.start()
    # Long-lived start-up objects leave the collector's view, and young collections run less
    # often: full collections over millions of window entries otherwise pause for tens of ms.
    # (A server goes further: :func:`tune_for_serving`.)
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)
    return Services(
        settings=settings,
        decisions=decisions,
        api_keys=api_keys,
        users=UserService(engine),
        cases=cases,
        webhooks=webhooks,
        conduct=conduct,
        rescue=rescue,
        consent=consent,
        privacy_requests=RequestService(engine),
        vault=vault,
        service_desk=ServiceDesk(engine),
        limits=RateLimits.from_settings(settings),
        alliance=AllianceService(engine, settings, vault),
    )


_EDUCATION_LINKS: dict[tuple[str, ...], list[dict[str, Any]]] = {}


def _education_links(reasons: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The library's links for a decision's reasons, remembered by their codes (the library is
    loaded once per process, so the answer for the same codes never changes)."""
    from lendguard.education.library import education_for

    codes = tuple(str(r.get("code")) for r in reasons if isinstance(r, dict))
    found = _EDUCATION_LINKS.get(codes)
    if found is None:
        found = [link.model_dump() for link in education_for(list(codes))]
        if len(_EDUCATION_LINKS) < 10_000:
            _EDUCATION_LINKS[codes] = found
    return found


def _case_education_links(
    reasons: list[dict[str, Any]], typology: str | None
) -> list[dict[str, Any]]:
    """The library's links for a case's outreach: its scam type first, then its reasons."""
    from lendguard.education.library import education_for

    return [link.model_dump() for link in education_for(reasons, typology)]


# Young collections in a server: each scans at most this many new objects (about 1 ms here).
SERVING_GC_THRESHOLD = 5_000
# How long a thread that computes (the decision committer, the state checkpoint) keeps the
# interpreter lock when the event loop asks for it back (Python's default: 5 ms).
SERVING_SWITCH_INTERVAL_S = 0.001
_serving_gc = False


def tune_for_serving(threshold: int = SERVING_GC_THRESHOLD) -> None:
    """The interpreter of a serving process (``lendguard.asgi``), for the latency tail.

    The event loop gives up the interpreter lock whenever it waits for the network; a
    background thread that computes then holds it until the switch interval ends, so a request
    that arrives meanwhile waits for it: at most :data:`SERVING_SWITCH_INTERVAL_S`, not 5 ms.

    The process grows its long-lived heap with every event (window state, the link graph), so
    what a young collection finds is mostly new state that stays: the generational collector
    then scans it again in every older collection, a pause that grows with the heap (a 50,000
    object collection pauses the event loop about 10 ms; a full one, 100 ms and more). Here,
    after each automatic collection, what survived it is frozen (``gc.freeze``: left out of
    every later collection, still freed by reference counting when no cycle holds it), so each
    collection scans only the objects made since the previous one, ``threshold`` at most.

    The price: a reference cycle that was alive at a collection and dies later is never
    reclaimed. The decision path makes few: after 10,000 HTTP events, unfreezing and collecting
    everything found 50 unreachable objects among 256,000 frozen (and took 205 ms, the pause
    this avoids), a growth far below the window state's own. Installed once per process;
    tests (which build many apps in one process) never install it."""
    global _serving_gc
    sys.setswitchinterval(SERVING_SWITCH_INTERVAL_S)
    gc.collect()
    gc.freeze()
    gc.set_threshold(threshold, 10, 10)
    if not _serving_gc:
        _serving_gc = True
        gc.callbacks.append(_freeze_survivors)


def _freeze_survivors(phase: str, _info: dict[str, int]) -> None:
    if phase == "stop":
        gc.freeze()


def create_app(settings: Settings | None = None, services: Services | None = None) -> LendGuardAPI:
    settings = settings or get_settings()
    configure_logging(settings.log_level)
    services = services or build_services(settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        services.close()

    app = LendGuardAPI(
        title="LendGuard",
        version="0.1.0",
        description="Real-time consumer protection for digital lenders: every customer event in, "
        "an explained intervention out.",
        lifespan=lifespan,
        default_response_class=JSONResponse,
        docs_url=None,
        redoc_url=None,
    )
    app.state.services = services

    install_error_handlers(app)
    app.add_middleware(ControlCharacterGuard)

    @app.exception_handler(LendGuardError)
    async def _lendguard_error(request: Request, exc: LendGuardError) -> Response:
        headers: dict[str, str] = {}
        if exc.status_code == 401:
            headers["WWW-Authenticate"] = "Bearer"
        if isinstance(exc, RateLimited):
            headers["Retry-After"] = str(max(1, exc.retry_after))
        return problem(
            exc.status_code,
            exc.title,
            exc.detail,
            [{"field": e.field, "message": e.message} for e in exc.errors],
            instance=request.url.path,
            headers=headers or None,
        )

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> Response:
        errors = [
            {"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]} for e in exc.errors()
        ]
        return problem(
            422, "Validation failed", "the request is invalid", errors, instance=request.url.path
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        return problem(exc.status_code, str(exc.detail), str(exc.detail), instance=request.url.path)

    from lendguard.cases.endpoints import router as cases_router
    from lendguard.decisions.endpoints import install_fast_routes as install_decision_fast_routes
    from lendguard.decisions.endpoints import router as decisions_router
    from lendguard.health import router as health_router

    app.include_router(health_router)
    app.include_router(decisions_router)
    install_decision_fast_routes(app)
    app.include_router(cases_router)
    from lendguard.interventions.endpoints import router as interventions_router

    app.include_router(interventions_router)
    from lendguard.alliance.aggregation_endpoints import router as alliance_aggregation_router
    from lendguard.alliance.endpoints import router as alliance_router
    from lendguard.alliance.peer_endpoints import router as alliance_peer_router

    app.include_router(alliance_router)
    app.include_router(alliance_peer_router)
    app.include_router(alliance_aggregation_router)
    from lendguard.conduct.endpoints import router as conduct_router

    app.include_router(conduct_router)
    from lendguard.lending.endpoints import router as lending_router

    app.include_router(lending_router)
    from lendguard.privacy.pii_endpoints import router as pii_router

    app.include_router(pii_router)
    from lendguard.privacy.endpoints import router as privacy_router

    app.include_router(privacy_router)
    from lendguard.support.assistant_endpoints import router as assistant_router

    app.include_router(assistant_router)
    from lendguard.support.complaint_endpoints import router as complaints_router

    app.include_router(complaints_router)
    from lendguard.support.service_endpoints import router as service_router

    app.include_router(service_router)
    from lendguard.education.endpoints import router as education_router
    from lendguard.privacy.portal_endpoints import router as portal_link_router
    from lendguard.reporting.endpoints import router as report_router

    app.include_router(education_router)
    app.include_router(report_router)
    app.include_router(portal_link_router)
    from lendguard.console.routes import install as install_console

    install_console(app)
    from lendguard.console.graph_routes import router as graph_console_router
    from lendguard.graph.endpoints import router as graph_router

    app.include_router(graph_console_router)
    from lendguard.console.alliance_routes import router as alliance_console_router

    app.include_router(alliance_console_router)
    from lendguard.console.portal_routes import router as portal_router
    from lendguard.console.report_routes import router as report_console_router

    app.include_router(report_console_router)
    app.include_router(portal_router)
    app.include_router(graph_router)
    from lendguard.auth.endpoints import router as apikeys_router

    app.include_router(apikeys_router)
    install_openapi(app)
    return app
