"""The analytics workshop end to end through a started server: Kinesis -> Firehose -> S3 -> Athena.

Records go into the stream with boto3, a delivery stream writes them under the workshop's Hive
prefix, and the workshop's own DDL and queries run through the Athena API over what was delivered,
including the CTAS that compacts an hour into Parquet."""
from __future__ import annotations

import time
import urllib.request
from typing import Any

import pytest

from tidelake.generate.retail import encode, transactions

pytestmark = pytest.mark.e2e

PREFIX = "json-data/year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/hour=!{timestamp:HH}/"
ERRORS = "error-json/year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/hour=!{timestamp:HH}/" \
         "!{firehose:error-output-type}"
ROLE = "arn:aws:iam::000000000000:role/workshop"


def run(athena: Any, sql: str, database: str | None = None) -> list[list[str | None]]:
    args: dict[str, Any] = {"QueryString": sql, "ResultConfiguration": {"OutputLocation": "s3://wk-results/"}}
    if database:
        args["QueryExecutionContext"] = {"Database": database}
    query_id = athena.start_query_execution(**args)["QueryExecutionId"]
    for _ in range(3000):
        status = athena.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]["Status"]
        if status["State"] in ("SUCCEEDED", "FAILED", "CANCELLED"):
            break
        time.sleep(0.02)
    assert status["State"] == "SUCCEEDED", status.get("StateChangeReason")
    rows = athena.get_query_results(QueryExecutionId=query_id)["ResultSet"]["Rows"]
    return [[d.get("VarCharValue") for d in r["Data"]] for r in rows]


def test_stream_to_lake_to_athena(server_factory):
    server = server_factory()
    kinesis, firehose, athena = server.client("kinesis"), server.client("firehose"), server.client("athena")
    s3 = server.client("s3", s3={"addressing_style": "path"})
    for bucket in ("my-bucket", "wk-results"):
        s3.create_bucket(Bucket=bucket)
    kinesis.create_stream(StreamName="retail-trans", ShardCount=2)
    arn = kinesis.describe_stream_summary(StreamName="retail-trans")["StreamDescriptionSummary"]["StreamARN"]
    firehose.create_delivery_stream(
        DeliveryStreamName="retail-trans", DeliveryStreamType="KinesisStreamAsSource",
        KinesisStreamSourceConfiguration={"KinesisStreamARN": arn, "RoleARN": ROLE},
        ExtendedS3DestinationConfiguration={
            "BucketARN": "arn:aws:s3:::my-bucket", "RoleARN": ROLE, "Prefix": PREFIX, "ErrorOutputPrefix": ERRORS,
            "BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 60},
            "ProcessingConfiguration": {"Enabled": True, "Processors": [{"Type": "AppendDelimiterToRecord"}]}})
    sent = [t for t, _ in zip(transactions(seed=11), range(2000))]
    for start in range(0, len(sent), 500):
        kinesis.put_records(StreamName="retail-trans", Records=[
            {"Data": encode(t), "PartitionKey": str(t["Customer_ID"])} for t in sent[start:start + 500]])
    flush = urllib.request.Request(f"{server.url}/_tidelake/delivery/retail-trans/flush?timeout=60", method="POST")
    with urllib.request.urlopen(flush, timeout=120):
        pass

    run(athena, "CREATE DATABASE mydatabase")
    run(athena, """CREATE EXTERNAL TABLE mydatabase.retail_trans_json(
      invoice string, stockcode string, description string, quantity int,
      invoicedate timestamp, price float, customer_id string, country string)
    PARTITIONED BY (year int, month int, day int, hour int)
    ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe'
    STORED AS INPUTFORMAT 'org.apache.hadoop.mapred.TextInputFormat'
    OUTPUTFORMAT 'org.apache.hadoop.hive.ql.io.IgnoreKeyTextOutputFormat'
    LOCATION 's3://my-bucket/json-data'""")
    run(athena, "MSCK REPAIR TABLE mydatabase.retail_trans_json")
    partitions = run(athena, "SHOW PARTITIONS mydatabase.retail_trans_json")
    assert partitions and all(p[0].startswith("year=") for p in partitions)

    [header, *rows] = run(athena, "SELECT * FROM retail_trans_json LIMIT 10", "mydatabase")
    assert header[:8] == ["invoice", "stockcode", "description", "quantity", "invoicedate", "price",
                          "customer_id", "country"] and len(rows) == 10
    assert all(r[0] and r[4] and r[6] for r in rows)  # mixed-case JSON keys matched, timestamps parsed

    [_, [count, revenue]] = run(athena, "SELECT count(*), sum(price * quantity) FROM retail_trans_json", "mydatabase")
    assert int(count) == len(sent)
    assert float(revenue) == pytest.approx(sum(t["Price"] * t["Quantity"] for t in sent), rel=1e-4)
    monthly = run(athena, "SELECT date_trunc('month', invoicedate) m, sum(price*quantity) "
                          "FROM retail_trans_json GROUP BY 1 ORDER BY 1", "mydatabase")
    assert len(monthly) >= 2

    year, month, day, hour = partitions[0][0].replace("/", "=").split("=")[1::2]
    run(athena, f"""CREATE TABLE mydatabase.tmp_parquet WITH (
      external_location='s3://my-bucket/parquet-retail-trans/year={year}/month={month}/day={day}/hour={hour}/',
      format='PARQUET', parquet_compression='SNAPPY')
    AS SELECT invoice, stockcode, description, quantity, invoicedate, price, customer_id, country
    FROM mydatabase.retail_trans_json WHERE year={year} AND month={month} AND day={day} AND hour={hour} WITH DATA""")
    [_, [in_hour]] = run(athena, f"SELECT count(*) FROM retail_trans_json WHERE year={year} AND month={month} "
                                 f"AND day={day} AND hour={hour}", "mydatabase")
    [_, [in_parquet]] = run(athena, "SELECT count(*) FROM tmp_parquet", "mydatabase")
    assert in_parquet == in_hour
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="my-bucket", Prefix="parquet-retail-trans/")["Contents"]]
    assert keys and all(k.startswith(f"parquet-retail-trans/year={year}/") for k in keys)
