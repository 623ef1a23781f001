"""Input parsing and validation compiled from botocore shapes.

Each shape becomes a closure that checks one value (type, length, pattern, enum, range), converts
wire values to Python ones (base64 blobs to bytes, timestamps to epoch seconds) and collects
messages in the words AWS uses. Compiling once keeps the per-record cost of PutRecords small.
"""
from __future__ import annotations

import binascii
import re
from collections import deque
from datetime import datetime
from functools import cache
from itertools import repeat
from typing import Any, Callable

from botocore.model import Shape

from tidelake.aws.protocol.models import service_model
from tidelake.errors import MalformedRequest, ValidationFailed

# Where a value sits, rendered only when a message needs it: PutRecords checks 500 entries per call,
# and formatting "records.N.member.data" for each one cost more than checking it.
Where = str | tuple[Any, str | int]  # (parent, member name) or (parent, 1-based list position)
Check = Callable[[Any, Where, list[str]], Any]


def _where(path: Where) -> str:
    if isinstance(path, str):
        return path
    parent, part = path
    head = _where(parent)
    if isinstance(part, int):
        return f"{head}.{part}.member"
    return f"{head}.{part}" if head else part


def _lower_camel(name: str) -> str:
    return name[:1].lower() + name[1:]


def _show(value: Any) -> str:
    if isinstance(value, (bytes, bytearray)):
        return f"<{len(value)} bytes>"
    text = str(value)
    return text if len(text) <= 100 else text[:100] + "..."


def _fail(errors: list[str], value: Any, path: Where, constraint: str) -> None:
    errors.append(f"Value '{_show(value)}' at '{_where(path)}' failed to satisfy constraint: {constraint}")


def _length(shape: Shape) -> Callable[[Any, int, str, list[str]], None] | None:
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    if low is None and high is None:
        return None

    def check(value: Any, size: int, path: Where, errors: list[str]) -> None:
        if low is not None and size < low:
            _fail(errors, value, path, f"Member must have length greater than or equal to {low}")
        elif high is not None and size > high:
            _fail(errors, value, path, f"Member must have length less than or equal to {high}")
    return check


def _compile(shape: Shape) -> Check:
    kind = shape.type_name
    if kind == "structure":
        return _structure(shape)
    if kind == "list":
        return _list(shape)
    if kind == "map":
        return _map(shape)
    if kind == "string":
        return _string(shape)
    if kind in ("integer", "long"):
        return _number(shape, int)
    if kind in ("float", "double"):
        return _number(shape, (int, float))
    if kind == "boolean":
        return _typed(bool, "boolean")
    if kind == "blob":
        return _blob(shape)
    if kind == "timestamp":
        return _timestamp
    return lambda value, path, errors: value


def _typed(kind: type, name: str) -> Check:
    def check(value: Any, path: Where, errors: list[str]) -> Any:
        if not isinstance(value, kind):
            raise MalformedRequest(f"Expected a {name} at '{_where(path)}', got {type(value).__name__}.")
        return value
    return check


def _structure(shape: Shape) -> Check:
    required = tuple(shape.required_members)
    wire = {name: _lower_camel(name) for name in shape.members}
    checks: dict[str, Check] = {}

    def check(value: Any, path: Where, errors: list[str]) -> Any:
        if not isinstance(value, dict):
            raise MalformedRequest(f"Expected an object at '{_where(path) or 'input'}', got {type(value).__name__}.")
        if not checks:  # members compile on first use: compiling a recursive shape eagerly never ends
            checks.update((name, _compile(member)) for name, member in shape.members.items())
        for name in required:
            if value.get(name) is None:
                errors.append(f"Value null at '{_where((path, wire[name]))}' failed to satisfy constraint: "
                              "Member must not be null")
        # Only the members present: a PutRecords entry has 2-3 of them, not the whole shape.
        for name, item in value.items():
            if item is not None and name in wire:
                value[name] = checks[name](item, (path, wire[name]), errors)
        return value
    return check


def _list(shape: Shape) -> Check:
    length = _length(shape)
    member = _compile(shape.member)
    columns = _columns(shape.member)

    def check(value: Any, path: Where, errors: list[str]) -> Any:
        if not isinstance(value, list):
            raise MalformedRequest(f"Expected a list at '{_where(path)}', got {type(value).__name__}.")
        if length:
            length(value, len(value), path, errors)
        if columns is not None and (checked := columns(value)) is not None:
            return checked
        return [member(item, (path, i), errors) for i, item in enumerate(value, 1)]
    return check


def _columns(shape: Shape) -> Callable[[list[Any]], list[Any] | None] | None:
    """A column-at-a-time check for lists of flat structures of strings and blobs (PutRecords'
    500 entries): each member's values go through C-level loops (map, min, max) instead of a call
    chain per entry. It answers None, leaving the entry-by-entry check to word the messages, as soon
    as anything is wrong."""
    if shape.type_name != "structure" or not shape.members or any(
            m.type_name not in ("string", "blob") or m.metadata.get("enum") for m in shape.members.values()):
        return None
    required = set(shape.required_members)
    members = [(name, m.type_name == "blob", m.metadata.get("min"), m.metadata.get("max"),
                _pattern(m.metadata.get("pattern")), name in required) for name, m in shape.members.items()]

    def check(items: list[Any]) -> list[Any] | None:
        if set(map(type, items)) - {dict}:
            return None
        decoded: list[tuple[str, list[Any], list[bytes]]] = []
        for name, blob, low, high, pattern, must in members:
            column = list(map(dict.get, items, repeat(name)))
            present = column if None not in column else [v for v in column if v is not None]
            if (must and len(present) < len(column)) or set(map(type, present)) - {str}:
                return None
            if not present:
                continue
            try:
                values = list(map(binascii.a2b_base64, present)) if blob else present
            except binascii.Error:
                return None
            sizes = list(map(len, values))
            if (low is not None and min(sizes) < low) or (high is not None and max(sizes) > high) or (
                    pattern is not None and not all(map(pattern.fullmatch, values))):
                return None
            if blob:
                decoded.append((name, column, values))
        for name, column, values in decoded:  # all checked: only now convert in place
            owners = items if len(values) == len(items) else [i for i, v in zip(items, column) if v is not None]
            deque(map(dict.__setitem__, owners, repeat(name), values), maxlen=0)
        return items
    return check


def _map(shape: Shape) -> Check:
    length = _length(shape)
    key_check, value_check = _compile(shape.key), _compile(shape.value)

    def check(value: Any, path: Where, errors: list[str]) -> Any:
        if not isinstance(value, dict):
            raise MalformedRequest(f"Expected an object at '{_where(path)}', got {type(value).__name__}.")
        if length:
            length(value, len(value), path, errors)
        return {key_check(k, (path, "key"), errors): value_check(v, (path, str(k)), errors) for k, v in value.items()}
    return check


def _string(shape: Shape) -> Check:
    length = _length(shape)
    enum = shape.metadata.get("enum")
    pattern = _pattern(shape.metadata.get("pattern"))

    def check(value: Any, path: Where, errors: list[str]) -> Any:
        if not isinstance(value, str):
            raise MalformedRequest(f"Expected a string at '{_where(path)}', got {type(value).__name__}.")
        if length:
            length(value, len(value), path, errors)
        if enum and value not in enum:
            _fail(errors, value, path, f"Member must satisfy enum value set: [{', '.join(enum)}]")
        if pattern is not None and not pattern.fullmatch(value):
            _fail(errors, value, path, f"Member must satisfy regular expression pattern: {pattern.pattern}")
        return value
    return check


@cache
def _pattern(text: str | None) -> re.Pattern[str] | None:
    if not text:
        return None
    try:
        return re.compile(text)
    except re.error:  # a Java-only construct (e.g. \p{..}): leave it to the service logic
        return None


def _number(shape: Shape, kind: Any) -> Check:
    low, high = shape.metadata.get("min"), shape.metadata.get("max")

    def check(value: Any, path: Where, errors: list[str]) -> Any:
        if isinstance(value, bool) or not isinstance(value, kind):
            raise MalformedRequest(f"Expected a number at '{_where(path)}', got {type(value).__name__}.")
        if low is not None and value < low:
            _fail(errors, value, path, f"Member must have value greater than or equal to {low}")
        elif high is not None and value > high:
            _fail(errors, value, path, f"Member must have value less than or equal to {high}")
        return value
    return check


def _blob(shape: Shape) -> Check:
    length = _length(shape)

    def check(value: Any, path: Where, errors: list[str]) -> Any:
        if not isinstance(value, str):
            raise MalformedRequest(f"Expected base64 text at '{_where(path)}', got {type(value).__name__}.")
        try:
            data = binascii.a2b_base64(value)
        except binascii.Error:
            raise MalformedRequest(f"Value at '{_where(path)}' is not valid base64.") from None
        if length:
            length(data, len(data), path, errors)
        return data
    return check


def _timestamp(value: Any, path: Where, errors: list[str]) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            pass
    raise MalformedRequest(f"Value at '{_where(path)}' is not a timestamp (epoch seconds or ISO 8601).")


@cache
def input_checker(service: str, operation: str) -> Check:
    shape = service_model(service).operation_model(operation).input_shape
    return _compile(shape) if shape is not None else (lambda value, path, errors: value)


def parse_input(service: str, operation: str, params: Any) -> dict[str, Any]:
    """Validate ``params`` against the operation's input shape; returns them converted."""
    errors: list[str] = []
    value = input_checker(service, operation)(params, "", errors)
    if errors:
        count = len(errors)
        raise ValidationFailed(f"{count} validation error{'s' if count > 1 else ''} detected: " + "; ".join(errors))
    return value

