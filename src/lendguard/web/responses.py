"""HTTP response helpers shared by every router: orjson JSON and RFC 9457 problems."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi.responses import JSONResponse as FastAPIJSONResponse
from fastapi.responses import Response

PROBLEM_JSON = "application/problem+json"


class JSONResponse(FastAPIJSONResponse):
    """orjson-rendered JSON (datetimes as ISO 8601). A subclass of FastAPI's own JSON response,
    so routes using it document their response model in the OpenAPI contract."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return render_json(content)


def render_json(content: Any) -> bytes:
    """The bytes :class:`JSONResponse` sends for ``content``."""
    return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS)


def problem(
    status: int,
    title: str,
    detail: str,
    errors: list[dict[str, str]] | None = None,
    instance: str | None = None,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> Response:
    """An RFC 9457 problem document with an ``errors`` list of ``{field, message}``."""
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": title,
        "status": status,
        "detail": detail,
        "errors": errors or [],
    }
    if instance:
        body["instance"] = instance
    if extra:
        body.update(extra)
    return Response(
        orjson.dumps(body), status_code=status, media_type=PROBLEM_JSON, headers=headers
    )
