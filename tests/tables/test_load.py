"""CSV rows as items, typed as DynamoDB's import from S3 types CSV (S3DataImport.Format.html)."""
from __future__ import annotations

import csv
from decimal import Decimal
from pathlib import Path

import pytest

from tidelake.errors import InvalidArgument
from tidelake.tables.load import read_items

PRODUCTS = Path(__file__).resolve().parents[2] / "src" / "tidelake" / "generate" / "data" / "products.csv"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "rows.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_columns_are_strings_except_keys_and_number_columns(tmp_path):
    path = write(tmp_path, "id,code,price,note\n7,0012,1.50,\n8,0013,2,\"a, b\"\n")
    assert list(read_items(path, {"id": "N"}, numbers=["price"])) == [
        {"id": Decimal(7), "code": "0012", "price": Decimal("1.5")},  # the empty note is left out
        {"id": Decimal(8), "code": "0013", "price": Decimal(2), "note": "a, b"}]


@pytest.mark.parametrize("text, message", [
    ("id,v\n1,x\n,y\n", "line 3: no value for the key id"),
    ("id,v\n1,x,extra\n", "line 2: more cells than columns"),
    ("code,v\n1,x\n", "has no column 'id'"),
    ("id,v\nabc,x\n", "line 2, column id: The parameter cannot be converted to a numeric value: abc"),
])
def test_rows_that_cannot_be_items_name_their_line(tmp_path, text, message):
    with pytest.raises(InvalidArgument, match=message):
        list(read_items(write(tmp_path, text), {"id": "N"}))


def test_the_products_file_loads_as_5446_items():
    items = list(read_items(PRODUCTS, {"product_cd": "S"}))
    with open(PRODUCTS, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(items) == len(rows) == 5446
    assert len({i["product_cd"] for i in items}) == 5446
    assert items[1] == {k: v for k, v in rows[1].items() if v}
    assert all(isinstance(v, str) for item in items for v in item.values())
