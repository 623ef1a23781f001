"""Glue crawlers through boto3 against `tidelake up`: lifecycle, tables and partitions, metrics, errors,
and Athena querying what a crawler registered.

Pinned by the Glue API reference (docs.aws.amazon.com/glue/latest/webapi/): API_CreateCrawler,
API_StartCrawler (CrawlerRunningException), API_StopCrawler (CrawlerNotRunningException),
API_GetCrawlerMetrics, API_Crawler (State READY | RUNNING | STOPPING, LastCrawl).
"""
from __future__ import annotations

import itertools
import os
import time
from typing import Any

import orjson
import pytest
from botocore.exceptions import ClientError

from support import aws_error

ROLE = "arn:aws:iam::000000000000:role/AWSGlueServiceRole-workshop"
RESULTS = "crawler-athena-results"
_names = itertools.count()


def unique(stem: str) -> str:
    return f"{stem}-{os.getpid()}-{next(_names)}"


@pytest.fixture(scope="module")
def glue(server: Any) -> Any:
    return server.client("glue")


@pytest.fixture(scope="module")
def s3(server: Any) -> Any:
    return server.client("s3", s3={"addressing_style": "path"})


def bucket(s3: Any, name: str) -> str:
    try:
        s3.create_bucket(Bucket=name)
    except ClientError as error:
        assert error.response["Error"]["Code"] in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists")
    return name


def workshop_records(n: int, hour: int) -> bytes:
    rows = [{"Invoice": str(536365 + i), "StockCode": "85123A", "Description": "WHITE HANGING HEART",
             "Quantity": i % 7 + 1, "InvoiceDate": f"2026-11-23 {hour:02d}:{i % 60:02d}:00", "Price": 2.55,
             "Customer_ID": str(17850 + i), "Country": "United Kingdom"} for i in range(n)]
    return b"".join(orjson.dumps(r) + b"\n" for r in rows)


@pytest.fixture
def lake(s3: Any) -> str:
    """A bucket holding the workshop's JSON lines in two hourly partitions (5 + 3 records)."""
    name = bucket(s3, unique("crawl"))
    s3.put_object(Bucket=name, Key="json-data/year=2026/month=11/day=23/hour=10/part-1.json",
                  Body=workshop_records(5, 10))
    s3.put_object(Bucket=name, Key="json-data/year=2026/month=11/day=23/hour=11/part-1.json",
                  Body=workshop_records(3, 11))
    return name


def wait_ready(glue: Any, name: str, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        crawler = glue.get_crawler(Name=name)["Crawler"]
        if crawler["State"] == "READY" and "LastCrawl" in crawler:
            return crawler
        assert time.monotonic() < deadline, f"crawler stuck in {crawler['State']}"
        time.sleep(0.05)


def create(glue: Any, lake: str, **kwargs: Any) -> tuple[str, str]:
    name, database = unique("retail"), unique("db").replace("-", "_")
    glue.create_crawler(Name=name, Role=ROLE, DatabaseName=database,
                        Targets={"S3Targets": [{"Path": f"s3://{lake}/json-data/"}]}, **kwargs)
    return name, database


def test_crawl_creates_the_partitioned_table(glue, lake):
    name, database = create(glue, lake, TablePrefix="retail_", Description="workshop",
                            SchemaChangePolicy={"UpdateBehavior": "UPDATE_IN_DATABASE",
                                                "DeleteBehavior": "DEPRECATE_IN_DATABASE"})
    crawler = glue.get_crawler(Name=name)["Crawler"]
    assert crawler["State"] == "READY" and crawler["Role"] == ROLE and crawler["DatabaseName"] == database
    assert crawler["Targets"]["S3Targets"][0]["Path"] == f"s3://{lake}/json-data/"
    assert crawler["RecrawlPolicy"] == {"RecrawlBehavior": "CRAWL_EVERYTHING"} and crawler["Version"] == 1
    assert "LastCrawl" not in crawler
    glue.start_crawler(Name=name)
    crawler = wait_ready(glue, name)
    assert crawler["LastCrawl"]["Status"] == "SUCCEEDED"
    table = glue.get_table(DatabaseName=database, Name="retail_json_data")["Table"]
    assert [c["Name"] for c in table["StorageDescriptor"]["Columns"]] == [
        "invoice", "stockcode", "description", "quantity", "invoicedate", "price", "customer_id", "country"]
    assert {c["Name"]: c["Type"] for c in table["StorageDescriptor"]["Columns"]}["quantity"] == "int"
    assert [k["Name"] for k in table["PartitionKeys"]] == ["year", "month", "day", "hour"]
    assert table["StorageDescriptor"]["SerdeInfo"]["SerializationLibrary"] == "org.openx.data.jsonserde.JsonSerDe"
    assert table["Parameters"]["classification"] == "json"
    partitions = glue.get_partitions(DatabaseName=database, TableName="retail_json_data")["Partitions"]
    assert sorted(p["Values"] for p in partitions) == [["2026", "11", "23", "10"], ["2026", "11", "23", "11"]]
    metrics = glue.get_crawler_metrics(CrawlerNameList=[name])["CrawlerMetricsList"]
    assert metrics[0]["CrawlerName"] == name and metrics[0]["TablesCreated"] == 1
    assert metrics[0]["TablesUpdated"] == 0 and metrics[0]["StillEstimating"] is False
    assert name in glue.list_crawlers()["CrawlerNames"]
    assert name in [c["Name"] for c in glue.get_crawlers()["Crawlers"]]
    found = glue.batch_get_crawlers(CrawlerNames=[name, "nope"])
    assert [c["Name"] for c in found["Crawlers"]] == [name] and found["CrawlersNotFound"] == ["nope"]


def test_update_schedule_and_delete(glue, lake):
    name, _ = create(glue, lake, Schedule="cron(5 * * * ? *)")
    crawler = glue.get_crawler(Name=name)["Crawler"]
    assert crawler["Schedule"] == {"ScheduleExpression": "cron(5 * * * ? *)", "State": "SCHEDULED"}
    glue.update_crawler(Name=name, TablePrefix="x_", Schedule="cron(0 12 ? * MON-FRI *)")
    crawler = glue.get_crawler(Name=name)["Crawler"]
    assert crawler["TablePrefix"] == "x_" and crawler["Version"] == 2
    assert crawler["Schedule"]["ScheduleExpression"] == "cron(0 12 ? * MON-FRI *)"
    with aws_error("InvalidInputException", "schedule expression"):
        glue.update_crawler(Name=name, Schedule="cron(5 * * * *)")
    glue.delete_crawler(Name=name)
    with aws_error("EntityNotFoundException", name):
        glue.get_crawler(Name=name)


def test_errors(glue, lake):
    name, _ = create(glue, lake)
    with aws_error("AlreadyExistsException"):
        create_again = {"Name": name, "Role": ROLE, "DatabaseName": "d",
                        "Targets": {"S3Targets": [{"Path": f"s3://{lake}/x/"}]}}
        glue.create_crawler(**create_again)
    with aws_error("CrawlerNotRunningException", name):
        glue.stop_crawler(Name=name)
    for call in (glue.start_crawler, glue.stop_crawler, glue.delete_crawler):
        with aws_error("EntityNotFoundException"):
            call(Name=unique("missing"))
    with aws_error("InvalidInputException"):
        glue.create_crawler(Name=unique("bad"), Role=ROLE, DatabaseName="d",
                            Targets={"S3Targets": [{"Path": "not-s3"}]})
    with aws_error("InvalidInputException", "LOG"):
        glue.create_crawler(Name=unique("bad"), Role=ROLE, DatabaseName="d",
                            Targets={"S3Targets": [{"Path": f"s3://{lake}/json-data/"}]},
                            RecrawlPolicy={"RecrawlBehavior": "CRAWL_NEW_FOLDERS_ONLY"})
    with aws_error("NotImplemented"):
        glue.create_crawler(Name=unique("jdbc"), Role=ROLE, DatabaseName="d",
                            Targets={"JdbcTargets": [{"ConnectionName": "c", "Path": "db/%"}]})


def test_start_while_running_is_refused(glue, s3, lake):
    # Enough files that the run is still going when the second StartCrawler arrives.
    for i in range(300):
        s3.put_object(Bucket=lake, Key=f"json-data/year=2026/month=11/day=24/hour={i}/part.json",
                      Body=workshop_records(2, 0))
    name, _ = create(glue, lake)
    glue.start_crawler(Name=name)
    with aws_error("CrawlerRunningException", name):
        glue.start_crawler(Name=name)
    try:
        glue.stop_crawler(Name=name)
    except ClientError as error:  # the run may have finished in between: nothing to stop
        assert error.response["Error"]["Code"] == "CrawlerNotRunningException"
    crawler = wait_ready(glue, name)
    assert crawler["LastCrawl"]["Status"] in ("CANCELLED", "SUCCEEDED")


def test_athena_queries_the_crawled_table(server, glue, s3, lake):
    bucket(s3, RESULTS)
    name, database = create(glue, lake)
    glue.start_crawler(Name=name)
    assert wait_ready(glue, name)["LastCrawl"]["Status"] == "SUCCEEDED"
    athena = server.client("athena")
    query_id = athena.start_query_execution(
        QueryString="SELECT count(*) AS n, sum(quantity) AS q FROM json_data WHERE hour = '10'",
        QueryExecutionContext={"Database": database},
        ResultConfiguration={"OutputLocation": f"s3://{RESULTS}/crawler/"})["QueryExecutionId"]
    deadline = time.monotonic() + 60
    while True:
        state = athena.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]["Status"]
        if state["State"] in ("SUCCEEDED", "FAILED", "CANCELLED"):
            break
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert state["State"] == "SUCCEEDED", state
    rows = athena.get_query_results(QueryExecutionId=query_id)["ResultSet"]["Rows"]
    assert [d["VarCharValue"] for d in rows[1]["Data"]] == ["5", str(sum(i % 7 + 1 for i in range(5)))]
    total = athena.start_query_execution(
        QueryString=f"SELECT count(*) FROM {database}.json_data",
        ResultConfiguration={"OutputLocation": f"s3://{RESULTS}/crawler/"})["QueryExecutionId"]
    while athena.get_query_execution(QueryExecutionId=total)["QueryExecution"]["Status"]["State"] in (
            "QUEUED", "RUNNING"):
        time.sleep(0.05)
    rows = athena.get_query_results(QueryExecutionId=total)["ResultSet"]["Rows"]
    assert rows[1]["Data"][0]["VarCharValue"] == "8"
