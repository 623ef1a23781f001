"""Items from a CSV file, typed the way DynamoDB's import from S3 types a CSV file.

"When importing from CSV files, all columns other than the hash range and keys of your base table
... are imported as DynamoDB strings" (S3DataImport.Format.html): product codes such as ``0012``
keep their leading zeros. The key columns take the table's key types; ``numbers`` names more
columns to read as N. An empty cell is left out of its item, as DynamoDB has no typed empty value
for a missing CSV field.
"""
from __future__ import annotations

import csv
from pathlib import Path
from typing import Iterable, Iterator, Mapping

from tidelake.errors import InvalidArgument
from tidelake.tables.errors import ItemInvalid
from tidelake.tables.values import Item, parse_number


def read_items(path: Path, key_types: Mapping[str, str], numbers: Iterable[str] = ()) -> Iterator[Item]:
    """One item per data row. ``key_types``: key attribute -> "S", "N" or "B" (B takes the cell's
    UTF-8 bytes). Raises InvalidArgument naming the line of a row that cannot be an item."""
    types = {**{column: "N" for column in numbers}, **key_types}
    with open(path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        columns = reader.fieldnames or []
        for column in types:
            if column not in columns:
                raise InvalidArgument(f"{path} has no column {column!r}; its columns are: {', '.join(columns)}")
        for row in reader:
            yield _item(row, types, key_types, path, reader.line_num)


def _item(row: dict[str | None, str | None], types: Mapping[str, str], keys: Iterable[str], path: Path,
          line: int) -> Item:
    item: Item = {}
    for column, text in row.items():
        if column is None:
            raise InvalidArgument(f"{path}, line {line}: more cells than columns")
        if not text:
            continue
        kind = types.get(column, "S")
        if kind == "N":
            try:
                item[column] = parse_number(text.strip())
            except ItemInvalid as error:
                raise InvalidArgument(f"{path}, line {line}, column {column}: {error.message}") from None
        else:
            item[column] = text.encode() if kind == "B" else text
    for key in keys:
        if key not in item:
            raise InvalidArgument(f"{path}, line {line}: no value for the key {key}")
    return item
