"""Attribute values as plain Python values, DynamoDB's number rules, sizes and the two encodings.

The ten DynamoDB types map to Python as boto3's resource layer maps them:

    S str    N Decimal    B bytes    BOOL bool    NULL None    M dict    L list
    SS set[str]    NS set[Decimal]    BS set[bytes]

Numbers follow DynamoDB: up to 38 significant digits, magnitudes from 1E-130 to below 1E+126, kept
normalized (``1.50`` and ``15E-1`` are the same number) and written in plain notation.

``key_bytes`` encodes a key value so that byte order is DynamoDB's sort order (N numerically, S by
UTF-8 bytes, B by bytes): SQLite's BLOB comparison then does range-key ordering for free.
``dump_item`` / ``load_item`` are the storage encoding: JSON where strings, booleans, nulls and lists
stay themselves and the other types carry a one-key tag (``{"N": "1.5"}``).
"""
from __future__ import annotations

import binascii
import decimal
import re
from decimal import Decimal
from typing import Any

import orjson

from tidelake.tables.errors import INVALID, ItemInvalid

Item = dict[str, Any]

MAX_ITEM_BYTES = 400 * 1024
MAX_HASH_KEY_BYTES = 2048
MAX_RANGE_KEY_BYTES = 1024
MAX_DIGITS = 38
MAX_EXPONENT = 125
MIN_EXPONENT = -130

TYPE_NAMES = ("S", "N", "B", "BOOL", "NULL", "M", "L", "SS", "NS", "BS")
_SCALAR_NAMES = {str: "S", Decimal: "N", bytes: "B", bool: "BOOL", type(None): "NULL", dict: "M", list: "L"}
_SET_NAMES = {str: "SS", Decimal: "NS", bytes: "BS"}
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
# Exact for sums and differences of two valid numbers; the result is checked like any input.
ARITHMETIC = decimal.Context(prec=300, Emax=999, Emin=-999, traps=[decimal.InvalidOperation])
_ZERO = Decimal(0)


# -- numbers ------------------------------------------------------------------------------------

def parse_number(text: str) -> Decimal:
    """A number as DynamoDB reads one from the wire (plain or exponent notation, no NaN/Infinity)."""
    if not _NUMBER.fullmatch(text):
        raise ItemInvalid("The parameter cannot be converted to a numeric value" + (f": {text}" if text else ""))
    return check_number(Decimal(text))


def check_number(number: Decimal) -> Decimal:
    """``number`` normalized, or the ValidationException DynamoDB gives for it."""
    if not number.is_finite():
        raise ItemInvalid(f"The parameter cannot be converted to a numeric value: {number}")
    if not number:
        return _ZERO
    number = number.normalize(ARITHMETIC)
    exponent = number.adjusted()
    if exponent > MAX_EXPONENT:
        raise ItemInvalid("Number overflow. Attempting to store a number with magnitude larger than supported range")
    if exponent < MIN_EXPONENT:
        raise ItemInvalid("Number underflow. Attempting to store a number with magnitude smaller than supported "
                          "range")
    if len(number.as_tuple().digits) > MAX_DIGITS:
        raise ItemInvalid("Attempting to store more than 38 significant digits in a Number")
    return number


def to_number(value: int | float | Decimal) -> Decimal:
    """A Python number as an N value. Floats go through their shortest repr (0.1 stays 0.1)."""
    if isinstance(value, Decimal):
        return check_number(value)
    if isinstance(value, float):
        return check_number(Decimal(repr(value)))
    return check_number(Decimal(value))


def format_number(number: Decimal) -> str:
    """Plain notation, as DynamoDB returns numbers: 100, 0.5, -12.25."""
    return format(number, "f") if number else "0"


# -- types --------------------------------------------------------------------------------------

def type_name(value: Any) -> str:
    """The DynamoDB type of a value of this model ("S", "N", ..., "BS")."""
    name = _SCALAR_NAMES.get(type(value))
    if name is not None:
        return name
    return _SET_NAMES[type(next(iter(value)))]


def normalize(value: Any) -> Any:
    """A Python value as this model holds it: ints and floats become Decimal, tuples lists,
    frozensets sets, bytearrays bytes. Raises ItemInvalid for what DynamoDB cannot store."""
    kind = type(value)
    if kind is str or kind is bool or value is None:
        return value
    if kind is Decimal or kind is int or kind is float:
        return to_number(value)
    if kind is dict:
        return {_name(k): normalize(v) for k, v in value.items()}
    if kind is list or kind is tuple:
        return [normalize(v) for v in value]
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, (set, frozenset)):
        return _normalize_set(value)
    if isinstance(value, int):  # IntEnum and friends
        return to_number(int(value))
    raise ItemInvalid(f"{INVALID}Unsupported type {kind.__name__} for an attribute value")


def _name(name: Any) -> str:
    if not isinstance(name, str):
        raise ItemInvalid(f"{INVALID}Attribute names must be strings, got {type(name).__name__}")
    return name


def _normalize_set(values: set[Any] | frozenset[Any]) -> set[Any]:
    if not values:
        raise ItemInvalid(f"{INVALID}An AttributeValue may not contain an empty set.")
    members = [normalize(v) for v in values]
    kinds = {type(m) for m in members}
    if len(kinds) > 1 or not kinds <= {str, Decimal, bytes}:
        raise ItemInvalid(f"{INVALID}A set holds strings, numbers or binary values, all of one type")
    return set(members)


def normalize_item(item: Any) -> Item:
    if not isinstance(item, dict):
        raise ItemInvalid(f"{INVALID}An item is a dict of attribute names to values")
    return {_name(k): normalize(v) for k, v in item.items()}


# -- sizes --------------------------------------------------------------------------------------

def _text_size(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode())


def value_size(value: Any) -> int:
    """Bytes DynamoDB counts for a value (the documented item-size rules)."""
    kind = type(value)
    if kind is str:
        return _text_size(value)
    if kind is Decimal:
        return (len(value.as_tuple().digits) + 1) // 2 + 1
    if kind is bytes:
        return len(value)
    if kind is bool or value is None:
        return 1
    if kind is dict:
        return 3 + sum(_text_size(k) + value_size(v) + 1 for k, v in value.items())
    if kind is list:
        return 3 + sum(value_size(v) + 1 for v in value)
    return sum(value_size(v) for v in value)


def item_size(item: Item) -> int:
    size = 0
    for name, value in item.items():
        size += len(name) if name.isascii() else len(name.encode())
        if type(value) is str:  # most values: no call
            size += len(value) if value.isascii() else len(value.encode())
        else:
            size += value_size(value)
    return size


# -- keys ---------------------------------------------------------------------------------------

def key_bytes(value: str | Decimal | bytes) -> bytes:
    """Order-preserving bytes of a key value: comparing them as BLOBs compares the values."""
    kind = type(value)
    if kind is str:
        return value.encode()
    if kind is bytes:
        return value
    return _number_key(value)


def _number_key(number: Decimal) -> bytes:
    # sign byte, then the exponent, then one byte per digit of the mantissa 0.d1d2...: a larger
    # exponent means a larger magnitude, and between equal exponents the digits compare left to
    # right. Negative numbers invert exponent and digits and end with 0xFF, so that -0.12 (whose
    # inverted digits are a prefix of those of -0.123) sorts after it.
    if not number:
        return b"\x01"
    sign, digits, _ = number.as_tuple()
    exponent = number.adjusted() + 1000
    if sign:
        return (b"\x00" + (65535 - exponent).to_bytes(2, "big") + bytes(0x39 - d for d in digits) + b"\xff")
    return b"\x02" + exponent.to_bytes(2, "big") + bytes(0x30 + d for d in digits)


def successor(prefix: bytes) -> bytes | None:
    """The smallest byte string greater than every string starting with ``prefix`` (None: none is)."""
    trimmed = prefix.rstrip(b"\xff")
    if not trimmed:
        return None
    return trimmed[:-1] + bytes([trimmed[-1] + 1])


# -- storage encoding ---------------------------------------------------------------------------

def _dump(value: Any) -> Any:
    kind = type(value)
    if kind is str or kind is bool or value is None:
        return value
    if kind is Decimal:
        return {"N": format_number(value)}
    if kind is bytes:
        return {"B": binascii.b2a_base64(value, newline=False).decode()}
    if kind is list:
        return [_dump(v) for v in value]
    if kind is dict:
        return {"M": {k: _dump(v) for k, v in value.items()}}
    name = type_name(value)
    if name == "SS":
        return {"SS": sorted(value)}
    if name == "NS":
        return {"NS": [format_number(v) for v in sorted(value)]}
    return {"BS": [binascii.b2a_base64(v, newline=False).decode() for v in sorted(value)]}


def _load(value: Any) -> Any:
    kind = type(value)
    if kind is str or kind is bool or value is None:
        return value
    if kind is list:
        return [_load(v) for v in value]
    (tag, inner), = value.items()
    if tag == "N":
        return Decimal(inner)
    if tag == "M":
        return {k: _load(v) for k, v in inner.items()}
    if tag == "B":
        return binascii.a2b_base64(inner)
    if tag == "SS":
        return set(inner)
    if tag == "NS":
        return {Decimal(v) for v in inner}
    return {binascii.a2b_base64(v) for v in inner}


def dump_item(item: Item) -> bytes:
    return orjson.dumps({k: _dump(v) for k, v in item.items()})


def load_item(data: bytes) -> Item:
    return {k: _load(v) for k, v in orjson.loads(data).items()}
