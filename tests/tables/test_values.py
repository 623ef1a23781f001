"""Attribute values: DynamoDB's number rules, key ordering, item sizes, the storage encoding."""
from __future__ import annotations

import random
from decimal import Decimal

import pytest

from tidelake.tables.errors import ItemInvalid
from tidelake.tables.values import (MAX_ITEM_BYTES, dump_item, format_number, item_size, key_bytes, load_item,
                                    normalize, normalize_item, parse_number, successor, type_name)


@pytest.mark.parametrize("text, canonical", [
    ("1", "1"), ("1.0", "1"), ("-0", "0"), ("0.000", "0"), ("1e2", "100"), ("1E+2", "100"), ("+5", "5"),
    (".5", "0.5"), ("5.", "5"), ("0.10", "0.1"), ("-12.2500", "-12.25"), ("1e-130", "0." + "0" * 129 + "1"),
    ("9.9999999999999999999999999999999999999E+125", "99999999999999999999999999999999999999" + "0" * 88),
    ("1" + "0" * 60, "1" + "0" * 60),  # trailing zeros are not significant digits
])
def test_numbers_are_normalized_and_written_in_plain_notation(text, canonical):
    assert format_number(parse_number(text)) == canonical


@pytest.mark.parametrize("text, message", [
    ("", "The parameter cannot be converted to a numeric value"),
    ("abc", "The parameter cannot be converted to a numeric value: abc"),
    ("NaN", "The parameter cannot be converted to a numeric value: NaN"),
    ("Infinity", "The parameter cannot be converted to a numeric value: Infinity"),
    (" 1", "The parameter cannot be converted to a numeric value:  1"),
    ("1_000", "The parameter cannot be converted to a numeric value: 1_000"),
    ("123456789012345678901234567890123456789", "Attempting to store more than 38 significant digits in a Number"),
    ("-1.23456789012345678901234567890123456789", "Attempting to store more than 38 significant digits in a Number"),
    ("1e126", "Number overflow. Attempting to store a number with magnitude larger than supported range"),
    ("-1e126", "Number overflow. Attempting to store a number with magnitude larger than supported range"),
    ("1e-131", "Number underflow. Attempting to store a number with magnitude smaller than supported range"),
    ("-1e-131", "Number underflow. Attempting to store a number with magnitude smaller than supported range"),
])
def test_numbers_dynamodb_refuses_have_its_messages(text, message):
    """Texts as DynamoDB answers them (the same cases dynalite checks against the service)."""
    with pytest.raises(ItemInvalid) as info:
        parse_number(text)
    assert info.value.message == message


def test_38_digits_are_kept_exactly():
    text = "1234567890123456789012345678901234567.8"
    assert format_number(parse_number(text)) == text
    assert parse_number("0.1") + parse_number("0.2") == Decimal("0.3")


def test_python_numbers_become_decimals():
    assert normalize(3) == Decimal(3) and type(normalize(3)) is Decimal
    assert normalize(0.1) == Decimal("0.1")  # the float's shortest repr, not its binary expansion
    assert normalize(True) is True  # a bool stays BOOL, not N
    with pytest.raises(ItemInvalid):
        normalize(float("nan"))


def test_types_of_python_values():
    item = normalize_item({"s": "x", "n": 1, "b": bytearray(b"\x00"), "t": True, "z": None, "m": {"a": (1, 2)},
                           "ss": frozenset({"a"}), "ns": {1, 2}, "bs": {b"x"}})
    assert {k: type_name(v) for k, v in item.items()} == {
        "s": "S", "n": "N", "b": "B", "t": "BOOL", "z": "NULL", "m": "M", "ss": "SS", "ns": "NS", "bs": "BS"}
    assert item["m"] == {"a": [Decimal(1), Decimal(2)]}


@pytest.mark.parametrize("bad", [set(), {1, "a"}, {(1, 2)}, object()])
def test_values_dynamodb_cannot_store_are_refused(bad):
    with pytest.raises(ItemInvalid):
        normalize(bad)


def test_number_keys_sort_numerically():
    rng = random.Random(7)
    numbers = {Decimal(0), Decimal("-0.12"), Decimal("-0.123"), Decimal("0.12"), Decimal("0.123"), Decimal("1e-130"),
               Decimal("-1e-130"), Decimal("9.99e125"), Decimal("-9.99e125"), Decimal(10), Decimal(9), Decimal(-10)}
    numbers |= {Decimal(rng.randint(-10**12, 10**12)).scaleb(rng.randint(-40, 40)) for _ in range(500)}
    numbers = {parse_number(str(n)) for n in numbers}
    assert sorted(numbers, key=key_bytes) == sorted(numbers)


def test_string_keys_sort_by_utf8_bytes_and_binary_by_bytes():
    strings = ["a", "B", "ab", "", "é", "z", "\U0001F600", "\uffff"]
    assert sorted(strings, key=key_bytes) == sorted(strings, key=lambda s: s.encode())
    assert key_bytes(b"\x00\xff") == b"\x00\xff"


def test_successor_bounds_a_prefix():
    assert successor(b"ab") == b"ac"
    assert successor(b"a\xff") == b"b"
    assert successor(b"\xff\xff") is None


def test_item_size_follows_the_documented_rules():
    # name + UTF-8 bytes; numbers: 1 byte per 2 significant digits + 1; binary: bytes; bool/null: 1;
    # list and map: 3 bytes + 1 per element + contents.
    assert item_size({"ab": "é"}) == 2 + 2
    assert item_size({"n": Decimal("12345")}) == 1 + 3 + 1
    assert item_size({"b": b"123", "t": True, "z": None}) == 4 + 2 + 2
    assert item_size({"l": [Decimal(1), "x"], "m": {"k": "v"}}) == (1 + 3 + 2 + 1 + 1 + 1) + (1 + 3 + 1 + 1 + 1)
    assert item_size({"ss": {"a", "bc"}}) == 2 + 3
    assert MAX_ITEM_BYTES == 409_600


def test_storage_encoding_round_trips_every_type():
    item = normalize_item({"s": "x", "e": "", "n": Decimal("-1.5e-3"), "b": b"\x00\x01", "t": False, "z": None,
                           "m": {"l": [1, "a", {"x": b"y"}, [None]]}, "ss": {"b", "a"}, "ns": {1, 2.5},
                           "bs": {b"\x00", b"\xff"}})
    assert load_item(dump_item(item)) == item
