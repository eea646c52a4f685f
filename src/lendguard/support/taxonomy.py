"""The complaint taxonomy for lending, and the classifier that puts a narrative into it.

Products and issues (``taxonomy.yaml``) are lending categories, each mapped from the CFPB
Consumer Complaint Database's Product and Issue values, so the public sample
(``../shared/data/cfpb``) is the training data: TF-IDF (word 1-2 grams) and a linear model
(logistic loss, balanced class weights) per target, product and issue.

A trained model is a folder: ``model.npz`` (the vocabulary, the IDF weights and each target's
coefficients; plain arrays, read with ``allow_pickle=False``) and ``card.json`` (the data it was
trained on, the split, the held-out figures). Nothing is pickled.

Without a model (or for text the model was not trained on: Chinese, as the sample is English)
the keyword rules of the taxonomy classify instead, and the result says so (``source:
rules``).
"""

from __future__ import annotations

import csv
import hashlib
import os
import re
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import orjson
import yaml

MODEL_FILE = "model.npz"
CARD_FILE = "card.json"
MODEL_DIR_ENV = "LENDGUARD_COMPLAINT_MODEL_DIR"
DEFAULT_MODEL_DIR = Path("var/models/complaints")
TAXONOMY_ENV = "LENDGUARD_POLICY_DIR"

NARRATIVE = "Consumer complaint narrative"
CJK = re.compile(r"[\u3400-\u9fff]")


class TaxonomyError(Exception):
    """The taxonomy file, a data file or a model folder is unusable."""


# -- the taxonomy ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Category:
    id: str
    name: dict[str, str]
    risk: float
    cfpb: tuple[str, ...]
    keywords: tuple[str, ...]
    lending: bool = True

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "risk": self.risk, "lending": self.lending}


@dataclass(frozen=True)
class Taxonomy:
    products: dict[str, Category]
    issues: dict[str, Category]
    root_causes: dict[str, dict[str, str]]
    escalation: dict[str, Any]
    _product_of: dict[str, str] = field(default_factory=dict)
    _issue_of: dict[str, str] = field(default_factory=dict)

    def product_of(self, cfpb_product: str) -> str | None:
        """The lending product of a CFPB Product value (None when unmapped)."""
        return self._product_of.get(cfpb_product.strip().lower())

    def issue_of(self, cfpb_issue: str) -> str | None:
        return self._issue_of.get(cfpb_issue.strip().lower())

    def as_dict(self) -> dict[str, Any]:
        return {
            "products": [c.as_dict() for c in self.products.values()],
            "issues": [c.as_dict() for c in self.issues.values()],
            "root_causes": [{"id": k, "name": v} for k, v in self.root_causes.items()],
        }


def _categories(raw: Any, where: str) -> dict[str, Category]:
    if not isinstance(raw, dict) or not raw:
        raise TaxonomyError(f"taxonomy: '{where}' must be a non-empty mapping")
    out: dict[str, Category] = {}
    for key, body in raw.items():
        if not isinstance(body, dict) or "name" not in body:
            raise TaxonomyError(f"taxonomy: {where}.{key} needs a name")
        out[str(key)] = Category(
            id=str(key),
            name={str(k): str(v) for k, v in body["name"].items()},
            risk=float(body.get("risk", 0.0)),
            cfpb=tuple(str(v) for v in body.get("cfpb", [])),
            keywords=tuple(str(v).lower() for v in body.get("keywords", [])),
            lending=bool(body.get("lending", True)),
        )
    return out


def parse_taxonomy(text: str) -> Taxonomy:
    raw = yaml.safe_load(text)
    if not isinstance(raw, dict):
        raise TaxonomyError("taxonomy: expected a mapping at the top")
    products = _categories(raw.get("products"), "products")
    issues = _categories(raw.get("issues"), "issues")
    if "other" not in issues:
        raise TaxonomyError("taxonomy: issues must include 'other'")
    product_of: dict[str, str] = {}
    issue_of: dict[str, str] = {}
    for target, categories in ((product_of, products), (issue_of, issues)):
        for category in categories.values():
            for value in category.cfpb:
                known = target.setdefault(value.lower(), category.id)
                if known != category.id:
                    raise TaxonomyError(f"taxonomy: '{value}' maps to {known} and {category.id}")
    root_causes = {str(k): dict(v) for k, v in (raw.get("root_causes") or {}).items()}
    if not root_causes:
        raise TaxonomyError("taxonomy: root_causes must not be empty")
    return Taxonomy(
        products=products,
        issues=issues,
        root_causes=root_causes,
        escalation=dict(raw.get("escalation") or {}),
        _product_of=product_of,
        _issue_of=issue_of,
    )


@lru_cache(maxsize=4)
def _load(override: str) -> Taxonomy:
    if override:
        return parse_taxonomy(Path(override).read_text(encoding="utf-8"))
    text = resources.files("lendguard.support").joinpath("taxonomy.yaml").read_text("utf-8")
    return parse_taxonomy(text)


def load_taxonomy() -> Taxonomy:
    """The shipped taxonomy, or ``$LENDGUARD_POLICY_DIR/support/taxonomy.yaml`` when present."""
    base = os.environ.get(TAXONOMY_ENV)
    candidate = Path(base) / "support" / "taxonomy.yaml" if base else None
    return _load(str(candidate) if candidate is not None and candidate.is_file() else "")


# -- classification --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Classification:
    product: str
    product_confidence: float
    issue: str
    issue_confidence: float
    source: str  # "model:<trained_at>" | "rules" | "given" (product) + model/rules (issue)
    product_source: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "product": self.product,
            "product_confidence": round(self.product_confidence, 3),
            "product_source": self.product_source,
            "issue": self.issue,
            "issue_confidence": round(self.issue_confidence, 3),
            "source": self.source,
        }


def _keyword_pattern(word: str) -> re.Pattern[str]:
    # ASCII words match at a word start (a prefix: "advertis" matches "advertising"); CJK
    # words anywhere (no spaces between words).
    if CJK.search(word):
        return re.compile(re.escape(word))
    return re.compile(r"(?<![a-z0-9])" + re.escape(word))


class RuleClassifier:
    """Keyword counts per category: the fallback when no model is configured, and for text in
    a language the model was not trained on."""

    def __init__(self, taxonomy: Taxonomy, default_product: str = "personal_loan") -> None:
        self.taxonomy = taxonomy
        self.default_product = (
            default_product
            if default_product in taxonomy.products
            else next(iter(taxonomy.products))
        )
        self._patterns = {
            kind: {c.id: [_keyword_pattern(w) for w in c.keywords] for c in cats.values()}
            for kind, cats in (("product", taxonomy.products), ("issue", taxonomy.issues))
        }

    def scores(self, kind: str, text: str) -> dict[str, int]:
        lowered = text.lower()
        return {
            cid: sum(len(p.findall(lowered)) for p in patterns)
            for cid, patterns in self._patterns[kind].items()
        }

    def best(self, kind: str, text: str, default: str) -> tuple[str, float]:
        counts = self.scores(kind, text)
        total = sum(counts.values())
        if total == 0:
            return default, 0.0
        top = max(counts, key=lambda k: (counts[k], k == default))
        return top, counts[top] / total

    def classify(self, text: str, product: str | None = None) -> Classification:
        if product is not None:
            product_id, product_conf, product_source = product, 1.0, "given"
        else:
            product_id, product_conf = self.best("product", text, self.default_product)
            product_source = "rules"
        issue, issue_conf = self.best("issue", text, "other")
        return Classification(product_id, product_conf, issue, issue_conf, "rules", product_source)


def clean_text(text: str) -> str:
    """Lower case, without the CFPB's redaction marks (XXXX) and amounts ({$100.00})."""
    text = text.lower()
    text = re.sub(r"x{2,}(/x{2,})*", " ", text)
    return re.sub(r"\{\$[\d,.]+\}", " amount ", text)


VECTORIZER_PARAMS: dict[str, Any] = {
    "ngram_range": (1, 2),
    "min_df": 2,
    "max_df": 0.9,
    "sublinear_tf": True,
    "stop_words": "english",
    "max_features": 40_000,
}


def _vectorizer(vocabulary: dict[str, int] | None = None) -> Any:
    from sklearn.feature_extraction.text import TfidfVectorizer

    params = dict(VECTORIZER_PARAMS)
    if vocabulary is not None:
        params.pop("max_features")
        params.pop("min_df")
        params.pop("max_df")
    return TfidfVectorizer(preprocessor=clean_text, vocabulary=vocabulary, **params)


def _linear(seed: int) -> Any:
    from sklearn.linear_model import SGDClassifier

    return SGDClassifier(
        loss="log_loss",
        alpha=1e-4,
        class_weight="balanced",
        max_iter=50,
        tol=1e-4,
        random_state=seed,
    )


def _probabilities(scores: Any) -> Any:
    """One-vs-rest logistic scores as probabilities (sklearn's SGD ``predict_proba``)."""
    import numpy as np

    if scores.shape[1] == 1:
        p = 1.0 / (1.0 + np.exp(-scores[:, 0]))
        return np.column_stack([1.0 - p, p])
    p = 1.0 / (1.0 + np.exp(-scores))
    total = p.sum(axis=1, keepdims=True)
    total[total == 0] = 1.0
    return p / total


@dataclass
class _Head:
    classes: list[str]
    coef: Any  # (k or 1, n_terms)
    intercept: Any

    def predict(self, features: Any) -> tuple[list[str], list[float]]:
        import numpy as np

        scores = np.asarray(features @ self.coef.T) + self.intercept
        probs = _probabilities(scores)
        best = probs.argmax(axis=1)
        return [self.classes[i] for i in best], [float(probs[r, i]) for r, i in enumerate(best)]


class ModelClassifier:
    """A trained TF-IDF + linear model (product and issue), loaded from its folder."""

    def __init__(self, vectorizer: Any, product: _Head, issue: _Head, card: dict[str, Any]):
        self.vectorizer = vectorizer
        self.product = product
        self.issue = issue
        self.card = card
        self.version = str(card.get("trained_at", "unknown"))

    @classmethod
    def load(cls, folder: Path) -> ModelClassifier:
        import numpy as np

        path = folder / MODEL_FILE
        try:
            card = orjson.loads((folder / CARD_FILE).read_bytes())
            with np.load(path, allow_pickle=False) as data:
                terms = [str(t) for t in data["terms"]]
                vectorizer = _vectorizer({t: i for i, t in enumerate(terms)})
                vectorizer.idf_ = data["idf"]
                heads = {
                    name: _Head(
                        [str(c) for c in data[f"{name}_classes"]],
                        data[f"{name}_coef"],
                        data[f"{name}_intercept"],
                    )
                    for name in ("product", "issue")
                }
        except (OSError, KeyError, ValueError) as exc:
            raise TaxonomyError(f"{folder}: not a complaint model ({exc})") from None
        return cls(vectorizer, heads["product"], heads["issue"], card)

    def predict(self, texts: Sequence[str]) -> list[tuple[str, float, str, float]]:
        features = self.vectorizer.transform(list(texts))
        products, product_conf = self.product.predict(features)
        issues, issue_conf = self.issue.predict(features)
        return list(zip(products, product_conf, issues, issue_conf, strict=True))

    def classify(self, text: str, product: str | None = None) -> Classification:
        (p, pc, i, ic) = self.predict([text])[0]
        source = f"model:{self.version}"
        if product is not None:
            return Classification(product, 1.0, i, ic, source, "given")
        return Classification(p, pc, i, ic, source, "model")


class ComplaintClassifier:
    """The model when one is configured, else (and for CJK text) the rules."""

    def __init__(self, taxonomy: Taxonomy, model: ModelClassifier | None = None) -> None:
        self.taxonomy = taxonomy
        self.rules = RuleClassifier(taxonomy)
        self.model = model

    @classmethod
    def configured(
        cls, taxonomy: Taxonomy, folder: Path | str | None = None
    ) -> ComplaintClassifier:
        """With the model in ``folder``, ``$LENDGUARD_COMPLAINT_MODEL_DIR`` or
        ``var/models/complaints`` when it holds one; the rules otherwise."""
        chosen = Path(folder or os.environ.get(MODEL_DIR_ENV) or DEFAULT_MODEL_DIR)
        model = None
        if (chosen / MODEL_FILE).is_file():
            try:
                model = ModelClassifier.load(chosen)
            except TaxonomyError:
                import structlog

                structlog.get_logger(__name__).warning(
                    "complaint_model_unusable", folder=str(chosen)
                )
        return cls(taxonomy, model)

    @property
    def source(self) -> str:
        return f"model:{self.model.version}" if self.model is not None else "rules"

    def classify(self, text: str, product: str | None = None) -> Classification:
        if self.model is None or not text.strip() or CJK.search(text):
            return self.rules.classify(text, product)
        return self.model.classify(text, product)


# -- training and evaluation -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Example:
    complaint_id: str
    text: str
    product: str
    issue: str


def read_examples(path: Path, taxonomy: Taxonomy) -> tuple[list[Example], dict[str, int]]:
    """Rows with a narrative, mapped into the taxonomy; and counts of what was skipped."""
    skipped: Counter[str] = Counter()
    out: list[Example] = []
    try:
        handle = path.open(encoding="utf-8", newline="")
    except OSError as exc:
        raise TaxonomyError(f"{path}: {exc}") from None
    with handle:
        reader = csv.DictReader(handle)
        missing = {"Product", "Issue", NARRATIVE} - set(reader.fieldnames or [])
        if missing:
            raise TaxonomyError(f"{path}: missing columns {sorted(missing)}")
        for number, row in enumerate(reader, start=2):
            text = (row.get(NARRATIVE) or "").strip()
            if not text:
                skipped["no_narrative"] += 1
                continue
            product = taxonomy.product_of(row.get("Product") or "")
            issue = taxonomy.issue_of(row.get("Issue") or "") or "other"
            if product is None:
                skipped["unmapped_product"] += 1
                continue
            out.append(Example(row.get("Complaint ID") or f"row{number}", text, product, issue))
    return out, dict(skipped)


def split(
    examples: list[Example], test_size: float, seed: int
) -> tuple[list[Example], list[Example]]:
    """A held-out part stratified by product (seeded)."""
    from sklearn.model_selection import train_test_split

    counts = Counter(e.product for e in examples)
    stratify = [e.product for e in examples] if min(counts.values()) >= 2 else None
    train, test = train_test_split(
        examples, test_size=test_size, random_state=seed, stratify=stratify
    )
    return list(train), list(test)


def metrics(truth: Sequence[str], predicted: Sequence[str]) -> dict[str, Any]:
    from sklearn.metrics import accuracy_score, f1_score

    majority = Counter(truth).most_common(1)[0][0] if truth else ""
    return {
        "n": len(truth),
        "accuracy": round(float(accuracy_score(truth, predicted)), 4),
        "macro_f1": round(float(f1_score(truth, predicted, average="macro", zero_division=0)), 4),
        "majority_baseline_accuracy": round(
            sum(1 for t in truth if t == majority) / max(len(truth), 1), 4
        ),
        "per_class_f1": {
            c: round(float(f), 4)
            for c, f in zip(
                sorted(set(truth) | set(predicted)),
                f1_score(
                    truth,
                    predicted,
                    average=None,
                    labels=sorted(set(truth) | set(predicted)),
                    zero_division=0,
                ),
                strict=True,
            )
        },
    }


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def train(
    data: Path,
    out: Path,
    *,
    test_size: float = 0.2,
    seed: int = 0,
    limit: int | None = None,
    taxonomy: Taxonomy | None = None,
) -> dict[str, Any]:
    """Fit product and issue on a seeded, product-stratified part of ``data``; score the held-out
    part; write the model folder; return its card. ``limit`` keeps the first N usable rows (a
    quick run)."""
    import numpy as np

    taxonomy = taxonomy or load_taxonomy()
    if not 0.0 < test_size < 1.0:
        raise TaxonomyError("test_size must be between 0 and 1")
    started = time.perf_counter()
    examples, skipped = read_examples(data, taxonomy)
    if limit is not None:
        examples = examples[:limit]
    if len(examples) < 20:
        raise TaxonomyError(f"{data}: {len(examples)} usable rows; at least 20 are needed")
    fit_part, held_out = split(examples, test_size, seed)
    vectorizer = _vectorizer()
    features = vectorizer.fit_transform([e.text for e in fit_part])
    arrays: dict[str, Any] = {
        "terms": np.array(vectorizer.get_feature_names_out(), dtype=str),
        "idf": vectorizer.idf_.astype(np.float64),
    }
    for name in ("product", "issue"):
        labels = [getattr(e, name) for e in fit_part]
        if len(set(labels)) < 2:
            raise TaxonomyError(f"the training part has one {name} only ({labels[0]})")
        model = _linear(seed).fit(features, labels)
        arrays[f"{name}_classes"] = np.array([str(c) for c in model.classes_], dtype=str)
        arrays[f"{name}_coef"] = model.coef_.astype(np.float64)
        arrays[f"{name}_intercept"] = model.intercept_.astype(np.float64)
    fit_seconds = time.perf_counter() - started
    out.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out / MODEL_FILE, **arrays)
    card: dict[str, Any] = {
        "kind": "complaint_classifier",
        "trained_at": datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ"),
        "method": "TF-IDF word 1-2 grams (sublinear tf, English stop words) + SGD logistic "
        "loss, balanced class weights, one-vs-rest; one model for product, one for issue",
        "vectorizer": VECTORIZER_PARAMS,
        "data": {
            "file": data.name,
            "sha256": _sha256(data),
            "usable_rows": len(examples),
            "skipped": skipped,
        },
        "split": {"test_size": test_size, "seed": seed, "stratify": "product"},
        "rows": {"train": len(fit_part), "held_out": len(held_out)},
        "terms": int(arrays["terms"].shape[0]),
        "classes": {
            "product": arrays["product_classes"].tolist(),
            "issue": arrays["issue_classes"].tolist(),
        },
        "held_out_ids": [e.complaint_id for e in held_out],
    }
    (out / CARD_FILE).write_bytes(orjson.dumps(card, option=orjson.OPT_INDENT_2))
    loaded = ModelClassifier.load(out)
    card["metrics"] = {"held_out": score(loaded, held_out)}
    card["train_seconds"] = round(fit_seconds, 2)
    (out / CARD_FILE).write_bytes(orjson.dumps(card, option=orjson.OPT_INDENT_2))
    return card


def score(model: ModelClassifier, examples: Iterable[Example]) -> dict[str, Any]:
    rows = list(examples)
    if not rows:
        raise TaxonomyError("nothing to score")
    predicted = model.predict([e.text for e in rows])
    return {
        "product": metrics([e.product for e in rows], [p[0] for p in predicted]),
        "issue": metrics([e.issue for e in rows], [p[2] for p in predicted]),
    }


def evaluate(model_dir: Path, data: Path, *, all_rows: bool = False) -> dict[str, Any]:
    """Accuracy and macro-F1 of product and issue on the model's held-out rows of ``data`` (the
    ids in its card), or on every usable row with ``all_rows``."""
    taxonomy = load_taxonomy()
    model = ModelClassifier.load(model_dir)
    examples, _ = read_examples(data, taxonomy)
    if not all_rows:
        wanted = set(model.card.get("held_out_ids") or [])
        examples = [e for e in examples if e.complaint_id in wanted]
        if not examples:
            raise TaxonomyError(f"{data}: none of the model's held-out rows are in this file")
    result = score(model, examples)
    rules = RuleClassifier(taxonomy)
    by_rules = [rules.classify(e.text) for e in examples]
    return {
        "model": str(model_dir),
        "trained_at": model.version,
        "rows": len(examples),
        "part": "all" if all_rows else "held_out",
        **result,
        "rules_fallback": {
            "product": metrics([e.product for e in examples], [c.product for c in by_rules]),
            "issue": metrics([e.issue for e in examples], [c.issue for c in by_rules]),
        },
    }
