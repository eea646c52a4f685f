"""HTTP endpoint of the borrower's privacy centre (issue #21): the lender's app backend asks for
a short-lived signed link to one customer's page (``privacy:portal``) and sends it to them.

The page itself is a face beside the console (:mod:`lendguard.console.portal_routes`)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request, Response
from starlette.concurrency import run_in_threadpool

from lendguard.auth.dependencies import client_ip, require
from lendguard.auth.service import Principal, Scope
from lendguard.errors import ServiceUnavailable
from lendguard.kit.validation import validated
from lendguard.privacy.portal import LinkSigner, issue_link
from lendguard.privacy.portal_schemas import PortalLink, PortalLinkBody
from lendguard.privacy.vault import master_key_from
from lendguard.web.body import BODY_MODEL_ATTRIBUTE, parse_json, read_body
from lendguard.web.openapi import problems

router = APIRouter(prefix="/v1/privacy")

PortalAsker = Annotated[Principal, Depends(require(Scope.privacy_portal))]
CustomerId = Annotated[
    str, Path(min_length=1, max_length=128, description="the customer, as the lender knows them")
]


def link_signer(settings: Any) -> LinkSigner:
    """The signer of this deployment's links: keys derived from the master key."""
    return LinkSigner(master_key_from(settings.master_key, settings.pii_key))


async def _optional_body(request: Request) -> PortalLinkBody:
    """The body is optional: none (or an empty one) takes the defaults; anything else is read
    and validated as every body is (413, 400 or 422 naming the field)."""
    raw = await read_body(request)
    if not raw.strip():
        return PortalLinkBody()
    return validated(PortalLinkBody, parse_json(raw), "invalid portal link request")


setattr(_optional_body, BODY_MODEL_ATTRIBUTE, PortalLinkBody)


# A deployment is reconfigured, not retried in a second: ask again in an hour.
PORTAL_NOT_CONFIGURED_RETRY_S = 3600


@router.post(
    "/customers/{customer_id}/portal-link",
    tags=["privacy"],
    summary="A short-lived signed link to the customer's privacy centre (send it to them only)",
    response_model=PortalLink,
    responses=problems(404, 503),
)
async def portal_link(
    principal: PortalAsker,
    customer_id: CustomerId,
    request: Request,
    body: Annotated[PortalLinkBody, Depends(_optional_body)],
    response: Response,
) -> Any:
    # the answer holds a bearer URL: no cache may keep it
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    services = request.app.state.services
    settings = services.settings
    locale = body.locale or (
        settings.default_locale if settings.default_locale in ("zh-CN", "en") else "zh-CN"
    )
    ttl_s = body.ttl_s if body.ttl_s is not None else settings.portal_link_ttl_s
    if settings.portal_base_url is None and settings.environment == "production":
        # The link would start with whatever Host header this request carried (a proxy that
        # forwards it, or a caller, could point the customer's link at another site).
        raise ServiceUnavailable(
            "the privacy centre's public address is not configured: set LENDGUARD_PORTAL_BASE_URL",
            retry_after=PORTAL_NOT_CONFIGURED_RETRY_S,
        )
    base_url = settings.portal_base_url or str(request.base_url)
    link = await run_in_threadpool(
        issue_link,
        services.decisions.db,
        link_signer(settings),
        services.decisions.pii_key,
        customer_id,
        locale,
        ttl_s,
        base_url,
        principal.actor,
        client_ip(request),
    )
    return {**link, "locale": locale}
