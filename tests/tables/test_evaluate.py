"""Conditions, updates and projections applied to items (docs: Expressions.OperatorsAndFunctions,
Expressions.UpdateExpressions, Expressions.ProjectionExpressions)."""
from __future__ import annotations

from decimal import Decimal

import pytest

from tidelake.tables.errors import UpdateInvalid
from tidelake.tables.evaluate import apply_update, holds, project
from tidelake.tables.expressions import compile_expressions
from tidelake.tables.values import normalize_item

ITEM = normalize_item({"pk": "p1", "n": 5, "s": "hello", "b": b"\x01\x02", "t": True, "z": None,
                       "l": [1, "two", {"x": 3}], "m": {"k": "v", "deep": {"n": 1}}, "ss": {"a", "b"},
                       "ns": {1, 2}})


def check(text: str, **values) -> bool:
    return holds(compile_expressions(None, values or None, condition=text).condition, ITEM)


@pytest.mark.parametrize("text, values, expected", [
    ("n = :v", {":v": 5}, True), ("n = :v", {":v": "5"}, False), ("n <> :v", {":v": "5"}, True),
    ("absent = :v", {":v": 1}, False), ("absent <> :v", {":v": 1}, True),
    ("n < :v", {":v": 10}, True), ("n < :v", {":v": "10"}, False), ("s >= :v", {":v": "hello"}, True),
    ("s < :v", {":v": "hellp"}, True), ("b < :v", {":v": b"\x02"}, True),
    ("n BETWEEN :a AND :b", {":a": 5, ":b": 6}, True), ("n BETWEEN :a AND :b", {":a": 6, ":b": 7}, False),
    ("n IN (:a, :b)", {":a": "x", ":b": 5}, True), ("t = :v", {":v": True}, True), ("t = :v", {":v": 1}, False),
    ("l[2].x = :v", {":v": 3}, True), ("m.deep.n = :v", {":v": 1}, True), ("l[9] = :v", {":v": 1}, False),
    ("ss = :v", {":v": {"b", "a"}}, True), ("l = :v", {":v": [1, "two", {"x": 3}]}, True),
    ("z = :v", {":v": None}, True),
])
def test_comparisons(text, values, expected):
    assert check(text, **values) is expected


@pytest.mark.parametrize("text, values, expected", [
    ("attribute_exists(m.k)", {}, True), ("attribute_not_exists(m.nope)", {}, True),
    ("attribute_exists(z)", {}, True),  # NULL is a value: the attribute exists
    ("attribute_type(ns, :t)", {":t": "NS"}, True), ("attribute_type(n, :t)", {":t": "S"}, False),
    ("begins_with(s, :p)", {":p": "he"}, True), ("begins_with(b, :p)", {":p": b"\x01"}, True),
    ("begins_with(n, :p)", {":p": "5"}, False),
    ("contains(s, :p)", {":p": "ell"}, True), ("contains(ss, :p)", {":p": "a"}, True),
    ("contains(ns, :p)", {":p": 2}, True), ("contains(ns, :p)", {":p": "2"}, False),
    ("contains(l, :p)", {":p": "two"}, True), ("contains(l, :p)", {":p": {"x": 3}}, True),
    ("size(s) = :v", {":v": 5}, True), ("size(l) = :v", {":v": 3}, True), ("size(m) = :v", {":v": 2}, True),
    ("size(ss) = :v", {":v": 2}, True), ("size(n) = :v", {":v": 1}, False), ("size(nope) < :v", {":v": 1}, False),
    ("NOT attribute_exists(nope) AND (n = :a OR n = :b)", {":a": 1, ":b": 5}, True),
])
def test_functions(text, values, expected):
    assert check(text, **values) is expected


def update(text: str, item=ITEM, names=None, **values):
    e = compile_expressions(names, {f":{k}": v for k, v in values.items()} or None, update=text)
    return apply_update(e.update, item, ("pk",))


def test_set_reads_operands_from_the_item_before_the_update():
    new = update("SET n = n + :one, twin = n, s = if_not_exists(s, :x), fresh = if_not_exists(fresh, :x)",
                 one=1, x="new")
    assert (new["n"], new["twin"], new["s"], new["fresh"]) == (Decimal(6), Decimal(5), "hello", "new")
    assert ITEM["n"] == Decimal(5)  # the item given is left as it was


def test_set_nested_paths_and_list_elements():
    new = update("SET m.deep.n = :v, l[1] = :w, l[10] = :x, m.added = :w", v=2, w="W", x="end")
    assert new["m"]["deep"]["n"] == Decimal(2) and new["m"]["added"] == "W"
    assert new["l"] == [Decimal(1), "W", {"x": Decimal(3)}, "end"]  # past the end: appended


def test_list_append_and_arithmetic():
    new = update("SET l = list_append(l, :more), k = list_append(:more, l), d = n - :two", more=[7], two=2)
    assert new["l"][-1] == Decimal(7) and new["k"][0] == Decimal(7) and new["d"] == Decimal(3)


def test_remove_list_elements_by_their_original_positions():
    new = update("REMOVE l[0], l[2], m.k, nope")
    assert new["l"] == ["two"] and new["m"] == {"deep": {"n": Decimal(1)}} and "nope" not in new


def test_add_and_delete_on_numbers_and_sets():
    new = update("ADD n :n, ss :s, tally :n DELETE ns :d", n=2, s={"c"}, d={1, 2})
    assert new["n"] == Decimal(7) and new["ss"] == {"a", "b", "c"} and new["tally"] == Decimal(2)
    assert "ns" not in new  # deleting every element removes the attribute


@pytest.mark.parametrize("text, values, message", [
    ("SET a = nope", {}, "The provided expression refers to an attribute that does not exist in the item"),
    ("SET a = s + :v", {":v": 1}, "An operand in the update expression has an incorrect data type"),
    ("SET a = list_append(s, :v)", {":v": [1]}, "An operand in the update expression has an incorrect data type"),
    ("ADD s :v", {":v": 1}, "An operand in the update expression has an incorrect data type"),
    ("DELETE ss :v", {":v": {1}}, "An operand in the update expression has an incorrect data type"),
    ("SET nope.x = :v", {":v": 1}, "The document path provided in the update expression is invalid for update"),
    ("SET s[0] = :v", {":v": 1}, "The document path provided in the update expression is invalid for update"),
    ("SET pk = :v", {":v": "x"},
     "One or more parameter values were invalid: Cannot update attribute pk. This attribute is part of the key"),
])
def test_updates_that_cannot_apply(text, values, message):
    with pytest.raises(UpdateInvalid) as info:
        update(text, **{k[1:]: v for k, v in values.items()})  # update() puts the colons back
    assert info.value.message == message


def test_numbers_stay_within_dynamodb_precision():
    big = normalize_item({"pk": "p", "n": Decimal("1e30")})
    with pytest.raises(Exception, match="38 significant digits"):
        update("SET n = n + :tiny", item=big, tiny=Decimal("1e-10"))


def test_projection_keeps_nested_structure_and_list_order():
    paths = compile_expressions(None, None, projection="l[2].x, l[0], m.deep, nope, s").projection
    assert project(ITEM, paths) == {"l": [Decimal(1), {"x": Decimal(3)}], "m": {"deep": {"n": Decimal(1)}},
                                    "s": "hello"}
    assert project(ITEM, compile_expressions(None, None, projection="nope").projection) == {}
