"""The catalog core: databases, tables, partitions, Glue's name patterns and partition expressions.

Semantics pinned by the Glue API reference (docs.aws.amazon.com/glue/latest/webapi/): names are
"folded to lowercase when stored" (API_DatabaseInput.html, API_TableInput.html); GetPartitions'
Expression operators and key types (API_GetPartitions.html); DeleteDatabase removes the database's
tables and partitions (API_DeleteDatabase.html).
"""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from tidelake.clock import ManualClock
from tidelake.errors import AlreadyExists, InvalidArgument, NotFound
from tidelake.lake.catalog.errors import (DatabaseAlreadyExists, DatabaseNotFound, InvalidNamePattern,
                                          InvalidPartitionExpression, PartitionAlreadyExists, PartitionNotFound,
                                          PartitionValuesMismatch, TableAlreadyExists, TableNotFound)
from tidelake.lake.catalog.models import (OPENX_JSON_SERDE, Column, Database, Partition, SerDeInfo,
                                          StorageDescriptor, Table)
from tidelake.lake.catalog.store import Catalog

ACCOUNT = "123456789012"


@pytest.fixture
def catalog(tmp_path: Path, clock: ManualClock) -> Catalog:
    cat = Catalog(tmp_path / "catalog" / "catalog.db", clock, ACCOUNT)
    yield cat
    cat.close()


def retail_table(database: str = "lake", name: str = "retail_trans_json") -> Table:
    columns = [Column(n, t) for n, t in [("invoice", "string"), ("stockcode", "string"), ("description", "string"),
                                          ("quantity", "int"), ("invoicedate", "timestamp"), ("price", "float"),
                                          ("customer_id", "string"), ("country", "string")]]
    return Table(database, name, StorageDescriptor(columns=columns, location="s3://my-bucket/json-data",
                                                   serde_info=SerDeInfo(OPENX_JSON_SERDE)),
                 partition_keys=[Column(k, "int") for k in ("year", "month", "day", "hour")])


def part(*values: object, database: str = "lake", table: str = "retail_trans_json") -> Partition:
    vals = [str(v) for v in values]
    return Partition(database, table, vals, StorageDescriptor(location="s3://my-bucket/json-data/" + "/".join(vals)))


@pytest.fixture
def retail(catalog: Catalog) -> Catalog:
    catalog.create_database(Database("lake"))
    catalog.create_table(retail_table())
    return catalog


# -- databases ----------------------------------------------------------------------------------

def test_database_lifecycle_and_case_folding(catalog: Catalog, clock: ManualClock) -> None:
    created = catalog.create_database(Database("Sales_DB", description="d", parameters={"k": "v"}))
    assert created.name == "sales_db" and created.create_time == clock.now() and created.catalog_id == ACCOUNT
    assert catalog.get_database("SALES_db").description == "d"
    with pytest.raises(DatabaseAlreadyExists) as info:
        catalog.create_database(Database("sales_DB"))
    assert isinstance(info.value, AlreadyExists) and info.value.database == "sales_db"
    catalog.create_database(Database("a_db"))
    assert [d.name for d in catalog.list_databases()] == ["a_db", "sales_db"]
    catalog.update_database("sales_db", Database("sales_db", description="new"))
    updated = catalog.get_database("sales_db")
    assert updated.description == "new" and updated.create_time == created.create_time
    catalog.delete_database("Sales_DB")
    with pytest.raises(DatabaseNotFound) as missing:
        catalog.get_database("sales_db")
    assert isinstance(missing.value, NotFound) and missing.value.message == "Database sales_db not found."
    with pytest.raises(DatabaseNotFound):
        catalog.delete_database("sales_db")


def test_delete_database_deletes_its_tables_and_partitions(retail: Catalog) -> None:
    retail.create_partitions("lake", "retail_trans_json", [part(2026, 1, 1, 0)])
    retail.delete_database("lake")
    retail.create_database(Database("lake"))
    assert retail.list_tables("lake") == []
    retail.create_table(retail_table())
    assert retail.get_partitions("lake", "retail_trans_json") == []


def test_rename_database_moves_tables(retail: Catalog) -> None:
    retail.create_partitions("lake", "retail_trans_json", [part(2026, 1, 1, 0)])
    retail.update_database("lake", Database("Lake2"))
    assert retail.get_table("lake2", "retail_trans_json").database_name == "lake2"
    assert retail.get_partition("lake2", "retail_trans_json", ["2026", "1", "1", "0"]).database_name == "lake2"
    with pytest.raises(DatabaseNotFound):
        retail.get_database("lake")


# -- tables -------------------------------------------------------------------------------------

def test_table_lifecycle(retail: Catalog, clock: ManualClock) -> None:
    table = retail.get_table("LAKE", "Retail_Trans_JSON")
    assert table.name == "retail_trans_json" and table.database_name == "lake"
    assert [c.name for c in table.storage_descriptor.columns][:3] == ["invoice", "stockcode", "description"]
    assert table.storage_descriptor.serde_info.serialization_library == OPENX_JSON_SERDE
    assert [k.name for k in table.partition_keys] == ["year", "month", "day", "hour"]
    assert table.table_type == "EXTERNAL_TABLE" and table.create_time == clock.now()
    with pytest.raises(TableAlreadyExists):
        retail.create_table(retail_table(name="RETAIL_TRANS_JSON"))
    clock.advance(5)
    changed = retail_table()
    changed.parameters = {"classification": "json"}
    retail.update_table(changed)
    again = retail.get_table("lake", "retail_trans_json")
    assert again.parameters == {"classification": "json"}
    assert again.create_time == table.create_time and again.update_time == table.create_time + 5
    assert again.version_id == "1"
    retail.delete_table("lake", "retail_trans_json")
    with pytest.raises(TableNotFound) as info:
        retail.get_table("lake", "retail_trans_json")
    assert info.value.message == "Table retail_trans_json not found."
    with pytest.raises(TableNotFound):
        retail.delete_table("lake", "retail_trans_json")


def test_table_in_missing_database(catalog: Catalog) -> None:
    with pytest.raises(DatabaseNotFound):
        catalog.create_table(retail_table(database="nope"))
    with pytest.raises(DatabaseNotFound):
        catalog.get_table("nope", "t")
    with pytest.raises(DatabaseNotFound):
        catalog.list_tables("nope")


def test_rename_table_moves_partitions(retail: Catalog) -> None:
    retail.create_partitions("lake", "retail_trans_json", [part(2026, 1, 1, 0)])
    retail.update_table(retail_table(name="renamed"), name="retail_trans_json")
    assert retail.get_partitions("lake", "renamed")[0].table_name == "renamed"
    with pytest.raises(TableNotFound):
        retail.get_table("lake", "retail_trans_json")


@pytest.mark.parametrize("pattern, expected", [
    (None, ["retail_trans_json", "retail_trans_parquet", "sales"]),
    ("retail*", ["retail_trans_json", "retail_trans_parquet"]),
    ("*json", ["retail_trans_json"]),
    ("retail.*parquet", ["retail_trans_parquet"]),
    ("sales|*json", ["retail_trans_json", "sales"]),
    ("SALES", ["sales"]),
    ("retail", []),  # whole-name match
])
def test_list_tables_expression(retail: Catalog, pattern: str | None, expected: list[str]) -> None:
    retail.create_table(retail_table(name="retail_trans_parquet"))
    retail.create_table(retail_table(name="sales"))
    assert [t.name for t in retail.list_tables("lake", pattern)] == expected


def test_list_tables_bad_pattern(retail: Catalog) -> None:
    with pytest.raises(InvalidNamePattern):
        retail.list_tables("lake", "retail[")


def test_catalog_survives_reopen(tmp_path: Path, clock: ManualClock) -> None:
    path = tmp_path / "catalog.db"
    first = Catalog(path, clock, ACCOUNT)
    first.create_database(Database("lake"))
    first.create_table(retail_table())
    first.create_partitions("lake", "retail_trans_json", [part(2026, 1, 1, 0)])
    first.close()
    second = Catalog(path, clock, ACCOUNT)
    assert second.get_table("lake", "retail_trans_json").storage_descriptor.columns \
        == retail_table().storage_descriptor.columns
    assert second.get_partition("lake", "retail_trans_json", ["2026", "1", "1", "0"]).storage_descriptor.location \
        == "s3://my-bucket/json-data/2026/1/1/0"
    second.close()


# -- partitions ---------------------------------------------------------------------------------

def test_partition_lifecycle_and_batch_errors(retail: Catalog) -> None:
    errors = retail.create_partitions("lake", "retail_trans_json", [part(2026, 1, 1, 0), part(2026, 1, 1, 1)])
    assert errors == []
    errors = retail.create_partitions("lake", "retail_trans_json",
                                      [part(2026, 1, 1, 0), part(2026, 1, 2, 0), part(2026, 1)])
    assert [(values, type(error)) for values, error in errors] == [
        (["2026", "1", "1", "0"], PartitionAlreadyExists), (["2026", "1"], PartitionValuesMismatch)]
    assert retail.create_partitions("lake", "retail_trans_json", [part(2026, 1, 1, 0)], if_not_exists=True) == []
    got = retail.get_partition("lake", "retail_trans_json", ["2026", "1", "2", "0"])
    assert got.database_name == "lake" and got.table_name == "retail_trans_json" and got.catalog_id == ACCOUNT
    assert retail.get_partition("lake", "retail_trans_json", [2026, 1, 2, 0]).values == ["2026", "1", "2", "0"]
    with pytest.raises(PartitionNotFound) as info:
        retail.get_partition("lake", "retail_trans_json", ["2025", "1", "1", "0"])
    assert info.value.message == "Cannot find partition."
    with pytest.raises(PartitionValuesMismatch):
        retail.get_partition("lake", "retail_trans_json", ["2026"])
    errors = retail.delete_partitions("lake", "retail_trans_json", [["2026", "1", "1", "0"], ["1999", "1", "1", "1"]])
    assert [(v, type(e)) for v, e in errors] == [(["1999", "1", "1", "1"], PartitionNotFound)]
    assert [p.values for p in retail.get_partitions("lake", "retail_trans_json")] == [
        ["2026", "1", "1", "1"], ["2026", "1", "2", "0"]]
    with pytest.raises(TableNotFound):
        retail.create_partitions("lake", "nope", [part(1, 1, 1, 1)])


def test_update_partition(retail: Catalog) -> None:
    retail.create_partitions("lake", "retail_trans_json", [part(2026, 1, 1, 0), part(2026, 1, 1, 1)])
    moved = part(2026, 1, 1, 5)
    moved.parameters = {"a": "b"}
    retail.update_partition("lake", "retail_trans_json", ["2026", "1", "1", "0"], moved)
    assert retail.get_partition("lake", "retail_trans_json", ["2026", "1", "1", "5"]).parameters == {"a": "b"}
    with pytest.raises(PartitionAlreadyExists):
        retail.update_partition("lake", "retail_trans_json", ["2026", "1", "1", "5"], part(2026, 1, 1, 1))


def test_partitions_sorted_by_typed_values(retail: Catalog) -> None:
    retail.create_partitions("lake", "retail_trans_json", [part(2026, m, 1, 0) for m in (10, 9, 11, 1)])
    assert [p.values[1] for p in retail.get_partitions("lake", "retail_trans_json")] == ["1", "9", "10", "11"]


@pytest.fixture
def months(retail: Catalog) -> Catalog:
    retail.create_partitions("lake", "retail_trans_json",
                             [part(y, m, d, 0) for y in (2025, 2026) for m in range(1, 13) for d in (1, 15)])
    return retail


def months_of(catalog: Catalog, expression: str) -> list[tuple[int, int, int]]:
    return [tuple(int(v) for v in p.values[:3]) for p in catalog.get_partitions("lake", "retail_trans_json", expression)]


@pytest.mark.parametrize("expression, expected", [
    ("year = '2026' AND month IN ('10','11') AND day = 1", [(2026, 10, 1), (2026, 11, 1)]),
    ("year = 2026 and month < 3 and day = 1", [(2026, 1, 1), (2026, 2, 1)]),  # numeric, not '10' < '3'
    ("year = 2026 and month >= 11 and day > 1", [(2026, 11, 15), (2026, 12, 15)]),
    ("year=2025 and month<=1 and day<>15", [(2025, 1, 1)]),
    ("year = 2026 AND month BETWEEN 9 AND 10 AND day = 15", [(2026, 9, 15), (2026, 10, 15)]),
    ("(year = 2025 OR month = 12) AND day = 1 AND NOT month < 12", [(2025, 12, 1), (2026, 12, 1)]),
    ("year = 2026 and month not in (1,2,3,4,5,6,7,8,9,10) and day = 1", [(2026, 11, 1), (2026, 12, 1)]),
    ("year = 2026 and month not between 2 and 12 and day=1", [(2026, 1, 1)]),
    ("2026 = year and 12 <= month and day = 15", [(2026, 12, 15)]),
    ("YEAR = 2025 and Month = 3 and `day` = 1", [(2025, 3, 1)]),
    ("year is null", []),
    ("year is not null and month = 1 and day = 1", [(2025, 1, 1), (2026, 1, 1)]),
])
def test_partition_expressions_on_int_keys(months: Catalog, expression: str, expected: list) -> None:
    assert months_of(months, expression) == expected


def test_partition_expressions_on_string_and_date_keys(catalog: Catalog) -> None:
    catalog.create_database(Database("lake"))
    catalog.create_table(Table("lake", "events", partition_keys=[
        Column("region", "string"), Column("dt", "date"), Column("month", "string")]))
    rows = [["eu-west-1", "2026-01-05", "9"], ["eu-central-1", "2026-02-01", "10"], ["us-east-1", "2025-12-31", "11"]]
    catalog.create_partitions("lake", "events", [Partition("lake", "events", r) for r in rows])

    def regions(expression: str) -> list[str]:
        return [p.values[0] for p in catalog.get_partitions("lake", "events", expression)]
    assert regions("region LIKE 'eu-%'") == ["eu-central-1", "eu-west-1"]
    assert regions("region NOT LIKE 'eu-%'") == ["us-east-1"]
    assert regions("region like 'us_east_1'") == ["us-east-1"]
    assert regions("dt >= '2026-01-01'") == ["eu-central-1", "eu-west-1"]
    assert regions("dt between '2026-01-01' and '2026-01-31'") == ["eu-west-1"]
    assert regions("month < '2'") == ["eu-central-1", "us-east-1"]  # a string key compares as text
    assert regions("region = \"us-east-1\"") == ["us-east-1"]  # double quotes are string literals too


@pytest.mark.parametrize("expression, fragment", [
    ("year = ", ""),
    ("colour = 'red'", "Unknown column 'colour'"),
    ("year = 'abc'", "not a valid int"),
    ("month LIKE '1%'", "doesn't support operation 'LIKE'"),
    ("year + 1 = 2", ""),
])
def test_invalid_partition_expressions(months: Catalog, expression: str, fragment: str) -> None:
    with pytest.raises(InvalidPartitionExpression) as info:
        months.get_partitions("lake", "retail_trans_json", expression)
    assert isinstance(info.value, InvalidArgument) and fragment in info.value.message


def test_paging_and_segments(months: Catalog) -> None:
    everything = [p.values for p in months.get_partitions("lake", "retail_trans_json")]
    pages, after = [], None
    while True:
        page = months.get_partitions("lake", "retail_trans_json", after=after, limit=7)
        pages.extend(p.values for p in page)
        if len(page) < 7:
            break
        after = page[-1].values
    assert pages == everything
    shares = [[p.values for p in months.get_partitions("lake", "retail_trans_json", segment=(n, 3))] for n in range(3)]
    assert sorted(v for share in shares for v in share) == sorted(everything)
    assert all(shares)


def test_batch_get_partitions(months: Catalog) -> None:
    found = months.batch_get_partitions("lake", "retail_trans_json",
                                        [["2026", "3", "1", "0"], ["1999", "1", "1", "0"], ["2025", "1", "15", "0"]])
    assert [p.values for p in found] == [["2026", "3", "1", "0"], ["2025", "1", "15", "0"]]


def test_ten_thousand_partitions_are_quick(retail: Catalog) -> None:
    """A sanity bound, not a benchmark: 10,000 partitions with a full schema each."""
    columns = retail.get_table("lake", "retail_trans_json").storage_descriptor.columns
    partitions = [Partition("lake", "retail_trans_json", [str(y), str(m), str(d), str(h)],
                            StorageDescriptor(columns=columns, location=f"s3://my-bucket/json-data/{y}/{m}/{d}/{h}"))
                  for y in (2026, 2025) for m in range(1, 13) for d in range(1, 29) for h in range(24)][:10_000]
    started = time.perf_counter()
    assert retail.create_partitions("lake", "retail_trans_json", partitions) == []
    created = time.perf_counter() - started
    started = time.perf_counter()
    assert len(retail.get_partitions("lake", "retail_trans_json")) == 10_000
    listed = time.perf_counter() - started
    started = time.perf_counter()
    chosen = retail.get_partitions("lake", "retail_trans_json", "year = 2026 AND month IN (10, 11) AND day < 3")
    filtered = time.perf_counter() - started
    assert len(chosen) == 2 * 2 * 24
    assert created < 5 and listed < 5 and filtered < 1, (created, listed, filtered)


def test_catalog_does_not_import_the_wire_layer() -> None:
    code = ("import sys, tidelake.lake.catalog.store; "
            "print([m for m in sys.modules if m.startswith(('tidelake.aws', 'starlette'))])")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.strip() == "[]"
