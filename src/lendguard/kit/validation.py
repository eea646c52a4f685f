"""Pydantic validation errors as the ``{field, message}`` list every problem document carries.

Used by the HTTP edge and by the service-level requests of every area (a request built by the
CLI or a flow is checked the same way as one that came over HTTP)."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from lendguard.errors import FieldError, ValidationFailed

_M = TypeVar("_M", bound=BaseModel)


def validation_errors(
    exc: ValidationError, prefix: str = "", unknown_hint: str = ""
) -> list[FieldError]:
    """Pydantic errors as ``{field, message}`` with dotted field paths. A field the model does
    not know is named as such, followed by ``unknown_hint`` (where custom data goes, if
    anywhere)."""
    out = []
    for err in exc.errors(include_url=False):
        loc = ".".join(str(p) for p in err["loc"]) or "body"
        message = err["msg"]
        if err["type"] == "extra_forbidden":
            message = f"is not a known field{unknown_hint}"
        elif err["type"] in ("attribute_conflict", "look_alike_field"):
            # Raised for the whole event or profile (a model validator); the key is the field.
            loc = ".".join([*(str(p) for p in err["loc"]), err["ctx"]["path"]])
        elif err["type"] == "nested_value":
            # A value deep inside a free-form object (attributes): name the inner field.
            loc = f"{loc}.{err['ctx']['path']}".rstrip(".")
        out.append(FieldError(field=prefix + loc, message=message))
    return out


def validated(model: type[_M], raw: Any, title: str) -> _M:
    """``raw`` as ``model``, or a 422 problem naming each bad field (API bodies and the
    service-level requests of every area)."""
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise ValidationFailed(title, errors=validation_errors(exc)) from None
