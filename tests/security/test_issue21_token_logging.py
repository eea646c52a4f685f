"""Issue #21, an attacker's pass: the privacy centre's link is a bearer credential (it opens a
customer's page until it expires), so its token is never written to a log in clear: not by
structlog (``request.failed`` names the path), not by the standard library's handler, not by
uvicorn's access log when a deployment turns it on."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import structlog
from uvicorn.logging import AccessFormatter

from lendguard.logging import PortalTokenFilter, configure_logging, mask_pii
from lendguard.privacy.portal import LinkSigner

TOKEN = LinkSigner(b"k" * 32).issue(
    "borrower-7", "en", datetime(2026, 3, 2, 3, 0, tzinfo=UTC) + timedelta(minutes=10)
)[0]
PATH = f"/portal/open/{TOKEN}"


@pytest.fixture(autouse=True)
def _structlog_as_it_was() -> Iterator[None]:
    saved = structlog.get_config()
    yield
    structlog.configure(**saved)


def test_structlog_masks_the_token_in_every_value() -> None:
    event = mask_pii(
        None,
        "error",
        {"event": f"GET {PATH} failed", "path": PATH, "nested": {"url": f"https://x{PATH}?a=1"}},
    )
    rendered = json.dumps(event)
    assert TOKEN not in rendered
    assert "/portal/open/[token]" in event["path"]
    assert event["nested"]["url"] == "https://x/portal/open/[token]?a=1"


def test_the_rendered_line_holds_no_token() -> None:
    out = io.StringIO()
    configure_logging("INFO", stream=out)
    structlog.get_logger("t").error("request.failed", method="GET", path=PATH)
    assert TOKEN not in out.getvalue()
    assert "/portal/open/[token]" in out.getvalue()


def test_uvicorns_access_line_holds_no_token() -> None:
    configure_logging("INFO", stream=io.StringIO())
    access = logging.getLogger("uvicorn.access")
    assert any(isinstance(f, PortalTokenFilter) for f in access.filters)
    configure_logging("INFO", stream=io.StringIO())  # twice: one filter
    assert sum(isinstance(f, PortalTokenFilter) for f in access.filters) == 1
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", PATH, "1.1", 303),
        None,
    )
    for f in access.filters:
        assert f.filter(record)
    line = AccessFormatter(use_colors=False).format(record)
    assert TOKEN not in line
    assert '"GET /portal/open/[token] HTTP/1.1" 303' in line


def test_a_standard_library_record_is_masked() -> None:
    record = logging.LogRecord("x", logging.WARNING, __file__, 1, "fetch %s", (PATH,), None)
    assert PortalTokenFilter().filter(record)
    assert TOKEN not in record.getMessage()
