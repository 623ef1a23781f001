"""Primary keys: which attributes of an item form its key, their stored bytes, and key conditions.

Rows are stored under (table, token, hash bytes, range bytes). The token is a 32-bit hash of the hash
key: a Scan walks tokens in order (DynamoDB's scan order is its partitions', hashed too) and a
Scan segment is a contiguous token range. A Query fixes the token and the hash bytes, so its range
condition is a range scan of the primary-key index.
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Any

from tidelake.errors import ValidationFailed
from tidelake.tables.errors import INVALID, ItemInvalid
from tidelake.tables.expressions import And, Between, Call, In, Not, Or, Path, Value
from tidelake.tables.models import KeyAttribute, Table
from tidelake.tables.values import MAX_HASH_KEY_BYTES, MAX_RANGE_KEY_BYTES, Item, key_bytes, type_name

TOKENS = 1 << 32
_WRONG_KEY = "The provided key element does not match the schema"
_FLIPPED = {"=": "=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}  # :v < k is k > :v
_NOT_IN_KEY_CONDITIONS = {Or: "OR", Not: "NOT", In: "IN"}


def token(hash_bytes: bytes) -> int:
    return zlib.crc32(hash_bytes)


def segment_tokens(segment: int, total_segments: int) -> tuple[int, int]:
    """The first and last token of a Scan segment."""
    return segment * TOKENS // total_segments, (segment + 1) * TOKENS // total_segments - 1


def _bytes(attribute: KeyAttribute, value: Any, is_hash: bool) -> bytes:
    if type(value) is str and not value or type(value) is bytes and not value:
        kind = "string" if type(value) is str else "binary"
        raise ItemInvalid("One or more parameter values are not valid. The AttributeValue for a key attribute "
                          f"cannot contain an empty {kind} value. Key: {attribute.name}")
    encoded = key_bytes(value)
    if attribute.type == "N":
        return encoded
    if is_hash and len(encoded) > MAX_HASH_KEY_BYTES:
        raise ItemInvalid(f"{INVALID}Size of hashkey has exceeded the maximum size limit of2048 bytes")
    if not is_hash and len(encoded) > MAX_RANGE_KEY_BYTES:
        raise ItemInvalid(f"{INVALID}Aggregated size of all range keys has exceeded the size limit of 1024 bytes")
    return encoded


def item_key(table: Table, item: Item) -> tuple[bytes, bytes]:
    """The stored key of an item being written (PutItem's checks and messages)."""
    parts = []
    for attribute in table.key_attributes:
        value = item.get(attribute.name)
        if value is None and attribute.name not in item:
            raise ItemInvalid(f"{INVALID}Missing the key {attribute.name} in the item")
        found = type_name(value)
        if found != attribute.type:
            raise ItemInvalid(f"{INVALID}Type mismatch for key {attribute.name} expected: {attribute.type} "
                              f"actual: {found}")
        parts.append(_bytes(attribute, value, attribute is table.hash_key))
    return parts[0], parts[1] if len(parts) > 1 else b""


def key_of(table: Table, key: Item) -> tuple[bytes, bytes]:
    """The stored key named by a Key parameter: exactly the key attributes, of their types."""
    if len(key) != len(table.key_attributes):
        raise ItemInvalid(_WRONG_KEY)
    parts = []
    for attribute in table.key_attributes:
        if attribute.name not in key or type_name(key[attribute.name]) != attribute.type:
            raise ItemInvalid(_WRONG_KEY)
        parts.append(_bytes(attribute, key[attribute.name], attribute is table.hash_key))
    return parts[0], parts[1] if len(parts) > 1 else b""


def key_values(table: Table, item: Item) -> Item:
    return {name: item[name] for name in table.key_names}


# -- key conditions -----------------------------------------------------------------------------

@dataclass(frozen=True)
class KeyCondition:
    """A Query's key condition: the hash key value and an optional condition on the range key."""
    hash_value: Any
    range_op: str | None = None  # =, <, <=, >, >=, BETWEEN, begins_with
    range_values: tuple[Any, ...] = ()


def key_condition(condition: Any, table: Table) -> KeyCondition:
    """Check a KeyConditionExpression against the key schema, with DynamoDB's messages."""
    found: dict[str, tuple[str, tuple[Any, ...]]] = {}
    for part in _conjuncts(condition):
        name, op, values = _key_part(part)
        if name in found:
            raise ValidationFailed("KeyConditionExpressions must only contain one condition per key")
        found[name] = (op, values)
    hash_key, range_key = table.hash_key, table.range_key
    if hash_key.name not in found:
        raise ValidationFailed(f"Query condition missed key schema element: {hash_key.name}")
    hash_op, (hash_value, *_) = found.pop(hash_key.name)
    range_part = found.pop(range_key.name) if range_key is not None and range_key.name in found else None
    if found or hash_op != "=":
        raise ValidationFailed("Query key condition not supported")
    _types_match(hash_key, (hash_value,))
    if range_part is None:
        return KeyCondition(hash_value)
    assert range_key is not None
    _types_match(range_key, range_part[1])
    if range_part[0] == "begins_with" and range_key.type == "N":
        raise ValidationFailed("Query key condition not supported")
    return KeyCondition(hash_value, range_part[0], range_part[1])


def _conjuncts(condition: Any) -> list[Any]:
    if type(condition) is And:
        return _conjuncts(condition.left) + _conjuncts(condition.right)
    operator = _NOT_IN_KEY_CONDITIONS.get(type(condition))
    if operator is not None:
        raise ValidationFailed(f"Invalid operator used in KeyConditionExpression: {operator}")
    return [condition]


def _key_part(part: Any) -> tuple[str, str, tuple[Any, ...]]:
    if type(part) is Call:
        if part.name != "begins_with":
            raise ValidationFailed(f"Invalid operator used in KeyConditionExpression: {part.name}")
        if type(part.args[0]) is not Path:
            raise ValidationFailed("Invalid condition in KeyConditionExpression: begins_with operator must have the "
                                   "key attribute as its first operand")
        return _attribute(part.args[0]), "begins_with", _values(part.args[1:])
    if type(part) is Between:
        if type(part.subject) is not Path:
            raise ValidationFailed("Invalid condition in KeyConditionExpression: BETWEEN operator must have the key "
                                   "attribute as its first operand")
        return _attribute(part.subject), "BETWEEN", _values((part.low, part.high))
    if part.op == "<>":
        raise ValidationFailed("Invalid operator used in KeyConditionExpression: <>")
    paths = [o for o in (part.left, part.right) if type(o) is Path]
    if len(paths) > 1:
        raise ValidationFailed("Invalid condition in KeyConditionExpression: Multiple attribute names used in one "
                               "condition")
    if not paths:
        raise ValidationFailed("Invalid condition in KeyConditionExpression: No key attribute specified")
    if type(part.left) is Path:
        return _attribute(part.left), part.op, _values((part.right,))
    return _attribute(part.right), _FLIPPED[part.op], _values((part.left,))


def _attribute(path: Path) -> str:
    if len(path.elements) > 1:
        raise ValidationFailed("KeyConditionExpressions cannot have conditions on nested attributes")
    return path.elements[0]


def _values(operands: Any) -> tuple[Any, ...]:
    if any(type(o) is not Value for o in operands):
        raise ValidationFailed("KeyConditionExpressions cannot contain nested operations")
    return tuple(o.value for o in operands)


def _types_match(attribute: KeyAttribute, values: tuple[Any, ...]) -> None:
    if any(type_name(v) != attribute.type for v in values):
        raise ValidationFailed(f"{INVALID}Condition parameter type does not match schema type")
