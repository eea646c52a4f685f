"""Request bodies at the edge: read with a size limit before buffering, decoded by orjson,
validated into a typed model. A body over the limit is a 413, malformed JSON a 400 and a bad
field a 422, each a problem document naming the field; nothing is applied before that."""

from __future__ import annotations

from typing import Any, TypeVar

import orjson
from fastapi import Depends, Request
from pydantic import BaseModel

from lendguard.errors import FieldError, LendGuardError
from lendguard.kit.validation import validated

_M = TypeVar("_M", bound=BaseModel)

# The attribute a body dependency carries so the route documents its request body.
BODY_MODEL_ATTRIBUTE = "__lendguard_body_model__"


class PayloadTooLarge(LendGuardError):
    status_code = 413
    title = "Payload too large"


class MalformedJSON(LendGuardError):
    status_code = 400
    title = "Malformed JSON"


def too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"the body is over the limit of {limit} bytes",
        errors=[FieldError("body", f"at most {limit} bytes")],
    )


# The alliance's peer protocol carries a whole list's blinded points (issue #20).
ALLIANCE_PEER_PREFIX = "/v1/alliance/peer/"


def limit_for(settings: Any, path: str) -> int | None:
    """The body limit of ``path``: ``alliance_max_body_bytes`` under the alliance's peer
    paths, ``max_body_bytes`` elsewhere (None when the settings have neither)."""
    name = "alliance_max_body_bytes" if path.startswith(ALLIANCE_PEER_PREFIX) else "max_body_bytes"
    limit = getattr(settings, name, None)
    return limit if isinstance(limit, int) else None


def declared_limit(request: Request) -> int:
    """The configured limit; a 413 at once when the declared length is over it."""
    settings = request.app.state.services.settings
    limit = limit_for(settings, request.url.path) or settings.max_body_bytes
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise too_large(limit)
    return limit


async def read_body(request: Request) -> bytes:
    """Read the body, refusing more than the configured limit before buffering it all."""
    limit = declared_limit(request)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


async def read_json(request: Request) -> Any:
    return parse_json(await read_body(request))


def parse_json(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise MalformedJSON(
            f"the body is not valid JSON: {exc}",
            errors=[FieldError("body", f"invalid JSON at position {exc.pos}")],
        ) from None


def json_body(model: type[_M], title: str = "the request body is invalid") -> Any:
    """A FastAPI dependency: the body, read with the size limit, as ``model`` (a 400, 413 or
    422 problem otherwise). The route documents ``model`` as its request body (see
    :class:`lendguard.web.openapi.DocumentedRoute`), so the contract and the check are one.

    Used as ``body: Annotated[CaseCreate, json_body(CaseCreate)]``."""

    async def read(request: Request) -> _M:
        return validated(model, await read_json(request), title)

    setattr(read, BODY_MODEL_ATTRIBUTE, model)
    return Depends(read)
