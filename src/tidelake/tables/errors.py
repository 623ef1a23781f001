"""Errors of the key-value tables. Messages follow DynamoDB's wording, which clients match on."""
from __future__ import annotations

from typing import Any

from tidelake.errors import AlreadyExists, InUse, NotFound, ValidationFailed

INVALID = "One or more parameter values were invalid: "


class TableNotFound(NotFound):
    def __init__(self, table: str, detail: bool = True) -> None:
        self.table = table
        # DescribeTable / DeleteTable name the table; item operations only say the resource is missing.
        super().__init__(f"Requested resource not found: Table: {table} not found" if detail
                         else "Requested resource not found")


class TableAlreadyExists(AlreadyExists):
    def __init__(self, table: str) -> None:
        self.table = table
        super().__init__(f"Table already exists: {table}")


class ConditionalCheckFailed(InUse):
    """A ConditionExpression evaluated to false: nothing was written. ``item`` is the item as it was
    when the caller asked for it (ReturnValuesOnConditionCheckFailure=ALL_OLD), else None."""

    def __init__(self, item: dict[str, Any] | None = None) -> None:
        self.item = item
        super().__init__("The conditional request failed")


class ItemInvalid(ValidationFailed):
    """An item, key or value breaks one of DynamoDB's rules (types, sizes, numbers, sets)."""


class ExpressionInvalid(ValidationFailed):
    """An expression does not parse, or uses names, values, functions or paths wrongly. ``kind`` is
    the request member (ConditionExpression, UpdateExpression, ...) the message starts with."""

    def __init__(self, kind: str, detail: str) -> None:
        self.kind = kind
        self.detail = detail
        super().__init__(f"Invalid {kind}: {detail}")


class UpdateInvalid(ValidationFailed):
    """An update expression that parses but cannot be applied to this item."""
