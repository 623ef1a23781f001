"""The expression grammar, substitution and the checks made before an item is read, with DynamoDB's
messages (docs: Expressions.OperatorsAndFunctions, Expressions.UpdateExpressions, ReservedWords)."""
from __future__ import annotations

from decimal import Decimal

import pytest

from tidelake.errors import ValidationFailed
from tidelake.tables.expressions import (CONDITION, FILTER, PROJECTION, UPDATE, Action, And, Arithmetic, Between,
                                         Call, Compare, In, Not, Or, Path, Update, Value, compile_expressions, parse)


def fails(message: str, *args, **kwargs) -> None:
    with pytest.raises(ValidationFailed) as info:
        compile_expressions(*args, **kwargs)
    assert info.value.message == message


def test_precedence_not_over_and_over_or():
    tree = parse(CONDITION, "a = :x OR NOT b < :y AND c >= :z")
    x, y, z = (Value(type(tree.left.right.value)(t)) for t in (":x", ":y", ":z"))
    assert tree == Or(Compare("=", Path(("a",)), x),
                      And(Not(Compare("<", Path(("b",)), y)), Compare(">=", Path(("c",)), z)))


def test_keywords_are_case_insensitive_and_not_prefixes_of_names():
    tree = parse(CONDITION, "Andrew between :a aNd :b and notes iN (:c, :d)")
    assert isinstance(tree, And) and isinstance(tree.left, Between) and isinstance(tree.right, In)
    assert tree.left.subject == Path(("Andrew",)) and tree.right.subject == Path(("notes",))


def test_paths_with_members_indexes_and_placeholders():
    expressions = compile_expressions({"#n": "name", "#d": "a.b"}, None, projection="#n.given, l[3][0], #d, m.#n[1]")
    assert expressions.projection == (Path(("name", "given")), Path(("l", 3, 0)), Path(("a.b",)),
                                      Path(("m", "name", 1)))


def test_functions_and_substituted_values():
    e = compile_expressions({"#t": "tags"}, {":p": "ab", ":n": 3, ":t": "SS"},
                            condition="begins_with(s, :p) AND size(#t) > :n AND attribute_type(#t, :t)")
    assert e.condition.left.left == Call("begins_with", (Path(("s",)), Value("ab")))
    assert e.condition.left.right == Compare(">", Call("size", (Path(("tags",)),)), Value(Decimal(3)))


def test_update_expression_clauses_in_any_order():
    e = compile_expressions(None, {":n": 1, ":s": {"x"}, ":l": [1]},
                            update="REMOVE gone, l[2] ADD n :n SET c = c - :n, k = list_append(:l, k) DELETE s :s")
    assert e.update == Update((
        Action("REMOVE", Path(("gone",))), Action("REMOVE", Path(("l", 2))),
        Action("ADD", Path(("n",)), Value(Decimal(1))),
        Action("SET", Path(("c",)), Arithmetic("-", Path(("c",)), Value(Decimal(1)))),
        Action("SET", Path(("k",)), Call("list_append", (Value([Decimal(1)]), Path(("k",))))),
        Action("DELETE", Path(("s",)), Value({"x"}))))


@pytest.mark.parametrize("kind, text, message", [
    (CONDITION, "a = = :b", 'Syntax error; token: "=", near: "= = :b"'),
    (CONDITION, "a = :b AND", 'Syntax error; token: "<EOF>", near: "AND"'),
    (UPDATE, "SET", 'Syntax error; token: "<EOF>", near: "SET"'),
    (CONDITION, "attribute_type()", 'Syntax error; token: ")", near: "()"'),
    (PROJECTION, "l[a]", 'Syntax error; token: "a", near: "[a]"'),
    (CONDITION, "a = b @ c", 'Syntax error; token: "@", near: "b @ c"'),
    (UPDATE, "SET a = :v, 0", 'Syntax error; token: "0", near: ", 0"'),
    (CONDITION, "a", 'Syntax error; token: "<EOF>", near: "a"'),
    (UPDATE, "SET a < :v", 'Syntax error; token: "<", near: "a < :v"'),
    (CONDITION, "", "The expression can not be empty;"),
    (CONDITION, "name = :v", "Attribute name is a reserved keyword; reserved keyword: name"),
    (PROJECTION, "a, Status", "Attribute name is a reserved keyword; reserved keyword: Status"),
    (CONDITION, "size(a)", "The function is not allowed to be used this way in an expression; function: size"),
    (CONDITION, "attribute_exists(a) = :v",
     "The function is not allowed to be used this way in an expression; function: attribute_exists"),
    (CONDITION, "foo(a)", "Invalid function name; function: foo"),
    (CONDITION, "begins_with(a, :b, :c)",
     "Incorrect number of operands for operator or function; operator or function: begins_with, number of operands: 3"),
    (CONDITION, "attribute_exists(:v)",
     "Operator or function requires a document path; operator or function: attribute_exists"),
    (UPDATE, "SET a = :v SET b = :w", 'The "SET" section can only be used once in an update expression;'),
    (UPDATE, "SET a = size(b)", "The function is not allowed in an update expression; function: size"),
    (UPDATE, "SET a = if_not_exists(:v, :w)",
     "Operator or function requires a document path; operator or function: if_not_exists"),
])
def test_expressions_dynamodb_refuses(kind, text, message):
    with pytest.raises(ValidationFailed) as info:
        parse(kind, text)
    assert info.value.message == f"Invalid {kind}: {message}"


def test_undefined_and_unused_placeholders():
    fails("Invalid ConditionExpression: An expression attribute name used in the document path is not defined; "
          "attribute name: #a", {"#b": "b"}, {":v": 1}, condition="#a = :v")
    fails("Invalid ConditionExpression: An expression attribute value used in expression is not defined; "
          "attribute value: :w", None, {":v": 1}, condition="a = :w")
    fails("Value provided in ExpressionAttributeNames unused in expressions: keys: {#b, #c}",
          {"#a": "a", "#b": "b", "#c": "c"}, {":v": 1}, condition="#a = :v")
    fails("Value provided in ExpressionAttributeValues unused in expressions: keys: {:w}",
          None, {":v": 1, ":w": 2}, condition="a = :v")


def test_placeholders_are_shared_by_the_expressions_of_a_request():
    e = compile_expressions({"#c": "count"}, {":one": 1, ":max": 10}, update="SET #c = #c + :one",
                            condition="#c < :max")
    assert e.update.actions[0].path == Path(("count",)) and e.condition.right == Value(Decimal(10))


def test_placeholder_maps_are_checked():
    fails("ExpressionAttributeNames must not be empty", {}, None, condition="attribute_exists(a)")
    fails("ExpressionAttributeValues must not be empty", None, {}, condition="attribute_exists(a)")
    fails('ExpressionAttributeNames contains invalid key: Syntax error; key: "a"', {"a": "b"}, None,
          condition="attribute_exists(a)")
    fails('ExpressionAttributeValues contains invalid key: Syntax error; key: "v"', None, {"v": 1},
          condition="attribute_exists(a)")
    fails("ExpressionAttributeNames can only be specified when using expressions", {"#a": "a"}, None)
    fails("ExpressionAttributeValues can only be specified when using expressions: UpdateExpression and "
          "ConditionExpression are null", None, {":v": 1}, accepts=(UPDATE, CONDITION))
    fails("ExpressionAttributeValues can only be specified when using expressions: FilterExpression is null",
          None, {":v": 1}, projection="a", accepts=(FILTER, PROJECTION))


def test_value_types_checked_before_any_item_is_read():
    fails("Invalid ConditionExpression: Incorrect operand type for operator or function; operator or function: "
          "begins_with, operand type: N", None, {":v": 1}, condition="begins_with(a, :v)")
    fails("Invalid ConditionExpression: Invalid attribute type name found; type: STRING, valid types: "
          "{B,NULL,SS,BOOL,L,BS,N,NS,S,M}", None, {":t": "STRING"}, condition="attribute_type(a, :t)")
    fails("Invalid ConditionExpression: The BETWEEN operator requires upper bound to be greater than or equal to "
          "lower bound; lower bound operand: AttributeValue: {N:5}, upper bound operand: AttributeValue: {N:1}",
          None, {":lo": 5, ":hi": 1}, condition="a BETWEEN :lo AND :hi")
    fails("Invalid ConditionExpression: The BETWEEN operator requires same data type for lower and upper bounds; "
          "lower bound operand: AttributeValue: {N:1}, upper bound operand: AttributeValue: {S:z}",
          None, {":lo": 1, ":hi": "z"}, condition="a BETWEEN :lo AND :hi")
    fails("Invalid ConditionExpression: The first operand must be distinct from the remaining operands for this "
          "operator or function; operator: =, first operand: [a, [0]]", {"#a": "a"}, None, condition="a[0] = #a[0]")
    fails("Invalid UpdateExpression: Incorrect operand type for operator or function; operator or function: +, "
          "operand type: S", None, {":v": "x"}, update="SET a = a + :v")
    fails("Invalid UpdateExpression: Incorrect operand type for operator or function; operator: ADD, operand type: "
          "S", None, {":v": "x"}, update="ADD a :v")
    fails("Invalid UpdateExpression: Incorrect operand type for operator or function; operator: DELETE, operand "
          "type: N", None, {":v": 1}, update="DELETE a :v")


def test_overlapping_document_paths_are_refused():
    fails("Invalid UpdateExpression: Two document paths overlap with each other; must remove or rewrite one of "
          "these paths; path one: [a], path two: [a, b]", None, {":v": 1}, update="SET a = :v REMOVE a.b")
    fails("Invalid ProjectionExpression: Two document paths overlap with each other; must remove or rewrite one of "
          "these paths; path one: [a, [1]], path two: [a, [1]]", None, None, projection="a[1], a[1]")


def test_parse_is_cached_by_text():
    assert parse(CONDITION, "x = :y") is parse(CONDITION, "x = :y")
