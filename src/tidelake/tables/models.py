"""What a table is: its name, its key schema and how it is billed."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tidelake.tables.values import Item


@dataclass(frozen=True)
class KeyAttribute:
    name: str
    type: str  # "S", "N" or "B"


@dataclass(frozen=True)
class Table:
    table_name: str
    hash_key: KeyAttribute
    range_key: KeyAttribute | None
    billing_mode: str  # PAY_PER_REQUEST or PROVISIONED
    read_capacity_units: int
    write_capacity_units: int
    creation_date_time: float
    table_arn: str
    table_id: str
    number: int  # the table's rows in the store; never reused, so a re-created table starts empty
    item_count: int = 0
    table_size_bytes: int = 0
    table_status: str = "ACTIVE"

    @property
    def key_attributes(self) -> tuple[KeyAttribute, ...]:
        return (self.hash_key,) if self.range_key is None else (self.hash_key, self.range_key)

    @property
    def key_names(self) -> tuple[str, ...]:
        return tuple(k.name for k in self.key_attributes)


@dataclass(frozen=True)
class Write:
    """One request of a batch write: a put (``item``) or a delete (``key``)."""
    table: str
    item: Item | None = None
    key: Item | None = None


@dataclass
class Page:
    """One page of a Query or Scan: the items that passed the filter, how many were read, and the
    key to start the next page from (None: nothing is left)."""
    items: list[Item] = field(default_factory=list)
    count: int = 0
    scanned_count: int = 0
    last_evaluated_key: dict[str, Any] | None = None
