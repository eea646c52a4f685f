"""The customer-text lint of a rule set: ``lendguard rules lint`` and the rule-set upload.

A rule set that compiles can still tell a borrower nothing, or the wrong thing: a reason with no
customer sentence (PIPL Art. 24 then falls back to an internal description), or a message that
quotes a requirement id ("R30"), a parameter name ("scam_cue_hours"), a tuning note
("placeholder") or English words in the Chinese text. The lint finds both, with the position of
each finding (rule index and id, field path, file line and column), so an author can fix it
before the version is stored.

:func:`lint_ruleset` is pure: it reads the compiled rule set and its own YAML source, nothing
else. The catalogue it checks reasons against defaults to the built-in one
(:data:`lendguard.decisions.explain.REASON_TEXT`).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from lendguard.decisions.rules.loader import LOCALES, RuleSet

# Finding codes (stable: tests, the CLI's --json and the API's problem documents use them).
MISSING_EXPLANATION = "MISSING_EXPLANATION"
REQUIREMENT_ID = "REQUIREMENT_ID"
SNAKE_CASE_NAME = "SNAKE_CASE_NAME"
PLACEHOLDER_WORD = "PLACEHOLDER_WORD"
LATIN_IN_CHINESE = "LATIN_IN_CHINESE"
NOT_TEXT = "NOT_TEXT"
EMPTY_TEXT = "EMPTY_TEXT"
CONTROL_CHARACTER = "CONTROL_CHARACTER"
UNFILLED_PLACEHOLDER = "UNFILLED_PLACEHOLDER"
TOO_LONG = "TOO_LONG"

# A customer text longer than this is not a sentence but a mistake (a pasted file): three times
# the longest built-in explanation.
MAX_TEXT_CHARS = 1000
# Full-width ASCII (U+FF01..U+FF5E) read as ASCII for the checks: "Ｒ３０" quotes R30 and
# "ｐｌａｃｅｈｏｌｄｅｒ" is the tuning note to a reader, whatever the code points.
_FULL_WIDTH = {0xFF01 + i: 0x21 + i for i in range(0x5E)}

_ASCII_WORD = "A-Za-z0-9"
_REQUIREMENT_ID = re.compile(rf"(?<![{_ASCII_WORD}])R\d+(?![{_ASCII_WORD}])")
_SNAKE_CASE = re.compile(rf"(?<![{_ASCII_WORD}_])[A-Za-z][A-Za-z0-9]*(?:_[A-Za-z0-9]+)+")
_PLACEHOLDER_WORD = re.compile(r"placeholder|占位", re.IGNORECASE)
# ASCII and full-width Latin letters.
_LATIN_WORD = re.compile(r"[A-Za-z\uff21-\uff3a\uff41-\uff5a]+")
# {name} in a message is filled with the event's value before a customer sees it.
_TEMPLATE = re.compile(r"\{[A-Za-z_][A-Za-z0-9_]*\}")
# Latin letters a Chinese reader meets as they are: currency codes next to an amount. Nothing
# else: an app, a screen share or an identity check all have ordinary Chinese words.
ALLOWED_LATIN_IN_CHINESE = frozenset({"CNY", "RMB"})


@dataclass(frozen=True, slots=True)
class LintFinding:
    """One problem, where it is: ``field`` is the path inside the rule set
    (``rules[3].message.zh-CN``); ``line``/``column`` are 1-based in ``file``."""

    file: str
    line: int
    column: int
    rule_index: int | None
    rule_id: str | None
    field: str
    code: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def __str__(self) -> str:
        rule = f" rule '{self.rule_id}'" if self.rule_id else ""
        return f"{self.file}:{self.line}:{self.column}:{rule} {self.field}: {self.message}"


def _hidden(char: str) -> bool:
    """A control or format character (zero-width space, direction override, bell, NUL...);
    a line break is fine."""
    return char != "\n" and unicodedata.category(char) in ("Cc", "Cf")


def text_problems(text: str, locale: str) -> list[tuple[str, str]]:
    """``(code, message)`` for each thing in a customer-facing text a customer should not read.

    The word checks read the text as a customer sees it: invisible characters dropped and
    full-width letters and digits as ASCII, so neither hides an id, a name or a note."""
    out: list[tuple[str, str]] = []
    if not text.strip():
        return [(EMPTY_TEXT, "is empty: the customer would read nothing")]
    if len(text) > MAX_TEXT_CHARS:
        out.append(
            (TOO_LONG, f"is {len(text)} characters long (at most {MAX_TEXT_CHARS} for a customer)")
        )
    hidden = sorted({f"U+{ord(c):04X}" for c in text if _hidden(c)})
    if hidden:
        out.append(
            (CONTROL_CHARACTER, f"contains invisible or control characters: {', '.join(hidden)}")
        )
    # Braces the message renderer does not fill reach the customer as they are.
    braces = re.findall(
        r"[{}\uff5b\uff5d][^{}\uff5b\uff5d]{0,40}[{}\uff5b\uff5d]?", _TEMPLATE.sub(" ", text)
    )
    if braces:
        shown = ", ".join(list(dict.fromkeys(braces))[:5])
        message = f"has braces a customer would read as they are: {shown}"
        out.append((UNFILLED_PLACEHOLDER, message))
    readable = "".join(c for c in text if not _hidden(c)).translate(_FULL_WIDTH)
    body = _TEMPLATE.sub(" ", readable)
    ids = sorted(set(_REQUIREMENT_ID.findall(body)))
    if ids:
        out.append((REQUIREMENT_ID, f"quotes requirement id {', '.join(ids)}"))
    names = sorted(set(_SNAKE_CASE.findall(body)))
    if names:
        out.append((SNAKE_CASE_NAME, f"contains the internal name {', '.join(names)}"))
    if _PLACEHOLDER_WORD.search(body):
        out.append((PLACEHOLDER_WORD, "says 'placeholder': an internal tuning note"))
    if locale == "zh-CN":
        # Ids and names already reported are not reported twice.
        rest = _SNAKE_CASE.sub(" ", _REQUIREMENT_ID.sub(" ", body))
        rest = _PLACEHOLDER_WORD.sub(" ", rest)
        words = [w for w in _LATIN_WORD.findall(rest) if w not in ALLOWED_LATIN_IN_CHINESE]
        if words:
            listed = ", ".join(list(dict.fromkeys(words))[:10])  # a pasted page: the first ten
            out.append(
                (LATIN_IN_CHINESE, f"has Latin-alphabet words in the Chinese text: {listed}")
            )
    return out


def _catalogue() -> Mapping[str, Mapping[str, str]]:
    from lendguard.decisions.explain import REASON_TEXT

    return REASON_TEXT


def lint_ruleset(
    ruleset: RuleSet,
    file: str = "<ruleset>",
    catalogue: Mapping[str, Mapping[str, str]] | None = None,
) -> list[LintFinding]:
    """Every finding of a compiled rule set, in file order.

    Active rules only (a rule with ``enabled: false`` is not compiled and never reaches a
    customer). A rule needs a customer sentence for its reason in zh-CN and en, its own
    ``explanation`` or the catalogue's, unless it only escalates on ``score`` (its reason is a
    summary that is never listed). Its ``message`` and ``explanation`` texts are checked with
    :func:`text_problems`.
    """
    catalogue = _catalogue() if catalogue is None else catalogue
    compiled = {rule.id: rule for rule in ruleset.rules}
    findings: list[LintFinding] = []
    for index, node in _rule_nodes(ruleset.source):
        fields = {k.value: (k, v) for k, v in node.value if isinstance(k, yaml.ScalarNode)}
        id_node = fields.get("id", (None, None))[1]
        rule_id = str(id_node.value) if isinstance(id_node, yaml.ScalarNode) else None
        rule = compiled.get(rule_id or "")
        if rule is None:
            continue  # disabled

        where = (file, index, rule_id)
        if not rule.escalates_on_score_only:
            known = rule.explanation or catalogue.get(rule.reason, {})
            missing = [loc for loc in LOCALES if not known.get(loc)]
            if missing:
                message = (
                    f"reason {rule.reason} has no customer sentence in {' and '.join(missing)}: "
                    "add an 'explanation' with zh-CN and en to the rule"
                )
                findings.append(
                    _finding(*where, fields["reason"][1], "reason", MISSING_EXPLANATION, message)
                )
        for key in ("message", "explanation"):
            texts = fields.get(key, (None, None))[1]
            if not isinstance(texts, yaml.MappingNode):
                continue
            for lnode, tnode in texts.value:
                if lnode.value not in LOCALES:
                    continue
                path = f"{key}.{lnode.value}"
                if not isinstance(tnode, yaml.ScalarNode) or tnode.tag != _YAML_STR:
                    # YAML read a mapping, a list, a number, true/false or null: the loader
                    # turned it into text ("{'a': 1}", "None") and a customer would read that.
                    message = "is not text: write the sentence (in quotes where YAML reads a type)"
                    findings.append(_finding(*where, tnode, path, NOT_TEXT, message))
                    continue
                for code, message in text_problems(str(tnode.value), str(lnode.value)):
                    findings.append(_finding(*where, tnode, path, code, message))
    return findings


_YAML_STR = "tag:yaml.org,2002:str"


def _finding(
    file: str,
    index: int,
    rule_id: str | None,
    at: yaml.Node,
    path: str,
    code: str,
    message: str,
) -> LintFinding:
    return LintFinding(
        file=file,
        line=at.start_mark.line + 1,
        column=at.start_mark.column + 1,
        rule_index=index,
        rule_id=rule_id,
        field=f"rules[{index}].{path}",
        code=code,
        message=message,
    )


def lint_catalogue(
    catalogue: Mapping[str, Mapping[str, str]] | None = None,
) -> list[LintFinding]:
    """The same text checks over the built-in sentences (every code in zh-CN and en)."""
    catalogue = _catalogue() if catalogue is None else catalogue
    findings: list[LintFinding] = []
    for code, texts in catalogue.items():
        for locale in LOCALES:
            field = f"catalogue.{code}.{locale}"
            text = texts.get(locale)
            problems = (
                [(MISSING_EXPLANATION, f"no {locale} sentence")]
                if not text
                else text_problems(text, locale)
            )
            for problem, message in problems:
                findings.append(
                    LintFinding("decisions/explain.py", 1, 1, None, None, field, problem, message)
                )
    return findings


def _rule_nodes(source: str) -> Iterable[tuple[int, yaml.MappingNode]]:
    """``(index, node)`` of each rule mapping in the source (it already compiled)."""
    root = yaml.compose(source, Loader=yaml.SafeLoader)
    if not isinstance(root, yaml.MappingNode):
        return
    for key, value in root.value:
        if isinstance(key, yaml.ScalarNode) and key.value == "rules":
            if isinstance(value, yaml.SequenceNode):
                for index, node in enumerate(value.value):
                    if isinstance(node, yaml.MappingNode):
                        yield index, node


def shipped_rulesets() -> list[Path]:
    """Every rule set shipped in the package (the YAML files beside the loader)."""
    folder = resources.files("lendguard.decisions.rules")
    return sorted(
        Path(str(item))
        for item in folder.iterdir()
        if item.name.endswith((".yaml", ".yml")) and item.is_file()
    )
