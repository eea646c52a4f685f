"""Early-warning cues in what a customer tells an agent: scam victim, vulnerability, complaint.

Two layers, combined in :class:`ScamDetector`:

- a lexicon (``cues.yaml`` beside this module, read and compiled once at import; always on,
  shipped): regular expressions in zh-CN and en for each cue the issue names — a "customer
  service" or "police" caller, a "safe account", cancelling a campus-loan account, credit
  repair, fees before disbursement, screen sharing or a meeting app, borrowing to "clear a
  limit" — plus a few supporting ones (being told to move money, keep it secret, read out a
  code, a crime accusation, a task job, an investment pitch, a "new number"); cues that hear the
  scammer's own script when a customer pastes or reads it out (``*_script``: "我是XX公安局的民警
  …", "this is Amazon support, your account has been suspended…"), hand-written from general
  anti-fraud knowledge; and one derived cue (``scam_script_phrases``: phrases of scam scripts
  written by :func:`derive_script_rule` from a labelled corpus, counted only when several occur
  in one text; its provenance is in the file, its cross-validation is
  ``bench/eval_lexicon.py``'s). Each cue has a
  weight; the rule score is a noisy-OR of the cues found, so one weak cue ("customer service
  said my repayment date is the 15th") never flags on its own, while two together ("customer
  service" + "safe account") do. The patterns were written and generalised on development data
  only: the shipped paraphrases (``kb/scam_victim_paraphrases.csv``) and hold-out round 1
  (``kb/eval_scam_paraphrases_holdout.csv``, measured once blind, then used for development);
  hold-out round 2 (``kb/eval_scam_paraphrases_holdout2.csv``) is never tuned on
  (``bench/eval.py``, block ``scam_paraphrases``);
- an optional character n-gram model (:class:`ScamTextModel`) trained by
  ``lendguard assistant train --scam-texts DIR`` on labelled Chinese texts; its probability is
  combined with the rule score (the larger wins). It is never shipped: the only labelled corpus
  at hand is research-only.

A scam cue never declines anything by itself: it feeds the decision engine, which slows the
next payment to a new payee down and routes it to a human (rule ``scam-cue-new-payee``).
"""

from __future__ import annotations

import functools
import math
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from itertools import permutations
from typing import Any

import yaml

# The simulator's scam typologies (lendguard.simulate.generator.TYPOLOGIES) plus "other".
SCAM_TYPES = (
    "fake_customer_service",
    "advance_fee_loan",
    "credit_repair",
    "account_takeover",
    "rebate_task",
    "elderly_investment",
    "mule",
    "ring",
    "other",
)
SCAM_THRESHOLD = 0.5


@dataclass(frozen=True)
class Cue:
    name: str
    kind: str  # scam_victim | vulnerability | complaint
    weight: float  # scam cues: contribution to the noisy-OR score; others: 1.0
    typology: str | None
    reason_zh: str
    reason_en: str
    patterns: tuple[re.Pattern[str], ...] = field(default_factory=tuple)
    # the cue does not count when one of these matches (the customer went to the police
    # themselves: "I reported the theft to the police")
    unless: tuple[re.Pattern[str], ...] = field(default_factory=tuple)
    # per pattern: "zh" (it names Chinese characters: every match holds one), "latin" (English
    # words: every match holds an ASCII letter) or "any"; a pattern is not tried on a text
    # without its script (half the patterns on a one-language message, same result)
    scripts: tuple[str, ...] = field(default_factory=tuple)
    # the cue counts only when this many different phrases are found (a co-occurrence rule:
    # one phrase of a scam script is ordinary wording, two together are the script)
    min_distinct: int = 1
    # where the cue comes from: hand-written, or the procedure and data that wrote it
    provenance: str = ""

    @functools.cached_property
    def _overlapping(self) -> tuple[re.Pattern[str], ...]:
        """Each pattern as a look-ahead, so that every match is seen, overlapping ones too."""
        return tuple(re.compile(f"(?=({p.pattern}))", p.flags) for p in self.patterns)

    def search(self, text: str, lowered: str, present: set[str]) -> str | None:
        """The first span that matched, from the original text. Patterns are lower case and
        compiled without IGNORECASE (four times faster on a long English message), so they run
        on ``lowered``, the text with ASCII letters lowered (same length, same offsets). A cue
        with ``min_distinct`` N > 1 gives its first N different spans, joined by " … "."""
        if any(guard.search(lowered) is not None for guard in self.unless):
            return None
        if self.min_distinct > 1:
            return self._distinct(text, lowered, present)
        for pattern, script in zip(self.patterns, self.scripts, strict=True):
            if script in present:
                found = pattern.search(lowered)
                if found is not None:
                    return text[found.start() : found.end()]
        return None

    def _distinct(self, text: str, lowered: str, present: set[str]) -> str | None:
        spans: dict[str, tuple[int, int]] = {}
        for pattern, script in zip(self._overlapping, self.scripts, strict=True):
            if script not in present:
                continue
            for found in pattern.finditer(lowered):
                phrase = found.group(1)
                if phrase and phrase not in spans:
                    spans[phrase] = (found.start(1), found.end(1))
                    if len(spans) >= self.min_distinct:
                        return " … ".join(text[a:b] for a, b in sorted(spans.values()))
        return None

    def reason(self, locale: str) -> str:
        return self.reason_zh if locale == "zh-CN" else self.reason_en


def _compile(pattern: str, latin: bool = False) -> re.Pattern[str]:
    """An English pattern's ``\\b`` and ``\\w`` are ASCII (``re.ASCII``): Chinese characters are
    word characters to Python, so "我想suicide" had no word boundary before the English word and
    a customer who mixes the two scripts was not heard."""
    upper = re.search(r"(?<!\\)[A-Z]", pattern)
    if upper is not None:  # it would never match the lowered text
        raise ValueError(f"cue pattern with an upper-case letter: {pattern!r}")
    return re.compile(pattern, re.ASCII if latin else 0)


_LOWER_ASCII = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def _script(pattern: str) -> str:
    if _CJK.search(pattern):
        return "zh"
    return "latin" if _LATIN.search(re.sub(r"\\[a-zA-Z]", "", pattern)) else "any"


_CJK = re.compile(r"[\u4e00-\u9fff]")
_LATIN = re.compile(r"[A-Za-z]")


# -- the lexicon -------------------------------------------------------------------------------
#
# The patterns, their building blocks and the comments that say why each is written as it is
# live in ``cues.yaml`` beside this module (its header gives the format). They are read and
# compiled once, when this module is imported; a malformed file stops the import with
# :class:`LexiconError` naming the place, so the assistant never runs on half a lexicon.

LEXICON_FILE = "cues.yaml"
CUE_KINDS = ("scam_victim", "crisis", "vulnerability", "complaint")
_REFERENCE = re.compile(r"\{([A-Z][A-Z0-9_]*)\}")
_CUE_FIELDS = frozenset({"name", "weight", "typology", "reason", "patterns", "unless"})
_OPTIONAL_FIELDS = frozenset({"unless", "phrases", "min_distinct", "provenance"})
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class LexiconError(ValueError):
    """The cue lexicon is malformed (the message names the file and the place)."""


def _text(value: Any, where: str) -> str:
    """A pattern or fragment as written: a block over several lines is one line (no pattern
    holds a line break)."""
    if not isinstance(value, str) or not value.strip():
        raise LexiconError(f"{where}: expected a pattern (text)")
    return value.replace("\n", "")


def _expand(template: str, fragments: dict[str, str], where: str) -> str:
    def fragment(found: re.Match[str]) -> str:
        name = found.group(1)
        if name not in fragments:
            raise LexiconError(f"{where}: unknown fragment {{{name}}}")
        return fragments[name]

    return _REFERENCE.sub(fragment, template)


def _ordered(spec: dict[str, Any], fragments: dict[str, str], where: str) -> list[str]:
    """Three fragments within ``gap`` characters of each other, in any order (one pattern per
    order: the evidence the agent sees is the stretch that names all three)."""
    names, gap = spec.get("ordered"), spec.get("gap")
    if set(spec) != {"ordered", "gap"} or not isinstance(names, list) or len(names) != 3:
        raise LexiconError(f"{where}: expected {{ordered: [A, B, C], gap: N}}")
    if not isinstance(gap, int) or isinstance(gap, bool) or gap < 0:
        raise LexiconError(f"{where}.gap: expected a whole number of characters")
    unknown = [n for n in names if n not in fragments]
    if unknown:
        raise LexiconError(f"{where}.ordered: unknown fragments {unknown}")
    return [
        f"{a}.{{0,{gap}}}{b}.{{0,{gap}}}{c}"
        for a, b, c in permutations(fragments[n] for n in names)
    ]


def _patterns(raw: Any, fragments: dict[str, str], where: str) -> list[str]:
    if not isinstance(raw, list):
        raise LexiconError(f"{where}: expected a list of patterns")
    out: list[str] = []
    for index, item in enumerate(raw):
        at = f"{where}[{index}]"
        if isinstance(item, dict):
            out.extend(_ordered(item, fragments, at))
        else:
            out.append(_expand(_text(item, at), fragments, at))
    return out


def _compiled(
    patterns: list[str], where: str
) -> tuple[tuple[re.Pattern[str], ...], tuple[str, ...]]:
    scripts = tuple(_script(p) for p in patterns)
    compiled = []
    for index, (pattern, script) in enumerate(zip(patterns, scripts, strict=True)):
        try:
            compiled.append(_compile(pattern, script == "latin"))
        except (re.error, ValueError) as exc:
            raise LexiconError(f"{where}[{index}]: {exc}") from None
    return tuple(compiled), scripts


def _phrases(raw: Any, where: str) -> list[str]:
    """Literal phrases (no regex) as one alternation per script, longest first."""
    if not isinstance(raw, list) or not all(isinstance(p, str) and p.strip() for p in raw):
        raise LexiconError(f"{where}: expected a list of phrases (text)")
    if any(p != p.translate(_LOWER_ASCII) for p in raw):
        raise LexiconError(f"{where}: phrases are lower case")
    if len(set(raw)) != len(raw):
        raise LexiconError(f"{where}: a phrase is listed twice")
    ordered = sorted(raw, key=lambda p: (-len(p), p))
    groups = (
        [p for p in ordered if _CJK.search(p)],
        [p for p in ordered if not _CJK.search(p)],
    )
    return ["(?:" + "|".join(re.escape(p) for p in group) + ")" for group in groups if group]


def _cue(raw: Any, kind: str, fragments: dict[str, str], where: str) -> Cue:
    if not isinstance(raw, dict):
        raise LexiconError(f"{where}: expected a mapping")
    unknown = set(raw) - _CUE_FIELDS - _OPTIONAL_FIELDS
    missing = set(_CUE_FIELDS - _OPTIONAL_FIELDS - {"patterns"} - set(raw))
    if "patterns" not in raw and "phrases" not in raw:
        missing.add("patterns")
    if unknown or missing:
        raise LexiconError(f"{where}: unknown fields {sorted(unknown)}, missing {sorted(missing)}")
    name, weight, typology, reason = raw["name"], raw["weight"], raw["typology"], raw["reason"]
    if not isinstance(name, str) or not name:
        raise LexiconError(f"{where}.name: expected a name")
    if isinstance(weight, bool) or not isinstance(weight, int | float) or not 0 < weight <= 1:
        raise LexiconError(f"{where}.weight: expected a number in (0, 1]")
    if typology is not None and typology not in SCAM_TYPES:
        raise LexiconError(f"{where}.typology: one of {list(SCAM_TYPES)} or null")
    if not isinstance(reason, dict) or not all(
        isinstance(reason.get(locale), str) and reason[locale] for locale in ("zh-CN", "en")
    ):
        raise LexiconError(f"{where}.reason: expected zh-CN and en")
    min_distinct, provenance = raw.get("min_distinct", 1), raw.get("provenance", "")
    if isinstance(min_distinct, bool) or not isinstance(min_distinct, int) or min_distinct < 1:
        raise LexiconError(f"{where}.min_distinct: expected a whole number of at least 1")
    if not isinstance(provenance, str):
        raise LexiconError(f"{where}.provenance: expected text")
    written = _patterns(raw.get("patterns", []), fragments, f"{where}.patterns")
    if "phrases" in raw:
        written += _phrases(raw["phrases"], f"{where}.phrases")
    patterns, scripts = _compiled(written, f"{where}.patterns")
    guards, _ = _compiled(
        _patterns(raw.get("unless", []), fragments, f"{where}.unless"), f"{where}.unless"
    )
    if not patterns:
        raise LexiconError(f"{where}.patterns: a cue needs at least one pattern")
    return Cue(
        name,
        kind,
        float(weight),
        typology,
        reason["zh-CN"],
        reason["en"],
        patterns,
        guards,
        scripts,
        min_distinct,
        provenance.strip(),
    )


def load_lexicon(text: str, file: str = LEXICON_FILE) -> dict[str, tuple[Cue, ...]]:
    """The cues of each kind (:data:`CUE_KINDS`), in file order, compiled."""
    try:
        raw = yaml.load(text, Loader=_YAML_LOADER)  # a safe loader (libyaml when installed)
    except yaml.YAMLError as exc:
        raise LexiconError(f"{file}: not YAML: {exc}") from None
    if not isinstance(raw, dict) or set(raw) != {"fragments", "cues"}:
        raise LexiconError(f"{file}: expected 'fragments' and 'cues' at the top")
    fragments: dict[str, str] = {}
    for name, value in (raw["fragments"] or {}).items():
        where = f"{file}: fragments.{name}"
        if not isinstance(name, str) or not re.fullmatch(r"[A-Z][A-Z0-9_]*", name):
            raise LexiconError(f"{where}: fragment names are UPPER_CASE")
        fragments[name] = _expand(_text(value, where), fragments, where)
    groups = raw["cues"]
    if not isinstance(groups, dict) or set(groups) != set(CUE_KINDS):
        raise LexiconError(f"{file}: cues: expected the kinds {list(CUE_KINDS)}")
    lexicon: dict[str, tuple[Cue, ...]] = {}
    seen: set[str] = set()
    for kind in CUE_KINDS:
        if not isinstance(groups[kind], list):
            raise LexiconError(f"{file}: cues.{kind}: expected a list of cues")
        cues = tuple(
            _cue(body, kind, fragments, f"{file}: cues.{kind}[{index}]")
            for index, body in enumerate(groups[kind])
        )
        for cue in cues:
            if cue.name in seen:
                raise LexiconError(f"{file}: cue '{cue.name}' is named twice")
            seen.add(cue.name)
        lexicon[kind] = cues
    return lexicon


_LEXICON = load_lexicon(
    resources.files("lendguard.support").joinpath(LEXICON_FILE).read_text(encoding="utf-8")
)
SCAM_CUES: tuple[Cue, ...] = _LEXICON["scam_victim"]
CRISIS_CUES: tuple[Cue, ...] = _LEXICON["crisis"]
VULNERABILITY_CUES: tuple[Cue, ...] = _LEXICON["vulnerability"]
COMPLAINT_CUES: tuple[Cue, ...] = _LEXICON["complaint"]


@dataclass(frozen=True)
class CueHit:
    cue: Cue
    evidence: str

    def as_dict(self, locale: str) -> dict[str, Any]:
        return {
            "kind": self.cue.kind,
            "cue": self.cue.name,
            "reason": self.cue.reason(locale),
            "evidence": self.evidence,
        }


# Invisible characters (Unicode "format" characters: zero-width space and joiners, word joiner,
# soft hyphen, byte-order mark, direction marks) and the blanks people put between Chinese
# characters hide words from a pattern but not from a reader: 不\u200b想\u200b活 is a known way
# to write past filters. Full-width Latin letters and digits (a Chinese keyboard) and the
# Cyrillic and Greek letters that look like Latin ones are read as the Latin letters.
@functools.cache
def _format_characters() -> dict[int, None]:
    """The deletion table of every format character (built on first use: 0.1 s)."""
    return dict.fromkeys((c for c in range(0x110000) if unicodedata.category(chr(c)) == "Cf"), None)


_LOOK_ALIKES = {
    **{0xFF10 + i: ord("0") + i for i in range(10)},
    **{0xFF21 + i: ord("A") + i for i in range(26)},
    **{0xFF41 + i: ord("a") + i for i in range(26)},
    0x3000: ord(" "),  # ideographic space
    **{ord(k): ord(v) for k, v in zip("аеорсухѕіјԁӏһοινκ", "aeopcyxsijdlhoivk", strict=True)},
    **{ord(k): ord(v) for k, v in zip("АВЕКМНОРСТХЅІЈ", "ABEKMHOPCTXSIJ", strict=True)},
}
_BLANKS_BETWEEN_HAN = re.compile(r"(?<=[\u4e00-\u9fff])[ \t\u00a0\u3000]+(?=[\u4e00-\u9fff])")


def readable(text: str) -> str:
    """``text`` as a reader sees it: invisible characters dropped, blanks between Chinese
    characters closed up, look-alike letters read as Latin. The cues run on this, so the
    evidence shown to the agent is the words without the disguise."""
    text = text.translate(_format_characters()).translate(_LOOK_ALIKES)
    return _BLANKS_BETWEEN_HAN.sub("", text)


def find_cues(text: str, cues: tuple[Cue, ...]) -> list[CueHit]:
    """Each cue found in ``text`` once, with the first span that matched (for the agent); the
    text is read as :func:`readable` shows it."""
    text = readable(text)
    hits = []
    present = {"any", "zh"} if _CJK.search(text) else {"any"}
    if _LATIN.search(text):
        present.add("latin")
    lowered = text.translate(_LOWER_ASCII)
    for cue in cues:
        evidence = cue.search(text, lowered, present)
        if evidence is not None:
            hits.append(CueHit(cue, evidence[:80]))
    return hits


def rule_score(hits: list[CueHit]) -> float:
    """Noisy-OR of the scam cues' weights: 1 - prod(1 - w)."""
    remaining = 1.0
    for hit in hits:
        remaining *= 1.0 - hit.cue.weight
    return round(1.0 - remaining, 4)


def rule_typology(hits: list[CueHit]) -> str | None:
    """The typology with the most weight among the cues that name one."""
    votes: dict[str, float] = {}
    for hit in hits:
        if hit.cue.typology is not None:
            votes[hit.cue.typology] = votes.get(hit.cue.typology, 0.0) + hit.cue.weight
    if not votes:
        return None
    return max(sorted(votes), key=lambda t: votes[t])


def has_cjk(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


def detect_locale(text: str) -> str:
    cjk = sum(1 for ch in text if "\u4e00" <= ch <= "\u9fff")
    return "zh-CN" if cjk >= max(1, len(text.strip()) // 10) else "en"


# -- phrases of scam scripts, written from labelled texts ----------------------------------------
#
# A deterministic, transparent procedure whose output is policy data (a cue with ``phrases`` and
# ``min_distinct`` in cues.yaml, between the DERIVED markers); ``bench/eval_lexicon.py`` runs it
# per cross-validation fold (scored on the fold it did not see) and writes the shipped block from
# all the texts:
#
# - the candidates are runs of 2 to 6 Chinese characters (no Latin letters or digits: the
#   corpus' placeholders NAME, DIGIT, XX say nothing about a scam) of the texts as the cues read
#   them (:func:`readable`);
# - a candidate is kept when at least 1% of the scam texts hold it (and at least 3) and no normal
#   text does; a kept candidate that holds a shorter kept one is dropped (the shorter one
#   matches wherever it does);
# - how many different phrases one text must hold (``min_distinct``) is chosen on the texts it
#   is given, by an inner 4-fold stratified cross-validation (seed 1): the smallest number of
#   :data:`DERIVED_MIN_DISTINCT` whose phrases, written on three inner folds, are found that
#   many times in at most :data:`DERIVED_INNER_FP` of the fourth fold's normal texts (the
#   largest when none is).

DERIVED_LENGTHS = (2, 6)
DERIVED_MIN_SHARE = 0.01
DERIVED_MIN_TEXTS = 3
DERIVED_MIN_DISTINCT = (2, 3, 4, 5, 6, 8, 10, 12, 15, 20)
DERIVED_INNER_FP = 0.005
DERIVED_INNER_FOLDS = 4
_CJK_RUN = re.compile(r"[\u4e00-\u9fff]+")


def _grams(text: str) -> set[str]:
    low, high = DERIVED_LENGTHS
    out: set[str] = set()
    for run in _CJK_RUN.findall(readable(text)):
        for n in range(low, min(high, len(run)) + 1):
            out.update(run[i : i + n] for i in range(len(run) - n + 1))
    return out


def normal_grams(texts: Sequence[str]) -> set[str]:
    """Every candidate of ``texts`` (to pass once as ``known_normal``)."""
    seen: set[str] = set()
    for text in texts:
        seen |= _grams(text)
    return seen


def derive_script_phrases(
    scam: Sequence[str], normal: Sequence[str], known_normal: set[str] | None = None
) -> list[tuple[str, int]]:
    """The phrases of scam scripts in ``scam`` and in no text of ``normal`` (nor among the
    candidates ``known_normal``), with the number of scam texts holding each, most frequent
    first (ties by the phrase)."""
    seen_normal = normal_grams(normal) | (known_normal or set())
    counts: dict[str, int] = {}
    for text in scam:
        for gram in _grams(text):
            if gram not in seen_normal:
                counts[gram] = counts.get(gram, 0) + 1
    floor = max(DERIVED_MIN_TEXTS, math.ceil(len(scam) * DERIVED_MIN_SHARE))
    kept: list[str] = []
    for gram in sorted((g for g, c in counts.items() if c >= floor), key=lambda g: (len(g), g)):
        if not any(shorter in gram for shorter in kept):
            kept.append(gram)
    return sorted(((g, counts[g]) for g in kept), key=lambda item: (-item[1], item[0]))


def count_phrases(phrases: Sequence[str], texts: Sequence[str]) -> list[int]:
    """How many different ``phrases`` each text holds, as a cue with ``phrases`` counts them."""
    if not phrases:
        return [0] * len(texts)
    ordered = sorted(phrases, key=lambda p: (-len(p), p))
    pattern = re.compile("(?=(" + "|".join(re.escape(p) for p in ordered) + "))")
    return [
        len({m.group(1) for m in pattern.finditer(readable(t).translate(_LOWER_ASCII))})
        for t in texts
    ]


def derive_script_rule(
    scam: Sequence[str], normal: Sequence[str], known_normal: set[str] | None = None
) -> tuple[list[tuple[str, int]], int]:
    """(the phrases, ``min_distinct``) written from ``scam`` and ``normal`` alone: the procedure
    above, ``min_distinct`` chosen by the inner cross-validation."""
    from sklearn.model_selection import StratifiedKFold

    texts = [*scam, *normal]
    is_scam = [True] * len(scam) + [False] * len(normal)
    splitter = StratifiedKFold(n_splits=DERIVED_INNER_FOLDS, shuffle=True, random_state=1)
    flagged = dict.fromkeys(DERIVED_MIN_DISTINCT, 0)
    held_normal = 0
    for train, test in splitter.split(texts, is_scam):
        phrases = derive_script_phrases(
            [texts[i] for i in train if is_scam[i]],
            [texts[i] for i in train if not is_scam[i]],
            known_normal,
        )
        counts = count_phrases([p for p, _ in phrases], [texts[i] for i in test if not is_scam[i]])
        held_normal += len(counts)
        for m in DERIVED_MIN_DISTINCT:
            flagged[m] += sum(c >= m for c in counts)
    chosen = next(
        (m for m in DERIVED_MIN_DISTINCT if flagged[m] <= DERIVED_INNER_FP * held_normal),
        DERIVED_MIN_DISTINCT[-1],
    )
    return derive_script_phrases(scam, normal, known_normal), chosen


# -- the optional learned layer -----------------------------------------------------------------

VICTIM_LABEL = "victim"

# Labels of the Chinese telecom-fraud corpus (Telecom_Fraud_Texts_5) as the simulator's typologies.
CORPUS_TYPOLOGY = {
    "0": None,
    "冒充公检法及政府机关类": "other",
    "贷款、代办信用卡类": "advance_fee_loan",
    "冒充客服服务": "fake_customer_service",
    "冒充领导、熟人类": "other",
    # the customer's own account of a scam (shipped paraphrases): the lexicon names the type
    VICTIM_LABEL: None,
}


class ScamTextModel:
    """Character n-gram TF-IDF + logistic regression: P(scam) and a typology.

    Trained on (text, label) pairs where label "0" is normal and anything else a scam class
    (the Chinese telecom-fraud corpus: scripts as the fraudster writes them), plus
    ``extra_normal`` (ordinary customer messages) and ``extra_scam`` (customers describing a
    scam to an agent, class ``victim``). Applied to every text when it has seen non-Chinese
    examples, else only to texts with Chinese characters.
    """

    def __init__(self, C: float = 16.0) -> None:  # noqa: N803 (sklearn's name)
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression

        self.vectorizer = TfidfVectorizer(
            analyzer="char_wb",
            ngram_range=(1, 4),
            lowercase=True,
            sublinear_tf=True,
            min_df=2,
            max_features=300_000,
        )
        self.classifier = LogisticRegression(C=C, max_iter=3000)
        self.classes: list[str] = []
        self.multilingual = False

    def fit(
        self,
        texts: Sequence[str],
        labels: Sequence[str],
        extra_normal: Sequence[str] = (),
        extra_scam: Sequence[str] = (),
    ) -> ScamTextModel:
        """``extra_normal``: ordinary customer messages added to the normal class. The corpus'
        normal texts are marketing SMS, so without them anything conversational ("客服你好，
        我想…") looks like a scam script (style leakage)."""
        all_texts = [*texts, *extra_normal, *extra_scam]
        all_labels = [*labels, *(["0"] * len(extra_normal)), *([VICTIM_LABEL] * len(extra_scam))]
        matrix = self.vectorizer.fit_transform(all_texts)
        self.classifier.fit(matrix, all_labels)
        self.classes = [str(c) for c in self.classifier.classes_]
        self.multilingual = any(not has_cjk(t) for t in extra_scam)
        return self

    def applies_to(self, text: str) -> bool:
        return bool(getattr(self, "multilingual", False)) or has_cjk(text)

    def predict(self, text: str) -> tuple[float, str | None]:
        """(probability of a scam, the likeliest scam class mapped to a typology)."""
        proba = self.classifier.predict_proba(self.vectorizer.transform([text]))[0]
        normal = self.classes.index("0") if "0" in self.classes else -1
        p_scam = 1.0 - float(proba[normal]) if normal >= 0 else float(max(proba))
        best, best_p = None, -1.0
        for i, label in enumerate(self.classes):
            if i != normal and proba[i] > best_p:
                best, best_p = label, float(proba[i])
        typology = CORPUS_TYPOLOGY.get(best, "other") if best is not None else None
        return round(p_scam, 4), typology


@dataclass
class ScamResult:
    cue: bool
    score: float
    rule_score: float
    model_score: float | None
    type: str
    hits: list[CueHit]


class ScamDetector:
    """The lexicon, plus the learned model when one is loaded: score = max(rules, model)."""

    def __init__(
        self, model: ScamTextModel | None = None, cues: tuple[Cue, ...] | None = None
    ) -> None:
        """``cues``: the scam cues to use (default: the shipped lexicon's)."""
        self.model = model
        self.cues = SCAM_CUES if cues is None else cues

    @property
    def source(self) -> str:
        return "lexicon+char-ngram-model" if self.model is not None else "lexicon"

    def analyze(self, text: str) -> ScamResult:
        hits = find_cues(text, self.cues)
        score_rules = rule_score(hits)
        model_score: float | None = None
        model_type: str | None = None
        if self.model is not None and self.model.applies_to(text):
            model_score, model_type = self.model.predict(text)
        flagged_by_model = model_score is not None and model_score >= SCAM_THRESHOLD
        score = max(score_rules, model_score or 0.0)
        typology = rule_typology(hits) or (model_type if flagged_by_model else None) or "other"
        return ScamResult(
            score >= SCAM_THRESHOLD, round(score, 4), score_rules, model_score, typology, hits
        )


def cross_validate_scam(
    texts: list[str],
    labels: list[str],
    folds: int = 5,
    seed: int = 1,
    extra_normal: Sequence[str] = (),
    extra_scam: Sequence[str] = (),
) -> dict[str, Any]:
    """Stratified k-fold figures for the lexicon alone, the model alone and both combined:
    recall on each scam class and overall, and the share of normal ("0") texts flagged.

    "Lexicon" here is the hand-written cues only: the derived cue's phrases were written from
    this corpus, so the shipped lexicon on it is an in-sample figure; the derived cue's own
    cross-validation (phrases written per fold) is ``bench/eval_lexicon.py``'s."""
    from sklearn.model_selection import StratifiedKFold

    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    hand = tuple(c for c in SCAM_CUES if not c.provenance.lower().startswith("derived"))
    rules = ScamDetector(cues=hand)
    rule_flags = [rules.analyze(t).cue for t in texts]
    model_flags = [False] * len(texts)
    both_flags = [False] * len(texts)
    types: list[str] = [""] * len(texts)
    for train_idx, test_idx in splitter.split(texts, labels):
        model = ScamTextModel().fit(
            [texts[i] for i in train_idx], [labels[i] for i in train_idx], extra_normal, extra_scam
        )
        detector = ScamDetector(model, hand)
        for i in test_idx:
            result = detector.analyze(texts[i])
            both_flags[i] = result.cue
            model_flags[i] = (result.model_score or 0.0) >= SCAM_THRESHOLD
            types[i] = result.type

    def figures(flags: list[bool]) -> dict[str, Any]:
        normal = [f for f, y in zip(flags, labels, strict=True) if y == "0"]
        scam = [f for f, y in zip(flags, labels, strict=True) if y != "0"]
        per_class = {}
        for label in sorted(set(labels) - {"0"}):
            chosen = [f for f, y in zip(flags, labels, strict=True) if y == label]
            per_class[label] = round(sum(chosen) / len(chosen), 4)
        return {
            "recall": round(sum(scam) / max(1, len(scam)), 4),
            "normal_flagged": round(sum(normal) / max(1, len(normal)), 4),
            "recall_by_class": per_class,
        }

    typed = {}
    for label in sorted(set(labels) - {"0"}):
        expected = CORPUS_TYPOLOGY.get(label, "other")
        chosen = [t for t, y, f in zip(types, labels, both_flags, strict=True) if y == label and f]
        typed[label] = {
            "expected_type": expected,
            "type_agreement": round(sum(t == expected for t in chosen) / max(1, len(chosen)), 4),
        }
    return {
        "folds": folds,
        "seed": seed,
        "rows": len(texts),
        "normal": labels.count("0"),
        "extra_normal_in_training": len(extra_normal),
        "extra_scam_in_training": len(extra_scam),
        "lexicon": figures(rule_flags),
        "model": figures(model_flags),
        "combined": figures(both_flags),
        "scam_type": typed,
    }
