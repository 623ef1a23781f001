"""Glue's partition filter expressions (``GetPartitions`` ``Expression``), evaluated on typed values.

Glue parses these with JSQLParser: a SQL WHERE clause over partition keys with ``= <> < > <= >=``,
``AND OR NOT``, ``IN``, ``BETWEEN``, ``LIKE``, ``IS [NOT] NULL`` and parentheses. Values compare as
the key's type (string, date, timestamp, int, bigint, long, tinyint, smallint, decimal), so
``month < 10`` is numeric on an int key and lexical on a string key. sqlglot parses the text; this
module compiles the tree once into closures, and converts literals to the key's type at compile time,
so evaluating 10,000 partitions costs one cast per referenced key each.
"""
from __future__ import annotations

import operator
import re
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Callable, Sequence

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

from tidelake.lake.catalog.errors import InvalidPartitionExpression
from tidelake.lake.catalog.models import Column

HIVE_NULL = "__HIVE_DEFAULT_PARTITION__"  # the value Hive and Athena write for a NULL partition value
INTEGER_TYPES = frozenset({"int", "integer", "bigint", "long", "tinyint", "smallint"})
STRING_TYPES = frozenset({"string", "char", "varchar"})

Caster = Callable[[str], Any]
Values = Sequence[str]
Node = Callable[[Values], Any]  # returns True / False / None (unknown, as SQL NULL) or a typed value


def _timestamp(text: str) -> datetime:
    return datetime.fromisoformat(text.strip())


def _decimal(text: str) -> Decimal:
    try:
        return Decimal(text.strip())
    except InvalidOperation:
        raise ValueError(f"{text!r} is not a decimal") from None


def caster(type_name: str) -> Caster | None:
    """The function that turns a partition value (always a string in the catalog) into the key's type;
    None for a type Glue cannot filter on (array, map, struct, ...)."""
    base = type_name.strip().lower().split("(", 1)[0].strip()
    if base in INTEGER_TYPES:
        return lambda text: int(text.strip())
    if base in STRING_TYPES:
        return str
    if base == "decimal":
        return _decimal
    if base in ("double", "float"):
        return lambda text: float(text.strip())
    if base == "date":
        return lambda text: date.fromisoformat(text.strip())
    if base == "timestamp":
        return _timestamp
    return None


def typed(cast: Caster | None, value: str | None) -> Any:
    """``value`` as its key's type; None for NULL or a value that does not convert (unknown in SQL)."""
    if value is None or value == HIVE_NULL:
        return None
    if cast is None:
        return value
    try:
        return cast(value)
    except (ValueError, TypeError):
        return None


def sort_key(keys: Sequence[Column]) -> Callable[[Values], tuple]:
    """Order partitions by their typed values (month 9 before month 10 on an int key). A value that
    does not convert sorts after the typed ones, by its text, so mixed positions never compare."""
    casters = [caster(key.type) for key in keys]

    def key(values: Values) -> tuple:
        out = []
        for cast, value in zip(casters, values):
            value_typed = typed(cast, value)
            if value_typed is not None:
                out.append((0, value_typed))
            elif value is None or value == HIVE_NULL:
                out.append((2, ""))
            else:
                out.append((1, value))
        return tuple(out)
    return key


_COMPARE = {exp.EQ: operator.eq, exp.NEQ: operator.ne, exp.GT: operator.gt, exp.GTE: operator.ge,
            exp.LT: operator.lt, exp.LTE: operator.le}
_FLIP = {exp.EQ: exp.EQ, exp.NEQ: exp.NEQ, exp.GT: exp.LT, exp.GTE: exp.LTE, exp.LT: exp.GT, exp.LTE: exp.GTE}


class _Compiler:
    def __init__(self, expression: str, keys: Sequence[Column]) -> None:
        self.expression = expression
        self.keys = list(keys)
        self.by_name = {key.name.lower(): i for i, key in enumerate(self.keys)}

    def fail(self, reason: str) -> InvalidPartitionExpression:
        return InvalidPartitionExpression(self.expression, reason)

    # -- operands -----------------------------------------------------------------------------

    def key_index(self, node: exp.Expression) -> int | None:
        while isinstance(node, exp.Paren):
            node = node.this
        if not isinstance(node, exp.Column):
            return None
        index = self.by_name.get(node.name.lower())
        if index is None:
            raise self.fail(f"Unknown column '{node.name}'")
        return index

    def key_reader(self, index: int) -> Node:
        key = self.keys[index]
        cast = caster(key.type)
        if cast is None:
            raise self.fail(f"Unknown type : '{key.type}' of partition key '{key.name}'")
        return lambda values: typed(cast, values[index])

    def literal(self, node: exp.Expression, index: int) -> Any:
        """A literal converted to the type of the key it is compared with."""
        text = self.literal_text(node)
        if text is None:
            return None
        key = self.keys[index]
        value = typed(caster(key.type), text)
        if value is None:
            raise self.fail(f"'{text}' is not a valid {key.type} value for partition key '{key.name}'")
        return value

    def literal_text(self, node: exp.Expression) -> str | None:
        while isinstance(node, (exp.Paren, exp.Cast)):  # (10), DATE '2026-01-01', CAST('1' AS int)
            node = node.this
        if isinstance(node, exp.Null):
            return None
        if isinstance(node, exp.Neg) and isinstance(node.this, exp.Literal) and not node.this.is_string:
            return "-" + node.this.this
        if isinstance(node, exp.Literal):
            return node.this
        raise self.fail(f"expected a literal, got '{node.sql(dialect='hive')}'")

    def operand_pair(self, left: exp.Expression, right: exp.Expression) -> tuple[Node, Node]:
        """Two sides of a comparison; a literal takes the type of the key on the other side."""
        li, ri = self.key_index(left), self.key_index(right)
        if li is None and ri is None:
            raise self.fail("a comparison needs a partition key on one side")
        lf = self.key_reader(li) if li is not None else self.constant(self.literal(left, ri))  # type: ignore[arg-type]
        rf = self.key_reader(ri) if ri is not None else self.constant(self.literal(right, li))  # type: ignore[arg-type]
        return lf, rf

    @staticmethod
    def constant(value: Any) -> Node:
        return lambda values: value

    # -- predicates ---------------------------------------------------------------------------

    def compile(self, node: exp.Expression) -> Node:
        compiled = self._compile(node)
        if node.args.get("negate"):  # sqlglot marks `x NOT LIKE y` this way in some versions
            return _not(compiled)
        return compiled

    def _compile(self, node: exp.Expression) -> Node:
        if isinstance(node, exp.Paren):
            return self.compile(node.this)
        if isinstance(node, exp.And):
            return _and(self.compile(node.this), self.compile(node.expression))
        if isinstance(node, exp.Or):
            return _or(self.compile(node.this), self.compile(node.expression))
        if isinstance(node, exp.Not):
            return _not(self.compile(node.this))
        kind = type(node)
        if kind in _COMPARE:
            left, right = self.operand_pair(node.this, node.expression)
            return _compare(_COMPARE[kind], left, right)
        if isinstance(node, exp.Between):
            return self.between(node)
        if isinstance(node, exp.In):
            return self.in_list(node)
        if isinstance(node, exp.Like):
            return self.like(node)
        if isinstance(node, exp.Is):
            index = self.key_index(node.this)
            if index is None or not isinstance(node.expression, exp.Null):
                raise self.fail("IS [NOT] NULL applies to a partition key")
            read = self.key_reader(index)
            return lambda values: read(values) is None
        raise self.fail(f"operator '{node.key.upper()}' is not supported")

    def between(self, node: exp.Between) -> Node:
        index = self.key_index(node.this)
        if index is None:
            raise self.fail("BETWEEN applies to a partition key")
        read = self.key_reader(index)
        low, high = self.literal(node.args["low"], index), self.literal(node.args["high"], index)

        def between(values: Values) -> bool | None:
            value = read(values)
            if value is None or low is None or high is None:
                return None
            return low <= value <= high
        return between

    def in_list(self, node: exp.In) -> Node:
        index = self.key_index(node.this)
        if index is None or not node.expressions:
            raise self.fail("IN applies to a partition key and a list of literals")
        read = self.key_reader(index)
        options = [self.literal(item, index) for item in node.expressions]
        wanted = frozenset(o for o in options if o is not None)
        has_null = len(wanted) < len(options)

        def in_list(values: Values) -> bool | None:
            value = read(values)
            if value is None:
                return None
            return True if value in wanted else (None if has_null else False)
        return in_list

    def like(self, node: exp.Like) -> Node:
        index = self.key_index(node.this)
        if index is None:
            raise self.fail("LIKE applies to a partition key")
        key = self.keys[index]
        if caster(key.type) is not str:
            raise self.fail(f"{key.type} data type doesn't support operation 'LIKE'")
        pattern = self.literal_text(node.expression)
        if pattern is None:
            return lambda values: None
        regex = re.compile("".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern),
                           re.DOTALL)
        read = self.key_reader(index)

        def like(values: Values) -> bool | None:
            value = read(values)
            return None if value is None else regex.fullmatch(value) is not None
        return like


def _compare(op: Callable[[Any, Any], bool], left: Node, right: Node) -> Node:
    def compare(values: Values) -> bool | None:
        a, b = left(values), right(values)
        return None if a is None or b is None else op(a, b)
    return compare


def _and(left: Node, right: Node) -> Node:
    def both(values: Values) -> bool | None:  # SQL's three-valued logic: False wins over unknown
        a = left(values)
        if a is False:
            return False
        b = right(values)
        if b is False:
            return False
        return None if a is None or b is None else True
    return both


def _or(left: Node, right: Node) -> Node:
    def either(values: Values) -> bool | None:
        a = left(values)
        if a is True:
            return True
        b = right(values)
        if b is True:
            return True
        return None if a is None or b is None else False
    return either


def _not(inner: Node) -> Node:
    def negate(values: Values) -> bool | None:
        value = inner(values)
        return None if value is None else not value
    return negate


def partition_filter(expression: str, keys: Sequence[Column]) -> Callable[[Values], bool]:
    """Compile ``expression`` against a table's partition keys into ``f(values) -> bool``.

    Raises InvalidPartitionExpression for text that does not parse, unknown keys, literals that do not
    convert to the key's type, and operators Glue does not accept. A partition matches only when the
    expression is true (unknown, as for a NULL value, does not match).
    """
    if not expression.strip():
        return lambda values: True
    try:
        tree = sqlglot.parse_one(expression, read="hive")
    except (ParseError, TokenError) as error:
        raise InvalidPartitionExpression(expression, str(error).splitlines()[0]) from None
    root = _Compiler(expression, keys).compile(tree)
    return lambda values: root(values) is True
