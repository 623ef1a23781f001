"""``tidelake demo``: the whole pipeline that exists so far, on generated retail transactions.

The demo starts the platform (or uses ``--endpoint-url``), then runs its stages through the same
AWS APIs a user's code would call. ``--check`` runs a bounded version in a fresh data dir and
verifies every stage end to end: exit status 0 when all pass, 1 otherwise. Each capability adds
its stage to ``STAGES``.
"""
from __future__ import annotations

import json
import socket
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import click

STREAM = "retail-trans"
DELIVERY = "retail-trans"
BUCKET = "tidelake-demo-lake"
ROLE = "arn:aws:iam::000000000000:role/tidelake-demo"
# The immersion day's prefixes: Hive-style partitions by arrival hour, errors beside them.
PREFIX = "json-data/year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/hour=!{timestamp:HH}/"
ERROR_PREFIX = ("error-json/year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/hour=!{timestamp:HH}/"
                "!{firehose:error-output-type}")


@dataclass
class Demo:
    endpoint_url: str
    records: int
    rate: float | None
    console: Any
    facts: dict[str, Any] = field(default_factory=dict)  # what a stage leaves for later stages

    def client(self, service: str) -> Any:
        import boto3
        from botocore.config import Config
        return boto3.client(service, endpoint_url=self.endpoint_url, region_name="us-east-1",
                            aws_access_key_id="tidelake", aws_secret_access_key="tidelake",
                            config=Config(s3={"addressing_style": "path"}))

    def resource(self, service: str) -> Any:
        import boto3
        return boto3.resource(service, endpoint_url=self.endpoint_url, region_name="us-east-1",
                              aws_access_key_id="tidelake", aws_secret_access_key="tidelake")


@dataclass
class StageResult:
    name: str
    ok: bool
    summary: str


def stage_stream(demo: Demo) -> StageResult:
    """Put generated transactions into a 2-shard stream, then read every one of them back."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from tidelake.generate.retail import encode, transactions

    kinesis = demo.client("kinesis")
    _setup(demo, kinesis)
    sent: dict[str, tuple[str, bytes]] = {}  # sequence number -> (partition key, data)
    latencies: list[float] = []
    batch = 500 if demo.rate is None else max(1, min(500, int(demo.rate / 10)))
    source = transactions()
    demo.facts["put_from"] = time.time()  # where this run's records begin in the stream (reruns share it)
    started = time.perf_counter()
    columns = (TextColumn("[bold]stream[/] put"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[rate]:>9,.0f} records/s"), TimeElapsedColumn())
    with Progress(*columns, console=demo.console, transient=False) as progress:
        task = progress.add_task("put", total=demo.records, rate=0.0)
        while len(sent) < demo.records:
            entries = [{"Data": encode(t), "PartitionKey": str(t["Customer_ID"])}
                       for t, _ in zip(source, range(min(batch, demo.records - len(sent))))]
            t0 = time.perf_counter()
            answer = kinesis.put_records(StreamName=STREAM, Records=entries)
            latencies.append(time.perf_counter() - t0)
            for entry, result in zip(entries, answer["Records"]):
                if "SequenceNumber" in result:
                    sent[result["SequenceNumber"]] = (entry["PartitionKey"], entry["Data"])
            elapsed = time.perf_counter() - started
            progress.update(task, completed=len(sent), rate=len(sent) / elapsed)
            if demo.rate is not None:
                time.sleep(max(0.0, len(sent) / demo.rate - elapsed))
    put_seconds = time.perf_counter() - started
    read = _read_back(kinesis, set(sent))
    mismatched = [seq for seq, value in sent.items() if read.get(seq) != value]
    latencies.sort()
    p50, p99 = latencies[len(latencies) // 2], latencies[int(len(latencies) * 0.99)]
    demo.facts["sent"] = [data for _, data in sent.values()]
    return StageResult(
        "stream", not mismatched and len(sent) == demo.records,
        f"{len(sent):,} transactions put at {len(sent) / put_seconds:,.0f}/s (PutRecords p50 {p50 * 1000:.1f} ms, "
        f"p99 {p99 * 1000:.1f} ms); {len(sent) - len(mismatched):,} read back intact"
        + (f", {len(mismatched):,} MISSING or different" if mismatched else ""))


def _setup(demo: Demo, kinesis: Any) -> None:
    """The stream, the lake bucket and the delivery stream between them, as the workshop sets them up."""
    from tidelake.cli.stream import wait_active
    if STREAM not in kinesis.list_streams()["StreamNames"]:
        kinesis.create_stream(StreamName=STREAM, ShardCount=2)
    wait_active(kinesis, STREAM)
    s3, firehose = demo.client("s3"), demo.client("firehose")
    if BUCKET not in [b["Name"] for b in s3.list_buckets()["Buckets"]]:
        s3.create_bucket(Bucket=BUCKET)
    if DELIVERY not in firehose.list_delivery_streams()["DeliveryStreamNames"]:
        arn = kinesis.describe_stream_summary(StreamName=STREAM)["StreamDescriptionSummary"]["StreamARN"]
        firehose.create_delivery_stream(
            DeliveryStreamName=DELIVERY, DeliveryStreamType="KinesisStreamAsSource",
            KinesisStreamSourceConfiguration={"KinesisStreamARN": arn, "RoleARN": ROLE},
            ExtendedS3DestinationConfiguration={
                "BucketARN": f"arn:aws:s3:::{BUCKET}", "RoleARN": ROLE, "Prefix": PREFIX,
                "ErrorOutputPrefix": ERROR_PREFIX, "BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 60},
                "ProcessingConfiguration": {"Enabled": True, "Processors": [{"Type": "AppendDelimiterToRecord"}]}})


def stage_lake(demo: Demo) -> StageResult:
    """Flush the delivery stream and find every transaction in the lake exactly once."""
    import urllib.request
    sent = demo.facts.get("sent")
    if sent is None:
        return StageResult("lake", False, "skipped: the stream stage did not run")
    started = time.perf_counter()
    request = urllib.request.Request(f"{demo.endpoint_url}/_tidelake/delivery/{DELIVERY}/flush?timeout=120",
                                     method="POST")
    with urllib.request.urlopen(request, timeout=180):
        pass
    s3 = demo.client("s3")
    lines: list[bytes] = []
    keys: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix="json-data/"):
        for item in page.get("Contents", []):
            keys.append(item["Key"])
            lines.extend(s3.get_object(Bucket=BUCKET, Key=item["Key"])["Body"].read().splitlines())
    demo.facts["lake_lines"] = len(lines)
    wanted = set(sent)
    found = [line for line in lines if line in wanted]
    missing = len(wanted - set(found))
    duplicated = len(found) - len(set(found))
    return StageResult(
        "lake", bool(keys) and not missing and not duplicated,
        f"{len(set(found)):,} transactions in {len(keys)} object(s) under s3://{BUCKET}/json-data/ after "
        f"{time.perf_counter() - started:.1f} s flush; {missing} missing, {duplicated} duplicated"
        + (f"; e.g. {keys[-1]}" if keys else ""))


# The Athena workshop's table over the delivered JSON (keys Invoice, InvoiceDate... match the
# lower-case columns through the OpenX SerDe, as in Athena).
DDL = f"""CREATE EXTERNAL TABLE IF NOT EXISTS demo.retail_trans_json(
  invoice string, stockcode string, description string, quantity int,
  invoicedate timestamp, price float, customer_id string, country string)
PARTITIONED BY (year int, month int, day int, hour int)
ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe'
STORED AS INPUTFORMAT 'org.apache.hadoop.mapred.TextInputFormat'
OUTPUTFORMAT 'org.apache.hadoop.hive.ql.io.IgnoreKeyTextOutputFormat'
LOCATION 's3://{BUCKET}/json-data'"""


def stage_query(demo: Demo) -> StageResult:
    """Register the lake's JSON as a table and query it with Athena SQL, as the workshop does."""
    from tidelake.cli.query import run_query
    expected = demo.facts.get("lake_lines")
    if expected is None:
        return StageResult("query", False, "skipped: the lake stage did not run")
    started = time.perf_counter()
    for statement in ("CREATE DATABASE IF NOT EXISTS demo", DDL, "MSCK REPAIR TABLE demo.retail_trans_json"):
        run_query(demo.endpoint_url, statement)
    _, partitions, _ = run_query(demo.endpoint_url, "SHOW PARTITIONS demo.retail_trans_json")
    _, rows, execution = run_query(demo.endpoint_url, "SELECT count(*), count(DISTINCT invoice), "
                                   "round(sum(price * quantity), 2) FROM retail_trans_json", database="demo")
    _, top, _ = run_query(demo.endpoint_url, "SELECT country, round(sum(price * quantity), 2) AS revenue "
                          "FROM retail_trans_json GROUP BY 1 ORDER BY 2 DESC LIMIT 1", database="demo")
    count, invoices, revenue = rows[0]
    return StageResult(
        "query", int(count or 0) == expected,
        f"{int(count or 0):,} rows in {len(partitions)} partition(s) (lake holds {expected:,}), {int(invoices or 0):,} "
        f"invoices, revenue {float(revenue or 0):,.2f}; top country {top[0][0]} ({float(top[0][1]):,.2f}); "
        f"{execution['Statistics']['DataScannedInBytes']:,} bytes scanned; {time.perf_counter() - started:.1f} s")


PRODUCTS_TABLE = "products_info"
TOTALS_TABLE = "sales_by_category"
SPEED_FUNCTION = "retail-sales-by-category"
HOURLY_MERGE = "cron(5 * * * ? *)"  # the seed's small-file merge, at :05 of every hour


def stage_functions(demo: Demo) -> StageResult:
    """The speed layer: products loaded into a key-value table, and a function that a stream mapping
    feeds with every transaction, enriching it from that table and upserting totals per category."""
    import io
    import zipfile
    from decimal import Decimal

    import tidelake.generate.functions as handlers

    sent = demo.facts.get("sent")
    if sent is None:
        return StageResult("functions", False, "skipped: the stream stage did not run")
    started = time.perf_counter()
    dynamodb, lambda_ = demo.client("dynamodb"), demo.client("lambda")
    _remove_function(lambda_)  # a rerun starts afresh: the old mapping stops adding before the totals reset
    products = _load_products(demo, dynamodb)
    loaded = int(dynamodb.describe_table(TableName=PRODUCTS_TABLE)["Table"]["ItemCount"])
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.write(Path(handlers.__file__).parent / "sales_by_category.py", "sales_by_category.py")
    lambda_.create_function(FunctionName=SPEED_FUNCTION, Runtime="python3.12", Role=ROLE, Timeout=60,
                            Handler="sales_by_category.lambda_handler", Code={"ZipFile": code.getvalue()},
                            Environment={"Variables": {"PRODUCTS_TABLE": PRODUCTS_TABLE, "TOTALS_TABLE": TOTALS_TABLE}})
    stream_arn = demo.client("kinesis").describe_stream_summary(
        StreamName=STREAM)["StreamDescriptionSummary"]["StreamARN"]
    lambda_.create_event_source_mapping(
        EventSourceArn=stream_arn, FunctionName=SPEED_FUNCTION, BatchSize=500,
        StartingPosition="AT_TIMESTAMP", StartingPositionTimestamp=demo.facts["put_from"],
        MaximumBatchingWindowInSeconds=0, BisectBatchOnFunctionError=True, MaximumRetryAttempts=3)
    totals = _wait_for_totals(demo, dynamodb, len(sent))  # the mapping stays: later puts keep adding up
    category = {p["product_cd"]: p["maincategory_name"] for p in products}
    expected: dict[str, list[Any]] = {}
    for data in sent:
        sale = json.loads(data)
        row = expected.setdefault(category.get(sale["StockCode"], "unknown"), [0, 0, Decimal(0)])
        row[0] += 1
        row[1] += sale["Quantity"]
        row[2] += Decimal(str(sale["Price"])) * sale["Quantity"]
    ok = totals == {name: tuple(row) for name, row in expected.items()}
    lines = sum(t[0] for t in totals.values())
    top = max(totals.items(), key=lambda item: item[1][2]) if totals else ("-", (0, 0, Decimal(0)))
    return StageResult(
        "functions", ok and loaded == len(products),
        f"{loaded:,} products in {PRODUCTS_TABLE}; {SPEED_FUNCTION} (fed by a stream mapping) summed {lines:,} of "
        f"{len(sent):,} sales into {len(totals)} categories of {TOTALS_TABLE}, "
        + ("matching the sales put" if ok else "NOT matching the sales put")
        + f"; top {top[0]} ({float(top[1][2]):,.2f}); {time.perf_counter() - started:.1f} s")


def _remove_function(lambda_: Any) -> None:
    if SPEED_FUNCTION not in [f["FunctionName"] for f in lambda_.list_functions()["Functions"]]:
        return
    for old in lambda_.list_event_source_mappings(FunctionName=SPEED_FUNCTION)["EventSourceMappings"]:
        lambda_.delete_event_source_mapping(UUID=old["UUID"])
    deadline = time.monotonic() + 30
    while lambda_.list_event_source_mappings(FunctionName=SPEED_FUNCTION)["EventSourceMappings"]:
        if time.monotonic() > deadline:
            raise TimeoutError(f"the old event source mapping of {SPEED_FUNCTION} was not deleted within 30 s")
        time.sleep(0.1)
    lambda_.delete_function(FunctionName=SPEED_FUNCTION)


def _load_products(demo: Demo, dynamodb: Any) -> list[dict[str, Any]]:
    """The workshop's products_info table from the product CSV, through BatchWriteItem (and an empty
    totals table); returns the products loaded."""
    from importlib import resources

    from tidelake.tables.load import read_items
    if PRODUCTS_TABLE not in dynamodb.list_tables()["TableNames"]:
        dynamodb.create_table(TableName=PRODUCTS_TABLE, BillingMode="PAY_PER_REQUEST",
                              KeySchema=[{"AttributeName": "product_cd", "KeyType": "HASH"}],
                              AttributeDefinitions=[{"AttributeName": "product_cd", "AttributeType": "S"}])
    if TOTALS_TABLE in dynamodb.list_tables()["TableNames"]:
        dynamodb.delete_table(TableName=TOTALS_TABLE)
    dynamodb.create_table(TableName=TOTALS_TABLE, BillingMode="PAY_PER_REQUEST",
                          KeySchema=[{"AttributeName": "category", "KeyType": "HASH"}],
                          AttributeDefinitions=[{"AttributeName": "category", "AttributeType": "S"}])
    table = demo.resource("dynamodb").Table(PRODUCTS_TABLE)
    with resources.as_file(resources.files("tidelake.generate").joinpath("data/products.csv")) as path:
        items = list(read_items(path, {"product_cd": "S"}))
    with table.batch_writer(overwrite_by_pkeys=["product_cd"]) as writer:
        for item in items:
            writer.put_item(Item=item)
    return items


def _wait_for_totals(demo: Demo, dynamodb: Any, wanted: int) -> dict[str, tuple[int, int, Any]]:
    """Scan the totals until they count every sale put (or 60 s pass), with a progress bar."""
    from decimal import Decimal

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    totals: dict[str, tuple[int, int, Any]] = {}
    deadline = time.monotonic() + 60
    with Progress(TextColumn("[bold]functions[/] sales summed"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=demo.console, transient=True) as progress:
        task = progress.add_task("sum", total=wanted)
        while time.monotonic() < deadline:
            items = [i for page in dynamodb.get_paginator("scan").paginate(TableName=TOTALS_TABLE)
                     for i in page["Items"]]
            totals = {i["category"]["S"]: (int(i["lines"]["N"]), int(i["quantity"]["N"]), Decimal(i["revenue"]["N"]))
                      for i in items}
            done = sum(t[0] for t in totals.values())
            progress.update(task, completed=done)
            if done >= wanted:
                break
            time.sleep(0.2)
    return totals


def stage_schedule(demo: Demo) -> StageResult:
    """The batch layer's hourly merge: an EventBridge rule fires the compaction function at :05 every
    hour (UTC). The demo cannot wait for :05, so it also invokes the function once now, including the
    hour still open, and counts the Parquet table's rows with Athena."""
    from tidelake.cli.compact import schedule_compaction
    from tidelake.cli.query import run_query
    expected = demo.facts.get("lake_lines")
    if expected is None:
        return StageResult("schedule", False, "skipped: the query stage did not run")
    started = time.perf_counter()
    body = {"source": "demo.retail_trans_json", "target": "demo.retail_trans_parquet",
            "location": f"s3://{BUCKET}/parquet-data/", "partition": None, "all": False}
    rule, function_arn = schedule_compaction(body, HOURLY_MERGE, demo.endpoint_url)
    targets = demo.client("events").list_targets_by_rule(Rule=rule)["Targets"]
    answer = demo.client("lambda").invoke(FunctionName=function_arn, Payload=json.dumps({**body, "all": True}))
    report = json.loads(answer["Payload"].read())
    if "FunctionError" in answer:
        return StageResult("schedule", False, f"the compaction function failed: {report.get('errorMessage')}")
    _, rows, _ = run_query(demo.endpoint_url, "SELECT count(*) FROM retail_trans_parquet", database="demo")
    count = int(rows[0][0] or 0)
    return StageResult(
        "schedule", count == expected and [t["Arn"] for t in targets] == [function_arn],
        f"rule {rule} ({HOURLY_MERGE}) -> {function_arn.rsplit(':', 1)[-1]}; run now: "
        + ", ".join(f"{n} partition(s) {action}" for action, n in report["actions"].items())
        + f", demo.retail_trans_parquet holds {count:,} rows (lake JSON {expected:,}); "
        f"{time.perf_counter() - started:.1f} s")


def _read_back(kinesis: Any, wanted: set[str]) -> dict[str, tuple[str, bytes]]:
    """Read every shard from its start until the wanted sequence numbers are found (or 30 s pass)."""
    found: dict[str, tuple[str, bytes]] = {}
    shards = kinesis.list_shards(StreamName=STREAM)["Shards"]
    iterators = {s["ShardId"]: kinesis.get_shard_iterator(StreamName=STREAM, ShardId=s["ShardId"],
                                                          ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
                 for s in shards}
    deadline = time.monotonic() + 30
    while iterators and len(found) < len(wanted) and time.monotonic() < deadline:
        for shard_id, iterator in list(iterators.items()):
            answer = kinesis.get_records(ShardIterator=iterator, Limit=10_000)
            for r in answer["Records"]:
                if r["SequenceNumber"] in wanted:
                    found[r["SequenceNumber"]] = (r["PartitionKey"], r["Data"])
            if answer.get("NextShardIterator") and (answer["Records"] or answer["MillisBehindLatest"]):
                iterators[shard_id] = answer["NextShardIterator"]
            else:
                del iterators[shard_id]  # caught up (or closed)
    return found


STAGES: list[Callable[[Demo], StageResult]] = [stage_stream, stage_lake, stage_query, stage_functions,
                                                 stage_schedule]


def _free_port(preferred: int) -> int:
    for port in (preferred, 0):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
                return s.getsockname()[1]
            except OSError:
                continue
    raise click.ClickException("No free port on 127.0.0.1.")


@click.command()
@click.option("--check", is_flag=True, help="Bounded run in a fresh data dir that verifies every stage; exit 0 or 1.")
@click.option("--records", type=int, default=None, help="Transactions to generate (default 20,000; 3,000 with --check).")
@click.option("--rate", type=float, default=None,
              help="Transactions per second (default 2,000; unlimited with --check).")
@click.option("--data-dir", type=click.Path(path_type=Path), default=None,
              help="Data dir for the platform the demo starts (default ./tidelake-data; a temp dir with --check).")
@click.option("--port", type=int, default=4566, show_default=True, help="Port to serve on (a free one if busy).")
@click.option("--endpoint-url", default=None, help="Run against an already running tidelake instead.")
@click.option("--keep-running", is_flag=True, help="Keep serving after the demo, until Ctrl-C.")
def demo(check: bool, records: int | None, rate: float | None, data_dir: Path | None, port: int,
         endpoint_url: str | None, keep_running: bool) -> None:
    """Run the pipeline on generated retail transactions and summarise every stage."""
    from contextlib import ExitStack

    from rich.console import Console

    from tidelake.cli.up import load_settings

    console = Console()
    records = records or (3_000 if check else 20_000)
    rate = rate if rate is not None else (None if check else 2_000.0)
    with ExitStack() as stack:
        if endpoint_url is None:
            from tidelake.errors import TidelakeError
            from tidelake.platform import Platform
            from tidelake.server import BackgroundServer
            if data_dir is None and check:
                data_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="tidelake-check-")))
            chosen = _free_port(port)
            if port and chosen != port:
                console.print(f"port {port} is busy; serving on {chosen} instead")
            settings = load_settings(data_dir, None, port=chosen, transition_seconds=0.0, log_level="warning")
            try:
                platform = stack.enter_context(Platform(settings))
            except TidelakeError as e:
                raise click.ClickException(str(e)) from None
            endpoint_url = stack.enter_context(BackgroundServer(platform))
            console.print(f"tidelake serving on {endpoint_url} with data in {settings.data_dir.resolve()}")
        results = _run(Demo(endpoint_url, records, rate, console))
        _summary(console, results, endpoint_url, serving=keep_running and not check)
        if keep_running and not check:
            console.print("Serving until Ctrl-C ...")
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                pass
    if not all(r.ok for r in results):
        raise SystemExit(1)


def _run(demo: Demo) -> list[StageResult]:
    results = []
    for stage in STAGES:
        name = stage.__name__.removeprefix("stage_")
        try:
            results.append(stage(demo))
        except Exception as e:  # a broken stage is a failed check, reported, not a traceback
            results.append(StageResult(name, False, f"{type(e).__name__}: {e}"))
    return results


def _summary(console: Any, results: list[StageResult], endpoint_url: str, serving: bool) -> None:
    from rich.table import Table
    table = Table("stage", "result", "what happened", title="tidelake demo")
    for r in results:
        table.add_row(r.name, "[green]OK[/]" if r.ok else "[red]FAILED[/]", r.summary)
    console.print(table)
    console.print(f"endpoint: {endpoint_url}  (try: aws kinesis list-streams --endpoint-url {endpoint_url})")
    console.print(f"console:  {endpoint_url}/ui/" + ("" if serving else "  (add --keep-running to keep it up)"))
