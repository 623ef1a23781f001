"""DynamoDB expressions: one lark grammar for condition (filter, key condition), update and projection
expressions, the substitution of ``#names`` and ``:values``, and the checks DynamoDB makes before it
reads an item, with its messages.

The grammar follows the documented syntax (Expressions.OperatorsAndFunctions, Expressions.UpdateExpressions):
NOT binds tighter than AND, AND tighter than OR; keywords are case-insensitive; a path is a name or
``#name`` followed by ``.member`` and ``[index]``. Parsing is cached by text, since clients send the
same few expressions again and again; substitution runs per request on the cached tree.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Iterable, Mapping, Union

from lark import Lark, Token, Transformer
from lark.exceptions import UnexpectedInput, UnexpectedToken, VisitError

from tidelake.errors import ValidationFailed
from tidelake.tables.errors import ExpressionInvalid
from tidelake.tables.reserved import RESERVED_WORDS
from tidelake.tables.values import TYPE_NAMES, key_bytes, normalize, type_name

GRAMMAR = r"""
condition: or_expr
update: clause+
projection: path ("," path)*

?or_expr: and_expr
        | or_expr _OR and_expr -> or_
?and_expr: not_expr
         | and_expr _AND not_expr -> and_
?not_expr: atom
         | _NOT not_expr -> not_
?atom: operand (CMP | EQ) operand -> compare
     | operand _BETWEEN operand _AND operand -> between
     | operand _IN "(" operand ("," operand)* ")" -> in_
     | call
     | "(" or_expr ")"

?operand: path | VALUE | call
call: NAME "(" operand ("," operand)* ")"
path: _part ("." _part | "[" INDEX "]")*
_part: NAME | ATTR_NAME

?clause: _SET set_action ("," set_action)* -> set_clause
       | _REMOVE path ("," path)* -> remove_clause
       | _ADD path VALUE ("," path VALUE)* -> add_clause
       | _DELETE path VALUE ("," path VALUE)* -> delete_clause
set_action: path EQ set_value
?set_value: operand
          | operand "+" operand -> plus
          | operand "-" operand -> minus

CMP: "<>" | "<=" | ">=" | "<" | ">"
EQ: "="  # one terminal for comparisons and SET: LALR merges states where either may follow a path
_OR.2: /or\b/i
_AND.2: /and\b/i
_NOT.2: /not\b/i
_BETWEEN.2: /between\b/i
_IN.2: /in\b/i
_SET.2: /set\b/i
_REMOVE.2: /remove\b/i
_ADD.2: /add\b/i
_DELETE.2: /delete\b/i
NAME: /[a-zA-Z_][a-zA-Z0-9_]*/
ATTR_NAME: /#[a-zA-Z0-9_]+/
VALUE: /:[a-zA-Z0-9_]+/
INDEX: /[0-9]+/

%import common.WS
%ignore WS
"""

CONDITION = "ConditionExpression"
FILTER = "FilterExpression"
KEY_CONDITION = "KeyConditionExpression"
UPDATE = "UpdateExpression"
PROJECTION = "ProjectionExpression"
_START = {CONDITION: "condition", FILTER: "condition", KEY_CONDITION: "condition", UPDATE: "update",
          PROJECTION: "projection"}

CONDITION_FUNCTIONS = {"attribute_exists": 1, "attribute_not_exists": 1, "attribute_type": 2, "begins_with": 2,
                       "contains": 2}
OPERAND_FUNCTIONS = {"size": 1}
UPDATE_FUNCTIONS = {"if_not_exists": 2, "list_append": 2}
_PATH_FIRST = ("attribute_exists", "attribute_not_exists", "if_not_exists")


# -- the tree -----------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Ref:
    """``#name`` or ``:value`` before substitution."""
    text: str


@dataclass(frozen=True, slots=True)
class Path:
    elements: tuple[Any, ...]  # str (attribute or member name), int (list index); Ref before substitution

    def __str__(self) -> str:
        return "[" + ", ".join(f"[{e}]" if isinstance(e, int) else str(e) for e in self.elements) + "]"


@dataclass(frozen=True, slots=True)
class Value:
    value: Any  # a Python value of the item model; Ref before substitution


@dataclass(frozen=True, slots=True)
class Call:
    name: str
    args: tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class Compare:
    op: str
    left: Any
    right: Any


@dataclass(frozen=True, slots=True)
class Between:
    subject: Any
    low: Any
    high: Any


@dataclass(frozen=True, slots=True)
class In:
    subject: Any
    choices: tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class And:
    left: Any
    right: Any


@dataclass(frozen=True, slots=True)
class Or:
    left: Any
    right: Any


@dataclass(frozen=True, slots=True)
class Not:
    inner: Any


@dataclass(frozen=True, slots=True)
class Arithmetic:
    op: str  # "+" or "-"
    left: Any
    right: Any


@dataclass(frozen=True, slots=True)
class Action:
    verb: str  # SET, REMOVE, ADD, DELETE
    path: Path
    value: Any = None  # SET: an operand or Arithmetic; ADD / DELETE: a Value


Operand = Union[Path, Value, Call]
Condition = Union[Compare, Between, In, Call, And, Or, Not]


@dataclass(frozen=True, slots=True)
class Update:
    actions: tuple[Action, ...]


@dataclass(frozen=True)
class Expressions:
    """The expressions of one request, parsed and substituted."""
    condition: Condition | None = None
    filter: Condition | None = None
    key_condition: Condition | None = None
    update: Update | None = None
    projection: tuple[Path, ...] | None = None


# -- parsing ------------------------------------------------------------------------------------

class _Build(Transformer):  # type: ignore[type-arg]
    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind

    def condition(self, children: list[Any]) -> Any:
        return children[0]

    def projection(self, children: list[Any]) -> tuple[Path, ...]:
        return tuple(children)

    def update(self, clauses: list[tuple[str, list[Action]]]) -> Update:
        seen = set()
        for verb, _ in clauses:
            if verb in seen:
                raise ExpressionInvalid(self.kind, f'The "{verb}" section can only be used once in an update '
                                                   "expression;")
            seen.add(verb)
        return Update(tuple(action for _, actions in clauses for action in actions))

    def or_(self, c: list[Any]) -> Or:
        return Or(c[0], c[1])

    def and_(self, c: list[Any]) -> And:
        return And(c[0], c[1])

    def not_(self, c: list[Any]) -> Not:
        return Not(c[0])

    def compare(self, c: list[Any]) -> Compare:
        return Compare(str(c[1]), c[0], c[2])

    def between(self, c: list[Any]) -> Between:
        return Between(*c)

    def in_(self, c: list[Any]) -> In:
        return In(c[0], tuple(c[1:]))

    def call(self, c: list[Any]) -> Call:
        return Call(str(c[0]), tuple(c[1:]))

    def VALUE(self, token: Token) -> Value:
        return Value(Ref(str(token)))

    def path(self, parts: list[Token]) -> Path:
        elements: list[Any] = []
        for part in parts:
            if part.type == "INDEX":
                elements.append(int(part))
            elif part.type == "ATTR_NAME":
                elements.append(Ref(str(part)))
            else:
                if part.upper() in RESERVED_WORDS:
                    raise ExpressionInvalid(self.kind, "Attribute name is a reserved keyword; reserved keyword: "
                                                       f"{part}")
                elements.append(str(part))
        return Path(tuple(elements))

    def set_action(self, c: list[Any]) -> Action:
        return Action("SET", c[0], c[2])

    def plus(self, c: list[Any]) -> Arithmetic:
        return Arithmetic("+", c[0], c[1])

    def minus(self, c: list[Any]) -> Arithmetic:
        return Arithmetic("-", c[0], c[1])

    def set_clause(self, c: list[Action]) -> tuple[str, list[Action]]:
        return "SET", c

    def remove_clause(self, c: list[Path]) -> tuple[str, list[Action]]:
        return "REMOVE", [Action("REMOVE", p) for p in c]

    def add_clause(self, c: list[Any]) -> tuple[str, list[Action]]:
        return "ADD", [Action("ADD", c[i], c[i + 1]) for i in range(0, len(c), 2)]

    def delete_clause(self, c: list[Any]) -> tuple[str, list[Action]]:
        return "DELETE", [Action("DELETE", c[i], c[i + 1]) for i in range(0, len(c), 2)]


@lru_cache(maxsize=None)
def _parser() -> Lark:
    """Built on first use: the LALR tables take ~0.1 s, which a process that never parses skips."""
    return Lark(GRAMMAR, parser="lalr", start=["condition", "update", "projection"], maybe_placeholders=False)


_TOKEN = re.compile(r"#\w+|:\w+|\w+|<>|<=|>=|\S")


@lru_cache(maxsize=1024)
def parse(kind: str, text: str) -> Any:
    """The tree of one expression (Refs not yet substituted). ``kind`` is the request member."""
    if not text.strip():
        raise ExpressionInvalid(kind, "The expression can not be empty;")
    try:
        tree = _parser().parse(text, start=_START[kind])
    except UnexpectedInput as error:
        raise _syntax_error(kind, text, error) from None
    try:
        result = _Build(kind).transform(tree)
    except VisitError as error:
        raise error.orig_exc from None
    _check_functions(kind, result)
    return result


def _syntax_error(kind: str, text: str, error: UnexpectedInput) -> ExpressionInvalid:
    """DynamoDB's form: the offending token and the text from the token before it to the one after."""
    tokens = [(m.start(), m.end()) for m in _TOKEN.finditer(text)]
    if isinstance(error, UnexpectedToken) and error.token.type == "$END":
        at, token = len(tokens), "<EOF>"
    else:
        position = error.token.start_pos if isinstance(error, UnexpectedToken) else error.pos_in_stream
        assert position is not None
        at = next(i for i, (start, end) in enumerate(tokens) if end > position)
        token = text[tokens[at][0]:tokens[at][1]]
    first = tokens[max(at - 1, 0)][0]
    last = tokens[min(at + 1, len(tokens) - 1)][1]
    return ExpressionInvalid(kind, f'Syntax error; token: "{token}", near: "{text[first:last]}"')


def _check_functions(kind: str, tree: Any) -> None:
    """Function names, operand counts and where each function may stand."""
    if isinstance(tree, Update):
        for action in tree.actions:
            value = action.value
            for operand in (value.left, value.right) if isinstance(value, Arithmetic) else (value,):
                _check_operand(kind, operand, UPDATE_FUNCTIONS)
    elif isinstance(tree, tuple):
        return
    else:
        _check_condition(kind, tree)


def _check_condition(kind: str, node: Any) -> None:
    if isinstance(node, (And, Or)):
        _check_condition(kind, node.left)
        _check_condition(kind, node.right)
    elif isinstance(node, Not):
        _check_condition(kind, node.inner)
    elif isinstance(node, Call):
        if node.name in OPERAND_FUNCTIONS:
            raise ExpressionInvalid(kind, f"The function is not allowed to be used this way in an expression; "
                                          f"function: {node.name}")
        _check_call(kind, node, CONDITION_FUNCTIONS)
    else:
        operands = {Compare: lambda n: (n.left, n.right), Between: lambda n: (n.subject, n.low, n.high),
                    In: lambda n: (n.subject, *n.choices)}[type(node)](node)
        for operand in operands:
            _check_operand(kind, operand, OPERAND_FUNCTIONS)


def _check_operand(kind: str, operand: Any, allowed: Mapping[str, int]) -> None:
    if not isinstance(operand, Call):
        return
    if operand.name not in allowed:
        if kind == UPDATE and operand.name in {**CONDITION_FUNCTIONS, **OPERAND_FUNCTIONS}:
            raise ExpressionInvalid(kind, f"The function is not allowed in an update expression; function: "
                                          f"{operand.name}")
        if operand.name in CONDITION_FUNCTIONS:
            raise ExpressionInvalid(kind, f"The function is not allowed to be used this way in an expression; "
                                          f"function: {operand.name}")
    _check_call(kind, operand, allowed)


def _check_call(kind: str, call: Call, allowed: Mapping[str, int]) -> None:
    arity = allowed.get(call.name)
    if arity is None:
        raise ExpressionInvalid(kind, f"Invalid function name; function: {call.name}")
    if len(call.args) != arity:
        raise ExpressionInvalid(kind, "Incorrect number of operands for operator or function; operator or "
                                      f"function: {call.name}, number of operands: {len(call.args)}")
    if call.name in _PATH_FIRST and not isinstance(call.args[0], Path):
        raise ExpressionInvalid(kind, f"Operator or function requires a document path; operator or function: "
                                      f"{call.name}")
    for arg in call.args:
        _check_operand(kind, arg, allowed if kind == UPDATE else OPERAND_FUNCTIONS)


# -- substitution and the checks that need the values ------------------------------------------

class _Substitute:
    """Replaces Refs by names and values, noting which were used, then checks operand types."""

    def __init__(self, kind: str, names: Mapping[str, str], values: Mapping[str, Any],
                 unused_names: set[str], unused_values: set[str]) -> None:
        self.kind, self.names, self.values = kind, names, values
        self.unused_names, self.unused_values = unused_names, unused_values

    def fail(self, detail: str) -> ExpressionInvalid:
        return ExpressionInvalid(self.kind, detail)

    def path(self, path: Path) -> Path:
        if not any(type(e) is Ref for e in path.elements):
            return path
        return Path(tuple(self._name(e) if type(e) is Ref else e for e in path.elements))

    def _name(self, ref: Ref) -> str:
        if ref.text not in self.names:
            raise self.fail(f"An expression attribute name used in the document path is not defined; attribute "
                            f"name: {ref.text}")
        self.unused_names.discard(ref.text)
        return self.names[ref.text]

    def operand(self, node: Any) -> Any:
        if type(node) is Path:
            return self.path(node)
        if type(node) is Value:
            text = node.value.text
            if text not in self.values:
                raise self.fail(f"An expression attribute value used in expression is not defined; attribute value: "
                                f"{text}")
            self.unused_values.discard(text)
            return Value(self.values[text])
        if type(node) is Arithmetic:
            return self._arithmetic(Arithmetic(node.op, self.operand(node.left), self.operand(node.right)))
        return self._call(Call(node.name, tuple(self.operand(a) for a in node.args)))

    def condition(self, node: Any) -> Any:
        kind = type(node)
        if kind is And or kind is Or:
            return kind(self.condition(node.left), self.condition(node.right))
        if kind is Not:
            return Not(self.condition(node.inner))
        if kind is Compare:
            compare = Compare(node.op, self.operand(node.left), self.operand(node.right))
            self._distinct(node.op, compare.left, (compare.right,))
            return compare
        if kind is Between:
            between = Between(self.operand(node.subject), self.operand(node.low), self.operand(node.high))
            self._distinct("BETWEEN", between.subject, (between.low, between.high))
            self._bounds(between.low, between.high)
            return between
        if kind is In:
            found = In(self.operand(node.subject), tuple(self.operand(c) for c in node.choices))
            self._distinct("IN", found.subject, found.choices)
            return found
        return self.operand(node)

    def update(self, update: Update) -> Update:
        actions = []
        for action in update.actions:
            path = self.path(action.path)
            value = None if action.value is None else self.operand(action.value)
            if action.verb in ("ADD", "DELETE"):
                self._add_or_delete(action.verb, value.value)
            actions.append(Action(action.verb, path, value))
        _no_overlap(self.kind, [a.path for a in actions], "Two document paths overlap with each other; must remove "
                                                          "or rewrite one of these paths")
        return Update(tuple(actions))

    def _distinct(self, operator: str, first: Any, others: Iterable[Any]) -> None:
        if type(first) is Path and first in others:
            raise self.fail("The first operand must be distinct from the remaining operands for this operator or "
                            f"function; operator: {operator}, first operand: {first}")

    def _bounds(self, low: Any, high: Any) -> None:
        if type(low) is not Value or type(high) is not Value:
            return
        low_type, high_type = type_name(low.value), type_name(high.value)
        shown = f"lower bound operand: {_shown(low.value)}, upper bound operand: {_shown(high.value)}"
        if low_type != high_type:
            raise self.fail(f"The BETWEEN operator requires same data type for lower and upper bounds; {shown}")
        if low_type in ("S", "N", "B") and key_bytes(low.value) > key_bytes(high.value):
            raise self.fail("The BETWEEN operator requires upper bound to be greater than or equal to lower bound; "
                            + shown)

    def _operand_type(self, function: str, arg: Any, allowed: Iterable[str] | None = None,
                      refused: Iterable[str] = ()) -> None:
        if type(arg) is not Value:
            return
        found = type_name(arg.value)
        if (allowed is not None and found not in allowed) or found in refused:
            raise self.fail(f"Incorrect operand type for operator or function; operator or function: {function}, "
                            f"operand type: {found}")

    def _call(self, call: Call) -> Call:
        if call.name == "begins_with":
            for arg in call.args:
                self._operand_type("begins_with", arg, ("S", "B"))
        elif call.name == "attribute_type":
            kind = call.args[1]
            self._operand_type("attribute_type", kind, ("S",))
            if type(kind) is Value and kind.value not in TYPE_NAMES:
                raise self.fail(f"Invalid attribute type name found; type: {kind.value}, valid types: "
                                "{B,NULL,SS,BOOL,L,BS,N,NS,S,M}")
        elif call.name == "size":
            self._operand_type("size", call.args[0], refused=("N", "BOOL", "NULL"))
        elif call.name == "list_append":
            for arg in call.args:
                self._operand_type("list_append", arg, ("L",))
        elif call.name == "contains":
            self._distinct("contains", call.args[0], call.args[1:])
        return call

    def _arithmetic(self, node: Arithmetic) -> Arithmetic:
        for arg in (node.left, node.right):
            self._operand_type(node.op, arg, ("N",))
        return node

    def _add_or_delete(self, verb: str, value: Any) -> None:
        found = type_name(value)
        allowed = ("N", "SS", "NS", "BS") if verb == "ADD" else ("SS", "NS", "BS")
        if found not in allowed:
            raise self.fail(f"Incorrect operand type for operator or function; operator: {verb}, operand type: "
                            f"{found}")


def _shown(value: Any) -> str:
    name = type_name(value)
    return f"AttributeValue: {{{name}:{value}}}" if name in ("S", "N") else f"AttributeValue: {{{name}}}"


def _no_overlap(kind: str, paths: list[Path], message: str) -> None:
    for i, one in enumerate(paths):
        for two in paths[i + 1:]:
            shorter = min(len(one.elements), len(two.elements))
            if one.elements[:shorter] == two.elements[:shorter]:
                raise ExpressionInvalid(kind, f"{message}; path one: {one}, path two: {two}")


_NAME_KEY = re.compile(r"#[0-9a-zA-Z_]+")
_VALUE_KEY = re.compile(r":[0-9a-zA-Z_]+")
_ORDER = (UPDATE, CONDITION, KEY_CONDITION, FILTER, PROJECTION)


def compile_expressions(names: Mapping[str, str] | None = None, values: Mapping[str, Any] | None = None, *,
                        condition: str | None = None, filter: str | None = None, key_condition: str | None = None,
                        update: str | None = None, projection: str | None = None,
                        accepts: Iterable[str] = ()) -> Expressions:
    """Parse and substitute the expressions of one request, as DynamoDB validates them: every
    ``#name`` and ``:value`` used must be defined, and every one defined must be used.

    ``values`` are Python values of the item model. ``accepts`` names the expression members of the
    operation (for the message when values come without any expression that could use them)."""
    texts = {UPDATE: update, CONDITION: condition, KEY_CONDITION: key_condition, FILTER: filter,
             PROJECTION: projection}
    given = [kind for kind in _ORDER if texts[kind] is not None]
    if names is not None and not given:
        raise ValidationFailed("ExpressionAttributeNames can only be specified when using expressions")
    value_kinds = [kind for kind in accepts if kind != PROJECTION]
    if values is not None and value_kinds and all(texts[kind] is None for kind in value_kinds):
        verb = "are" if len(value_kinds) > 1 else "is"
        raise ValidationFailed(f"ExpressionAttributeValues can only be specified when using expressions: "
                               f"{' and '.join(value_kinds)} {verb} null")
    names = _checked_keys(names, "ExpressionAttributeNames", _NAME_KEY)
    values = {k: normalize(v) for k, v in _checked_keys(values, "ExpressionAttributeValues", _VALUE_KEY).items()}
    unused_names, unused_values = set(names), set(values)
    parsed: dict[str, Any] = {}
    for kind in given:
        substitute = _Substitute(kind, names, values, unused_names, unused_values)
        tree = parse(kind, texts[kind])
        if kind == UPDATE:
            parsed[kind] = substitute.update(tree)
        elif kind == PROJECTION:
            paths = [substitute.path(p) for p in tree]
            _no_overlap(kind, paths, "Two document paths overlap with each other; must remove or rewrite one of "
                                     "these paths")
            parsed[kind] = tuple(paths)
        else:
            parsed[kind] = substitute.condition(tree)
    for label, defined, unused in (("Names", names, unused_names), ("Values", values, unused_values)):
        if unused:
            keys = ", ".join(k for k in defined if k in unused)
            raise ValidationFailed(f"Value provided in ExpressionAttribute{label} unused in expressions: "
                                   f"keys: {{{keys}}}")
    return Expressions(condition=parsed.get(CONDITION), filter=parsed.get(FILTER),
                       key_condition=parsed.get(KEY_CONDITION), update=parsed.get(UPDATE),
                       projection=parsed.get(PROJECTION))


def _checked_keys(given: Mapping[str, Any] | None, member: str, pattern: re.Pattern[str]) -> dict[str, Any]:
    if given is None:
        return {}
    if not given:
        raise ValidationFailed(f"{member} must not be empty")
    for key in given:
        if not pattern.fullmatch(key):
            raise ValidationFailed(f'{member} contains invalid key: Syntax error; key: "{key}"')
    return dict(given)
