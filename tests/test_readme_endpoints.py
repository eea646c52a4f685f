"""The README's endpoint table against the app: every API route is listed once, under the scope
its code demands, and nothing else is listed.

A lender's integrator sets up API keys from that table; a row naming the wrong scope is a key
that gets 403 in production. The scope is read from the route's dependency (``require`` and
``require_for`` close over it); the few endpoints that authorise inside their body (the per-event
hot path) are probed over HTTP with one key per scope.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import routing
from fastapi.dependencies.models import Dependant

from fixtures import Api
from lendguard.auth.service import Scope

README = Path(__file__).resolve().parents[1] / "README.md"
# One endpoint in the table: `METHOD /path` (a query string after the path is illustrative).
_ENDPOINT = re.compile(r"`(GET|POST|PUT|PATCH|DELETE) (/[^`?\s]*)[^`]*`")
_SCOPE = re.compile(r"`([a-z]+(?::[a-z]+)?)`")
NO_SCOPE = "none"


def _shape(path: str) -> str:
    """``/v1/cases/{case_id}`` and ``/v1/cases/{id}`` are the same endpoint."""
    return re.sub(r"\{[^}]*\}", "{}", path)


def readme_table(text: str) -> dict[tuple[str, str], list[str]]:
    """``(method, path shape) -> [scope per row naming it]`` from the table whose header is
    ``| endpoint | scope |``; a row names one scope (or ``none``) in its second cell."""
    lines = text.splitlines()
    start = lines.index("| endpoint | scope |")
    table: dict[tuple[str, str], list[str]] = {}
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        cells = [cell.strip() for cell in line.strip().strip("|").split(" | ")]
        assert len(cells) == 2, f"a row has two cells: {line}"
        endpoints, scope_cell = cells
        scopes = _SCOPE.findall(scope_cell) or ([NO_SCOPE] if scope_cell == NO_SCOPE else [])
        assert len(scopes) == 1, f"a row names exactly one scope: {line}"
        found = _ENDPOINT.findall(endpoints)
        assert found, f"a row names its endpoints as `METHOD /path`: {line}"
        for method, path in found:
            table.setdefault((method, _shape(path)), []).append(scopes[0])
    return table


def _closure_scopes(dependant: Dependant) -> set[str]:
    """Scopes the route's dependencies close over (``require(scope)``, ``require_for``)."""
    found: set[str] = set()
    call: Any = dependant.call
    cells = getattr(call, "__closure__", None) or ()
    names = getattr(getattr(call, "__code__", None), "co_freevars", ())
    for name, cell in zip(names, cells, strict=False):
        try:
            value = cell.cell_contents
        except ValueError:  # an empty cell
            continue
        if isinstance(value, Scope) and name == "scope":
            found.add(value.value)
    for sub in dependant.dependencies:
        found |= _closure_scopes(sub)
    return found


def api_routes(app: Any) -> Iterator[tuple[str, str, Dependant]]:
    """``(method, path, dependant)`` of every documented route (the console's pages are not
    in the OpenAPI schema, nor in the table)."""
    for context in routing.iter_route_contexts(app.routes):
        route = context.original_route
        if isinstance(route, routing.APIRoute) and route.include_in_schema:
            for method in sorted(context.methods or ()):
                yield method, context.path_format, context.dependant


def _probe_scopes(api: Api, method: str, path: str) -> set[str]:
    """The scopes whose key gets past authorisation (neither 401 nor 403) on this route,
    probed with one key per scope; ``{"none"}`` when no key at all is needed."""
    url = re.sub(r"\{[^}]*\}", "x", path)
    if api.client.request(method, url, json={}).status_code not in (401, 403):
        return {NO_SCOPE}
    passing = set()
    for scope in Scope:
        if scope is Scope.admin:
            continue  # admin implies every scope
        response = api.client.request(method, url, json={}, headers=api.key(scope.value))
        if response.status_code not in (401, 403):
            passing.add(scope.value)
    return passing or {Scope.admin.value}


def code_table(api: Api) -> dict[tuple[str, str], str]:
    table: dict[tuple[str, str], str] = {}
    for method, path, dependant in api_routes(api.app):
        scopes = _closure_scopes(dependant) or _probe_scopes(api, method, path)
        assert len(scopes) == 1, f"{method} {path} demands one scope, not {sorted(scopes)}"
        table[(method, _shape(path))] = scopes.pop()
    return table


@pytest.fixture
def documented() -> dict[tuple[str, str], list[str]]:
    return readme_table(README.read_text(encoding="utf-8"))


def test_every_route_is_in_the_table_under_the_scope_it_demands(
    app_client: Api, documented: dict[tuple[str, str], list[str]]
) -> None:
    code = code_table(app_client)
    assert len(code) > 80  # the walk found the routers, not an empty app
    missing = sorted(f"{m} {p}" for m, p in code.keys() - documented.keys())
    extra = sorted(f"{m} {p}" for m, p in documented.keys() - code.keys())
    twice = sorted(f"{m} {p}" for (m, p), rows in documented.items() if len(rows) > 1)
    wrong = sorted(
        f"{m} {p}: README {documented[(m, p)][0]}, code {scope}"
        for (m, p), scope in code.items()
        if (m, p) in documented and documented[(m, p)][0] != scope
    )
    assert (missing, extra, twice, wrong) == ([], [], [], [])


def test_the_reading_of_the_table_catches_a_wrong_row() -> None:
    """The comparison above can fail: a row is read with its method, path and scope."""
    header = "| endpoint | scope |\n|---|---|\n"
    text = header + "| `GET /v1/a/{id}?x=1`, `POST /v1/b` (note) | `c:d` |\n"
    assert readme_table(text) == {("GET", "/v1/a/{}"): ["c:d"], ("POST", "/v1/b"): ["c:d"]}
    assert readme_table(header + "| `GET /healthz` | none |\n") == {("GET", "/healthz"): [NO_SCOPE]}
