"""HTTP endpoint for masking personal information in free text (complaints, chats, exports).

``POST /v1/privacy/pii/mask`` (scope ``privacy:mask``): ``{"texts": [...], "operator": "mask"}``
→ ``{"results": [{"text": masked, "entities": [...]}]}``, one result per text in order. The
entities give type, offsets into the text sent, score and the replacement written; never the
raw value (the caller has it, and a stored response should not hold it). Neither the texts nor
the findings are logged.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from lendguard.auth.dependencies import require
from lendguard.auth.service import Principal, Scope
from lendguard.kit.validation import validated
from lendguard.privacy.pii import EntityType, Operator, PiiMasker, scan
from lendguard.web.body import read_json

router = APIRouter(prefix="/v1/privacy")
MAX_TEXTS = 1_000

PiiMaskUser = Annotated[Principal, Depends(require(Scope.privacy_mask))]


class MaskRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    texts: list[str] = Field(max_length=MAX_TEXTS, description=f"at most {MAX_TEXTS:,} texts")
    operator: Operator = Field(
        default="mask",
        description="mask (138****5678), hash (HMAC token that joins across tables) or "
        "encrypt (AES-GCM token)",
    )
    types: list[EntityType] | None = Field(
        default=None, description="entity types to replace (default: all)"
    )


def _masker(request: Request) -> PiiMasker:
    masker = getattr(request.app.state, "pii_masker", None)
    if masker is None:
        masker = PiiMasker(request.app.state.services.settings.pii_key)
        request.app.state.pii_masker = masker
    return masker


@router.post(
    "/pii/mask",
    tags=["privacy"],
    summary="Mask, hash or encrypt the personal information in up to 1,000 texts",
    response_model=None,
)
async def mask_texts(request: Request, _: PiiMaskUser) -> Any:
    body = validated(MaskRequest, await read_json(request), "invalid masking request")
    # Scanning up to 1,000 texts is CPU work: on a worker thread, off the event loop.
    return await run_in_threadpool(_mask_all, body, _masker(request))


def _mask_all(body: MaskRequest, masker: Any) -> dict[str, Any]:
    results = []
    for text in body.texts:
        entities = scan(text, body.types)
        masked, replacements = masker.substitute(text, entities, body.operator)
        found = [
            {
                "type": e.type,
                "start": e.start,
                "end": e.end,
                "score": e.score,
                "replacement": r,
            }
            for e, r in zip(entities, replacements, strict=True)
        ]
        results.append({"text": masked, "entities": found})
    return {"results": results}
