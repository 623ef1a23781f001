"""Expressions applied to items: conditions and filters, updates, projections.

Semantics from the DynamoDB developer guide (Expressions.OperatorsAndFunctions, UpdateExpressions):
a comparison with an attribute that does not exist, or with a value of another type, is false (and
``<>`` true); ``<`` ``<=`` ``>`` ``>=`` BETWEEN compare numbers numerically, strings and binary by
their bytes; every operand of an update is read from the item as it was before the update.
"""
from __future__ import annotations

from decimal import Decimal
from typing import Any, Iterable

from tidelake.tables.errors import INVALID, UpdateInvalid
from tidelake.tables.expressions import (And, Arithmetic, Between, Call, Compare, In, Not, Or, Path, Update,
                                          Value)
from tidelake.tables.values import ARITHMETIC, Item, check_number, type_name

MISSING: Any = type("Missing", (), {"__repr__": lambda self: "MISSING"})()
_ORDERED = (str, Decimal, bytes)
_NO_ATTRIBUTE = "The provided expression refers to an attribute that does not exist in the item"
_WRONG_TYPE = "An operand in the update expression has an incorrect data type"
_BAD_PATH = "The document path provided in the update expression is invalid for update"


def resolve(item: Item, path: Path) -> Any:
    """The value at ``path``, or MISSING."""
    value: Any = item
    for element in path.elements:
        if type(element) is int:
            if type(value) is not list or element >= len(value):
                return MISSING
        elif type(value) is not dict or element not in value:
            return MISSING
        value = value[element]
    return value


def same(a: Any, b: Any) -> bool:
    """Equality within one type: True is not the number 1, a list compares element by element."""
    kind = type(a)
    if kind is not type(b):
        return False
    if kind is list:
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if kind is dict:
        return a.keys() == b.keys() and all(same(v, b[k]) for k, v in a.items())
    if kind is set:
        return type_name(a) == type_name(b) and a == b
    return a == b


# -- conditions ---------------------------------------------------------------------------------

def holds(condition: Any, item: Item) -> bool:
    kind = type(condition)
    if kind is Compare:
        return _compare(condition.op, _operand(condition.left, item), _operand(condition.right, item))
    if kind is And:
        return holds(condition.left, item) and holds(condition.right, item)
    if kind is Or:
        return holds(condition.left, item) or holds(condition.right, item)
    if kind is Not:
        return not holds(condition.inner, item)
    if kind is Between:
        subject = _operand(condition.subject, item)
        return (_compare(">=", subject, _operand(condition.low, item))
                and _compare("<=", subject, _operand(condition.high, item)))
    if kind is In:
        subject = _operand(condition.subject, item)
        return subject is not MISSING and any(same(subject, _operand(c, item)) for c in condition.choices)
    return _function(condition, item)


def _operand(node: Any, item: Item) -> Any:
    kind = type(node)
    if kind is Path:
        return resolve(item, node)
    if kind is Value:
        return node.value
    return _size(_operand(node.args[0], item))  # size() is the one function that is an operand here


def _size(value: Any) -> Any:
    kind = type(value)
    if kind is str or kind is bytes or kind is list or kind is dict or kind is set:
        return Decimal(len(value))
    return MISSING


def _compare(op: str, left: Any, right: Any) -> bool:
    if op == "<>":
        return not same(left, right)
    if op == "=":
        return left is not MISSING and same(left, right)
    if type(left) is not type(right) or type(left) not in _ORDERED:
        return False
    if op == "<":
        return left < right
    if op == "<=":
        return left <= right
    if op == ">":
        return left > right
    return left >= right


def _function(call: Call, item: Item) -> bool:
    name = call.name
    value = resolve(item, call.args[0]) if type(call.args[0]) is Path else _operand(call.args[0], item)
    if name == "attribute_exists":
        return value is not MISSING
    if name == "attribute_not_exists":
        return value is MISSING
    if value is MISSING:
        return False
    argument = _operand(call.args[1], item)
    if name == "attribute_type":
        return type_name(value) == argument
    if name == "begins_with":
        return type(value) is type(argument) and type(value) in (str, bytes) and value.startswith(argument)
    return _contains(value, argument)


def _contains(value: Any, operand: Any) -> bool:
    kind = type(value)
    if kind is str or kind is bytes:
        return type(operand) is kind and operand in value
    if kind is set:
        return type(operand) is type(next(iter(value))) and operand in value
    if kind is list:
        return any(same(element, operand) for element in value)
    return False


# -- updates ------------------------------------------------------------------------------------

def apply_update(update: Update, item: Item, key_names: Iterable[str]) -> Item:
    """The item after ``update`` (``item`` itself is left as it was)."""
    keys = set(key_names)
    for action in update.actions:
        if action.path.elements[0] in keys:
            raise UpdateInvalid(f"{INVALID}Cannot update attribute {action.path.elements[0]}. This attribute is "
                                "part of the key")
    # Step 1: every SET value from the item as it was.
    values = [_set_value(a.value, item) if a.verb == "SET" else None for a in update.actions]
    new = _copy(item)
    removals: list[Path] = []
    # Step 2: apply in order; list elements are removed last, highest index first, so that removing
    # a[1] and a[3] removes the elements that had those positions.
    for action, value in zip(update.actions, values):
        if action.verb == "SET":
            _assign(new, action.path, value)
        elif action.verb == "REMOVE":
            removals.append(action.path)
        elif action.verb == "ADD":
            _add(new, action.path, action.value.value)
        else:
            _delete(new, action.path, action.value.value)
    for path in sorted(removals, key=lambda p: [-e if type(e) is int else 0 for e in p.elements]):
        _remove(new, path)
    return new


def _copy(value: Any) -> Any:
    kind = type(value)
    if kind is dict:
        return {k: _copy(v) for k, v in value.items()}
    if kind is list:
        return [_copy(v) for v in value]
    if kind is set:
        return set(value)
    return value


def _set_value(node: Any, item: Item) -> Any:
    kind = type(node)
    if kind is Value:
        return node.value
    if kind is Path:
        value = resolve(item, node)
        if value is MISSING:
            raise UpdateInvalid(_NO_ATTRIBUTE)
        return value
    if kind is Arithmetic:
        left, right = _set_value(node.left, item), _set_value(node.right, item)
        if type(left) is not Decimal or type(right) is not Decimal:
            raise UpdateInvalid(_WRONG_TYPE)
        result = ARITHMETIC.add(left, right) if node.op == "+" else ARITHMETIC.subtract(left, right)
        return check_number(result)
    if node.name == "if_not_exists":
        existing = resolve(item, node.args[0])
        return existing if existing is not MISSING else _set_value(node.args[1], item)
    first, second = _set_value(node.args[0], item), _set_value(node.args[1], item)  # list_append
    if type(first) is not list or type(second) is not list:
        raise UpdateInvalid(_WRONG_TYPE)
    return first + second


def _parent(item: Item, path: Path) -> Any:
    parent = resolve(item, Path(path.elements[:-1])) if len(path.elements) > 1 else item
    last = path.elements[-1]
    if (type(last) is int and type(parent) is not list) or (type(last) is str and type(parent) is not dict):
        raise UpdateInvalid(_BAD_PATH)
    return parent


def _assign(item: Item, path: Path, value: Any) -> None:
    parent, last = _parent(item, path), path.elements[-1]
    value = _copy(value)
    if type(last) is int and last >= len(parent):
        parent.append(value)  # past the end of a list: appended, as DynamoDB does
    else:
        parent[last] = value


def _remove(item: Item, path: Path) -> None:
    parent = resolve(item, Path(path.elements[:-1])) if len(path.elements) > 1 else item
    last = path.elements[-1]
    if type(last) is int:
        if type(parent) is list and last < len(parent):
            del parent[last]
    elif type(parent) is dict:
        parent.pop(last, None)


def _add(item: Item, path: Path, operand: Any) -> None:
    current = resolve(item, path)
    if current is MISSING:
        _assign(item, path, operand)
    elif type(current) is Decimal and type(operand) is Decimal:
        _assign(item, path, check_number(ARITHMETIC.add(current, operand)))
    elif type(current) is set and type(operand) is set and type_name(current) == type_name(operand):
        current |= operand
    else:
        raise UpdateInvalid(_WRONG_TYPE)


def _delete(item: Item, path: Path, operand: Any) -> None:
    current = resolve(item, path)
    if current is MISSING:
        return
    if type(current) is not set or type_name(current) != type_name(operand):
        raise UpdateInvalid(_WRONG_TYPE)
    current -= operand
    if not current:
        _remove(item, path)


# -- projections --------------------------------------------------------------------------------

def project(item: Item, paths: Iterable[Path]) -> Item:
    """The parts of ``item`` the paths name (list elements keep their relative order)."""
    tree: dict[Any, Any] = {}
    for path in paths:
        node = tree
        for element in path.elements[:-1]:
            node = node.setdefault(element, {})
        node[path.elements[-1]] = None
    found = _pick(item, tree)
    return found if found is not MISSING else {}


def _pick(value: Any, tree: dict[Any, Any]) -> Any:
    kind = type(value)
    if kind is dict:
        out = {}
        for element, sub in tree.items():
            if type(element) is str and element in value:
                picked = value[element] if sub is None else _pick(value[element], sub)
                if picked is not MISSING:
                    out[element] = picked
        return out if out else MISSING
    if kind is list:
        picked_list = []
        for element in sorted(e for e in tree if type(e) is int):
            if element < len(value):
                sub = tree[element]
                picked = value[element] if sub is None else _pick(value[element], sub)
                if picked is not MISSING:
                    picked_list.append(picked)
        return picked_list if picked_list else MISSING
    return MISSING


def updated_paths(update: Update) -> list[Path]:
    """The paths an update writes: what UPDATED_OLD and UPDATED_NEW return."""
    return [action.path for action in update.actions]
