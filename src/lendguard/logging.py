"""structlog set-up. Log events carry ids and codes only, never personal information.

As a second line of defence every line is masked before it is rendered: :func:`mask_pii` (a
structlog processor, last before the renderer) masks resident IDs, mobile numbers, card numbers,
e-mail and IP addresses and the other types of :mod:`lendguard.privacy.pii` in every string
value of the event (the message included, nested dicts and lists too, and integers long enough
to be a number worth hiding); :class:`PiiLogFilter` does the same for records of the standard
``logging`` module written through the handler installed here.

A secret that is not personal information is masked the same way: the token of a privacy
centre link (``/portal/open/<token>``, a bearer credential until it expires) becomes
``/portal/open/[token]`` in every line, in structlog's and the standard handler's, and in
uvicorn's access log (:class:`PortalTokenFilter` on its loggers) when a deployment turns it on.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any, TextIO

import structlog

from lendguard.privacy.pii import mask_text

# Keys written by the processors before the renderer: never personal information.
_SKIP_KEYS = frozenset({"timestamp", "level", "logger"})
# Integers from 10 digits up may be a phone or a card number written as a number.
_LONG_INT = 10**9
# The privacy centre's link token (lendguard.privacy.portal): whatever follows the prefix up to
# the next separator, so a truncated or tampered token is masked too.
_PORTAL_TOKEN = re.compile(r"(/portal/open/)[^/?#\s\"'<>]+")
# uvicorn's (and gunicorn's) loggers that write request lines.
_SERVER_LOGGERS = ("uvicorn.access", "uvicorn.error", "gunicorn.access", "gunicorn.error")


def mask_secrets(text: str) -> str:
    """``text`` with every privacy centre link token replaced by ``[token]``."""
    return _PORTAL_TOKEN.sub(r"\1[token]", text) if "/portal/open/" in text else text


def _mask_text(text: str) -> str:
    return mask_text(mask_secrets(text))


def _mask_value(value: Any) -> Any:
    if isinstance(value, str):
        return _mask_text(value)
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        if abs(value) >= _LONG_INT:
            text = str(value)
            masked = mask_text(text)
            return value if masked == text else masked
        return value
    if isinstance(value, dict):
        return {k: _mask_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_mask_value(v) for v in value]
    return value


def mask_pii(_logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> Any:
    """structlog processor: mask personal information in every value of the event."""
    for key, value in event_dict.items():
        if key in _SKIP_KEYS or value is None:
            continue
        masked = _mask_value(value)
        if masked is not value:
            event_dict[key] = masked
    return event_dict


class PiiLogFilter(logging.Filter):
    """Masks personal information in standard-library log records (message and arguments)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: leave it to the handler to report
            return True
        masked = _mask_text(message)
        if masked != message:
            record.msg = masked
            record.args = None
        return True


class PortalTokenFilter(logging.Filter):
    """Masks privacy centre link tokens in a record's message and in each of its arguments,
    keeping the arguments' shape (uvicorn's access formatter reads them one by one)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = mask_secrets(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(mask_secrets(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {
                k: mask_secrets(v) if isinstance(v, str) else v for k, v in record.args.items()
            }
        return True


def configure_logging(level: str = "INFO", stream: TextIO | None = None) -> None:
    """JSON lines to ``stream`` (default standard error), masked by :func:`mask_pii`."""
    out = stream if stream is not None else sys.stderr
    root = logging.getLogger()
    if not root.handlers:  # what logging.basicConfig does, plus the masking filter
        handler = logging.StreamHandler(out)
        handler.setFormatter(logging.Formatter("%(message)s"))
        handler.addFilter(PiiLogFilter())
        root.addHandler(handler)
        root.setLevel(level)
    for name in _SERVER_LOGGERS:
        server_logger = logging.getLogger(name)
        if not any(isinstance(f, PortalTokenFilter) for f in server_logger.filters):
            server_logger.addFilter(PortalTokenFilter())
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso"),
            # An exception's traceback as text (``exc_info``), masked with everything else.
            structlog.processors.format_exc_info,
            mask_pii,
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        logger_factory=structlog.PrintLoggerFactory(file=out),
        cache_logger_on_first_use=False,
    )
