"""Rule sets as data: YAML in, a compiled, immutable :class:`RuleSet` out.

Every problem is reported with file, line and column (1-based) and nothing is half-loaded: a
rule set either compiles whole or is refused whole, so the active version keeps serving.
"""

from __future__ import annotations

import ast
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml

from lendguard.decisions.features.compute import FEATURE_NAMES, feature_cost
from lendguard.decisions.rules.language import (
    Compiled,
    CompiledExpression,
    ExpressionError,
    compile_expression,
    specialise,
    value_constraint,
)


class Action(StrEnum):
    """The intervention ladder, in order of strength."""

    allow = "allow"
    remind = "remind"
    dissuade = "dissuade"
    intercept = "intercept"
    block = "block"

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK = {a: i for i, a in enumerate(Action)}


class Category(StrEnum):
    fraud = "fraud"
    wellbeing = "wellbeing"
    compliance = "compliance"


class Measure(StrEnum):
    """Protective measures. Add members, never remove them."""

    VERIFY = "VERIFY"
    REVERIFY_ID = "REVERIFY_ID"
    DELAY = "DELAY"
    RESTRICT = "RESTRICT"
    SUSPEND = "SUSPEND"
    # Added by policy: a member of staff calls the customer back (R36 L2 for vulnerable people).
    CALLBACK = "CALLBACK"
    # The rescue ladder (R33): no new borrowing or limit, and an offer of a hardship plan.
    CREDIT_FREEZE = "CREDIT_FREEZE"
    HARDSHIP_PLAN_OFFERED = "HARDSHIP_PLAN_OFFERED"


LOCALES = ("zh-CN", "en")
SCORE_NAME = "score"
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_RULE_ID = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$")
_REASON = re.compile(r"^[A-Z][A-Z0-9_]{0,63}$")


@dataclass(frozen=True, slots=True)
class RuleProblem:
    file: str
    line: int
    column: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}: {self.message}"


class RuleSetError(Exception):
    def __init__(self, problems: list[RuleProblem]) -> None:
        super().__init__("; ".join(str(p) for p in problems))
        self.problems = problems


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    description: str
    category: Category
    action: Action
    reason: str
    weight: int
    measures: tuple[Measure, ...]
    messages: dict[str, str]
    condition: CompiledExpression
    uses_score: bool
    message_names: frozenset[str]
    # The customer sentence for this rule's reason (PIPL Art. 24), zh-CN and en: what was seen,
    # why it protects the borrower, what they can do next. Empty: the built-in catalogue
    # (decisions/explain.py) answers for the code; `lendguard rules lint` requires one of them.
    explanation: dict[str, str] = field(default_factory=dict)
    # The rule only escalates on combined evidence (its condition reads `score` and parameters,
    # no feature): its reason is a summary of the others and is never listed to the customer.
    escalates_on_score_only: bool = False


@dataclass(frozen=True, slots=True)
class RuleSet:
    name: str
    description: str
    params: dict[str, Any]
    rules: tuple[Rule, ...]
    score_cap: int
    source: str
    # Feature names any rule or message needs: only these are computed per event.
    feature_names: frozenset[str] = field(default_factory=frozenset)
    # Rules that do not read the score run first; those that do run once it is known.
    first_pass: tuple[Rule, ...] = ()
    second_pass: tuple[Rule, ...] = ()
    # first_pass indexed by event type: only the rules that can fire for that type.
    first_pass_by_type: dict[str, tuple[Rule, ...]] = field(default_factory=dict)
    second_pass_by_type: dict[str, tuple[Rule, ...]] = field(default_factory=dict)
    # The same lists as (condition specialised for the event type, rule): what the engine
    # runs. A condition's parts the type decides (``type == ...``, ``is_outflow``) are gone,
    # and rules the type rules out are left out.
    first_pass_tests_by_type: dict[str, tuple[tuple[Compiled, Rule], ...]] = field(
        default_factory=dict
    )
    second_pass_tests_by_type: dict[str, tuple[tuple[Compiled, Rule], ...]] = field(
        default_factory=dict
    )
    # first_pass_tests_by_type without the rules that cannot fire while no model score is
    # known (a top-level part compares ``model_score``, and a comparison with None is false):
    # what the engine runs when no model is active. Same order as the full lists.
    first_pass_tests_without_model_by_type: dict[str, tuple[tuple[Compiled, Rule], ...]] = field(
        default_factory=dict
    )
    # The lowest score at which any of a type's second-pass rules can fire (each reads
    # ``score >= K`` or ``score > K`` at its top level), or -inf when one of them has no such
    # floor: below it the second pass cannot add anything and is skipped.
    second_pass_floor_by_type: dict[str, float] = field(default_factory=dict)


MODEL_SCORE_NAME = "model_score"


def _conjuncts(tree: ast.expr) -> list[ast.expr]:
    """The parts that must all be true for the condition to be (the condition itself if it is
    not an ``and``)."""
    if isinstance(tree, ast.BoolOp) and isinstance(tree.op, ast.And):
        return list(tree.values)
    return [tree]


def needs_known(tree: ast.expr, name: str) -> bool:
    """Whether the condition is false whenever feature ``name`` is None: one of its top-level
    parts is a comparison with ``name`` as an operand (any comparison with None is false)."""
    for part in _conjuncts(tree):
        if isinstance(part, ast.Compare):
            operands = [part.left, *part.comparators]
            if any(isinstance(o, ast.Name) and o.id == name for o in operands):
                return True
    return False


def score_floor(tree: ast.expr, params: dict[str, Any]) -> float | None:
    """The score below which the condition is false (a top-level ``score >= K`` or
    ``score > K``, K a number or a numeric parameter), or None when it has no such part."""
    floor: float | None = None
    for part in _conjuncts(tree):
        if not (
            isinstance(part, ast.Compare)
            and len(part.ops) == 1
            and isinstance(part.ops[0], ast.GtE | ast.Gt)
            and isinstance(part.left, ast.Name)
            and part.left.id == SCORE_NAME
        ):
            continue
        right = part.comparators[0]
        value: Any = None
        if isinstance(right, ast.Constant):
            value = right.value
        elif isinstance(right, ast.Name) and right.id in params:
            value = params[right.id]
        if isinstance(value, int | float) and not isinstance(value, bool):
            floor = float(value) if floor is None else max(floor, float(value))
    return floor


class _Collector:
    def __init__(self, file: str) -> None:
        self.file = file
        self.problems: list[RuleProblem] = []

    def at(self, node: yaml.Node | None, message: str, dline: int = 0, dcol: int = 0) -> None:
        line = node.start_mark.line + 1 if node is not None else 1
        col = node.start_mark.column + 1 if node is not None else 1
        self.problems.append(RuleProblem(self.file, line + dline, col + dcol, message))


def _mapping(node: yaml.Node) -> dict[str, tuple[yaml.Node, yaml.Node]]:
    assert isinstance(node, yaml.MappingNode)
    return {k.value: (k, v) for k, v in node.value if isinstance(k, yaml.ScalarNode)}


def _scalar(node: yaml.Node) -> Any:
    return yaml.safe_load(yaml.serialize(node))


def load_ruleset_file(path: str | Path) -> RuleSet:
    path = Path(path)
    return parse_ruleset(path.read_text(encoding="utf-8"), file=str(path))


# The deepest a rule set's YAML may nest (mappings and lists): a real rule set needs 4 or 5;
# the composer recurses per level, so a deeper document is refused with its position first.
MAX_YAML_DEPTH = 32
_OPENS = (
    yaml.BlockMappingStartToken,
    yaml.BlockSequenceStartToken,
    yaml.FlowMappingStartToken,
    yaml.FlowSequenceStartToken,
)
_CLOSES = (yaml.BlockEndToken, yaml.FlowMappingEndToken, yaml.FlowSequenceEndToken)


def _too_deep(text: str, file: str) -> RuleProblem | None:
    """The first place the YAML nests deeper than :data:`MAX_YAML_DEPTH`, found with the
    (iterative) scanner; ``None`` when it does not, or when the scanner fails (the composer
    then reports the syntax error with its position)."""
    depth = 0
    try:
        for token in yaml.scan(text, Loader=yaml.SafeLoader):
            if isinstance(token, _OPENS):
                depth += 1
                if depth > MAX_YAML_DEPTH:
                    mark = token.start_mark
                    return RuleProblem(
                        file,
                        mark.line + 1,
                        mark.column + 1,
                        f"the rule set nests deeper than {MAX_YAML_DEPTH} levels",
                    )
            elif isinstance(token, _CLOSES):
                depth -= 1
    except yaml.YAMLError:
        return None
    return None


_SURROGATE = re.compile("[\ud800-\udfff]")


def _half_character(root: yaml.Node | None) -> yaml.ScalarNode | None:
    """The first scalar holding a lone UTF-16 surrogate (YAML's ``"\\ud800"`` escape): no text
    can be stored or sent with one (UTF-8 has no encoding for it), so the upload failed with an
    internal error after validate had said the set was valid."""
    stack = [root] if root is not None else []
    while stack:
        node = stack.pop()
        if isinstance(node, yaml.ScalarNode):
            if _SURROGATE.search(str(node.value)):
                return node
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(reversed(node.value))
        elif isinstance(node, yaml.MappingNode):
            for key, value in reversed(node.value):
                stack.extend((value, key))
    return None


def parse_ruleset(text: str, file: str = "<ruleset>") -> RuleSet:
    """Parse and compile; raise :class:`RuleSetError` listing every problem found."""
    out = _Collector(file)
    deep = _too_deep(text, file)
    if deep is not None:
        raise RuleSetError([deep])
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        col = mark.column + 1 if mark else 1
        raise RuleSetError(
            [RuleProblem(file, line, col, f"YAML syntax error: {exc.problem or exc}")]
        ) from None
    except yaml.reader.ReaderError as exc:
        # A character YAML does not allow in a document (a C1 control such as U+0098).
        before = text[: exc.position]
        line, col = before.count("\n") + 1, exc.position - (before.rfind("\n") + 1) + 1
        raise RuleSetError(
            [
                RuleProblem(
                    file, line, col, f"character U+{exc.character:04X} is not allowed in YAML"
                )
            ]
        ) from None
    half = _half_character(root)
    if half is not None:
        raise RuleSetError(
            [
                RuleProblem(
                    file,
                    half.start_mark.line + 1,
                    half.start_mark.column + 1,
                    "an escape such as \\ud800 is half of a UTF-16 pair, not a character: "
                    "write the character itself",
                )
            ]
        )
    if not isinstance(root, yaml.MappingNode):
        raise RuleSetError([RuleProblem(file, 1, 1, "a rule set must be a mapping with 'rules'")])
    top = _mapping(root)
    allowed_top = {"name", "description", "params", "rules", "score_cap"}
    for key, (knode, _) in top.items():
        if key not in allowed_top:
            out.at(knode, f"unknown key '{key}' (allowed: {sorted(allowed_top)})")

    params: dict[str, Any] = {}
    if "params" in top:
        pnode = top["params"][1]
        if not isinstance(pnode, yaml.MappingNode):
            out.at(pnode, "'params' must be a mapping of name: number or string")
        else:
            for key, (knode, vnode) in _mapping(pnode).items():
                value = _scalar(vnode) if isinstance(vnode, yaml.ScalarNode) else None
                if not re.fullmatch(r"[a-z_][a-z0-9_]*", key):
                    out.at(knode, f"parameter name '{key}' must be lower_snake_case")
                elif key in FEATURE_NAMES or key == SCORE_NAME:
                    out.at(knode, f"parameter '{key}' shadows a feature name")
                elif isinstance(value, bool) or not isinstance(value, int | float | str):
                    out.at(vnode, f"parameter '{key}' must be a number or a string")
                else:
                    params[key] = value

    def known(name: str) -> bool:
        return name in FEATURE_NAMES or name in params or name == SCORE_NAME

    score_cap = 100
    if "score_cap" in top:
        value = _scalar(top["score_cap"][1])
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            out.at(top["score_cap"][1], "'score_cap' must be a positive integer")
        else:
            score_cap = value

    rules: list[Rule] = []
    if "rules" not in top:
        out.at(root, "missing 'rules'")
    else:
        rules_node = top["rules"][1]
        if not isinstance(rules_node, yaml.SequenceNode) or not rules_node.value:
            out.at(rules_node, "'rules' must be a non-empty list")
        else:
            seen: set[str] = set()
            for rnode in rules_node.value:
                rule = _parse_rule(rnode, out, known, params)
                if rule is None:
                    continue
                if rule.id in seen:
                    out.at(rnode, f"duplicate rule id '{rule.id}'")
                seen.add(rule.id)
                rules.append(rule)
    if out.problems:
        raise RuleSetError(out.problems)

    names: set[str] = set()
    for rule in rules:
        names |= rule.condition.names | rule.message_names
    feature_names = frozenset(n for n in names if n in FEATURE_NAMES)
    first_pass_by_type = _index_by_type([r for r in rules if not r.uses_score])
    second_pass_by_type = _index_by_type([r for r in rules if r.uses_score])
    name = _scalar(top["name"][1]) if "name" in top else "unnamed"
    description = _scalar(top["description"][1]) if "description" in top else ""
    first_tests = _specialise_by_type(first_pass_by_type, known, params)
    return RuleSet(
        name=str(name),
        description=str(description or ""),
        params=params,
        rules=tuple(rules),
        score_cap=score_cap,
        source=text,
        feature_names=feature_names,
        first_pass=tuple(r for r in rules if not r.uses_score),
        second_pass=tuple(r for r in rules if r.uses_score),
        first_pass_by_type=first_pass_by_type,
        second_pass_by_type=second_pass_by_type,
        first_pass_tests_by_type=first_tests,
        second_pass_tests_by_type=_specialise_by_type(second_pass_by_type, known, params),
        first_pass_tests_without_model_by_type={
            kind: tuple(
                (test, rule)
                for test, rule in tests
                if not needs_known(rule.condition.tree, MODEL_SCORE_NAME)
            )
            for kind, tests in first_tests.items()
        },
        second_pass_floor_by_type={
            kind: _lowest_floor(rules, params) for kind, rules in second_pass_by_type.items()
        },
    )


def _lowest_floor(rules: tuple[Rule, ...], params: dict[str, Any]) -> float:
    floors = [score_floor(rule.condition.tree, params) for rule in rules]
    if not floors or any(f is None for f in floors):
        return -math.inf
    return min(f for f in floors if f is not None)


def _index_by_type(rules: list[Rule]) -> dict[str, tuple[Rule, ...]]:
    """Rules per event type, in file order; a rule with no type constraint is in every list."""
    from lendguard.events.schemas import OUTFLOW_TYPES, EventType

    outflow = frozenset(t.value for t in OUTFLOW_TYPES)
    implied = {"is_outflow": outflow, "is_new_payee": outflow}
    index: dict[str, tuple[Rule, ...]] = {}
    constraints = [value_constraint(r.condition.tree, implied, "type") for r in rules]
    for event_type in EventType:
        index[event_type.value] = tuple(
            r for r, c in zip(rules, constraints, strict=True) if c is None or event_type.value in c
        )
    return index


def _specialise_by_type(
    by_type: dict[str, tuple[Rule, ...]], known: Callable[[str], bool], params: dict[str, Any]
) -> dict[str, tuple[tuple[Compiled, Rule], ...]]:
    """Each type's rules with their conditions compiled for that type (see ``RuleSet``)."""
    from lendguard.events.schemas import OUTFLOW_TYPES, EventType

    outflow = frozenset(t.value for t in OUTFLOW_TYPES)
    out: dict[str, tuple[tuple[Compiled, Rule], ...]] = {}
    for event_type, rules in by_type.items():
        # Features the event type alone decides (see their functions in features/compute.py).
        constants = {
            **params,
            "type": event_type,
            "is_outflow": event_type in outflow,
        }
        if event_type not in outflow:
            constants["is_new_payee"] = False
        if event_type != EventType.limit_change.value:
            constants["is_limit_increase"] = False
        tests: list[tuple[Compiled, Rule]] = []
        for rule in rules:
            test, fixed = specialise(rule.condition, known, constants, feature_cost)
            if fixed is False:
                continue
            tests.append((test, rule))
        out[event_type] = tuple(tests)
    return out


_RULE_KEYS = {
    "id",
    "description",
    "category",
    "when",
    "action",
    "reason",
    "weight",
    "measures",
    "message",
    "explanation",
    "enabled",
}


def _parse_rule(
    node: yaml.Node, out: _Collector, known: Any, params: dict[str, Any]
) -> Rule | None:
    if not isinstance(node, yaml.MappingNode):
        out.at(node, "each rule must be a mapping")
        return None
    before = len(out.problems)
    fields = _mapping(node)
    for key, (knode, _) in fields.items():
        if key not in _RULE_KEYS:
            out.at(knode, f"unknown rule key '{key}' (allowed: {sorted(_RULE_KEYS)})")
    for required in ("id", "when", "action", "reason", "category"):
        if required not in fields:
            out.at(node, f"rule is missing '{required}'")
    if len(out.problems) > before:
        return None

    def value(key: str, default: Any = None) -> Any:
        if key not in fields:
            return default
        vnode = fields[key][1]
        return _scalar(vnode)

    rule_id = str(value("id"))
    if not _RULE_ID.match(rule_id):
        out.at(fields["id"][1], f"rule id '{rule_id}' must be letters, digits, '_', '.' or '-'")
    try:
        action = Action(str(value("action")))
    except ValueError:
        out.at(fields["action"][1], f"action must be one of {[a.value for a in Action]}")
        action = Action.allow
    try:
        category = Category(str(value("category")))
    except ValueError:
        out.at(fields["category"][1], f"category must be one of {[c.value for c in Category]}")
        category = Category.fraud
    reason = str(value("reason"))
    if not _REASON.match(reason):
        out.at(fields["reason"][1], "reason must be an UPPER_SNAKE_CASE code")
    weight = value("weight", 0)
    if not isinstance(weight, int) or isinstance(weight, bool) or not 0 <= weight <= 100:
        out.at(fields["weight"][1], "weight must be an integer from 0 to 100")
        weight = 0
    measures: list[Measure] = []
    raw_measures = value("measures", []) or []
    if not isinstance(raw_measures, list):
        out.at(fields["measures"][1], "measures must be a list")
    else:
        for m in raw_measures:
            try:
                measures.append(Measure(str(m)))
            except ValueError:
                out.at(
                    fields["measures"][1], f"unknown measure '{m}' ({[x.value for x in Measure]})"
                )
    enabled = value("enabled", True)
    if not isinstance(enabled, bool):
        out.at(fields["enabled"][1], "enabled must be true or false")

    when_node = fields["when"][1]
    condition: CompiledExpression | None = None
    if not isinstance(when_node, yaml.ScalarNode):
        out.at(when_node, "'when' must be an expression string")
    else:
        try:
            condition = compile_expression(str(when_node.value), known, params)
        except ExpressionError as exc:
            _report_expression_error(out, when_node, exc)

    messages: dict[str, str] = {}
    message_names: set[str] = set()
    if "message" in fields:
        mnode = fields["message"][1]
        if not isinstance(mnode, yaml.MappingNode):
            out.at(mnode, "message must be a mapping of locale: text")
        else:
            for locale, (lnode, tnode) in _mapping(mnode).items():
                if locale not in LOCALES:
                    out.at(lnode, f"unknown locale '{locale}' (use {list(LOCALES)})")
                    continue
                text = str(_scalar(tnode))
                for match in _PLACEHOLDER.finditer(text):
                    if not known(match.group(1)):
                        out.at(tnode, f"unknown placeholder '{{{match.group(1)}}}' in message")
                    elif match.group(1) != SCORE_NAME:
                        message_names.add(match.group(1))
                messages[locale] = text
            for locale in LOCALES:
                if locale not in messages:
                    out.at(mnode, f"message needs a '{locale}' text")
    elif action != Action.allow:
        out.at(node, "a rule that acts needs a 'message' in zh-CN and en")

    explanation: dict[str, str] = {}
    if "explanation" in fields:
        enode = fields["explanation"][1]
        if not isinstance(enode, yaml.MappingNode):
            out.at(enode, "explanation must be a mapping of locale: text")
        else:
            for locale, (lnode, tnode) in _mapping(enode).items():
                if locale not in LOCALES:
                    out.at(lnode, f"unknown locale '{locale}' (use {list(LOCALES)})")
                    continue
                text = str(_scalar(tnode) or "").strip()
                if not text:
                    out.at(tnode, f"the '{locale}' explanation is empty")
                elif _PLACEHOLDER.search(text):
                    # Explained long after the event, from the stored decision: nothing to fill in.
                    out.at(tnode, "an explanation is plain text: no {placeholders}")
                explanation[locale] = text
            for locale in LOCALES:
                if locale not in explanation:
                    out.at(enode, f"explanation needs a '{locale}' text")

    if len(out.problems) > before or condition is None or not enabled:
        return None
    return Rule(
        id=rule_id,
        description=str(value("description", "") or ""),
        category=category,
        action=action,
        reason=reason,
        weight=int(weight),
        measures=tuple(measures),
        messages=messages,
        condition=condition,
        uses_score=SCORE_NAME in condition.names,
        message_names=frozenset(n for n in message_names if n not in params),
        explanation=explanation,
        escalates_on_score_only=SCORE_NAME in condition.names
        and all(n == SCORE_NAME or n in params for n in condition.names),
    )


def _report_expression_error(out: _Collector, node: yaml.ScalarNode, exc: ExpressionError) -> None:
    """Map a position inside the expression to the file's line and column."""
    positions = _value_positions(node)
    if positions:
        line, column = positions[min(exc.offset, len(positions) - 1)]
    else:
        line, column = node.start_mark.line + 1, node.start_mark.column + 1
    out.problems.append(RuleProblem(out.file, line, column, exc.message))


def _value_positions(node: yaml.ScalarNode) -> list[tuple[int, int]]:
    """(line, column) in the file, 1-based, of each character of the scalar's value.

    Mirrors YAML folding: plain, quoted and folded (>) scalars join their lines with one space,
    literal (|) scalars with a newline; indentation and trailing spaces are not part of the value.
    """
    mark, end = node.start_mark, node.end_mark
    if not mark.buffer:
        return []
    raw = mark.buffer[mark.index : end.index]
    positions: list[tuple[int, int]] = []
    if node.style in ("|", ">"):
        content = raw.split("\n")[1:]
        first = next((line for line in content if line.strip()), "")
        indent = len(first) - len(first.lstrip(" "))  # the block's indentation
        for i, line in enumerate(content, start=1):
            body = line[indent:] if node.style == "|" else line[indent:].rstrip()
            for j in range(len(body)):
                positions.append((mark.line + i + 1, indent + j + 1))
            positions.append((mark.line + i + 1, indent + len(body) + 1))
        return positions
    quote = 1 if node.style in ("'", '"') else 0
    lines = raw.split("\n")
    for i, line in enumerate(lines):
        if i == 0:
            body, col0 = line[quote:], mark.column + quote
        else:
            body = line.lstrip()
            col0 = len(line) - len(body)
        body = body.rstrip()
        if quote and i == len(lines) - 1 and body.endswith(("'", '"')):
            body = body[:-1]
        for j in range(len(body)):
            positions.append((mark.line + i + 1, col0 + j + 1))
        positions.append((mark.line + i + 1, col0 + len(body) + 1))
    return positions


def render_message(template: str, values: dict[str, Any], params: dict[str, Any]) -> str:
    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        try:
            value = values[name]  # may compute a lazily evaluated feature
        except KeyError:
            value = params.get(name)
        if value is None:
            return "-"
        if isinstance(value, float):
            return f"{value:,.0f}" if value.is_integer() else f"{value:,.2f}"
        return str(value)

    return _PLACEHOLDER.sub(fill, template)
