"""TableStore in-process: tables, items, conditions, batches, queries, scans, lookups, threads."""
from __future__ import annotations

import subprocess
import sys
import threading
from decimal import Decimal
from pathlib import Path

import pytest

from tidelake.clock import ManualClock
from tidelake.errors import InvalidArgument, ValidationFailed
from tidelake.tables.errors import ConditionalCheckFailed, ItemInvalid, TableAlreadyExists, TableNotFound
from tidelake.tables.expressions import compile_expressions
from tidelake.tables.models import KeyAttribute, Write
from tidelake.tables.store import TableStore


@pytest.fixture
def store(tmp_path: Path, clock: ManualClock):
    store = TableStore(tmp_path / "tables" / "tables.db", clock, "eu-west-1", "123456789012")
    yield store
    store.close()


@pytest.fixture
def orders(store: TableStore) -> str:
    """customer (S) + order seq (N)."""
    store.create_table("orders", KeyAttribute("customer", "S"), KeyAttribute("seq", "N"))
    store.batch_put("orders", [{"customer": c, "seq": n, "amount": n * 10, "status_text": "open" if n % 2 else "done"}
                               for c in ("ann", "bob") for n in range(-20, 30)])
    return "orders"


def key_condition(text: str, **values):
    return compile_expressions(None, {f":{k}": v for k, v in values.items()}, key_condition=text).key_condition


def test_tables_are_described_listed_and_deleted(store, clock):
    table = store.create_table("products", KeyAttribute("code", "S"), billing_mode="PROVISIONED",
                               read_capacity_units=5, write_capacity_units=3)
    assert table.table_arn == "arn:aws:dynamodb:eu-west-1:123456789012:table/products"
    assert (table.table_status, table.creation_date_time, table.read_capacity_units) == ("ACTIVE", clock.now(), 5)
    store.put_item("products", {"code": "a", "name": "x" * 10})
    described = store.describe_table("products")
    assert (described.item_count, described.table_size_bytes) == (1, 4 + 1 + 4 + 10)
    with pytest.raises(TableAlreadyExists, match="Table already exists: products"):
        store.create_table("products", KeyAttribute("code", "S"))
    assert store.list_tables() == ["products"]
    assert store.delete_table("products").table_status == "DELETING"
    with pytest.raises(TableNotFound, match="^Requested resource not found: Table: products not found$"):
        store.describe_table("products")
    with pytest.raises(TableNotFound, match="^Requested resource not found$"):
        store.get_item("products", {"code": "a"})
    store.create_table("products", KeyAttribute("code", "S"))
    assert store.get_item("products", {"code": "a"}) is None  # a re-created table starts empty


def test_tables_and_items_survive_a_reopen(tmp_path, clock):
    path = tmp_path / "t.db"
    first = TableStore(path, clock, "us-east-1", "000000000000")
    first.create_table("t", KeyAttribute("k", "N"))
    first.put_item("t", {"k": 1, "v": {"nested": [b"\x00", {"a", "b"}]}})
    first.close()
    second = TableStore(path, clock, "us-east-1", "000000000000")
    assert second.get_item("t", {"k": 1}) == {"k": Decimal(1), "v": {"nested": [b"\x00", {"a", "b"}]}}
    second.close()


def test_conditional_writes(store):
    store.create_table("t", KeyAttribute("k", "S"))
    create_only = compile_expressions(condition="attribute_not_exists(k)").condition
    store.put_item("t", {"k": "a", "v": 1}, create_only)
    with pytest.raises(ConditionalCheckFailed) as info:
        store.put_item("t", {"k": "a", "v": 2}, create_only)
    assert info.value.item is None and info.value.message == "The conditional request failed"
    with pytest.raises(ConditionalCheckFailed) as info:
        store.delete_item("t", {"k": "a"}, compile_expressions(values={":v": 2}, condition="v = :v").condition,
                          old_on_failure=True)
    assert info.value.item == {"k": "a", "v": Decimal(1)}
    assert store.put_item("t", {"k": "a", "v": 3}, return_old=True) == {"k": "a", "v": Decimal(1)}
    assert store.delete_item("t", {"k": "a"}, return_old=True) == {"k": "a", "v": Decimal(3)}


def test_update_creates_the_item_from_its_key(store):
    store.create_table("t", KeyAttribute("k", "S"), KeyAttribute("r", "B"))
    e = compile_expressions({"#c": "count"}, {":one": 1}, update="ADD #c :one")
    assert store.update_item("t", {"k": "a", "r": b"x"}, e.update) == (None, {"k": "a", "r": b"x", "count": 1})
    old, new = store.update_item("t", {"k": "a", "r": b"x"}, e.update)
    assert old["count"] == 1 and new["count"] == 2


@pytest.mark.parametrize("item, message", [
    ({"v": 1}, "One or more parameter values were invalid: Missing the key k in the item"),
    ({"k": 1}, "One or more parameter values were invalid: Type mismatch for key k expected: S actual: N"),
    ({"k": ""}, "One or more parameter values are not valid. The AttributeValue for a key attribute cannot contain "
                "an empty string value. Key: k"),
    ({"k": "x" * 2049}, "One or more parameter values were invalid: Size of hashkey has exceeded the maximum size "
                        "limit of2048 bytes"),
    ({"k": "a", "big": "x" * 409_600}, "Item size has exceeded the maximum allowed size"),
])
def test_items_dynamodb_refuses(store, item, message):
    store.create_table("t", KeyAttribute("k", "S"))
    with pytest.raises(ItemInvalid) as info:
        store.put_item("t", item)
    assert info.value.message == message


@pytest.mark.parametrize("key", [{"k": 1}, {"k": "a", "extra": "b"}, {"other": "a"}])
def test_keys_must_match_the_schema(store, key):
    store.create_table("t", KeyAttribute("k", "S"))
    with pytest.raises(ItemInvalid, match="^The provided key element does not match the schema$"):
        store.get_item("t", key)


def test_batch_write_is_checked_whole_before_anything_is_written(store):
    store.create_table("t", KeyAttribute("k", "S"))
    store.put_item("t", {"k": "gone"})
    with pytest.raises(ValidationFailed, match="Provided list of item keys contains duplicates"):
        store.batch_write([Write("t", item={"k": "a"}), Write("t", key={"k": "a"})])
    with pytest.raises(ItemInvalid):
        store.batch_write([Write("t", item={"k": "b"}), Write("t", item={"k": 1})])
    assert store.describe_table("t").item_count == 1
    store.batch_write([Write("t", item={"k": "b"}), Write("t", key={"k": "gone"})])
    assert store.lookup("t", ["b", "gone"]) == [{"k": "b"}, None]


def test_batch_get_stops_at_16_mb(store):
    store.create_table("t", KeyAttribute("k", "N"))
    store.batch_put("t", [{"k": i, "blob": b"x" * 400_000} for i in range(45)])
    keys = [{"k": i} for i in range(45)] + [{"k": 1000}]
    found, unprocessed = store.batch_get({"t": (keys, None)})
    assert len(found["t"]) == 42 and unprocessed == {"t": keys[42:]}  # 42 x 400 KB passes 16 MB
    with pytest.raises(ValidationFailed, match="contains duplicates"):
        store.batch_get({"t": ([{"k": 1}, {"k": 1}], None)})


def test_query_reads_one_hash_key_in_range_key_order(store, orders):
    page = store.query(orders, key_condition("customer = :c AND seq BETWEEN :lo AND :hi",
                                             c="ann", lo=-3, hi=2))
    assert [i["seq"] for i in page.items] == [-3, -2, -1, 0, 1, 2]
    page = store.query(orders, key_condition("customer = :c AND seq < :hi", c="bob", hi=-18),
                       scan_index_forward=False)
    assert [i["seq"] for i in page.items] == [-19, -20]
    assert store.query(orders, key_condition("customer = :c", c="nobody")).items == []


def test_query_pages_with_limit_and_filter(store, orders):
    condition = key_condition("customer = :c", c="ann")
    f = compile_expressions(values={":s": "open"}, filter="status_text = :s").filter
    seen, start, pages = [], None, 0
    while True:
        page = store.query(orders, condition, filter=f, limit=7, exclusive_start_key=start)
        assert page.scanned_count <= 7 and page.count == len(page.items)
        seen += [i["seq"] for i in page.items]
        pages += 1
        start = page.last_evaluated_key
        if start is None:
            break
    assert seen == [n for n in range(-20, 30) if n % 2] and pages == 8
    assert store.query(orders, condition, count_only=True).items == []
    assert store.query(orders, condition, filter=f, count_only=True).count == 25


def test_query_pages_stop_after_1_mb(store):
    store.create_table("t", KeyAttribute("k", "S"), KeyAttribute("r", "N"))
    store.batch_put("t", [{"k": "a", "r": i, "blob": b"x" * 100_000} for i in range(25)])
    page = store.query("t", key_condition("k = :k", k="a"))
    assert page.scanned_count == 11 and page.last_evaluated_key == {"k": "a", "r": Decimal(10)}


def test_begins_with_on_string_range_keys(store):
    store.create_table("t", KeyAttribute("k", "S"), KeyAttribute("route", "S"))
    store.batch_put("t", [{"k": "a", "route": p} for p in ("2024/", "2024/01", "2024/02", "2025/01", "2023", "2024")])
    page = store.query("t", key_condition("k = :k AND begins_with(route, :p)", k="a", p="2024/"))
    assert [i["route"] for i in page.items] == ["2024/", "2024/01", "2024/02"]


@pytest.mark.parametrize("text, values, message", [
    ("seq = :n", {"n": 1}, "Query condition missed key schema element: customer"),
    ("customer < :c", {"c": "a"}, "Query key condition not supported"),
    ("customer = :c AND amount = :n", {"c": "a", "n": 1}, "Query key condition not supported"),
    ("customer = :c OR seq = :n", {"c": "a", "n": 1}, "Invalid operator used in KeyConditionExpression: OR"),
    ("customer = :c AND seq = :n AND seq > :n", {"c": "a", "n": 1},
     "KeyConditionExpressions must only contain one condition per key"),
    ("customer = :c AND seq = :c", {"c": "a"},
     "One or more parameter values were invalid: Condition parameter type does not match schema type"),
    ("customer = :c AND begins_with(seq, :c)", {"c": "a"},
     "One or more parameter values were invalid: Condition parameter type does not match schema type"),
    ("customer = :c AND attribute_exists(seq)", {"c": "a"},
     "Invalid operator used in KeyConditionExpression: attribute_exists"),
])
def test_key_conditions_dynamodb_refuses(store, orders, text, values, message):
    with pytest.raises(ValidationFailed) as info:
        store.query(orders, key_condition(text, **values))
    assert info.value.message == message


def test_query_start_key_must_be_inside_the_query(store, orders):
    with pytest.raises(ValidationFailed, match="outside query boundaries"):
        store.query(orders, key_condition("customer = :c", c="ann"), exclusive_start_key={"customer": "bob",
                                                                                         "seq": 1})
    with pytest.raises(ValidationFailed, match="^The provided starting key is invalid: The provided key element"):
        store.query(orders, key_condition("customer = :c", c="ann"), exclusive_start_key={"customer": "ann"})


def test_scan_segments_partition_the_table(store):
    store.create_table("t", KeyAttribute("k", "N"))
    store.batch_put("t", [{"k": i} for i in range(300)])
    segments = [store.scan("t", segment=s, total_segments=4).items for s in range(4)]
    keys = sorted(i["k"] for items in segments for i in items)
    assert keys == list(range(300)) and all(items for items in segments)
    seen, start = [], None
    while True:
        page = store.scan("t", limit=70, exclusive_start_key=start)
        seen += [i["k"] for i in page.items]
        start = page.last_evaluated_key
        if start is None:
            break
    assert sorted(seen) == list(range(300)) and len(seen) == 300


def test_scan_resumes_inside_one_hash_key(store, orders):
    """Items of one hash key share a token: the start key must resume after the range key too."""
    seen, start = [], None
    while True:
        page = store.scan(orders, limit=7, exclusive_start_key=start)
        seen += [(i["customer"], i["seq"]) for i in page.items]
        start = page.last_evaluated_key
        if start is None:
            break
    assert sorted(seen) == sorted((c, n) for c in ("ann", "bob") for n in range(-20, 30))


@pytest.mark.parametrize("segment, total, message", [
    (1, None, "The TotalSegments parameter is required but was not present in the request when Segment parameter is "
              "present"),
    (None, 2, "The Segment parameter is required but was not present in the request when parameter TotalSegments is "
              "present"),
    (3, 3, "The Segment parameter is zero-based and must be less than parameter TotalSegments: Segment: 3 is out of "
           "bounds for TotalSegments: 3"),
])
def test_scan_segment_parameters(store, segment, total, message):
    store.create_table("t", KeyAttribute("k", "N"))
    with pytest.raises(ValidationFailed) as info:
        store.scan("t", segment=segment, total_segments=total)
    assert info.value.message == message


def test_lookup_takes_plain_key_values(store, orders):
    store.create_table("products", KeyAttribute("code", "S"))
    store.batch_put("products", [{"code": "p1", "category": "tea"}, {"code": "p2", "category": "milk"}])
    assert store.lookup("products", ["p2", "nope", "p2"]) == [
        {"code": "p2", "category": "milk"}, None, {"code": "p2", "category": "milk"}]
    assert store.lookup(orders, [("ann", 3), ("ann", Decimal("4.0")), ("ann", 99)])[:2] == [
        {"customer": "ann", "seq": 3, "amount": 30, "status_text": "open"},
        {"customer": "ann", "seq": 4, "amount": 40, "status_text": "done"}]
    with pytest.raises(InvalidArgument, match="not of type S"):
        store.lookup("products", [1])
    with pytest.raises(InvalidArgument, match=r"\(hash, range\) tuples"):
        store.lookup(orders, ["ann"])


def test_concurrent_updates_are_atomic(store):
    store.create_table("t", KeyAttribute("k", "S"))
    e = compile_expressions(values={":one": 1}, update="ADD n :one")

    def add() -> None:
        for _ in range(100):
            store.update_item("t", {"k": "counter"}, e.update)
    threads = [threading.Thread(target=add) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert store.get_item("t", {"k": "counter"})["n"] == 800


def test_one_of_many_concurrent_conditional_creates_wins(store):
    """Writes of concurrent callers share commits; each runs alone against the item it sees."""
    store.create_table("t", KeyAttribute("k", "S"))
    create_only = compile_expressions(condition="attribute_not_exists(k)").condition
    outcomes: list[str] = []

    def create(writer: int) -> None:
        try:
            store.put_item("t", {"k": "lock", "owner": writer}, create_only)
            outcomes.append("won")
        except ConditionalCheckFailed:
            outcomes.append("lost")
    threads = [threading.Thread(target=create, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["lost"] * 11 + ["won"]
    assert store.describe_table("t").item_count == 1


def test_the_core_does_not_import_the_wire_layer():
    code = ("import sys, tidelake.tables.store, tidelake.tables.load; "
            "print([m for m in sys.modules if m.startswith(('tidelake.aws', 'tidelake.cli', 'starlette'))])")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.strip() == "[]"
