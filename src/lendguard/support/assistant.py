"""The agent assistant: one customer message in; intent, suggested answers and early warnings out.

:class:`Assistant` is pure (no database, no side effects) so the API, the CLI and the benchmarks
share it. The API endpoint (``assistant_endpoints.py``) adds the effects: a scam-victim warning
becomes a ``contact`` event decided by the decision engine (so the customer's next transfer to a
new payee is slowed down and routed to a human), and a vulnerability cue suppresses marketing,
the first step of the over-indebtedness (rescue) workflow.

Models (see ``intents.py`` and ``cues.py``):

- intents: a trained folder (``lendguard assistant train``) when one is configured
  (``LENDGUARD_ASSISTANT_MODEL_DIR``), else a small built-in model trained at start-up from the
  shipped lending intents and out-of-scope questions;
- scam cues: the shipped lexicon, plus the character n-gram model when the trained folder has
  one;
- answers: retrieval over the knowledge-base articles shipped in ``kb/`` (zh-CN and en).

Every answer says which models are active (``models``).
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from lendguard.support import crisis
from lendguard.support import intents as intent_models
from lendguard.support.cues import (
    COMPLAINT_CUES,
    CRISIS_CUES,
    VULNERABILITY_CUES,
    CueHit,
    ScamDetector,
    ScamResult,
    ScamTextModel,
    detect_locale,
    find_cues,
)
from lendguard.support.intents import OUT_OF_SCOPE, IntentModel, IntentPrediction

LOCALES = ("zh-CN", "en")
COMPLAINT_INTENT = "complaint"
SCAM_ARTICLE = "scam-warning"
HARDSHIP_ARTICLE = "hardship-help"
COMPLAINT_ARTICLE = "complaints"
MAX_ANSWERS = 3
CRISIS_ACTION = {
    "zh-CN": "立即由人工接手：保持通话，告知心理援助热线；系统开立危机案件，并暂停营销和催收",
    "en": "take over now: stay on the line and give the crisis hotline; a crisis case is opened "
    "and marketing and collection are paused",
}


# -- knowledge base -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Article:
    id: str
    locale: str
    title: str
    intents: frozenset[str]
    passages: tuple[str, ...]


@dataclass(frozen=True)
class Answer:
    article_id: str
    locale: str
    title: str
    passage: str
    score: float
    why: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "article_id": self.article_id,
            "locale": self.locale,
            "title": self.title,
            "passage": self.passage,
            "score": self.score,
            "why": self.why,
        }


_FRONT = re.compile(r"^---\n(.*?)\n---\n(.*)$", re.DOTALL)


def parse_article(text: str, name: str = "<article>") -> Article:
    found = _FRONT.match(text.replace("\r\n", "\n"))
    if found is None:
        raise ValueError(f"{name}: no front matter (--- ... ---)")
    meta: dict[str, str] = {}
    for line in found.group(1).splitlines():
        key, sep, value = line.partition(":")
        if sep:
            meta[key.strip()] = value.strip()
    for required in ("id", "locale", "title"):
        if not meta.get(required):
            raise ValueError(f"{name}: front matter lacks '{required}'")
    if meta["locale"] not in LOCALES:
        raise ValueError(f"{name}: locale must be one of {LOCALES}")
    passages = tuple(p.strip() for p in found.group(2).split("\n\n") if p.strip())
    if not passages:
        raise ValueError(f"{name}: no passages")
    intents = frozenset(i.strip() for i in meta.get("intents", "").split(",") if i.strip())
    return Article(meta["id"], meta["locale"], meta["title"], intents, passages)


def shipped_articles() -> list[Article]:
    folder = resources.files("lendguard.support") / "kb"
    articles = []
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".md"):
            articles.append(parse_article(entry.read_text(encoding="utf-8"), entry.name))
    return articles


class KnowledgeBase:
    """Passage retrieval: TF-IDF cosine over passages (character n-grams, CJK split), plus a
    boost for articles written for the predicted intent; best passage per article, ranked."""

    INTENT_BOOST = 0.35

    def __init__(self, articles: list[Article]) -> None:
        from sklearn.feature_extraction.text import TfidfVectorizer

        self.articles = articles
        self.by_key = {(a.id, a.locale): a for a in articles}
        self.rows: list[tuple[int, int]] = []
        texts = []
        for ai, article in enumerate(articles):
            for pi, passage in enumerate(article.passages):
                self.rows.append((ai, pi))
                texts.append(f"{article.title} {passage}")
        self.vectorizer = TfidfVectorizer(
            preprocessor=intent_models.normalise,
            analyzer="char_wb",
            ngram_range=(1, 3),
            sublinear_tf=True,
        )
        self.matrix = self.vectorizer.fit_transform(texts)
        self.locale_of = np.array([articles[ai].locale for ai, _ in self.rows])

    def article(self, article_id: str, locale: str) -> Article | None:
        return self.by_key.get((article_id, locale)) or self.by_key.get((article_id, "en"))

    def lead(self, article_id: str, locale: str, why: str) -> Answer | None:
        found = self.article(article_id, locale)
        if found is None:
            return None
        return Answer(found.id, found.locale, found.title, found.passages[0], 1.0, why)

    def search(
        self, text: str, locale: str, intent: str | None, k: int = MAX_ANSWERS
    ) -> list[Answer]:
        query = self.vectorizer.transform([text])
        similarity = np.asarray((self.matrix @ query.T).todense()).ravel()
        best: dict[int, tuple[float, int, str]] = {}
        for row, (ai, pi) in enumerate(self.rows):
            article = self.articles[ai]
            if article.locale != locale:
                continue
            score = float(similarity[row])
            why = "text"
            if intent is not None and intent in article.intents:
                score += self.INTENT_BOOST
                why = "intent+text"
            if ai not in best or score > best[ai][0]:
                best[ai] = (score, pi, why)
        ranked = sorted(best.items(), key=lambda item: (-item[1][0], item[0]))[:k]
        return [
            Answer(
                self.articles[ai].id,
                self.articles[ai].locale,
                self.articles[ai].title,
                self.articles[ai].passages[pi],
                round(score, 4),
                why,
            )
            for ai, (score, pi, why) in ranked
            if score >= 0.15
        ]


# -- the analysis -------------------------------------------------------------------------------


@dataclass
class Analysis:
    locale: str
    intent: IntentPrediction
    scam: ScamResult
    vulnerability: list[CueHit]
    complaint: bool
    complaint_hits: list[CueHit]
    answers: list[Answer]
    models: dict[str, str]
    warnings: list[dict[str, Any]] = field(default_factory=list)
    # self-harm or crisis words: an urgent hand-off, before anything else on the screen
    crisis: list[CueHit] = field(default_factory=list)
    # where the customer is (CN, UK, US): which crisis hotlines to give; None: by the locale
    jurisdiction: str | None = None

    @property
    def handoff(self) -> bool:
        """Hand to a human: the assistant abstained, or a warning needs a person."""
        return (
            self.intent.abstained or self.scam.cue or bool(self.vulnerability) or bool(self.crisis)
        )

    @property
    def urgent(self) -> bool:
        """A person must take over now (a crisis cue), not when the queue gets to it."""
        return bool(self.crisis)

    def crisis_names(self) -> list[str]:
        return [h.cue.name for h in self.crisis]

    def vulnerability_names(self) -> list[str]:
        return [h.cue.name for h in self.vulnerability]

    def row(self) -> dict[str, Any]:
        """The CLI's line: intent, scam_cue, scam_score, scam_type, vulnerability."""
        return {
            "intent": self.intent.intent,
            "abstained": self.intent.abstained,
            "scam_cue": self.scam.cue,
            "scam_score": self.scam.score,
            "scam_type": self.scam.type,
            "vulnerability": self.vulnerability_names(),
            "crisis": self.crisis_names(),
            "complaint": self.complaint,
        }

    def as_dict(self) -> dict[str, Any]:
        return {
            "locale": self.locale,
            "intent": self.intent.as_dict(),
            "handoff": self.handoff,
            "urgent": self.urgent,
            "answers": [a.as_dict() for a in self.answers],
            "warnings": self.warnings,
            "scam": {
                "cue": self.scam.cue,
                "score": self.scam.score,
                "rule_score": self.scam.rule_score,
                "model_score": self.scam.model_score,
                "type": self.scam.type,
                "cues": [h.cue.name for h in self.scam.hits],
            },
            "vulnerability": self.vulnerability_names(),
            "crisis": self.crisis_names(),
            "complaint": self.complaint,
            "models": self.models,
        }


class Assistant:
    def __init__(
        self,
        intents: IntentModel,
        scam: ScamDetector,
        kb: KnowledgeBase,
        intent_source: str,
    ) -> None:
        self.intents = intents
        self.scam = scam
        self.kb = kb
        self.models = {"intent": intent_source, "scam": scam.source, "answers": "kb-tfidf"}

    @classmethod
    def from_folder(cls, folder: Path, threads: int | None = 1) -> Assistant:
        model = intent_models.load(folder, threads=threads)
        manifest = intent_models.read_manifest(folder)
        scam_model = load_scam_model(folder)
        source = f"trained:{folder.name}"
        if manifest.get("embeddings", "none") != "none":
            source += f"+minilm-{manifest['embeddings']}"
        return cls(model, ScamDetector(scam_model), default_kb(), source)

    @classmethod
    def builtin(cls) -> Assistant:
        model, _ = _builtin_intents()
        return cls(model, ScamDetector(), default_kb(), "builtin:lending-intents")

    def analyze(
        self, text: str, locale: str | None = None, jurisdiction: str | None = None
    ) -> Analysis:
        locale = locale if locale in LOCALES else detect_locale(text)
        assert locale is not None
        intent = self.intents.predict(text)
        return self._finish(text, locale, intent, jurisdiction)

    def analyze_many(self, texts: list[str]) -> list[Analysis]:
        predictions = self.intents.predict_many(texts)
        return [
            self._finish(text, detect_locale(text), prediction)
            for text, prediction in zip(texts, predictions, strict=True)
        ]

    def _finish(
        self,
        text: str,
        locale: str,
        intent: IntentPrediction,
        jurisdiction: str | None = None,
    ) -> Analysis:
        scam = self.scam.analyze(text)
        crisis_hits = find_cues(text, CRISIS_CUES)
        vulnerability = find_cues(text, VULNERABILITY_CUES)
        complaint_hits = find_cues(text, COMPLAINT_CUES)
        complaint = bool(complaint_hits) or (
            intent.intent == COMPLAINT_INTENT and not intent.abstained
        )
        answers: list[Answer] = []
        leads = []
        if scam.cue:
            leads.append((SCAM_ARTICLE, "scam_victim"))
        if vulnerability:
            leads.append((HARDSHIP_ARTICLE, "vulnerability"))
        if complaint:
            leads.append((COMPLAINT_ARTICLE, "complaint"))
        for article_id, why in leads:
            lead = self.kb.lead(article_id, locale, why)
            if lead is not None:
                answers.append(lead)
        if not intent.abstained:
            shown = {a.article_id for a in answers}
            for found in self.kb.search(text, locale, intent.intent):
                if found.article_id not in shown and len(answers) < MAX_ANSWERS:
                    answers.append(found)
        analysis = Analysis(
            locale,
            intent,
            scam,
            vulnerability,
            complaint,
            complaint_hits,
            answers,
            self.models,
            crisis=crisis_hits,
            jurisdiction=jurisdiction,
        )
        analysis.warnings = _warnings(analysis)
        return analysis


def _warnings(analysis: Analysis) -> list[dict[str, Any]]:
    """The early warnings, most urgent first: a crisis before a scam, a scam before hardship,
    hardship before a complaint (the agent reads the screen top down)."""
    locale = analysis.locale
    out: list[dict[str, Any]] = []
    if analysis.crisis:
        out.append(
            {
                "kind": "crisis",
                "urgent": True,
                "cues": analysis.crisis_names(),
                "reasons": [h.as_dict(locale) for h in analysis.crisis],
                "action": CRISIS_ACTION[locale],
                "script": crisis.script(locale),
                "hotlines": crisis.hotlines(
                    crisis.jurisdictions_for(locale, analysis.jurisdiction),
                    locale,
                    datetime.now(UTC).date(),
                ),
            }
        )
    if analysis.scam.cue:
        reasons = [h.as_dict(locale) for h in analysis.scam.hits]
        if not reasons and analysis.scam.model_score is not None:
            reasons = [
                {
                    "kind": "scam_victim",
                    "cue": "scam_text_model",
                    "reason": "文本与已知诈骗话术相似"
                    if locale == "zh-CN"
                    else "the text reads like a known scam script",
                    "evidence": None,
                }
            ]
        out.append(
            {
                "kind": "scam_victim",
                "score": analysis.scam.score,
                "scam_type": analysis.scam.type,
                "reasons": reasons,
                "action": "slow down transfers to new payees and call the customer back "
                "(never a refusal by itself)",
            }
        )
    if analysis.vulnerability:
        out.append(
            {
                "kind": "vulnerability",
                "cues": analysis.vulnerability_names(),
                "reasons": [h.as_dict(locale) for h in analysis.vulnerability],
                "action": "start the over-indebtedness workflow: suppress marketing, offer "
                "hardship options",
            }
        )
    if analysis.complaint:
        reasons = [h.as_dict(locale) for h in analysis.complaint_hits] or [
            {"kind": "complaint", "cue": "complaint_intent", "reason": "intent", "evidence": None}
        ]
        out.append({"kind": "complaint", "reasons": reasons, "action": "log a complaint"})
    return out


# -- loading ------------------------------------------------------------------------------------


def load_scam_model(folder: Path) -> ScamTextModel | None:
    path = folder / intent_models.SCAM_FILE
    if not path.exists():
        return None
    import joblib

    model: ScamTextModel = joblib.load(path)
    return model


def save_scam_model(model: ScamTextModel, folder: Path) -> None:
    import joblib

    folder.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, folder / intent_models.SCAM_FILE, compress=3)


@lru_cache(maxsize=1)
def default_kb() -> KnowledgeBase:
    return KnowledgeBase(shipped_articles())


@lru_cache(maxsize=1)
def _builtin_intents() -> tuple[IntentModel, dict[str, Any]]:
    return intent_models.builtin_model()


_LOCK = threading.Lock()
_LOADED: dict[str, Assistant] = {}


def get_assistant(model_dir: str | Path | None) -> Assistant:
    """The process's assistant for a configured folder (loaded once), or the built-in one when
    no folder is configured or it holds no trained model."""
    key = str(model_dir) if model_dir else ""
    with _LOCK:
        found = _LOADED.get(key)
        if found is None:
            folder = Path(model_dir) if model_dir else None
            if folder is not None and (folder / intent_models.MANIFEST).exists():
                found = Assistant.from_folder(folder)
            else:
                found = Assistant.builtin()
            _LOADED[key] = found
        return found


def load_texts(path: Path, column: str) -> list[str]:
    """One column of a UTF-8 CSV, in order (empty cells give empty texts)."""
    import csv

    with open(path, encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        if column not in (reader.fieldnames or []):
            raise ValueError(f"{path}: no column '{column}' (found {reader.fieldnames})")
        return [(row.get(column) or "") for row in reader]


def scam_corpus(folder: Path) -> tuple[list[str], list[str]]:
    """Texts and labels of a Telecom_Fraud_Texts_5-style folder (label0X-last.csv, columns
    content,label; label "0" normal) or of a single CSV with text,label columns."""
    import csv

    files = [folder] if folder.is_file() else sorted(folder.glob("label0*-last.csv"))
    if not files:
        raise ValueError(f"{folder}: no label0X-last.csv files")
    texts: list[str] = []
    labels: list[str] = []
    for path in files:
        with open(path, encoding="utf-8-sig", newline="") as handle:
            for row in csv.DictReader(handle):
                text = (row.get("content") or row.get("text") or "").strip()
                label = (row.get("label") or "").strip()
                if text and label:
                    texts.append(text)
                    labels.append(label)
    return texts, labels


def victim_paraphrases() -> list[dict[str, str]]:
    """The shipped customer accounts of scams and ordinary service messages (zh-CN and en)."""
    import csv

    path = intent_models.shipped_path("scam_victim_paraphrases.csv")
    with open(path, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def scam_training_extras() -> tuple[list[str], list[str]]:
    """(extra normal, extra scam) texts for the scam model beside a labelled corpus: the
    shipped lending intents, out-of-scope questions and normal service messages; the shipped
    customer accounts of scams."""
    rows = victim_paraphrases()
    normal = [e.text for e in intent_models.lending_examples()]
    normal += [e.text for e in intent_models.out_of_scope_examples()]
    normal += [r["text"] for r in rows if r["label"] == "normal"]
    scam = [r["text"] for r in rows if r["label"] == "scam"]
    return normal, scam


def answers_out_of_scope(model: IntentModel, text: str) -> bool:
    prediction = model.predict(text)
    return prediction.intent == OUT_OF_SCOPE or prediction.abstained
