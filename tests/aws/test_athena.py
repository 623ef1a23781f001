"""Athena over boto3 against a real `tidelake up`: executions, results, errors, workgroups, metadata.

Pinned by the Athena API reference: API_GetQueryResults (header row first for a SELECT, MaxResults
1..1000), API_QueryExecutionStatus (states), API_StartQueryExecution (ExecutionParameters,
ClientRequestToken), API_ResultConfiguration ("No output location provided..." when neither the
request nor the workgroup names one), and the Athena error catalog (ErrorCategory 1 SYSTEM, 2 USER).
"""
from __future__ import annotations

import itertools
import os
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from botocore.exceptions import ClientError

BUCKET = "athena-results"
OUTPUT = {"OutputLocation": f"s3://{BUCKET}/boto3/"}
SLOW = ("SELECT count(*) FROM UNNEST(sequence(1, 200000)) AS a(x) CROSS JOIN UNNEST(sequence(1, 200000)) AS b(y) "
        "WHERE (x * y) % 7 = 3")
_names = itertools.count()


def unique(prefix: str) -> str:
    return f"{prefix}_{os.getpid()}_{next(_names)}"


def results_bucket(server: Any) -> None:
    s3 = server.client("s3", s3={"addressing_style": "path"})
    try:
        s3.create_bucket(Bucket=BUCKET)
    except ClientError as error:
        assert error.response["Error"]["Code"] in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists")


@pytest.fixture
def athena(server: Any) -> Any:
    results_bucket(server)
    return server.client("athena")


def wait(athena: Any, query_id: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        execution = athena.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]
        if execution["Status"]["State"] in ("SUCCEEDED", "FAILED", "CANCELLED"):
            return execution
        assert time.monotonic() < deadline, f"query stuck in {execution['Status']['State']}"
        time.sleep(0.02)


def run(athena: Any, sql: str, **kwargs: Any) -> dict[str, Any]:
    kwargs.setdefault("ResultConfiguration", OUTPUT)
    return wait(athena, athena.start_query_execution(QueryString=sql, **kwargs)["QueryExecutionId"])


def values(rows: list[dict[str, Any]]) -> list[list[str | None]]:
    return [[d.get("VarCharValue") for d in row["Data"]] for row in rows]


def error(call: Any, **kwargs: Any) -> dict[str, Any]:
    with pytest.raises(ClientError) as info:
        call(**kwargs)
    return info.value.response


def test_select_lifecycle_statistics_and_result_files(server, athena):
    execution = run(athena, "SELECT 1 AS a, 'x' AS b, CAST(1.5 AS double) AS c, true AS d, DATE '2026-01-02' AS e, "
                            "TIMESTAMP '2026-01-02 03:04:05.678' AS f, CAST(NULL AS varchar) AS g")
    assert execution["Status"]["State"] == "SUCCEEDED", execution["Status"]
    query_id = execution["QueryExecutionId"]
    assert execution["StatementType"] == "DML"
    assert execution["ResultConfiguration"]["OutputLocation"] == f"s3://{BUCKET}/boto3/{query_id}.csv"
    assert execution["Status"]["CompletionDateTime"] >= execution["Status"]["SubmissionDateTime"]
    stats = execution["Statistics"]
    for key in ("EngineExecutionTimeInMillis", "DataScannedInBytes", "TotalExecutionTimeInMillis",
                "QueryQueueTimeInMillis", "ServiceProcessingTimeInMillis"):
        assert isinstance(stats[key], int), key
    answer = athena.get_query_results(QueryExecutionId=query_id)
    rows = values(answer["ResultSet"]["Rows"])
    assert rows[0] == ["a", "b", "c", "d", "e", "f", "g"]
    assert rows[1] == ["1", "x", "1.5", "true", "2026-01-02", "2026-01-02 03:04:05.678", None]
    types = [c["Type"] for c in answer["ResultSet"]["ResultSetMetadata"]["ColumnInfo"]]
    assert types == ["integer", "varchar", "double", "boolean", "date", "timestamp", "varchar"]
    assert "NextToken" not in answer
    s3 = server.client("s3", s3={"addressing_style": "path"})
    body = s3.get_object(Bucket=BUCKET, Key=f"boto3/{query_id}.csv")["Body"].read()
    assert body.splitlines()[0] == b'"a","b","c","d","e","f","g"'
    s3.head_object(Bucket=BUCKET, Key=f"boto3/{query_id}.csv.metadata")


def test_results_are_paged_with_the_header_on_the_first_page(athena):
    execution = run(athena, "SELECT x FROM UNNEST(sequence(1, 2500)) AS t(x) ORDER BY x")
    assert execution["Status"]["State"] == "SUCCEEDED", execution["Status"]
    query_id = execution["QueryExecutionId"]
    pages = list(athena.get_paginator("get_query_results").paginate(QueryExecutionId=query_id,
                                                                   PaginationConfig={"PageSize": 1000}))
    assert [len(p["ResultSet"]["Rows"]) for p in pages] == [1000, 1000, 501]
    rows = [r for p in pages for r in values(p["ResultSet"]["Rows"])]
    assert rows[0] == ["x"] and rows[1:] == [[str(i)] for i in range(1, 2501)]
    small = athena.get_query_results(QueryExecutionId=query_id, MaxResults=2)
    assert values(small["ResultSet"]["Rows"]) == [["x"], ["1"]] and small["NextToken"]
    following = athena.get_query_results(QueryExecutionId=query_id, MaxResults=2, NextToken=small["NextToken"])
    assert values(following["ResultSet"]["Rows"]) == [["2"], ["3"]]
    too_many = error(athena.get_query_results, QueryExecutionId=query_id, MaxResults=1001)
    assert too_many["Error"]["Code"] == "ValidationException"


def test_bad_sql_fails_with_a_reason_never_stuck(athena):
    execution = run(athena, "SELEC nonsense FROM")
    status = execution["Status"]
    assert status["State"] == "FAILED" and status["StateChangeReason"]
    assert status["AthenaError"]["ErrorCategory"] == 2
    missing = run(athena, f"SELECT * FROM {unique('no_such_table')}")
    assert missing["Status"]["State"] == "FAILED" and missing["Status"]["StateChangeReason"]
    refused = error(athena.get_query_results, QueryExecutionId=execution["QueryExecutionId"])
    assert refused["Error"]["Code"] == "InvalidRequestException"
    assert refused["Error"]["Message"] == status["StateChangeReason"]


def test_request_errors(athena):
    unknown = error(athena.get_query_execution, QueryExecutionId="00000000-0000-0000-0000-000000000000")
    assert unknown["Error"]["Code"] == "InvalidRequestException"
    assert unknown["AthenaErrorCode"] == "INVALID_INPUT"
    no_location = error(athena.start_query_execution, QueryString="SELECT 1")
    assert no_location["Error"]["Code"] == "InvalidRequestException"
    assert no_location["Error"]["Message"] == ("No output location provided. An output location is required either "
                                               "through the Workgroup result configuration setting or as an API input.")
    group = error(athena.start_query_execution, QueryString="SELECT 1", WorkGroup="nope", ResultConfiguration=OUTPUT)
    assert group["Error"]["Code"] == "InvalidRequestException"


def test_execution_parameters_and_idempotency(athena):
    execution = run(athena, "SELECT ? AS n, ? AS s", ExecutionParameters=["42", "'hi'"])
    assert execution["Status"]["State"] == "SUCCEEDED", execution["Status"]
    assert execution["ExecutionParameters"] == ["42", "'hi'"]
    rows = values(athena.get_query_results(QueryExecutionId=execution["QueryExecutionId"])["ResultSet"]["Rows"])
    assert rows[1] == ["42", "hi"]
    token = "token-" + "x" * 40 + unique("t")
    first = athena.start_query_execution(QueryString="SELECT 1", ClientRequestToken=token, ResultConfiguration=OUTPUT)
    again = athena.start_query_execution(QueryString="SELECT 1", ClientRequestToken=token, ResultConfiguration=OUTPUT)
    assert first["QueryExecutionId"] == again["QueryExecutionId"]


def test_eight_queries_at_once_all_finish_and_are_listed(athena):
    sqls = [f"SELECT count(*) AS n FROM UNNEST(sequence(1, {1000 * (i + 1)})) AS t(x)" for i in range(8)]
    with ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(lambda sql: athena.start_query_execution(
            QueryString=sql, ResultConfiguration=OUTPUT)["QueryExecutionId"], sqls))
    executions = [wait(athena, i) for i in ids]
    assert [e["Status"]["State"] for e in executions] == ["SUCCEEDED"] * 8
    counts = {values(athena.get_query_results(QueryExecutionId=i)["ResultSet"]["Rows"])[1][0] for i in ids}
    assert counts == {str(1000 * (i + 1)) for i in range(8)}
    batch = athena.batch_get_query_execution(QueryExecutionIds=ids + ["unknown-id"])
    assert {e["QueryExecutionId"] for e in batch["QueryExecutions"]} == set(ids)
    assert [u["QueryExecutionId"] for u in batch["UnprocessedQueryExecutionIds"]] == ["unknown-id"]
    listed = [i for page in athena.get_paginator("list_query_executions").paginate() for i in page["QueryExecutionIds"]]
    assert set(ids) <= set(listed)


def test_a_slow_query_can_be_stopped_and_a_late_one_times_out(server_factory):
    server = server_factory(query_timeout_seconds=3)
    results_bucket(server)
    athena = server.client("athena")
    query_id = athena.start_query_execution(QueryString=SLOW, ResultConfiguration=OUTPUT)["QueryExecutionId"]
    deadline = time.monotonic() + 10
    while athena.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]["Status"]["State"] != "RUNNING":
        assert time.monotonic() < deadline
        time.sleep(0.02)
    unfinished = error(athena.get_query_results, QueryExecutionId=query_id)
    assert unfinished["Error"]["Message"] == "Query has not yet finished. Current state: RUNNING"
    athena.stop_query_execution(QueryExecutionId=query_id)
    assert wait(athena, query_id, timeout=5)["Status"]["State"] == "CANCELLED"
    late = wait(athena, athena.start_query_execution(QueryString=SLOW, ResultConfiguration=OUTPUT)["QueryExecutionId"],
                timeout=20)
    assert late["Status"]["State"] == "FAILED" and "timeout" in late["Status"]["StateChangeReason"].lower()
    assert run(athena, "SELECT 1")["Status"]["State"] == "SUCCEEDED"  # the workers are free again


def test_executions_survive_a_restart(server_factory, tmp_path):
    server = server_factory(data_dir=tmp_path / "persist")
    results_bucket(server)
    athena = server.client("athena")
    execution = run(athena, "SELECT 'kept' AS v")
    named = athena.create_named_query(Name="n", Database="default", QueryString="SELECT 1")["NamedQueryId"]
    server.stop()
    again = server_factory(data_dir=tmp_path / "persist").client("athena")
    query_id = execution["QueryExecutionId"]
    assert again.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]["Status"]["State"] == "SUCCEEDED"
    assert values(again.get_query_results(QueryExecutionId=query_id)["ResultSet"]["Rows"]) == [["v"], ["kept"]]
    assert again.get_named_query(NamedQueryId=named)["NamedQuery"]["QueryString"] == "SELECT 1"


def test_workgroups(athena):
    name = unique("wg")
    athena.create_work_group(Name=name, Description="team", Configuration={
        "ResultConfiguration": {"OutputLocation": f"s3://{BUCKET}/{name}/"}, "EnforceWorkGroupConfiguration": True})
    group = athena.get_work_group(WorkGroup=name)["WorkGroup"]
    assert group["State"] == "ENABLED" and group["Description"] == "team"
    assert group["Configuration"]["ResultConfiguration"]["OutputLocation"] == f"s3://{BUCKET}/{name}/"
    assert {"primary", name} <= {g["Name"] for g in athena.list_work_groups()["WorkGroups"]}
    execution = run(athena, "SELECT 1", WorkGroup=name, ResultConfiguration={})
    assert execution["ResultConfiguration"]["OutputLocation"].startswith(f"s3://{BUCKET}/{name}/")
    assert execution["WorkGroup"] == name
    assert athena.list_query_executions(WorkGroup=name)["QueryExecutionIds"] == [execution["QueryExecutionId"]]
    athena.update_work_group(WorkGroup=name, State="DISABLED")
    disabled = error(athena.start_query_execution, QueryString="SELECT 1", WorkGroup=name)
    assert disabled["Error"]["Code"] == "InvalidRequestException"
    assert error(athena.create_work_group, Name=name)["Error"]["Code"] == "InvalidRequestException"
    athena.delete_work_group(WorkGroup=name)
    assert error(athena.get_work_group, WorkGroup=name)["Error"]["Code"] == "InvalidRequestException"


def test_named_queries(athena):
    first = athena.create_named_query(Name="top", Database="default", QueryString="SELECT 1",
                                      Description="d")["NamedQueryId"]
    second = athena.create_named_query(Name="two", Database="default", QueryString="SELECT 2")["NamedQueryId"]
    assert athena.get_named_query(NamedQueryId=first)["NamedQuery"] == {
        "Name": "top", "Description": "d", "Database": "default", "QueryString": "SELECT 1", "NamedQueryId": first,
        "WorkGroup": "primary"}
    assert {first, second} <= set(athena.list_named_queries()["NamedQueryIds"])
    batch = athena.batch_get_named_query(NamedQueryIds=[first, "missing"])
    assert [q["NamedQueryId"] for q in batch["NamedQueries"]] == [first]
    assert batch["UnprocessedNamedQueryIds"][0]["NamedQueryId"] == "missing"
    athena.delete_named_query(NamedQueryId=first)
    assert error(athena.get_named_query, NamedQueryId=first)["Error"]["Code"] == "InvalidRequestException"


def test_catalog_metadata_after_ddl(server, athena):
    database, table = unique("athena_db"), unique("events")
    s3 = server.client("s3", s3={"addressing_style": "path"})
    s3.put_object(Bucket=BUCKET, Key=f"data/{table}/part-0.json", Body=b'{"id": 1, "name": "a"}\n{"id": 2, "name": "b"}\n')
    assert run(athena, f"CREATE DATABASE {database}")["Status"]["State"] == "SUCCEEDED"
    ddl = run(athena, f"CREATE EXTERNAL TABLE {table} (id int, name string) ROW FORMAT SERDE "
                      f"'org.openx.data.jsonserde.JsonSerDe' LOCATION 's3://{BUCKET}/data/{table}/'",
              QueryExecutionContext={"Database": database})
    assert ddl["Status"]["State"] == "SUCCEEDED", ddl["Status"]
    assert ddl["StatementType"] == "DDL" and ddl["ResultConfiguration"]["OutputLocation"].endswith(".txt")
    catalogs = athena.list_data_catalogs()["DataCatalogsSummary"]
    assert catalogs == [{"CatalogName": "AwsDataCatalog", "Type": "GLUE", "Status": "CREATE_COMPLETE"}]
    assert athena.get_data_catalog(Name="AwsDataCatalog")["DataCatalog"]["Type"] == "GLUE"
    names = [d["Name"] for d in athena.list_databases(CatalogName="AwsDataCatalog", MaxResults=50)["DatabaseList"]]
    assert database in names
    assert athena.get_database(CatalogName="AwsDataCatalog", DatabaseName=database)["Database"]["Name"] == database
    tables = athena.list_table_metadata(CatalogName="AwsDataCatalog", DatabaseName=database)["TableMetadataList"]
    assert [t["Name"] for t in tables] == [table]
    meta = athena.get_table_metadata(CatalogName="AwsDataCatalog", DatabaseName=database, TableName=table)
    assert [(c["Name"], c["Type"]) for c in meta["TableMetadata"]["Columns"]] == [("id", "int"), ("name", "string")]
    assert meta["TableMetadata"]["Parameters"]["location"] == f"s3://{BUCKET}/data/{table}/"
    missing = error(athena.get_table_metadata, CatalogName="AwsDataCatalog", DatabaseName=database, TableName="nope")
    assert missing["Error"]["Code"] == "MetadataException"
    wrong = error(athena.get_data_catalog, Name="other")
    assert wrong["Error"]["Code"] == "InvalidRequestException"
    rows = run(athena, f"SELECT id, name FROM {table} ORDER BY id", QueryExecutionContext={"Database": database})
    assert rows["Status"]["State"] == "SUCCEEDED", rows["Status"]
    answer = athena.get_query_results(QueryExecutionId=rows["QueryExecutionId"])
    assert values(answer["ResultSet"]["Rows"]) == [["id", "name"], ["1", "a"], ["2", "b"]]
