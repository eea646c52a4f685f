"""One customer event from decoded JSON, or a 422 problem naming each bad field."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from lendguard.errors import FieldError, ValidationFailed
from lendguard.events.schemas import Event
from lendguard.kit.validation import validation_errors

# Unknown top-level fields of an event are kept in attributes; inside its objects they are not.
_EVENT_UNKNOWN_HINT = " (send custom data in attributes)"


def parse_event(raw: Any) -> Event:
    if not isinstance(raw, dict):
        raise ValidationFailed(
            "an event must be a JSON object", errors=[FieldError("body", "expected a JSON object")]
        )
    try:
        return Event.model_validate(raw)
    except ValidationError as exc:
        raise ValidationFailed(
            "the event is invalid",
            errors=validation_errors(exc, unknown_hint=_EVENT_UNKNOWN_HINT),
        ) from None
