"""Glue Data Catalog through boto3: databases, tables, partitions, pagination and error codes.

Pages cited are under https://docs.aws.amazon.com/glue/latest/webapi/ (API_<Operation>.html). The
table is the one of the Athena workshop (retail_trans_json, OpenX JSON SerDe, partitioned by
year/month/day/hour).
"""
from __future__ import annotations

import itertools
from datetime import datetime
from typing import Any

import pytest

from support import aws_error

OPENX = "org.openx.data.jsonserde.JsonSerDe"
COLUMNS = [("invoice", "string"), ("stockcode", "string"), ("description", "string"), ("quantity", "int"),
           ("invoicedate", "timestamp"), ("price", "float"), ("customer_id", "string"), ("country", "string")]
_names = itertools.count()


@pytest.fixture(scope="module")
def glue(server: Any) -> Any:
    return server.client("glue")


@pytest.fixture
def database(glue: Any) -> str:
    name = f"db_{next(_names)}"
    glue.create_database(DatabaseInput={"Name": name, "Description": "retail"})
    return name


def storage(location: str = "s3://my-bucket/json-data") -> dict[str, Any]:
    return {"Columns": [{"Name": n, "Type": t} for n, t in COLUMNS], "Location": location,
            "InputFormat": "org.apache.hadoop.mapred.TextInputFormat",
            "OutputFormat": "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat",
            "SerdeInfo": {"SerializationLibrary": OPENX, "Parameters": {"paths": "invoice,stockcode"}}}


def table_input(name: str = "retail_trans_json") -> dict[str, Any]:
    return {"Name": name, "TableType": "EXTERNAL_TABLE", "Parameters": {"classification": "json"},
            "StorageDescriptor": storage(),
            "PartitionKeys": [{"Name": k, "Type": "int"} for k in ("year", "month", "day", "hour")]}


def partition_input(*values: object) -> dict[str, Any]:
    vals = [str(v) for v in values]
    return {"Values": vals, "StorageDescriptor": storage("s3://my-bucket/json-data/" + "/".join(vals))}


@pytest.fixture
def table(glue: Any, database: str) -> str:
    glue.create_table(DatabaseName=database, TableInput=table_input())
    return "retail_trans_json"


# -- databases ----------------------------------------------------------------------------------

def test_database_lifecycle(glue: Any) -> None:
    glue.create_database(DatabaseInput={"Name": "Workshop_DB", "Description": "d", "LocationUri": "s3://b/",
                                        "Parameters": {"k": "v"}})
    db = glue.get_database(Name="workshop_db")["Database"]
    # API_DatabaseInput.html: "folded to lowercase when it is stored".
    assert db["Name"] == "workshop_db" and db["Description"] == "d" and db["LocationUri"] == "s3://b/"
    assert db["Parameters"] == {"k": "v"} and isinstance(db["CreateTime"], datetime) and db["CatalogId"]
    assert "workshop_db" in [d["Name"] for d in glue.get_databases()["DatabaseList"]]
    with aws_error("AlreadyExistsException", "Database already exists."):
        glue.create_database(DatabaseInput={"Name": "WORKSHOP_db"})
    glue.update_database(Name="workshop_db", DatabaseInput={"Name": "workshop_db", "Description": "new"})
    assert glue.get_database(Name="Workshop_DB")["Database"]["Description"] == "new"
    glue.delete_database(Name="workshop_db")
    with aws_error("EntityNotFoundException", "Database workshop_db not found."):
        glue.get_database(Name="workshop_db")
    with aws_error("EntityNotFoundException"):
        glue.delete_database(Name="workshop_db")
    with aws_error("EntityNotFoundException"):
        glue.update_database(Name="workshop_db", DatabaseInput={"Name": "workshop_db"})


def test_get_databases_pagination(glue: Any) -> None:
    names = {f"page_db_{i}" for i in range(5)}
    for name in names:
        glue.create_database(DatabaseInput={"Name": name})
    seen, pages = [], 0
    for page in glue.get_paginator("get_databases").paginate(PaginationConfig={"PageSize": 2}):
        seen += [d["Name"] for d in page["DatabaseList"]]
        pages += 1
    assert names <= set(seen) and len(seen) == len(set(seen)) and pages >= 3
    assert seen == sorted(seen)


def test_delete_database_removes_tables(glue: Any, database: str, table: str) -> None:
    glue.delete_database(Name=database)
    glue.create_database(DatabaseInput={"Name": database})
    assert glue.get_tables(DatabaseName=database)["TableList"] == []


# -- tables -------------------------------------------------------------------------------------

def test_workshop_table_round_trip(glue: Any, database: str, table: str) -> None:
    got = glue.get_table(DatabaseName=database.upper(), Name="RETAIL_TRANS_JSON")["Table"]
    assert got["Name"] == "retail_trans_json" and got["DatabaseName"] == database
    assert got["TableType"] == "EXTERNAL_TABLE" and got["Parameters"] == {"classification": "json"}
    assert [(c["Name"], c["Type"]) for c in got["StorageDescriptor"]["Columns"]] == COLUMNS
    assert [(k["Name"], k["Type"]) for k in got["PartitionKeys"]] == [
        ("year", "int"), ("month", "int"), ("day", "int"), ("hour", "int")]
    sd = got["StorageDescriptor"]
    assert sd["Location"] == "s3://my-bucket/json-data"
    assert sd["SerdeInfo"] == {"SerializationLibrary": OPENX, "Parameters": {"paths": "invoice,stockcode"}}
    assert sd["InputFormat"] == "org.apache.hadoop.mapred.TextInputFormat"
    assert isinstance(got["CreateTime"], datetime) and isinstance(got["UpdateTime"], datetime)
    assert got["CatalogId"]


def test_table_errors(glue: Any, database: str, table: str) -> None:
    with aws_error("AlreadyExistsException", "Table already exists."):
        glue.create_table(DatabaseName=database, TableInput=table_input("Retail_Trans_Json"))
    with aws_error("EntityNotFoundException", "Database nope_db not found."):
        glue.create_table(DatabaseName="nope_db", TableInput=table_input())
    with aws_error("EntityNotFoundException", "Table missing not found."):
        glue.get_table(DatabaseName=database, Name="missing")
    with aws_error("EntityNotFoundException"):
        glue.delete_table(DatabaseName=database, Name="missing")
    with aws_error("EntityNotFoundException"):
        glue.update_table(DatabaseName=database, TableInput=table_input("missing"))
    with aws_error("EntityNotFoundException"):
        glue.get_tables(DatabaseName="nope_db")


def test_update_and_delete_table(glue: Any, database: str, table: str) -> None:
    changed = table_input()
    changed["Parameters"] = {"classification": "json", "has_encrypted_data": "false"}
    glue.update_table(DatabaseName=database, TableInput=changed)
    got = glue.get_table(DatabaseName=database, Name=table)["Table"]
    assert got["Parameters"]["has_encrypted_data"] == "false" and got["UpdateTime"] >= got["CreateTime"]
    glue.delete_table(DatabaseName=database, Name=table)
    with aws_error("EntityNotFoundException"):
        glue.get_table(DatabaseName=database, Name=table)


def test_get_tables_expression_and_pagination(glue: Any, database: str) -> None:
    for name in ("retail_a", "retail_b", "retail_c", "sales"):
        glue.create_table(DatabaseName=database, TableInput=table_input(name))
    assert [t["Name"] for t in glue.get_tables(DatabaseName=database)["TableList"]] == [
        "retail_a", "retail_b", "retail_c", "sales"]
    assert [t["Name"] for t in glue.get_tables(DatabaseName=database, Expression="retail*")["TableList"]] == [
        "retail_a", "retail_b", "retail_c"]
    assert [t["Name"] for t in glue.get_tables(DatabaseName=database, Expression="sal.*")["TableList"]] == ["sales"]
    first = glue.get_tables(DatabaseName=database, MaxResults=3)
    assert len(first["TableList"]) == 3 and first["NextToken"]
    second = glue.get_tables(DatabaseName=database, MaxResults=3, NextToken=first["NextToken"])
    assert [t["Name"] for t in second["TableList"]] == ["sales"] and "NextToken" not in second
    pages = glue.get_paginator("get_tables").paginate(DatabaseName=database, PaginationConfig={"PageSize": 1})
    assert [t["Name"] for page in pages for t in page["TableList"]] == ["retail_a", "retail_b", "retail_c", "sales"]
    with aws_error("InvalidInputException"):
        glue.get_tables(DatabaseName=database, NextToken="not-a-token")


def test_batch_delete_table(glue: Any, database: str, table: str) -> None:
    glue.create_table(DatabaseName=database, TableInput=table_input("other"))
    answer = glue.batch_delete_table(DatabaseName=database, TablesToDelete=[table, "other", "ghost"])
    assert answer["Errors"] == [{"TableName": "ghost", "ErrorDetail": {
        "ErrorCode": "EntityNotFoundException", "ErrorMessage": "Table ghost not found."}}]
    assert glue.get_tables(DatabaseName=database)["TableList"] == []


def test_validation_of_the_model(glue: Any, database: str) -> None:
    with aws_error("ValidationException", "failed to satisfy constraint"):
        glue.create_table(DatabaseName=database, TableInput={**table_input(), "Name": "x" * 256})


# -- partitions ---------------------------------------------------------------------------------

def test_partition_lifecycle(glue: Any, database: str, table: str) -> None:
    glue.create_partition(DatabaseName=database, TableName=table, PartitionInput=partition_input(2026, 10, 1, 0))
    got = glue.get_partition(DatabaseName=database, TableName=table, PartitionValues=["2026", "10", "1", "0"])
    partition = got["Partition"]
    assert partition["Values"] == ["2026", "10", "1", "0"] and partition["DatabaseName"] == database
    assert partition["TableName"] == table and isinstance(partition["CreationTime"], datetime)
    assert partition["StorageDescriptor"]["Location"] == "s3://my-bucket/json-data/2026/10/1/0"
    with aws_error("AlreadyExistsException", "Partition already exists."):
        glue.create_partition(DatabaseName=database, TableName=table, PartitionInput=partition_input(2026, 10, 1, 0))
    with aws_error("InvalidInputException", "number of partition keys do not match"):
        glue.create_partition(DatabaseName=database, TableName=table, PartitionInput=partition_input(2026, 10))
    with aws_error("EntityNotFoundException"):
        glue.create_partition(DatabaseName=database, TableName="ghost", PartitionInput=partition_input(1, 1, 1, 1))
    glue.update_partition(DatabaseName=database, TableName=table, PartitionValueList=["2026", "10", "1", "0"],
                          PartitionInput={**partition_input(2026, 10, 1, 0), "Parameters": {"a": "b"}})
    assert glue.get_partition(DatabaseName=database, TableName=table,
                              PartitionValues=["2026", "10", "1", "0"])["Partition"]["Parameters"] == {"a": "b"}
    glue.delete_partition(DatabaseName=database, TableName=table, PartitionValues=["2026", "10", "1", "0"])
    with aws_error("EntityNotFoundException", "Cannot find partition."):
        glue.get_partition(DatabaseName=database, TableName=table, PartitionValues=["2026", "10", "1", "0"])
    with aws_error("EntityNotFoundException"):
        glue.delete_partition(DatabaseName=database, TableName=table, PartitionValues=["2026", "10", "1", "0"])


def test_batch_partitions(glue: Any, database: str, table: str) -> None:
    answer = glue.batch_create_partition(DatabaseName=database, TableName=table, PartitionInputList=[
        partition_input(2026, 10, 1, h) for h in range(3)])
    assert answer["Errors"] == []
    answer = glue.batch_create_partition(DatabaseName=database, TableName=table, PartitionInputList=[
        partition_input(2026, 10, 1, 0), partition_input(2026, 10, 1, 9)])
    assert answer["Errors"] == [{"PartitionValues": ["2026", "10", "1", "0"], "ErrorDetail": {
        "ErrorCode": "AlreadyExistsException", "ErrorMessage": "Partition already exists."}}]
    got = glue.batch_get_partition(DatabaseName=database, TableName=table, PartitionsToGet=[
        {"Values": ["2026", "10", "1", "9"]}, {"Values": ["1999", "1", "1", "1"]}, {"Values": ["2026", "10", "1", "1"]}])
    assert [p["Values"] for p in got["Partitions"]] == [["2026", "10", "1", "9"], ["2026", "10", "1", "1"]]
    assert got["UnprocessedKeys"] == []
    answer = glue.batch_delete_partition(DatabaseName=database, TableName=table, PartitionsToDelete=[
        {"Values": ["2026", "10", "1", "0"]}, {"Values": ["1999", "1", "1", "1"]}])
    assert answer["Errors"] == [{"PartitionValues": ["1999", "1", "1", "1"], "ErrorDetail": {
        "ErrorCode": "EntityNotFoundException", "ErrorMessage": "Cannot find partition."}}]
    remaining = glue.get_partitions(DatabaseName=database, TableName=table)["Partitions"]
    assert [p["Values"][3] for p in remaining] == ["1", "2", "9"]  # sorted numerically by the int key
    with aws_error("EntityNotFoundException"):
        glue.batch_get_partition(DatabaseName=database, TableName="ghost", PartitionsToGet=[{"Values": ["1"]}])


@pytest.fixture
def many(glue: Any, database: str, table: str) -> tuple[str, str]:
    inputs = [partition_input(y, m, 1, 0) for y in (2025, 2026) for m in range(1, 13)]
    for i in range(0, len(inputs), 100):
        assert glue.batch_create_partition(DatabaseName=database, TableName=table,
                                           PartitionInputList=inputs[i:i + 100])["Errors"] == []
    return database, table


@pytest.mark.parametrize("expression, expected", [
    ("year = '2026' AND month IN ('10','11')", [(2026, 10), (2026, 11)]),
    ("year = 2026 and month < 3", [(2026, 1), (2026, 2)]),
    ("year = 2025 and month between 11 and 12", [(2025, 11), (2025, 12)]),
    ("(year = 2025 or month = 12) and not month <> 12", [(2025, 12), (2026, 12)]),
])
def test_get_partitions_expression(glue: Any, many: tuple[str, str], expression: str, expected: list) -> None:
    database, table = many
    got = glue.get_partitions(DatabaseName=database, TableName=table, Expression=expression)["Partitions"]
    assert [(int(p["Values"][0]), int(p["Values"][1])) for p in got] == expected


def test_get_partitions_invalid_expression(glue: Any, many: tuple[str, str]) -> None:
    database, table = many
    with aws_error("InvalidInputException", "Unknown column 'colour'"):
        glue.get_partitions(DatabaseName=database, TableName=table, Expression="colour = 'red'")
    with aws_error("InvalidInputException"):
        glue.get_partitions(DatabaseName=database, TableName=table, Expression="year = ")


def test_get_partitions_pagination_segments_and_column_schema(glue: Any, many: tuple[str, str]) -> None:
    database, table = many
    pages = list(glue.get_paginator("get_partitions").paginate(
        DatabaseName=database, TableName=table, PaginationConfig={"PageSize": 5}))
    values = [p["Values"] for page in pages for p in page["Partitions"]]
    assert len(pages) == 5 and len(values) == 24 and values[0] == ["2025", "1", "1", "0"]
    assert values[-1] == ["2026", "12", "1", "0"]
    segments = [glue.get_partitions(DatabaseName=database, TableName=table,
                                    Segment={"SegmentNumber": n, "TotalSegments": 3})["Partitions"] for n in range(3)]
    assert sorted(p["Values"] for s in segments for p in s) == sorted(values)
    with aws_error("InvalidInputException"):
        glue.get_partitions(DatabaseName=database, TableName=table, Segment={"SegmentNumber": 3, "TotalSegments": 3})
    lean = glue.get_partitions(DatabaseName=database, TableName=table, ExcludeColumnSchema=True, MaxResults=1)
    assert "Columns" not in lean["Partitions"][0]["StorageDescriptor"] or \
        lean["Partitions"][0]["StorageDescriptor"]["Columns"] == []
    with aws_error("InvalidInputException"):
        glue.get_partitions(DatabaseName=database, TableName=table, NextToken="bogus!")


def test_get_partitions_of_missing_table(glue: Any, database: str) -> None:
    with aws_error("EntityNotFoundException", "Table ghost not found."):
        glue.get_partitions(DatabaseName=database, TableName="ghost")


def test_unsupported_operation_answers_not_implemented(glue: Any) -> None:
    with aws_error("NotImplemented"):
        glue.get_jobs()  # crawlers are served; jobs are not


def test_catalog_survives_restart(server_factory: Any) -> None:
    server = server_factory()
    client = server.client("glue")
    client.create_database(DatabaseInput={"Name": "kept"})
    client.create_table(DatabaseName="kept", TableInput=table_input())
    client.create_partition(DatabaseName="kept", TableName="retail_trans_json", PartitionInput=partition_input(1, 2, 3, 4))
    server.kill()
    server.start()
    client = server.client("glue")
    assert client.get_table(DatabaseName="kept", Name="retail_trans_json")["Table"]["PartitionKeys"]
    assert client.get_partitions(DatabaseName="kept", TableName="retail_trans_json")["Partitions"][0]["Values"] == [
        "1", "2", "3", "4"]
