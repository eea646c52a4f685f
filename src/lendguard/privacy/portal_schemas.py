"""The privacy centre's public contract: the link the lender's app asks for (issue #21).

Field names are public API: add, never rename or remove."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictInt
from pydantic_core import PydanticCustomError


def _whole_seconds(value: Any) -> Any:
    """A JSON integer, written ``600`` or ``600.0`` (both are integers to JSON Schema); never a
    string, a boolean or a fraction."""
    if isinstance(value, bool | str):
        raise PydanticCustomError("int_type", "must be a whole number of seconds")
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


LinkSeconds = Annotated[StrictInt, Field(ge=60, le=3_600), BeforeValidator(_whole_seconds)]


class PortalLinkBody(BaseModel):
    """Optional: the page's language and how long the link stays valid."""

    model_config = ConfigDict(extra="forbid")

    locale: Literal["zh-CN", "en"] | None = Field(
        default=None, description="the page's first language (default: the server's)"
    )
    ttl_s: LinkSeconds | None = Field(
        default=None,
        description="seconds the link stays valid, 60 to 3,600 (default: portal_link_ttl_s)",
    )


class PortalLink(BaseModel):
    """A short-lived signed link to one customer's privacy centre: send it to that customer
    only (it opens their page without a password until it expires)."""

    url: str = Field(description="<base>/portal/open/<token>; the token names no one in clear")
    expires_at: datetime
    locale: Literal["zh-CN", "en"]
