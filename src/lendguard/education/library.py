"""The content library: articles, short videos' metadata and one quiz per topic (policy data in
``library.yaml``, versioned, zh-CN and en), validated at load, and which items answer a
decision's or a case's reasons.

Loaded once per process (:func:`library`). Every text carries both locales; a quiz's correct
option is one of its options; every item's topic has a quiz. A broken library fails at load,
never when a customer is shown an empty title.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from datetime import date
from importlib import resources
from typing import Annotated, Any, Literal

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from lendguard.education.schemas import EducationLink

LOCALES = ("zh-CN", "en")
KINDS = ("article", "video")
CONTENT_PATH = "/v1/education/content/"
_ID = r"^[a-z0-9][a-z0-9_-]{0,63}$"
_CODE = re.compile(r"^[A-Z][A-Z0-9_]{0,63}$")


def _both_locales(value: dict[str, str]) -> dict[str, str]:
    if set(value) != set(LOCALES):
        raise ValueError(f"must have exactly the locales {', '.join(LOCALES)}")
    for locale, text in value.items():
        if not text.strip():
            raise ValueError(f"the {locale} text is empty")
    return value


Text = Annotated[dict[str, str], AfterValidator(_both_locales)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ContentItem(_Strict):
    id: str = Field(pattern=_ID)
    kind: Literal["article", "video"]
    topic: str = Field(pattern=_ID)
    version: int = Field(ge=1)
    locales: list[str]
    typologies: list[str]
    reason_codes: list[str]
    title: Text
    summary: Text
    body: Text | None = None
    duration_s: int | None = Field(default=None, ge=1, le=3600)
    transcript_summary: Text | None = None

    @model_validator(mode="after")
    def _shape(self) -> ContentItem:
        if sorted(self.locales) != sorted(LOCALES):
            raise ValueError(f"{self.id}: locales must be {list(LOCALES)}")
        if self.kind == "article" and (self.body is None or self.duration_s is not None):
            raise ValueError(f"{self.id}: an article has a body and no duration")
        if self.kind == "video" and (
            self.duration_s is None or self.transcript_summary is None or self.body is not None
        ):
            raise ValueError(f"{self.id}: a video has duration_s and transcript_summary, no body")
        bad = [c for c in self.reason_codes if not _CODE.match(c)]
        if bad:
            raise ValueError(f"{self.id}: malformed reason codes {bad}")
        if self.topic not in self.typologies:
            raise ValueError(f"{self.id}: its typologies must include its topic")
        return self

    def link(self) -> EducationLink:
        return EducationLink(
            content_id=self.id,
            kind=self.kind,
            topic=self.topic,
            title=dict(self.title),
            url=CONTENT_PATH + self.id,
        )


class QuizOption(_Strict):
    id: str = Field(pattern=_ID)
    text: Text


class QuizQuestion(_Strict):
    id: str = Field(pattern=_ID)
    text: Text
    options: list[QuizOption] = Field(min_length=2, max_length=6)
    correct: str
    explanation: Text

    @model_validator(mode="after")
    def _correct_exists(self) -> QuizQuestion:
        ids = [o.id for o in self.options]
        if len(set(ids)) != len(ids):
            raise ValueError(f"question {self.id}: option ids repeat")
        if self.correct not in ids:
            raise ValueError(f"question {self.id}: the correct option {self.correct} is not one")
        return self


class Quiz(_Strict):
    topic: str = Field(pattern=_ID)
    version: int = Field(ge=1)
    pass_mark: int = Field(ge=1, description="Correct answers needed to pass")
    questions: list[QuizQuestion] = Field(min_length=3, max_length=5)

    @model_validator(mode="after")
    def _mark(self) -> Quiz:
        ids = [q.id for q in self.questions]
        if len(set(ids)) != len(ids):
            raise ValueError(f"quiz {self.topic}: question ids repeat")
        if self.pass_mark > len(self.questions):
            raise ValueError(f"quiz {self.topic}: the pass mark is above the questions")
        return self


class Library(_Strict):
    version: int = Field(ge=1)
    published: date
    items: list[ContentItem] = Field(min_length=1)
    quizzes: list[Quiz] = Field(min_length=1)

    @model_validator(mode="after")
    def _complete(self) -> Library:
        ids = [i.id for i in self.items]
        if len(set(ids)) != len(ids):
            raise ValueError("content ids repeat")
        topics = [q.topic for q in self.quizzes]
        if len(set(topics)) != len(topics):
            raise ValueError("a topic has more than one quiz")
        missing = {i.topic for i in self.items} - set(topics)
        if missing:
            raise ValueError(f"topics without a quiz: {sorted(missing)}")
        return self

    # -- look-ups ----------------------------------------------------------------------------

    @functools.cached_property
    def by_id(self) -> dict[str, ContentItem]:
        return {i.id: i for i in self.items}

    @functools.cached_property
    def quiz_by_topic(self) -> dict[str, Quiz]:
        return {q.topic: q for q in self.quizzes}

    @property
    def topics(self) -> list[str]:
        return sorted(self.quiz_by_topic)


def parse_library(text: str) -> Library:
    """A library from its YAML text (a ``ValueError`` naming what is wrong otherwise)."""
    raw: Any = yaml.safe_load(text)
    return Library.model_validate(raw)


@functools.cache
def library() -> Library:
    """The shipped library, loaded and validated once."""
    text = resources.files("lendguard.education").joinpath("library.yaml").read_text("utf-8")
    return parse_library(text)


# -- what answers a decision's or a case's reasons -------------------------------------------------


def _codes(reason_codes: Iterable[str | Mapping[str, Any]]) -> list[str]:
    """Reason codes in the order given, from codes or from stored reasons (``{"code": …}``)."""
    out: list[str] = []
    for reason in reason_codes:
        code = reason.get("code") if isinstance(reason, Mapping) else reason
        if isinstance(code, str) and code and code not in out:
            out.append(code)
    return out


def education_for(
    reason_codes: Iterable[str | Mapping[str, Any]],
    typology: str | None = None,
    limit: int = 2,
    lib: Library | None = None,
) -> list[EducationLink]:
    """The content that answers a decision's or a case's reasons: at most ``limit`` links.

    Pure. An item matching ``typology`` (a scam typology, a case's scam type, or a topic) comes
    first; then items matching the reason codes, the earlier code (the stronger reason, in the
    decision's order) first; articles before videos. Different topics are preferred: a second
    item of a topic already chosen is taken only when no other topic matches. Reasons that no
    content answers (a model's score, say) give nothing."""
    if limit <= 0:
        return []
    lib = lib or library()
    codes = _codes(reason_codes)
    ranked: list[tuple[int, int, str, ContentItem]] = []
    for item in lib.items:
        rank: int | None = None
        if typology and typology in item.typologies:
            rank = 0
        else:
            hits = [codes.index(c) for c in item.reason_codes if c in codes]
            if hits:
                rank = 1 + min(hits)
        if rank is not None:
            ranked.append((rank, KINDS.index(item.kind), item.id, item))
    ranked.sort(key=lambda r: r[:3])
    chosen: list[ContentItem] = []
    topics: set[str] = set()
    for *_, item in ranked:
        if item.topic not in topics:
            chosen.append(item)
            topics.add(item.topic)
    for *_, item in ranked:
        if item not in chosen:
            chosen.append(item)
    return [i.link() for i in chosen[:limit]]
