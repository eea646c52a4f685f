"""The OpenAPI contract an integration engineer generates a client from, and the docs that
render it offline.

Built from the routes themselves, so the contract cannot drift from the checks:

* a route whose body is read by :func:`lendguard.web.body.json_body` documents that model as
  its request body (routes that read several content types declare ``openapi_extra``);
* every operation documents the problem documents it can answer (RFC 9457,
  ``application/problem+json``): 422 and 500 always, 503 where a dependency can be missing,
  400 and 413 where there is a body, 401, 403 and 429 where a scope is required;
* an operation that needs a scope declares the security schemes (an API key as a bearer token,
  or the console's session cookie plus its CSRF header on a state-changing request) and names
  the scope in its description.

Swagger UI and ReDoc load their scripts from assets packaged with the service (the
``fastapi-offline`` wheel's copies), never from a CDN: ``/docs`` works on a network with no way
out, which is how a bank's integration environment usually is.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fastapi_offline
from fastapi import FastAPI, routing
from fastapi.dependencies.models import Dependant
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from lendguard.kit.text import TEXT_PATTERN
from lendguard.web.body import BODY_MODEL_ATTRIBUTE
from lendguard.web.responses import PROBLEM_JSON

# The attribute a scope-checking dependency carries (set by ``lendguard.auth.dependencies``);
# a route that checks its scope inline declares ``openapi_extra={SCOPE_EXTENSION: scope}``.
SCOPE_ATTRIBUTE = "__lendguard_scope__"
SCOPE_EXTENSION = "x-lendguard-scope"

ASSETS_PATH = "/docs/assets"
_ASSETS_DIR = Path(fastapi_offline.__file__).parent / "static"


class ProblemField(BaseModel):
    field: str = Field(description="The dotted path of the offending field, or 'body'")
    message: str


class Problem(BaseModel):
    """An RFC 9457 problem document: what went wrong, and each offending field."""

    model_config = ConfigDict(extra="allow")

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    errors: list[ProblemField] = Field(default_factory=list)
    instance: str | None = None
    correlation_id: str | None = Field(
        default=None, description="On a 500: quote it to support; the server log has the trace"
    )


_ERROR_DESCRIPTIONS = {
    "400": "Malformed JSON",
    "401": "Missing, malformed, unknown, expired or revoked credentials",
    "403": "The caller lacks the scope (or the CSRF token, or the data's purpose forbids it)",
    "404": "Not found",
    "409": "Conflict with the current state",
    "413": "The body is over the size limit",
    "422": "Validation failed: each offending field is named",
    "429": "Rate limited: retry after the Retry-After header's seconds",
    "500": "Internal error, nothing applied: the correlation id names it in the server log",
    "503": "A dependency is unreachable or the service is rebuilding: retry after Retry-After",
}

SECURITY_SCHEMES: dict[str, Any] = {
    "ApiKey": {
        "type": "http",
        "scheme": "bearer",
        "description": "An API key (`lendguard apikeys create`), sent as "
        "`Authorization: Bearer <key>`; each operation names the scope it needs.",
    },
    "ConsoleSession": {
        "type": "apiKey",
        "in": "cookie",
        "name": "lg_session",
        "description": "The console's session cookie (sign in at /console/login); the "
        "signed-in user's role grants the scopes.",
    },
    "CsrfToken": {
        "type": "apiKey",
        "in": "header",
        "name": "X-CSRF-Token",
        "description": "With the session cookie on a state-changing request: the session's "
        "CSRF token.",
    },
}

_SAFE_METHODS = {"get", "head", "options"}


def problem_response(status: int | str, description: str | None = None) -> dict[str, Any]:
    """An entry of a route's ``responses=`` for a problem document."""
    return {
        "description": description or _ERROR_DESCRIPTIONS.get(str(status), "Error"),
        "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=problems(404, 409)``: the problem documents a route answers beyond the
    ones every operation documents."""
    return {status: problem_response(status) for status in statuses}


def _dependencies(dependant: Dependant) -> Iterator[Dependant]:
    for sub in dependant.dependencies:
        yield sub
        yield from _dependencies(sub)


def route_body_model(route: APIRoute) -> type[BaseModel] | None:
    for sub in _dependencies(route.dependant):
        model = getattr(sub.call, BODY_MODEL_ATTRIBUTE, None)
        if model is not None:
            return model
    return None


def route_scope(route: APIRoute) -> str | None:
    declared = (route.openapi_extra or {}).get(SCOPE_EXTENSION)
    if declared:
        return str(declared)
    for sub in _dependencies(route.dependant):
        scope = getattr(sub.call, SCOPE_ATTRIBUTE, None)
        if scope is not None:
            return str(scope)
    return None


def _add_component(components: dict[str, Any], model: type[BaseModel]) -> str:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}", mode="validation")
    for name, definition in schema.pop("$defs", {}).items():
        components.setdefault(name, definition)
    name = model.__name__
    existing = components.get(name)
    if existing is not None and existing != schema:
        # Two different models under one name would make a generated client wrong.
        raise RuntimeError(f"two request-body schemas are named {name!r}: rename one")
    components[name] = schema
    return name


def _document_operation(
    operation: dict[str, Any], route: APIRoute, method: str, components: dict[str, Any]
) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    validation = responses.get("422", {})
    schema_ref = (
        validation.get("content", {}).get("application/json", {}).get("schema", {}).get("$ref")
    )
    if schema_ref == "#/components/schemas/HTTPValidationError":
        # FastAPI's own 422 shape; this service answers problem documents instead.
        del responses["422"]
    statuses = ["422", "500", "503"]
    body_model = route_body_model(route)
    if body_model is not None:
        name = _add_component(components, body_model)
        operation.setdefault(
            "requestBody",
            {
                "required": True,
                "content": {
                    "application/json": {"schema": {"$ref": f"#/components/schemas/{name}"}}
                },
            },
        )
    if "requestBody" in operation:
        statuses += ["400", "413"]
    if any(parameter.get("in") == "path" for parameter in operation.get("parameters", [])):
        statuses.append("404")
    for parameter in operation.get("parameters", []):
        if parameter.get("in") in ("path", "query"):
            _forbid_control_characters(parameter.get("schema", {}))
    scope = route_scope(route)
    if scope is not None:
        statuses += ["401", "403", "429"]
        session: dict[str, list[str]] = (
            {"ConsoleSession": []}
            if method in _SAFE_METHODS
            else {
                "ConsoleSession": [],
                "CsrfToken": [],
            }
        )
        operation["security"] = [{"ApiKey": []}, session]
        line = f"Requires the `{scope}` scope (an admin key holds every scope)."
        described = operation.get("description", "")
        operation["description"] = f"{described}\n\n{line}".strip()
    for status in statuses:
        responses.setdefault(status, problem_response(status))


def _forbid_control_characters(schema: dict[str, Any]) -> None:
    """Document the edge guard's refusal on a request-side string schema (and the strings it
    holds): a client generator or fuzzer then knows such a value is not valid input."""
    if schema.get("type") == "string" and not (
        {"pattern", "format", "enum", "const"} & set(schema)
    ):
        schema["pattern"] = TEXT_PATTERN
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict):
            _forbid_control_characters(schema[key])
    for key in ("anyOf", "oneOf", "allOf"):
        for option in schema.get(key, []):
            _forbid_control_characters(option)
    for value in schema.get("properties", {}).values():
        _forbid_control_characters(value)


def _request_components(spec: dict[str, Any]) -> set[str]:
    """The component schemas a request body reaches (directly or through other components)."""
    schemas = spec.get("components", {}).get("schemas", {})
    pending = [
        operation.get("requestBody", {})
        for path_item in spec.get("paths", {}).values()
        for operation in path_item.values()
        if isinstance(operation, dict)
    ]
    reached: set[str] = set()
    while pending:
        node = pending.pop()
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
                name = ref.rsplit("/", 1)[1]
                if name not in reached and name in schemas:
                    reached.add(name)
                    pending.append(schemas[name])
            pending.extend(node.values())
        elif isinstance(node, list):
            pending.extend(node)
    return reached


def build_openapi(app: FastAPI) -> dict[str, Any]:
    """The whole contract, built once per process."""
    spec = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=app.routes,
        tags=app.openapi_tags,
    )
    components: dict[str, Any] = spec.setdefault("components", {})
    schemas: dict[str, Any] = components.setdefault("schemas", {})
    _add_component(schemas, Problem)
    components["securitySchemes"] = SECURITY_SCHEMES
    # Routes of included routers are reached through their contexts (FastAPI includes
    # routers lazily); the original route holds the dependencies, the context the full path.
    for context in routing.iter_route_contexts(app.routes):
        route = context.original_route
        if not isinstance(route, APIRoute) or not getattr(context, "include_in_schema", True):
            continue
        path_item = spec.get("paths", {}).get(getattr(context, "path_format", route.path_format))
        if path_item is None:
            continue
        for method in getattr(context, "methods", None) or route.methods or ():
            operation = path_item.get(method.lower())
            if operation is not None:
                operation.pop(SCOPE_EXTENSION, None)
                _document_operation(operation, route, method.lower(), schemas)
    for name in _request_components(spec):
        _forbid_control_characters(schemas[name])
    for path_item in spec.get("paths", {}).values():
        for operation in path_item.values():
            for media in operation.get("requestBody", {}).get("content", {}).values():
                _forbid_control_characters(media.get("schema", {}))
    for unused in ("HTTPValidationError", "ValidationError"):
        if unused in schemas and unused not in str(spec.get("paths")):
            del schemas[unused]
    return spec


# ReDoc draws its vendor's logo from their CDN (hidden again when the fetch fails); served
# offline, the page points it at the packaged icon instead, so the docs make no request out.
_REDOC_CDN_LOGO = b"https://cdn.redoc.ly/redoc/logo-mini.svg"


def _packaged_assets() -> dict[str, tuple[bytes, str]]:
    """The docs' scripts, stylesheet and icon, read once from the packaged copies."""
    media = {".js": "text/javascript", ".css": "text/css", ".png": "image/png"}
    assets: dict[str, tuple[bytes, str]] = {}
    for path in _ASSETS_DIR.iterdir():
        if path.suffix in media:
            body = path.read_bytes()
            if path.name == "redoc.standalone.js":
                body = body.replace(_REDOC_CDN_LOGO, f"{ASSETS_PATH}/favicon.png".encode())
            assets[path.name] = (body, media[path.suffix])
    return assets


def install_openapi(app: FastAPI) -> None:
    """``/openapi.json`` from :func:`build_openapi`; ``/docs`` and ``/redoc`` from packaged
    assets. The app must be created with ``docs_url=None, redoc_url=None``."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = build_openapi(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    assets = _packaged_assets()

    async def asset(request: Request) -> Response:
        found = assets.get(request.path_params["name"])
        if found is None:
            return Response(status_code=404)
        body, media_type = found
        return Response(body, media_type=media_type, headers={"Cache-Control": "max-age=86400"})

    async def swagger_ui(request: Request) -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title=f"{app.title} — API",
            swagger_js_url=f"{ASSETS_PATH}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS_PATH}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS_PATH}/favicon.png",
        )

    async def redoc(request: Request) -> HTMLResponse:
        return get_redoc_html(
            openapi_url="/openapi.json",
            title=f"{app.title} — API reference",
            redoc_js_url=f"{ASSETS_PATH}/redoc.standalone.js",
            redoc_favicon_url=f"{ASSETS_PATH}/favicon.png",
            with_google_fonts=False,
        )

    app.add_route(f"{ASSETS_PATH}/{{name}}", asset, include_in_schema=False)
    app.add_route("/docs", swagger_ui, include_in_schema=False)
    app.add_route("/redoc", redoc, include_in_schema=False)
