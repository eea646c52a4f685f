"""Stable reason codes for the scoring model's features, in zh-CN and en (issue #22).

A model's top contributions (``model_reasons`` on a decision) used to be feature descriptions
with the raw number ("event type: 8.0"). Each model feature now has a stable code
(``MODEL_AMOUNT_VS_HISTORY``) and a label per locale, and its value is shown as people read it:
a category by its name (the event type the model sees as its position in
:class:`~lendguard.events.schemas.EventType`), a flag as yes/no, a time span in minutes, hours or
days. The catalogue is policy data: ``reason_codes.yaml`` beside this module.

A feature the catalogue does not name (a model trained on a newer feature list) gets the
catalogue's fallback code and label, never its internal name.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

import yaml

from lendguard.events.schemas import EventType

LOCALES: tuple[str, ...] = ("zh-CN", "en")
KINDS = frozenset(
    {"flag", "category", "money", "count", "times", "share", "hour", "minutes", "days", "years"}
)
CODE_PATTERN = re.compile(r"^MODEL_[A-Z0-9]+(?:_[A-Z0-9]+)*$")

Text = dict[str, str]

# How each category list is encoded in the model's row: the value's position in its enum
# (lendguard.decisions.scoring.events.feature_row, ``type``).
ENCODINGS: dict[str, dict[float, str]] = {
    "event_type": {float(i): t.value for i, t in enumerate(EventType)},
}

UNKNOWN: Text = {"zh-CN": "未知", "en": "unknown"}
NONE_ON_RECORD: Text = {"zh-CN": "无记录", "en": "none on record"}
OTHER_CATEGORY: Text = {"zh-CN": "其他", "en": "other"}
YES_NO: dict[bool, Text] = {True: {"zh-CN": "是", "en": "yes"}, False: {"zh-CN": "否", "en": "no"}}


class ReasonCodeError(ValueError):
    """The catalogue is malformed: ``where`` names the entry."""


@dataclass(frozen=True, slots=True)
class ReasonCode:
    """One feature's code, label and how its value is shown."""

    code: str
    kind: str
    label: Text
    names: Mapping[float, Text] | None = None  # a category's names, by the model's code

    def shown(self, value: float | None, locale: str) -> str:
        """The value as people read it, in ``locale`` (zh-CN or en)."""
        loc = _locale(locale)
        if value is None or (isinstance(value, float) and math.isnan(value)):
            missing = NONE_ON_RECORD if self.kind in ("minutes", "days") else UNKNOWN
            return missing[loc]
        v = float(value)
        if self.kind == "category":
            return (self.names or {}).get(v, OTHER_CATEGORY)[loc]
        if self.kind == "flag":
            return YES_NO[v >= 0.5][loc]
        return _number(self.kind, v, loc)

    def text(self, value: float | None, locale: str) -> str:
        """``label: value`` in ``locale``."""
        loc = _locale(locale)
        label, shown = self.label[loc], self.shown(value, loc)
        if loc == "zh-CN":
            return f"{label}：{shown}"
        return f"{label[:1].upper()}{label[1:]}: {shown}"

    def phrase(self, value: float | None, locale: str) -> str:
        """``label (value)``: the form used inside a sentence."""
        loc = _locale(locale)
        label, shown = self.label[loc], self.shown(value, loc)
        return f"{label}（{shown}）" if loc == "zh-CN" else f"{label} ({shown})"


@dataclass(frozen=True, slots=True)
class ReasonCatalogue:
    version: str
    features: Mapping[str, ReasonCode]
    fallback: ReasonCode

    def for_feature(self, name: str) -> ReasonCode:
        return self.features.get(name, self.fallback)

    def codes(self) -> set[str]:
        return {r.code for r in self.features.values()} | {self.fallback.code}


def _locale(locale: str) -> str:
    return "zh-CN" if str(locale).lower().startswith("zh") else "en"


def _plain(v: float, digits: int = 2) -> str:
    """A number without trailing zeros, thousands separated: 3.5, 12, 1,250.25."""
    text = f"{v:,.{digits}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _plural(n: float, one: str, many: str) -> str:
    return one if n == 1 else many


def _number(kind: str, v: float, loc: str) -> str:
    zh = loc == "zh-CN"
    if kind == "money":
        return f"{v:,.2f}"
    if kind == "count":
        return f"{round(v):,}"
    if kind == "times":
        return f"{_plain(v)} 倍" if zh else f"{_plain(v)} times"
    if kind == "share":
        return f"{_plain(v * 100, 0)}%"
    if kind == "hour":
        hour = int(v) % 24
        return f"{hour} 点" if zh else f"{hour:02d}:00"
    if kind == "years":
        return f"{round(v)} 岁" if zh else f"{round(v)}"
    if kind == "days":
        days = round(v, 1)
        return (
            f"{_plain(days, 1)} 天" if zh else f"{_plain(days, 1)} {_plural(days, 'day', 'days')}"
        )
    # minutes: shown in minutes, hours or days, whichever reads best
    n: float
    if v < 120:
        n, zh_unit, en_one, en_many = round(v), "分钟", "minute", "minutes"
    elif v < 48 * 60:
        n, zh_unit, en_one, en_many = round(v / 60, 1), "小时", "hour", "hours"
    else:
        n, zh_unit, en_one, en_many = round(v / 1440, 1), "天", "day", "days"
    shown = _plain(n, 1)
    return f"{shown} {zh_unit}" if zh else f"{shown} {_plural(n, en_one, en_many)}"


def _text(raw: Any, where: str) -> Text:
    if not isinstance(raw, Mapping):
        raise ReasonCodeError(f"{where}: a text per locale ({', '.join(LOCALES)}) is required")
    out: Text = {}
    for loc in LOCALES:
        value = raw.get(loc)
        if not isinstance(value, str) or not value.strip():
            raise ReasonCodeError(f"{where}.{loc}: a non-empty text is required")
        out[loc] = value.strip()
    return out


def _code(raw: Any, where: str) -> str:
    if not isinstance(raw, str) or not CODE_PATTERN.match(raw):
        raise ReasonCodeError(f"{where}.code: MODEL_ and upper-case words, got {raw!r}")
    return raw


def parse_catalogue(raw: Any) -> ReasonCatalogue:
    """The catalogue from its YAML document; :class:`ReasonCodeError` on any malformed entry."""
    if not isinstance(raw, Mapping):
        raise ReasonCodeError("the catalogue must be a mapping")
    categories: dict[str, dict[float, Text]] = {}
    for name, values in (raw.get("categories") or {}).items():
        encoding = ENCODINGS.get(name)
        if encoding is None or not isinstance(values, Mapping):
            raise ReasonCodeError(f"categories.{name}: not a category the model encodes")
        named: dict[float, Text] = {}
        for position, value in encoding.items():
            if value not in values:
                raise ReasonCodeError(f"categories.{name}.{value}: no name")
            named[position] = _text(values[value], f"categories.{name}.{value}")
        categories[name] = named
    fallback_raw = raw.get("fallback")
    if not isinstance(fallback_raw, Mapping):
        raise ReasonCodeError("fallback: required")
    fallback = ReasonCode(
        _code(fallback_raw.get("code"), "fallback"),
        "count",
        _text(fallback_raw.get("label"), "fallback.label"),
    )
    features: dict[str, ReasonCode] = {}
    seen = {fallback.code: "fallback"}
    for name, entry in (raw.get("features") or {}).items():
        where = f"features.{name}"
        if not isinstance(entry, Mapping):
            raise ReasonCodeError(f"{where}: must be a mapping")
        code = _code(entry.get("code"), where)
        if code in seen:
            raise ReasonCodeError(f"{where}.code: {code} is already used by {seen[code]}")
        seen[code] = where
        kind = entry.get("kind")
        if kind not in KINDS:
            raise ReasonCodeError(f"{where}.kind: one of {', '.join(sorted(KINDS))}")
        names: dict[float, Text] | None = None
        if kind == "category":
            names = categories.get(str(entry.get("values")))
            if names is None:
                raise ReasonCodeError(f"{where}.values: names a list under categories")
        features[str(name)] = ReasonCode(code, kind, _text(entry.get("label"), where), names)
    return ReasonCatalogue(str(raw.get("version", "")), features, fallback)


@lru_cache(maxsize=1)
def load_catalogue() -> ReasonCatalogue:
    """The shipped catalogue (``reason_codes.yaml``), parsed once."""
    text = (
        resources.files("lendguard.decisions.scoring")
        .joinpath("reason_codes.yaml")
        .read_text(encoding="utf-8")
    )
    return parse_catalogue(yaml.safe_load(text))


def model_reason(
    feature: str, value: float | None, contribution: float, catalogue: ReasonCatalogue | None = None
) -> dict[str, Any]:
    """One ``model_reasons`` entry: the feature, its code, its text (``text`` in English, as the
    field always was; ``texts`` per locale), the value (null when unknown) and its contribution
    to the raw score."""
    reason = (catalogue or load_catalogue()).for_feature(feature)
    texts = {loc: reason.text(value, loc) for loc in LOCALES}
    return {
        "feature": feature,
        "code": reason.code,
        "text": texts["en"],
        "texts": texts,
        "value": value,
        "contribution": contribution,
    }


def current(entry: Mapping[str, Any]) -> dict[str, Any]:
    """A stored ``model_reasons`` entry in today's form: one written before the codes (a
    description with the raw number in ``text``, no ``code``) gets its code and texts from its
    feature and value."""
    if isinstance(entry.get("code"), str) and isinstance(entry.get("texts"), Mapping):
        return dict(entry)
    value = entry.get("value")
    number = (
        float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
    )
    return model_reason(
        str(entry.get("feature", "")), number, float(entry.get("contribution") or 0.0)
    )
