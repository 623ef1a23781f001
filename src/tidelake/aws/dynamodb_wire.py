"""DynamoDB's typed JSON (``{"S": "x"}``, ``{"N": "1.5"}``, ...) to the item model's Python values and back.

Inputs arrive checked against the AttributeValue shape (blobs already decoded); what the shape cannot
say (exactly one type, non-empty sets without duplicates, NULL true, number rules) is checked here
with DynamoDB's messages.
"""
from __future__ import annotations

import binascii
from decimal import Decimal
from typing import Any, Mapping

from tidelake.tables.errors import INVALID, ItemInvalid
from tidelake.tables.values import Item, format_number, parse_number, type_name


def decode(value: Mapping[str, Any]) -> Any:
    if len(value) == 1:
        (kind, inner), = value.items()
        if kind == "S" and inner is not None:  # most values: no list to build
            return inner
    present = [(k, v) for k, v in value.items() if v is not None]
    if len(present) != 1:
        raise ItemInvalid("Supplied AttributeValue is empty, must contain exactly one of the supported datatypes"
                          if not present else "Supplied AttributeValue has more than one datatypes set, must "
                                              "contain exactly one of the supported datatypes")
    (kind, inner), = present
    if kind == "S" or kind == "B" or kind == "BOOL":
        return inner
    if kind == "N":
        return parse_number(inner)
    if kind == "M":
        return {name: decode(v) for name, v in inner.items()}
    if kind == "L":
        return [decode(v) for v in inner]
    if kind == "NULL":
        if inner is not True:
            raise ItemInvalid(f"{INVALID}Null attribute value types must have the value of true")
        return None
    return _set(kind, inner)


def _set(kind: str, members: list[Any]) -> set[Any]:
    if not members:
        raise ItemInvalid(INVALID + {"SS": "An string set  may not be empty", "NS": "An number set  may not be empty",
                                     "BS": "Binary sets should not be empty"}[kind])
    values = {parse_number(m) for m in members} if kind == "NS" else set(members)
    if len(values) < len(members):
        if kind == "NS":
            raise ItemInvalid("Input collection contains duplicates")
        shown = ", ".join(m if kind == "SS" else binascii.b2a_base64(m, newline=False).decode() for m in members)
        raise ItemInvalid(f"{INVALID}Input collection [{shown}]{' ' if kind == 'SS' else 'of type BS '}contains "
                          "duplicates.")
    return values


def decode_item(item: Mapping[str, Any]) -> Item:
    return {name: decode(value) for name, value in item.items()}


def decode_values(values: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """ExpressionAttributeValues, with the key named in the message of a bad value."""
    if values is None:
        return None
    decoded = {}
    for key, value in values.items():
        try:
            decoded[key] = decode(value)
        except ItemInvalid as error:
            raise ItemInvalid(f"ExpressionAttributeValues contains invalid value: {error.message} for key {key}"
                              ) from None
    return decoded


def encode(value: Any, text_blobs: bool) -> dict[str, Any]:
    """One value as an AttributeValue. ``text_blobs``: binary as base64 text, ready for JSON (for
    lists the handler hands over as Wire); otherwise bytes, for the shape serializer to encode."""
    kind = type(value)
    if kind is str:
        return {"S": value}
    if kind is Decimal:
        return {"N": format_number(value)}
    if kind is bool:
        return {"BOOL": value}
    if value is None:
        return {"NULL": True}
    if kind is bytes:
        return {"B": _blob(value) if text_blobs else value}
    if kind is dict:
        return {"M": {k: encode(v, text_blobs) for k, v in value.items()}}
    if kind is list:
        return {"L": [encode(v, text_blobs) for v in value]}
    name = type_name(value)
    if name == "SS":
        return {"SS": sorted(value)}
    if name == "NS":
        return {"NS": [format_number(v) for v in sorted(value)]}
    return {"BS": [_blob(v) if text_blobs else v for v in sorted(value)]}


def _blob(value: bytes) -> str:
    return binascii.b2a_base64(value, newline=False).decode()


def encode_item(item: Item, text_blobs: bool = False) -> dict[str, Any]:
    return {name: encode(value, text_blobs) for name, value in item.items()}
