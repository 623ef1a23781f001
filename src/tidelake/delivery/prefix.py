"""Firehose S3 prefixes: parse, validate and evaluate ``!{namespace:value}`` templates; object names.

Semantics come from the Amazon Data Firehose Developer Guide: "Understand custom prefixes for
Amazon S3 objects" (https://docs.aws.amazon.com/firehose/latest/dev/s3-prefixes.html), the dynamic
partitioning pages (dynamic-partitioning-s3bucketprefix.html, dynamic-partitioning-error-handling.html)
and "Configure Amazon S3 object name format" (s3-object-name.html). Where the prefix page's example
table contradicts its own "Semantic rules" list, the rules win; the tests name each such case.

The delivery engine uses it in this order: ``validate_prefixes`` at CreateDeliveryStream /
UpdateDestination, then per object ``effective_prefix`` (or ``effective_error_prefix``) ->
``evaluate`` -> ``object_name``. Time is always UTC (the CustomTimeZone setting is not handled here).
"""
from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache

from tidelake.delivery.errors import EvaluatedPrefixTooLong, PartitionKeyMissing, PrefixInvalid
from tidelake.errors import InvalidArgument, Unsupported, ValidationFailed

TIMESTAMP = "timestamp"
FIREHOSE = "firehose"
PARTITION_KEY_FROM_QUERY = "partitionKeyFromQuery"
PARTITION_KEY_FROM_LAMBDA = "partitionKeyFromLambda"
PARTITION_KEY_NAMESPACES = (PARTITION_KEY_FROM_QUERY, PARTITION_KEY_FROM_LAMBDA)
RANDOM_STRING = "random-string"
ERROR_OUTPUT_TYPE = "error-output-type"
ERROR_OUTPUT_TYPE_EXPRESSION = "!{firehose:error-output-type}"
# What !{firehose:error-output-type} evaluates to, as the firehose-namespace table lists them.
ERROR_OUTPUT_TYPES = ("processing-failed", "elasticsearch-failed", "splunk-failed", "format-conversion-failed",
                      "http-endpoint-failed")

# Appended when a Prefix has no timestamp expression (the rules write it !{timestamp:yyyy/MM/dd/HH/}).
DEFAULT_TIME_PREFIX = "!{timestamp:yyyy}/!{timestamp:MM}/!{timestamp:dd}/!{timestamp:HH}/"
MAX_PREFIX_LENGTH = 1024  # botocore model: Prefix / ErrorOutputPrefix length, as configured
MAX_EVALUATED_LENGTH = 512  # semantic rules: "greater than 512 characters after they're evaluated"
RANDOM_STRING_LENGTH = 11  # firehose namespace: "a random string of 11 characters"

# Two messages are the service's verbatim, as users reported them from CreateDeliveryStream and
# CloudFormation (AWS's typo "Ths" included). The others put the docs' rule sentence in the first
# one's frame, so clients matching on the frame keep working.
_CONSTRAINT = "Ths supplied prefix(es) do not satisfy the following constraint: "
MSG_ERROR_PREFIX_REQUIRED = _CONSTRAINT + "ErrorOutputPrefix cannot be null or empty when Prefix contains expressions"
MSG_PARTITION_KEYS_NEED_DP = ("Dynamic Partitioning Namespaces can only be part of a prefix expression when "
                              "Dynamic Partitioning is enabled.")
MSG_BAD_SEQUENCE = _CONSTRAINT + "The sequence !{ can only appear in !{namespace:value} expressions"
MSG_NO_ERROR_TYPE_IN_PREFIX = _CONSTRAINT + "Prefix can't contain !{firehose:error-output-type}"
MSG_ERROR_PREFIX_NEEDS_TYPE = _CONSTRAINT + ("If you specify an expression for ErrorOutputPrefix, you must include "
                                             "at least one instance of !{firehose:error-output-type}")
MSG_NO_PARTITION_KEYS_IN_ERROR_PREFIX = _CONSTRAINT + ("You cannot use partitionKeyFromLambda and "
                                                       "partitionKeyFromQuery namespaces when creating "
                                                       "ErrorOutputPrefix expressions")
MSG_DP_NEEDS_PARTITION_KEYS = _CONSTRAINT + ("When dynamic partitioning is enabled, Prefix must consist of "
                                             "expressions based on the partitioning keys "
                                             "(!{partitionKeyFromQuery:keyID} or !{partitionKeyFromLambda:keyID})")


@dataclass(frozen=True, slots=True)
class Literal:
    text: str


@dataclass(frozen=True, slots=True)
class Expression:
    namespace: str
    value: str


Part = Literal | Expression


@lru_cache(maxsize=512)
def parse(template: str, field: str = "Prefix") -> tuple[Part, ...]:
    """Split a prefix into literal text and checked ``!{namespace:value}`` expressions.

    An expression ends at the first ``}``; a timestamp pattern therefore cannot contain one (Java
    reserves ``}`` in patterns anyway).
    """
    parts: list[Part] = []
    pos = 0
    while (start := template.find("!{", pos)) != -1:
        if start > pos:
            parts.append(Literal(template[pos:start]))
        end = template.find("}", start)
        namespace, colon, value = template[start + 2 : end].partition(":") if end != -1 else ("", "", "")
        if not colon or not value:
            raise PrefixInvalid(field, f"{MSG_BAD_SEQUENCE} ({field}: malformed expression at position {start})")
        _check_expression(namespace, value, field)
        parts.append(Expression(namespace, value))
        pos = end + 1
    if pos < len(template):
        parts.append(Literal(template[pos:]))
    return tuple(parts)


def _check_expression(namespace: str, value: str, field: str) -> None:
    if namespace == TIMESTAMP:
        try:
            _compile_pattern(value)
        except ValueError as e:  # Java's own message, e.g. "Unknown pattern letter: T"
            raise PrefixInvalid(field, f"{MSG_BAD_SEQUENCE} ({field}: invalid timestamp pattern '{value}': {e})")
    elif namespace == FIREHOSE:
        if value not in (RANDOM_STRING, ERROR_OUTPUT_TYPE):
            raise PrefixInvalid(field, f"{MSG_BAD_SEQUENCE} ({field}: unknown firehose value '{value}')")
    elif namespace not in PARTITION_KEY_NAMESPACES:
        raise PrefixInvalid(field, f"{MSG_BAD_SEQUENCE} ({field}: unknown namespace '{namespace}')")


def _expressions(parts: tuple[Part, ...]) -> list[Expression]:
    return [p for p in parts if isinstance(p, Expression)]


def validate_prefixes(prefix: str | None, error_prefix: str | None, dynamic_partitioning: bool) -> None:
    """Check a destination's Prefix and ErrorOutputPrefix with Firehose's rules, as the API does."""
    for field, value in (("Prefix", prefix), ("ErrorOutputPrefix", error_prefix)):
        if value is not None and len(value) > MAX_PREFIX_LENGTH:
            raise ValidationFailed(f"1 validation error detected: Value at '{field}' failed to satisfy constraint: "
                                   f"Member must have length less than or equal to {MAX_PREFIX_LENGTH}")
    data = _expressions(parse(prefix or "", "Prefix"))
    errors = _expressions(parse(error_prefix or "", "ErrorOutputPrefix"))
    if any(e.namespace == FIREHOSE and e.value == ERROR_OUTPUT_TYPE for e in data):
        raise PrefixInvalid("Prefix", MSG_NO_ERROR_TYPE_IN_PREFIX)
    if any(e.namespace in PARTITION_KEY_NAMESPACES for e in errors):
        raise PrefixInvalid("ErrorOutputPrefix", MSG_NO_PARTITION_KEYS_IN_ERROR_PREFIX)
    has_keys = any(e.namespace in PARTITION_KEY_NAMESPACES for e in data)
    if has_keys and not dynamic_partitioning:
        raise PrefixInvalid("Prefix", MSG_PARTITION_KEYS_NEED_DP)
    if dynamic_partitioning and not has_keys:
        raise PrefixInvalid("Prefix", MSG_DP_NEEDS_PARTITION_KEYS)
    if data and not error_prefix:  # AWS treats "" like null here ("null or empty")
        raise PrefixInvalid("ErrorOutputPrefix", MSG_ERROR_PREFIX_REQUIRED)
    if errors and not any(e.namespace == FIREHOSE and e.value == ERROR_OUTPUT_TYPE for e in errors):
        raise PrefixInvalid("ErrorOutputPrefix", MSG_ERROR_PREFIX_NEEDS_TYPE)


def effective_prefix(prefix: str | None, dynamic_partitioning: bool) -> str:
    """The template Firehose evaluates for delivered data.

    A Prefix with no timestamp expression (unspecified and empty included) gets
    ``yyyy/MM/dd/HH/`` appended directly, without a separating slash: the semantic rules say
    "appends ... to the value in the Prefix field". With dynamic partitioning nothing is appended:
    the dynamic-partitioning page's example key is the evaluated prefix followed by the object name.
    """
    prefix = prefix or ""
    if dynamic_partitioning or any(e.namespace == TIMESTAMP for e in _expressions(parse(prefix))):
        return prefix
    return prefix + DEFAULT_TIME_PREFIX


def effective_error_prefix(prefix: str | None, error_prefix: str | None) -> str:
    """The template Firehose evaluates for failed records.

    A given ErrorOutputPrefix is used as is (the example table appends no time to it). Without
    one (allowed only when Prefix has no expressions) the rules give
    ``<specified-prefix><error-output-type>YYYY/MM/DD/HH/``; we put a slash after the error type
    because the table's example (``.../processing-failed/2018/08/27/``), the data-transformation
    page ("the processing-failed folder") and the console's default (``!{firehose:error-output-type}/``)
    all do, and use day of month although one revision of the rules says ``DDD`` (day of year):
    every example shows the day of month.
    """
    if error_prefix:
        return error_prefix
    return (prefix or "") + ERROR_OUTPUT_TYPE_EXPRESSION + "/" + DEFAULT_TIME_PREFIX


def new_random_string() -> str:
    """11 lowercase hex characters: the length AWS documents, the alphabet of its example ``5abf82daaa5``."""
    return secrets.token_hex(6)[:RANDOM_STRING_LENGTH]


def evaluate(
    prefix: str,
    *,
    timestamp: float,
    partition_keys: Mapping[str, str] | None = None,
    error_output_type: str | None = None,
    random_string: Callable[[], str] | None = None,
) -> str:
    """Evaluate a (validated, effective) prefix template for one S3 object.

    ``timestamp`` is the approximate arrival time of the object's oldest record, in epoch seconds;
    every timestamp expression sees the same instant. Each random-string occurrence draws anew.
    A partition key is looked up as ``"<namespace>:<key>"`` first, then as ``"<key>"``, so keys from
    inline parsing and from Lambda can share a name without clashing.
    """
    when = datetime.fromtimestamp(timestamp, tz=timezone.utc)
    out: list[str] = []
    for part in parse(prefix):
        if isinstance(part, Literal):
            out.append(part.text)
        elif part.namespace == TIMESTAMP:
            out.append(_format(_compile_pattern(part.value), when))
        elif part.namespace == FIREHOSE and part.value == RANDOM_STRING:
            out.append((random_string or new_random_string)())
        elif part.namespace == FIREHOSE:
            if error_output_type is None:
                raise InvalidArgument("The prefix uses !{firehose:error-output-type}; give the error output type.")
            out.append(error_output_type)
        else:
            out.append(_partition_key(part, partition_keys or {}))
    evaluated = "".join(out)
    if len(evaluated) > MAX_EVALUATED_LENGTH:
        raise EvaluatedPrefixTooLong(evaluated, MAX_EVALUATED_LENGTH)
    return evaluated


def _partition_key(expression: Expression, keys: Mapping[str, str]) -> str:
    for name in (f"{expression.namespace}:{expression.value}", expression.value):
        if name in keys:
            return keys[name]
    raise PartitionKeyMissing(expression.value, expression.namespace)


def object_name(
    delivery_stream_name: str, version: int, timestamp: float, random: str, *, file_extension: str = ""
) -> str:
    """The suffix after the evaluated prefix: ``<name>-<version>-<YYYY>-<MM>-<DD>-<HH>-<MM>-<SS>-<random><ext>``.

    AWS puts a UUID in ``random``; the caller supplies it so names can be derived deterministically.
    """
    if version < 1:
        raise InvalidArgument("The delivery stream version begins with 1.")
    if not random:
        raise InvalidArgument("The random part of an object name cannot be empty.")
    t = datetime.fromtimestamp(timestamp, tz=timezone.utc)
    when = f"{t.year:04d}-{t.month:02d}-{t.day:02d}-{t.hour:02d}-{t.minute:02d}-{t.second:02d}"
    return f"{delivery_stream_name}-{version}-{when}-{random}{file_extension}"


# --- Java DateTimeFormatter patterns (formatting only, English locale, UTC) -----------------------

_MONTHS = "January February March April May June July August September October November December".split()
_DAYS = "Monday Tuesday Wednesday Thursday Friday Saturday Sunday".split()
_QUARTER_ORDINALS = ("1st", "2nd", "3rd", "4th")
# Letter -> most letters Java's DateTimeFormatterBuilder.appendPattern accepts for it.
_MAX_LETTERS = {"G": 5, "u": 19, "y": 19, "Q": 5, "q": 5, "M": 5, "L": 5, "D": 3, "d": 2, "F": 1, "E": 5, "a": 1,
                "H": 2, "k": 2, "K": 2, "h": 2, "m": 2, "s": 2, "S": 9, "A": 19, "n": 19, "N": 19, "Z": 5, "X": 5,
                "x": 5, "O": 4}
# Valid in Java but locale-defined (weeks, localized day of week) or zone-ID text: no single right answer.
_UNSUPPORTED = set("ceWwYzVvp")
_NUMBERS: dict[str, Callable[[datetime], int]] = {
    "d": lambda t: t.day, "D": lambda t: t.timetuple().tm_yday, "F": lambda t: (t.day - 1) % 7 + 1,
    "H": lambda t: t.hour, "k": lambda t: t.hour or 24, "K": lambda t: t.hour % 12, "h": lambda t: t.hour % 12 or 12,
    "m": lambda t: t.minute, "s": lambda t: t.second, "n": lambda t: t.microsecond * 1000,
    "A": lambda t: ((t.hour * 60 + t.minute) * 60 + t.second) * 1000 + t.microsecond // 1000,
    "N": lambda t: (((t.hour * 60 + t.minute) * 60 + t.second) * 1_000_000 + t.microsecond) * 1000,
}
# The zero offset as each offset letter prints it, by letter count.
_UTC_OFFSETS = {"Z": ("+0000", "+0000", "+0000", "GMT", "Z"), "X": ("Z",) * 5,
                "x": ("+00", "+0000", "+00:00", "+0000", "+00:00"), "O": ("GMT", "", "", "GMT")}

Token = str | tuple[str, int]  # literal text, or (pattern letter, count)


@lru_cache(maxsize=512)
def _compile_pattern(pattern: str) -> tuple[Token, ...]:
    """Tokenize like DateTimeFormatterBuilder.parsePattern; ValueError carries Java's message."""
    tokens: list[Token] = []
    i, depth, n = 0, 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c.isascii() and c.isalpha():
            j = i
            while j < n and pattern[j] == c:
                j += 1
            tokens.append(_letter(c, j - i))
            i = j
        elif c == "'":  # quoted literal; '' is a quote, inside or outside quotes
            j = i + 1
            while j < n and (pattern[j] != "'" or pattern[j + 1 : j + 2] == "'"):
                j += 2 if pattern[j] == "'" else 1
            if j >= n:
                raise ValueError(f"Pattern ends with an incomplete string literal: {pattern}")
            tokens.append(pattern[i + 1 : j].replace("''", "'") or "'")
            i = j + 1
        elif c in "{}#":
            raise ValueError(f"Pattern includes reserved character: '{c}'")
        else:
            if c == "]" and depth == 0:
                raise ValueError("Pattern invalid as it contains ] without previous [")
            depth += {"[": 1, "]": -1}.get(c, 0)
            # Optional sections print in full here: a UTC date-time has every field.
            tokens.append("" if c in "[]" else c)
            i += 1
    return tuple(tokens)


def _letter(c: str, count: int) -> tuple[str, int]:
    if c in _UNSUPPORTED:
        raise Unsupported(f"Timestamp pattern letter '{c}' is locale- or zone-dependent; tidelake does not format it.")
    if c not in _MAX_LETTERS:
        raise ValueError(f"Unknown pattern letter: {c}")
    if count > _MAX_LETTERS[c] or (c == "O" and count not in (1, 4)):
        raise ValueError(f"Too many pattern letters: {c}")
    return c, count


def _format(tokens: tuple[Token, ...], t: datetime) -> str:
    return "".join(token if isinstance(token, str) else _field(*token, t) for token in tokens)


def _text(name: str, count: int) -> str:
    return name[:3] if count <= 3 else name if count == 4 else name[0]  # short, full, narrow


def _field(c: str, count: int, t: datetime) -> str:
    if c in "yu":  # two letters: the last two digits; otherwise at least `count` digits
        return f"{t.year % 100:02d}" if count == 2 else str(t.year).zfill(count)
    if c in "ML":
        return str(t.month).zfill(count) if count <= 2 else _text(_MONTHS[t.month - 1], count)
    if c == "E":
        return _text(_DAYS[t.weekday()], count)
    if c in "Qq":
        q = (t.month - 1) // 3 + 1
        return (str(q), f"{q:02d}", f"Q{q}", f"{_QUARTER_ORDINALS[q - 1]} quarter", str(q))[count - 1]
    if c == "G":
        return _text("AD", 3) if count <= 3 else ("Anno Domini", "A")[count - 4]
    if c == "a":
        return "AM" if t.hour < 12 else "PM"
    if c == "S":  # fraction of second, truncated to `count` digits
        return f"{t.microsecond:06d}000"[:count]
    if c in _UTC_OFFSETS:
        return _UTC_OFFSETS[c][count - 1]
    return str(_NUMBERS[c](t)).zfill(count)
