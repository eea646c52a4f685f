"""What every change to a case shares: the change trail (row, timeline, audit), the system
actor, and how free text is judged and stored. Its own module so that the case service and the
hold desk (:mod:`lendguard.cases.holds`) write cases the same way without importing each other."""

from __future__ import annotations

import unicodedata

from lendguard.changes import ChangeTrail
from lendguard.errors import Conflict
from lendguard.models.cases import Case, CaseActivity
from lendguard.privacy import pii

SYSTEM = "system"
# A change to a case: the row (compare-and-set on revision), its timeline, the audit trail.
TRAIL = ChangeTrail(
    key=Case.id,
    action="case",
    conflict=lambda case_id: Conflict(f"case '{case_id}' was changed by someone else; reload it"),
    timeline=CaseActivity,
    timeline_key="case_id",
)


def blank(text: str) -> bool:
    """Nothing a reader would see: blanks and invisible (format or control) characters only.
    ``str.strip`` keeps a zero-width space, so a note of two of them passed as written."""
    return all(c.isspace() or unicodedata.category(c) in ("Cf", "Cc") for c in text)


def masked(text: str) -> str:
    """Free text as a case stores it: personal information masked, then cut to 4,000
    characters (masking first, so a cut cannot leave half a number unmasked)."""
    return pii.mask_text(text)[:4000] if text else text
