"""The rule condition language: a small, safe subset of Python expression syntax.

Rule text is parsed with :mod:`ast` and compiled into a tree of closures once, at load time.
Nothing is ever passed to ``eval``/``exec``; only the node types listed here are accepted, and
every name must be a known feature, event field, rule-set parameter or ``score``.

Allowed: numbers, strings, ``True``/``False``/``None``, lists or tuples of constants,
``and``/``or``/``not``, comparisons (``< <= > >= == != in not in``, chained),
``+ - * / %``, unary minus, and the functions ``min``, ``max``, ``abs``, ``coalesce``.

``None`` means "not known" (no earlier disbursement, no birth date): any comparison with ``None``
is false and arithmetic with ``None`` gives ``None``, so a rule never fires on missing data.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

Env = Mapping[str, Any]
Compiled = Callable[[Env], Any]


class ExpressionError(Exception):
    """A problem at a position inside the expression text.

    ``line`` and ``column`` are 1-based and count characters (not UTF-8 bytes) of the text as
    given; ``offset`` is the 0-based character offset of the same position.
    """

    def __init__(self, message: str, line: int, column: int, offset: int = 0) -> None:
        super().__init__(message, line, column)
        self.message = message
        self.line = line
        self.column = column
        self.offset = offset

    def __str__(self) -> str:
        return f"{self.message} (line {self.line}, column {self.column} of the expression)"


_COMPARE: dict[type[ast.cmpop], Callable[[Any, Any], bool]] = {
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.In: lambda a, b: a in b,
    ast.NotIn: lambda a, b: a not in b,
}
_ARITH: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.Mod: operator.mod,
}


_NUMBER = frozenset({int, float})


def _coalesce(*values: Any) -> Any:
    for value in values:
        if value is not None:
            return value
    return None


def _none_safe(fn: Callable[..., Any]) -> Callable[..., Any]:
    def call(*args: Any) -> Any:
        if any(a is None for a in args):
            return None
        return fn(*args)

    return call


_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "min": _none_safe(min),
    "max": _none_safe(max),
    "abs": _none_safe(abs),
    "coalesce": _coalesce,
}


@dataclass(frozen=True, slots=True)
class CompiledExpression:
    source: str
    names: frozenset[str]
    evaluate: Compiled
    tree: ast.expr


# The deepest an expression may nest (operators, calls, brackets): far beyond any rule a person
# writes, and shallow enough that compiling and evaluating never approach Python's recursion
# limit (a deeper expression is refused with its position, never a server error).
MAX_EXPRESSION_DEPTH = 64
# The longest expression text: the parser's own memory and time stay small.
MAX_EXPRESSION_CHARS = 10_000


def _too_deep(tree: ast.AST) -> ast.AST | None:
    """The first node nested deeper than :data:`MAX_EXPRESSION_DEPTH`, found without recursion."""
    stack: list[tuple[ast.AST, int]] = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_EXPRESSION_DEPTH:
            return node
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))
    return None


def compile_expression(
    source: str,
    known_names: Callable[[str], bool],
    constants: Mapping[str, Any] | None = None,
) -> CompiledExpression:
    """Parse and compile ``source``; raise :class:`ExpressionError` with its position.

    ``constants`` are names whose value is fixed for the compiled expression's life (a rule
    set's parameters): they are folded in at compile time, so ``amount >= large_amount`` costs
    one look-up per event instead of two. They still count among the expression's ``names``.
    """
    text = source.strip()
    lead = len(source) - len(source.lstrip())
    if len(text) > MAX_EXPRESSION_CHARS:
        raise ExpressionError(
            f"the expression is longer than {MAX_EXPRESSION_CHARS} characters", 1, 1, 0
        )
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        # SyntaxError columns already count characters.
        raise _positioned(
            source, text, lead, f"syntax error: {exc.msg}", exc.lineno or 1, (exc.offset or 1) - 1
        ) from None
    except (RecursionError, MemoryError):
        raise ExpressionError(
            f"the expression nests deeper than {MAX_EXPRESSION_DEPTH} levels", 1, 1, 0
        ) from None
    deep = _too_deep(tree.body)
    if deep is not None:
        lines = text.split("\n")
        lineno = getattr(deep, "lineno", 1)
        line_text = lines[lineno - 1] if lineno <= len(lines) else ""
        byte_col = getattr(deep, "col_offset", 0)
        char_col = len(line_text.encode("utf-8")[:byte_col].decode("utf-8", "ignore"))
        raise _positioned(
            source,
            text,
            lead,
            f"the expression nests deeper than {MAX_EXPRESSION_DEPTH} levels",
            lineno,
            char_col,
        )
    names: set[str] = set()
    try:
        fn = _Compiler(known_names, names, constants or {}).visit(tree.body)
    except _NodeError as exc:
        lines = text.split("\n")
        line_text = lines[exc.lineno - 1] if exc.lineno <= len(lines) else ""
        # AST columns count UTF-8 bytes; positions are reported in characters.
        char_col = len(line_text.encode("utf-8")[: exc.col_offset].decode("utf-8", "ignore"))
        raise _positioned(source, text, lead, exc.message, exc.lineno, char_col) from None
    return CompiledExpression(source=source, names=frozenset(names), evaluate=fn, tree=tree.body)


def specialise(
    expression: CompiledExpression,
    known_names: Callable[[str], bool],
    constants: Mapping[str, Any],
    cost: Callable[[str], int] | None = None,
) -> tuple[Compiled, Any]:
    """The expression compiled again with more names fixed (a rule for one event type:
    ``type`` and ``is_outflow`` are known in advance), and its value when the constants alone
    decide it (``_NO_VALUE``-free: ``None`` when the result still depends on the event).

    ``cost`` (name -> relative cost of reading it per event) reorders the parts of every
    ``and``/``or`` cheapest first (stable: equal costs keep their written order). Feature
    reads are pure and every part yields a plain truth value, so the order changes which
    features get computed, never the result: ``large and is_new_payee`` stops at an ordinary
    amount before the customer's known payees are looked up.

    Evaluating the returned closure gives the same truth value as ``expression.evaluate`` for
    every environment that agrees with ``constants``.
    """
    compiler = _Compiler(known_names, set(), constants, cost)
    fn = compiler.visit(expression.tree)
    value = compiler.static_value(expression.tree)
    return fn, None if value is _NO_VALUE else bool(value)


def _positioned(
    source: str, text: str, lead: int, message: str, lineno: int, col0: int
) -> ExpressionError:
    """An error at (line, 0-based char column) of the stripped text, placed in ``source``."""
    lines = text.split("\n")
    lineno = max(1, min(lineno, len(lines)))
    offset = lead + sum(len(line) + 1 for line in lines[: lineno - 1]) + max(0, col0)
    offset = min(offset, max(0, len(source) - 1))
    before = source[:offset]
    line = before.count("\n") + 1
    column = offset - (before.rfind("\n") + 1) + 1
    return ExpressionError(message, line, column, offset)


class _NodeError(Exception):
    def __init__(self, message: str, lineno: int, col_offset: int) -> None:
        super().__init__(message)
        self.message = message
        self.lineno = lineno
        self.col_offset = col_offset


def _error(node: ast.AST, message: str) -> _NodeError:
    return _NodeError(message, getattr(node, "lineno", 1), getattr(node, "col_offset", 0))


_NO_VALUE = object()


def _always_false(env: Env) -> bool:
    return False


class _Compiler:
    """AST node -> closure. Hot shapes get closures of their own (a name compared with a
    constant, ``and``/``or`` of a few parts, a bare name as a guard): the engine evaluates some
    fifty conditions per event, and each Python call saved there is measurable end to end."""

    def __init__(
        self,
        known_names: Callable[[str], bool],
        names: set[str],
        constants: Mapping[str, Any],
        cost: Callable[[str], int] | None = None,
    ) -> None:
        self.known_names = known_names
        self.names = names
        self.constants = constants
        self.cost = cost

    def node_cost(self, node: ast.AST) -> int:
        """What evaluating ``node`` may cost per event: the costs of the names it reads
        (constants are free)."""
        cost = self.cost
        assert cost is not None
        total = 0
        for sub in ast.walk(node):
            if (
                isinstance(sub, ast.Name)
                and sub.id not in self.constants
                and sub.id not in ("true", "false")
            ):
                total += cost(sub.id)
        return total

    def visit(self, node: ast.AST) -> Compiled:
        method = getattr(self, f"visit_{type(node).__name__}", None)
        if method is None:
            raise _error(node, f"'{type(node).__name__}' is not allowed in a rule condition")
        compiled: Compiled = method(node)
        if self.constants and isinstance(node, ast.BoolOp | ast.Compare | ast.UnaryOp):
            # A part whose value the constants fix (``type == 'transfer'`` where the event
            # type is one of them) is evaluated once here, never per event.
            value = self.static_value(node)
            if value is not _NO_VALUE:
                return lambda env: value
        return compiled

    def static_value(self, node: ast.AST) -> Any:
        """The node's value when constants alone decide it (same semantics as its closure),
        else ``_NO_VALUE``."""
        if isinstance(node, ast.List | ast.Tuple):
            if all(isinstance(e, ast.Constant) for e in node.elts):
                return frozenset(e.value for e in node.elts)  # type: ignore[attr-defined]
            return _NO_VALUE
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            operand = self.static_value(node.operand)
            return operand if operand is _NO_VALUE else not operand
        if isinstance(node, ast.BoolOp):
            values = [self.static_value(v) for v in node.values]
            if isinstance(node.op, ast.And):
                if any(v is not _NO_VALUE and not v for v in values):
                    return False
                return True if all(v is not _NO_VALUE for v in values) else _NO_VALUE
            if any(v is not _NO_VALUE and v for v in values):
                return True
            return False if all(v is not _NO_VALUE for v in values) else _NO_VALUE
        if isinstance(node, ast.Compare):
            operands = [self.static_value(node.left)]
            operands += [self.static_value(c) for c in node.comparators]
            if any(v is _NO_VALUE for v in operands):
                return _NO_VALUE
            a = operands[0]
            for op_node, b in zip(node.ops, operands[1:], strict=True):
                op = _COMPARE.get(type(op_node))
                if op is None or a is None or b is None:
                    return False
                try:
                    if not op(a, b):
                        return False
                except TypeError:
                    return False
                a = b
            return True
        return self.constant_of(node)

    def constant_of(self, node: ast.AST) -> Any:
        """The node's value when it is fixed at compile time, else ``_NO_VALUE``."""
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Name):
            if node.id in ("true", "false"):
                return node.id == "true"
            if node.id in self.constants:
                return self.constants[node.id]
        return _NO_VALUE

    def feature_name(self, node: ast.AST) -> str | None:
        """The name a node reads from the environment per event (a feature, ``score``)."""
        if (
            isinstance(node, ast.Name)
            and node.id not in ("true", "false")
            and node.id not in self.constants
            and node.id in self.names
        ):
            return node.id
        return None

    def visit_Constant(self, node: ast.Constant) -> Compiled:
        value = node.value
        if not isinstance(value, int | float | str | bool) and value is not None:
            raise _error(node, f"constant {value!r} is not allowed")
        return lambda env: value

    def _constant_collection(self, node: ast.List | ast.Tuple) -> Compiled:
        items = []
        for element in node.elts:
            if not isinstance(element, ast.Constant):
                raise _error(element, "lists may only hold constants")
            items.append(element.value)
        frozen = frozenset(items)
        return lambda env: frozen

    visit_List = _constant_collection
    visit_Tuple = _constant_collection

    def visit_Name(self, node: ast.Name) -> Compiled:
        name = node.id
        if name in ("true", "false"):
            constant = name == "true"
            return lambda env: constant
        if not self.known_names(name):
            raise _error(node, f"unknown name '{name}'")
        self.names.add(name)
        if name in self.constants:
            fixed = self.constants[name]
            return lambda env: fixed
        return lambda env: env[name]

    def visit_BoolOp(self, node: ast.BoolOp) -> Compiled:
        nodes = list(node.values)
        if self.cost is not None:
            nodes.sort(key=self.node_cost)  # stable: equal costs keep the written order
        parts = [self.visit(v) for v in nodes]
        if self.constants:
            # Parts the constants decide are left out (a deciding one makes the whole
            # expression constant, which ``visit`` returns instead).
            kept = [
                (v, p)
                for v, p in zip(nodes, parts, strict=True)
                if self.static_value(v) is _NO_VALUE
            ]
            if len(kept) == 1:
                only_node, only = kept[0]
                if isinstance(only_node, ast.Compare | ast.BoolOp) or (
                    isinstance(only_node, ast.UnaryOp) and isinstance(only_node.op, ast.Not)
                ):
                    return only  # already True or False: no wrapper call per event
                only_name = self.feature_name(only_node)
                if only_name is not None:
                    read = only_name
                    return lambda env: True if env[read] else False
                return lambda env: True if only(env) else False
            if kept:
                nodes, parts = [v for v, _ in kept], [p for _, p in kept]
        # Leading bare names (``is_outflow and ...``) are read straight from the environment.
        guards: list[str] = []
        for value in nodes:
            name = self.feature_name(value)
            if name is None:
                break
            guards.append(name)
        rest = parts[len(guards) :]
        if isinstance(node.op, ast.And):
            return _all_true(guards, rest)
        return _any_true(guards, rest)

    def visit_UnaryOp(self, node: ast.UnaryOp) -> Compiled:
        operand = self.visit(node.operand)
        if isinstance(node.op, ast.Not):
            return lambda env: not operand(env)
        if isinstance(node.op, ast.USub):

            def negate(env: Env) -> Any:
                value = operand(env)
                # Numbers only, like arithmetic: -'' or -[1] has no value, never an exception.
                return -value if type(value) in _NUMBER else None

            return negate
        raise _error(node, "only 'not' and '-' are allowed as unary operators")

    def visit_BinOp(self, node: ast.BinOp) -> Compiled:
        op = _ARITH.get(type(node.op))
        if op is None:
            raise _error(node, f"operator '{type(node.op).__name__}' is not allowed")
        left, right = self.visit(node.left), self.visit(node.right)

        def arith(env: Env) -> Any:
            a, b = left(env), right(env)
            # Numbers only: "x" * 10**9 would allocate a gigabyte per event.
            if type(a) not in _NUMBER or type(b) not in _NUMBER:
                return None
            try:
                return op(a, b)
            except (ArithmeticError, TypeError, ValueError, MemoryError):
                # 1/0, "x" * 10**19, a list * a float: no value, never an exception
                return None

        return arith

    def visit_Compare(self, node: ast.Compare) -> Compiled:
        operands = [self.visit(node.left)] + [self.visit(c) for c in node.comparators]
        ops = []
        for op_node in node.ops:
            op = _COMPARE.get(type(op_node))
            if op is None:
                raise _error(node, f"comparison '{type(op_node).__name__}' is not allowed")
            ops.append(op)

        if len(ops) == 1:
            left, right, only = operands[0], operands[1], ops[0]
            op_type = type(node.ops[0])
            right_node = node.comparators[0]
            constant = (
                right({})
                if isinstance(right_node, ast.List | ast.Tuple)
                else self.constant_of(right_node)
            )
            name = self.feature_name(node.left)
            if name is not None and constant is not _NO_VALUE:
                # The common shape `feature OP constant`: one lookup, no nested calls.
                if constant is None:
                    return _always_false
                return _name_versus_constant(name, op_type, only, constant)

            def compare_one(env: Env) -> bool:
                a, b = left(env), right(env)
                if a is None or b is None:
                    return False
                try:
                    return bool(only(a, b))
                except TypeError:
                    return False

            return compare_one

        def compare_chain(env: Env) -> bool:
            a = operands[0](env)
            for op, nxt in zip(ops, operands[1:], strict=True):
                b = nxt(env)
                if a is None or b is None:
                    return False
                try:
                    if not op(a, b):
                        return False
                except TypeError:
                    return False
                a = b
            return True

        return compare_chain

    def visit_Call(self, node: ast.Call) -> Compiled:
        if not isinstance(node.func, ast.Name) or node.func.id not in _FUNCTIONS:
            raise _error(node, f"only the functions {sorted(_FUNCTIONS)} may be called")
        if node.keywords:
            raise _error(node, "keyword arguments are not allowed")
        fn = _FUNCTIONS[node.func.id]
        args = [self.visit(a) for a in node.args]
        if not args:
            raise _error(node, f"{node.func.id}() needs at least one argument")
        return lambda env: fn(*(a(env) for a in args))


def _all_true(guards: list[str], rest: list[Compiled]) -> Compiled:
    """``and`` of bare names (read directly) followed by other parts, unrolled when short."""
    if len(guards) == 1 and len(rest) == 1:
        g0, r0 = guards[0], rest[0]

        def all_true_1_1(env: Env) -> bool:
            if not env[g0]:
                return False
            return True if r0(env) else False

        return all_true_1_1
    if len(guards) == 1 and len(rest) == 2:
        g0, r0, r1 = guards[0], rest[0], rest[1]

        def all_true_1_2(env: Env) -> bool:
            if not env[g0] or not r0(env):
                return False
            return True if r1(env) else False

        return all_true_1_2
    if not guards and len(rest) == 2:
        r0, r1 = rest

        def all_true_2(env: Env) -> bool:
            if not r0(env):
                return False
            return True if r1(env) else False

        return all_true_2
    if not guards and len(rest) == 3:
        r0, r1, r2 = rest

        def all_true_3(env: Env) -> bool:
            if not r0(env) or not r1(env):
                return False
            return True if r2(env) else False

        return all_true_3

    def all_true(env: Env) -> bool:
        for guard in guards:
            if not env[guard]:
                return False
        for part in rest:
            if not part(env):
                return False
        return True

    return all_true


def _any_true(guards: list[str], rest: list[Compiled]) -> Compiled:
    """``or`` of bare names (read directly) followed by other parts."""
    if len(guards) == 2 and not rest:
        g0, g1 = guards

        def any_true_names_2(env: Env) -> bool:
            return True if env[g0] or env[g1] else False

        return any_true_names_2
    if not guards and len(rest) == 2:
        r0, r1 = rest

        def any_true_2(env: Env) -> bool:
            return True if r0(env) or r1(env) else False

        return any_true_2

    def any_true(env: Env) -> bool:
        for guard in guards:
            if env[guard]:
                return True
        for part in rest:
            if part(env):
                return True
        return False

    return any_true


def _name_versus_constant(
    name: str, op_type: type[ast.cmpop], op: Callable[[Any, Any], bool], constant: Any
) -> Compiled:
    """``feature OP constant`` with the operator inlined for the usual operators (a value of
    another type, such as a string against a number, is false like any failed comparison)."""
    if op_type is ast.GtE:

        def at_least(env: Env) -> bool:
            a = env[name]
            if a is None:
                return False
            try:
                return a >= constant
            except TypeError:
                return False

        return at_least
    if op_type is ast.LtE:

        def at_most(env: Env) -> bool:
            a = env[name]
            if a is None:
                return False
            try:
                return a <= constant
            except TypeError:
                return False

        return at_most
    if op_type is ast.Eq:

        def equal(env: Env) -> bool:
            a = env[name]
            if a is None:
                return False
            return a == constant

        return equal
    if op_type is ast.In:

        def member(env: Env) -> bool:
            a = env[name]
            if a is None:
                return False
            try:
                return a in constant
            except TypeError:
                return False

        return member

    def compare_name_constant(env: Env) -> bool:
        a = env[name]
        if a is None:
            return False
        try:
            return bool(op(a, constant))
        except TypeError:
            return False

    return compare_name_constant


def value_constraint(
    tree: ast.expr, implied: dict[str, frozenset[str]], field: str
) -> frozenset[str] | None:
    """The values of ``field`` for which the expression can be true, or None if any.

    Understands ``field == 'x'``, ``field in ['x', 'y']``, boolean names that imply a set of
    values (``implied``), and ``and``/``or`` of those. Used to index rules by event type, so
    an event only runs the rules that can fire for it.
    """
    if isinstance(tree, ast.Name):
        return implied.get(tree.id)
    if isinstance(tree, ast.Compare) and len(tree.ops) == 1:
        left, op, right = tree.left, tree.ops[0], tree.comparators[0]
        if isinstance(left, ast.Name) and left.id == field:
            if isinstance(op, ast.Eq) and isinstance(right, ast.Constant):
                return frozenset({str(right.value)})
            if isinstance(op, ast.In) and isinstance(right, ast.List | ast.Tuple):
                if all(isinstance(e, ast.Constant) for e in right.elts):
                    return frozenset(str(e.value) for e in right.elts)  # type: ignore[attr-defined]
        return None
    if isinstance(tree, ast.BoolOp):
        parts = [value_constraint(v, implied, field) for v in tree.values]
        if isinstance(tree.op, ast.And):
            known = [p for p in parts if p is not None]
            if not known:
                return None
            result = known[0]
            for part in known[1:]:
                result = result & part
            return result
        if any(p is None for p in parts):
            return None
        return frozenset().union(*[p for p in parts if p is not None])
    return None
