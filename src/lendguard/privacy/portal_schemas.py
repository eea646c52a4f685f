"""The privacy centre's public contract: the link the lender's app asks for (issue #21).

Field names are public API: add, never rename or remove."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt


class PortalLinkBody(BaseModel):
    """Optional: the page's language and how long the link stays valid."""

    model_config = ConfigDict(extra="forbid")

    locale: Literal["zh-CN", "en"] | None = Field(
        default=None, description="the page's first language (default: the server's)"
    )
    ttl_s: StrictInt | None = Field(
        default=None,
        ge=60,
        le=3_600,
        description="seconds the link stays valid, 60 to 3,600 (default: portal_link_ttl_s)",
    )


class PortalLink(BaseModel):
    """A short-lived signed link to one customer's privacy centre: send it to that customer
    only (it opens their page without a password until it expires)."""

    url: str = Field(description="<base>/portal/open/<token>; the token names no one in clear")
    expires_at: datetime
    locale: Literal["zh-CN", "en"]
