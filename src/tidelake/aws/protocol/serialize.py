"""Output serialization compiled from botocore shapes (JSON protocols).

A handler may return plain dicts keyed by AWS member names, or core objects whose attributes are the
members in snake_case (``StreamARN`` -> ``stream_arn``); the serializer picks each member by name,
as moto's attribute picker does, so handlers stay thin and models carry no ``to_json``.
Shapes holding no blob, timestamp or structure pass dict values through untouched.
"""
from __future__ import annotations

import binascii
import enum
from datetime import datetime
from functools import cache
from typing import Any, Callable

import orjson
from botocore import xform_name
from botocore.model import Shape

from tidelake.aws.protocol.models import service_model

Serialize = Callable[[Any], Any]


class Wire(list):  # type: ignore[type-arg]
    """A list a handler already shaped for the wire (blobs in base64, timestamps as numbers).

    For hot lists (GetRecords' records): one dict per item built in a comprehension costs a
    fraction of walking the shape member by member."""


def _identity(value: Any) -> Any:
    return value.value if isinstance(value, enum.Enum) else value


def _plain(shape: Shape, seen: frozenset[str] = frozenset()) -> bool:
    """True if values of this shape are already JSON as given (no blob or timestamp inside)."""
    if shape.name in seen:
        return True
    seen = seen | {shape.name}
    match shape.type_name:
        case "structure":
            return all(_plain(m, seen) for m in shape.members.values())
        case "list":
            return _plain(shape.member, seen)
        case "map":
            return _plain(shape.value, seen)
        case "blob" | "timestamp":
            return False
    return True


def _compile(shape: Shape, seen: dict[str, Serialize]) -> Serialize:
    if shape.name in seen:
        return lambda value: seen[shape.name](value)  # recursive shapes resolve late
    kind = shape.type_name
    if kind == "structure":
        fields = [(name, xform_name(name)) for name in shape.members]
        converters: dict[str, Serialize] = {}

        plain = _plain(shape)

        def structure(value: Any) -> dict[str, Any]:
            is_dict = isinstance(value, dict)
            if plain and is_dict:
                return value  # the handler built it with member names: nothing to convert
            out = {}
            for name, attr in fields:
                item = value.get(name) if is_dict else getattr(value, attr, None)
                if item is not None:
                    out[name] = converters[name](item)
            return out
        seen[shape.name] = structure
        for name, member in shape.members.items():
            converters[name] = _compile(member, seen)
        return structure
    if kind == "list":
        member = _compile(shape.member, seen)
        return lambda value: value if isinstance(value, Wire) else [member(item) for item in value]
    if kind == "map":
        item = _compile(shape.value, seen)
        return lambda value: {str(k): item(v) for k, v in value.items()}
    if kind == "blob":
        return lambda value: binascii.b2a_base64(value, newline=False).decode()
    if kind == "timestamp":
        return lambda value: value.timestamp() if isinstance(value, datetime) else value
    if kind in ("integer", "long"):
        return lambda value: int(value)
    if kind == "string":
        # 128-bit hash keys and similar numbers are strings on the wire.
        return lambda value: value.value if isinstance(value, enum.Enum) else (
            value if isinstance(value, str) else str(value))
    return _identity


@cache
def output_serializer(service: str, operation: str) -> Serialize:
    shape = service_model(service).operation_model(operation).output_shape
    if shape is None:
        return lambda value: {}
    return _compile(shape, {})


def json_body(service: str, operation: str, result: Any) -> bytes:
    return orjson.dumps(output_serializer(service, operation)(result if result is not None else {}))
