"""Versioned, jurisdiction-scoped policy files: every threshold with its source and confidence.

The requirements notes (``requirements-conduct.md``) ask that no hour, count, cap or day is
hard-coded: each lives in a policy table with an effective-date range and a source, and tests
pin both the rule and the date it applies to. This module is that table. It sits at the top
of the package, below the areas, because every area reads its own policy files through it
(``load_policy(kind="conduct", ...)``, ``kind="lending"``, ``"support"``, ``"privacy"``) and
none of them should have to import another area to do so.

File layout: ``lendguard/<kind>/policies/<jurisdiction>.yaml`` shipped in the package. A
deployment overrides a file, without a code change, by putting its own copy at
``$LENDGUARD_POLICY_DIR/<kind>/<jurisdiction>.yaml`` (or by passing ``directory``); that is how
the values marked ``configurable`` are meant to be changed.

File format (YAML)::

    kind: conduct
    jurisdiction: CN
    sources:                      # citation id -> what it is and where it was seen
      CBA-2026: "China Banking Association, ... (secondary source)"
    versions:                     # in date order; a version runs until the next one starts
      - version: "2026.1"
        effective_from: 2026-01-30
        effective_to: null        # optional, exclusive; only the last version may leave it open
        note: "..."
        values:
          quiet_hours:            # any name; what the value means is up to its area
            value: {start: "22:00", end: "08:00"}
            code: QUIET_HOURS     # optional: the reason code this value backs
            requirement: R16      # optional: the requirement in the notes
            source: CBA-2026      # a key of ``sources``
            confidence: S         # C | S | M | X, or ``design`` (a platform choice)
            configurable: false   # true where the number is uncertain; [M] and [X] must be
            note: "..."

Every version lists all of its values (YAML anchors keep repeats short): a reader of one
version sees everything in force, and an auditor can diff two versions line by line.

Why validate strictly at load: a policy with a value but no source, an unknown confidence tag,
or overlapping dates is a compliance defect, so it fails on start-up rather than deciding
contacts on a silent default.
"""

from __future__ import annotations

import os
import threading
from bisect import bisect_right
from dataclasses import dataclass, field
from datetime import date
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

import yaml

CONFIDENCE_TAGS = frozenset({"C", "S", "M", "X", "design"})
# Uncertain values must say so: the notes say [X] is "do not hard-code; make it configurable",
# and [M] is "treat as uncertain".
MUST_BE_CONFIGURABLE = frozenset({"M", "X"})
POLICY_DIR_ENV = "LENDGUARD_POLICY_DIR"


class PolicyError(Exception):
    """A policy file is missing or malformed."""


class NoPolicyInForce(PolicyError):
    """The jurisdiction's policy has no version in force on the date asked about."""


@dataclass(frozen=True, slots=True)
class PolicyValue:
    """One threshold or rule with the citation behind it."""

    name: str
    value: Any
    source: str
    source_text: str
    confidence: str
    configurable: bool
    code: str | None = None
    requirement: str | None = None
    note: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "value": self.value,
            "code": self.code,
            "requirement": self.requirement,
            "source": self.source,
            "source_text": self.source_text,
            "confidence": self.confidence,
            "configurable": self.configurable,
            "note": self.note,
        }


@dataclass(frozen=True, slots=True)
class Policy:
    """The version of one jurisdiction's policy of one kind in force over a date range."""

    kind: str
    jurisdiction: str
    version: str
    effective_from: date
    effective_to: date | None  # exclusive
    values: dict[str, PolicyValue] = field(default_factory=dict)
    note: str | None = None
    file: str = ""

    def get(self, name: str) -> PolicyValue | None:
        """The value, or None when this version has no such rule (or sets it to null)."""
        found = self.values.get(name)
        return found if found is not None and found.value is not None else None

    def __getitem__(self, name: str) -> PolicyValue:
        found = self.get(name)
        if found is None:
            raise KeyError(f"{self.kind} policy {self.jurisdiction} {self.version} has no {name}")
        return found

    def covers(self, on_date: date) -> bool:
        return self.effective_from <= on_date and (
            self.effective_to is None or on_date < self.effective_to
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "jurisdiction": self.jurisdiction,
            "version": self.version,
            "effective_from": self.effective_from.isoformat(),
            "effective_to": self.effective_to.isoformat() if self.effective_to else None,
            "note": self.note,
            "values": {name: v.as_dict() for name, v in self.values.items()},
        }


@dataclass(frozen=True, slots=True)
class PolicyFile:
    """Every version of one (kind, jurisdiction), in date order."""

    kind: str
    jurisdiction: str
    versions: tuple[Policy, ...]
    sources: dict[str, str]
    _starts: tuple[date, ...] = ()

    def in_force(self, on_date: date) -> Policy:
        index = bisect_right(self._starts, on_date) - 1
        if index >= 0 and self.versions[index].covers(on_date):
            return self.versions[index]
        raise NoPolicyInForce(
            f"no {self.kind} policy for {self.jurisdiction} is in force on {on_date.isoformat()}"
        )


_cache: dict[tuple[str, str, str], PolicyFile] = {}
_cache_lock = threading.Lock()


def policy_path(
    kind: str, jurisdiction: str, directory: Path | str | None = None
) -> Path | Traversable:
    """Where the file for (kind, jurisdiction) is read from: ``directory`` or the override
    directory when it holds the file, else the copy shipped in the package."""
    name = f"{jurisdiction.lower()}.yaml"
    base = directory if directory is not None else os.environ.get(POLICY_DIR_ENV)
    if base:
        candidate = Path(base) / kind / name
        if candidate.is_file():
            return candidate
        if directory is not None:
            flat = Path(directory) / name
            if flat.is_file():
                return flat
            raise PolicyError(f"no {kind} policy file for {jurisdiction} under {directory}")
    try:
        shipped = resources.files(f"lendguard.{kind}").joinpath(f"policies/{name}")
    except ModuleNotFoundError:
        raise PolicyError(f"unknown policy kind '{kind}'") from None
    if not shipped.is_file():
        raise PolicyError(f"no {kind} policy for jurisdiction '{jurisdiction}'")
    return shipped


def load_policy_file(
    kind: str, jurisdiction: str, directory: Path | str | None = None
) -> PolicyFile:
    """All versions of a jurisdiction's policy (parsed once per process, then cached)."""
    jurisdiction = jurisdiction.upper()
    key = (kind, jurisdiction, str(directory or os.environ.get(POLICY_DIR_ENV) or ""))
    found = _cache.get(key)
    if found is not None:
        return found
    with _cache_lock:
        found = _cache.get(key)
        if found is None:
            path = policy_path(kind, jurisdiction, directory)
            found = parse_policy_file(path.read_text(encoding="utf-8"), str(path))
            if found.kind != kind or found.jurisdiction != jurisdiction:
                raise PolicyError(
                    f"{path}: holds {found.kind}/{found.jurisdiction}, "
                    f"expected {kind}/{jurisdiction}"
                )
            _cache[key] = found
    return found


def load_policy(
    kind: str, jurisdiction: str, on_date: date, directory: Path | str | None = None
) -> Policy:
    """The version of ``kind`` policy for ``jurisdiction`` in force on ``on_date``."""
    return load_policy_file(kind, jurisdiction, directory).in_force(on_date)


def available_jurisdictions(kind: str) -> list[str]:
    """Jurisdictions with a shipped policy file of this kind."""
    folder = resources.files(f"lendguard.{kind}").joinpath("policies")
    return sorted(
        p.name.removesuffix(".yaml").upper() for p in folder.iterdir() if p.name.endswith(".yaml")
    )


def clear_cache() -> None:
    with _cache_lock:
        _cache.clear()


def parse_policy_file(text: str, file: str = "<policy>") -> PolicyFile:
    raw = yaml.safe_load(text)
    if not isinstance(raw, dict):
        raise PolicyError(f"{file}: expected a mapping at the top")
    kind = _text(raw, "kind", file)
    jurisdiction = _text(raw, "jurisdiction", file).upper()
    sources = raw.get("sources")
    if not isinstance(sources, dict) or not sources:
        raise PolicyError(f"{file}: 'sources' must map citation ids to citations")
    sources = {str(k): " ".join(str(v).split()) for k, v in sources.items()}
    versions_raw = raw.get("versions")
    if not isinstance(versions_raw, list) or not versions_raw:
        raise PolicyError(f"{file}: 'versions' must be a non-empty list")
    parsed: list[Policy] = []
    for index, body in enumerate(versions_raw):
        where = f"{file}: versions[{index}]"
        if not isinstance(body, dict):
            raise PolicyError(f"{where}: expected a mapping")
        version = _text(body, "version", where)
        start = policy_date(body.get("effective_from"), f"{where}.effective_from")
        if start is None:
            raise PolicyError(f"{where}.effective_from is required")
        end = policy_date(body.get("effective_to"), f"{where}.effective_to")
        values_raw = body.get("values")
        if not isinstance(values_raw, dict):
            raise PolicyError(f"{where}.values must be a mapping")
        values = {
            str(name): _value(str(name), spec, sources, f"{where}.values.{name}")
            for name, spec in values_raw.items()
        }
        parsed.append(
            Policy(
                kind=kind,
                jurisdiction=jurisdiction,
                version=version,
                effective_from=start,
                effective_to=end,
                values=values,
                note=_clean(body.get("note")),
                file=file,
            )
        )
    # A version runs until the next starts: dates must rise and never overlap.
    chained: list[Policy] = []
    for index, policy in enumerate(parsed):
        following = parsed[index + 1] if index + 1 < len(parsed) else None
        end = policy.effective_to
        if following is not None:
            if following.effective_from <= policy.effective_from:
                raise PolicyError(f"{file}: versions must be in effective_from order")
            if end is None or end > following.effective_from:
                end = following.effective_from
        if end is not None and end <= policy.effective_from:
            raise PolicyError(f"{file}: version {policy.version} ends before it starts")
        chained.append(
            Policy(
                kind=policy.kind,
                jurisdiction=policy.jurisdiction,
                version=policy.version,
                effective_from=policy.effective_from,
                effective_to=end,
                values=policy.values,
                note=policy.note,
                file=policy.file,
            )
        )
    if len({p.version for p in chained}) != len(chained):
        raise PolicyError(f"{file}: version names must be unique")
    return PolicyFile(
        kind=kind,
        jurisdiction=jurisdiction,
        versions=tuple(chained),
        sources=sources,
        _starts=tuple(p.effective_from for p in chained),
    )


def _value(name: str, spec: Any, sources: dict[str, str], where: str) -> PolicyValue:
    if not isinstance(spec, dict) or "value" not in spec:
        raise PolicyError(f"{where}: expected a mapping with 'value'")
    source = spec.get("source")
    if source not in sources:
        raise PolicyError(f"{where}.source must be one of {sorted(sources)}, got {source!r}")
    confidence = str(spec.get("confidence", ""))
    if confidence not in CONFIDENCE_TAGS:
        raise PolicyError(f"{where}.confidence must be one of {sorted(CONFIDENCE_TAGS)}")
    configurable = bool(spec.get("configurable", False))
    if confidence in MUST_BE_CONFIGURABLE and not configurable:
        raise PolicyError(f"{where}: a [{confidence}] value must be marked configurable: true")
    return PolicyValue(
        name=name,
        value=spec["value"],
        source=str(source),
        source_text=sources[str(source)],
        confidence=confidence,
        configurable=configurable,
        code=_clean(spec.get("code")),
        requirement=_clean(spec.get("requirement")),
        note=_clean(spec.get("note")),
    )


def _text(raw: dict[str, Any], key: str, where: str) -> str:
    value = raw.get(key)
    if value is None or not str(value).strip():
        raise PolicyError(f"{where}: '{key}' is required")
    return str(value).strip()


def _clean(value: Any) -> str | None:
    return " ".join(str(value).split()) if value is not None else None


def policy_date(value: Any, where: str) -> date | None:
    """A date of a policy file (YAML gives a ``date``; a quoted one is ISO text), or None."""
    if value is None:
        return None
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise PolicyError(f"{where}: expected YYYY-MM-DD, got {value!r}") from None
