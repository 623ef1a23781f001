"""Scheduled compaction end to end, in-process: a Platform on a fake clock served on a free port, the
built-in compaction function registered from the package, a ``cron(5 * * * ? *)`` rule. Moving the
clock to :05 and ticking runs the function in its worker, which compacts through the server."""
from __future__ import annotations

import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

import orjson
import pytest

from support import free_port
from tidelake.clock import ManualClock
from tidelake.config import Settings
from tidelake.functions.builtin import CODE_DIR, COMPACTION_FUNCTION, COMPACTION_HANDLER
from tidelake.functions.schedule_models import Target
from tidelake.platform import Platform
from tidelake.query.compaction import OBJECT_NAME
from tidelake.server import BackgroundServer

DDL = """CREATE EXTERNAL TABLE mydatabase.retail_json (invoice string, quantity int, price double, country string)
PARTITIONED BY (year int, month int, day int, hour int)
ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe' LOCATION 's3://my-bucket/json-data/'"""


def utc(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc).timestamp()


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[Platform]:
    settings = Settings(data_dir=tmp_path / "data", port=free_port(), transition_seconds=0, log_level="warning")
    platform = Platform(settings, ManualClock(utc("2026-11-23 15:04:00")))  # not started: the test ticks
    with BackgroundServer(platform):
        yield platform
    platform.close()


def keys(platform: Platform, prefix: str) -> list[str]:
    return [o.key for o in platform.objects.list_objects("my-bucket", prefix=prefix).objects]


def test_cron_at_05_runs_the_builtin_compaction_function(platform):
    platform.objects.create_bucket("my-bucket")
    for hour in (13, 14, 15):  # 13:00 and 14:00 are closed at 15:05; 15:00 is still being written
        for part in range(3):
            rows = [{"Invoice": f"{hour}-{part}-{i}", "Quantity": i, "Price": 2.5, "Country": "France"}
                    for i in range(4)]
            platform.objects.put_object("my-bucket", f"json-data/year=2026/month=11/day=23/hour={hour}/part-{part}"
                                        ".json", b"".join(orjson.dumps(r) + b"\n" for r in rows))
    engine = platform.queries.engine
    engine.execute("CREATE DATABASE mydatabase")
    engine.execute(DDL)
    engine.execute("MSCK REPAIR TABLE mydatabase.retail_json")

    arn = platform.functions.create_function(COMPACTION_FUNCTION, COMPACTION_HANDLER, code_dir=CODE_DIR,
                                             timeout=900).function_arn
    platform.schedules.put_rule("hourly-merge", schedule_expression="cron(5 * * * ? *)")
    platform.schedules.put_targets("hourly-merge", [Target("compaction", arn, input=orjson.dumps({
        "source": "mydatabase.retail_json", "target": "mydatabase.retail_parquet",
        "location": "s3://my-bucket/parquet-data/"}).decode())])

    platform.clock.advance(59)  # 15:04:59
    assert platform.schedules.tick() == []
    platform.clock.advance(1)
    [fire] = platform.schedules.tick()
    assert fire.delivered == ["compaction"] and fire.slot == utc("2026-11-23 15:05")

    log = wait_for_log(platform, "REPORT RequestId")
    assert "mydatabase.retail_json -> mydatabase.retail_parquet: {'compacted': 2}; 1 not closed yet" in log, log
    assert keys(platform, "parquet-data/") == [f"parquet-data/year=2026/month=11/day=23/hour={h}/{OBJECT_NAME}"
                                               for h in (13, 14)]
    rows = engine.execute("SELECT hour, count(*), sum(quantity) FROM mydatabase.retail_parquet GROUP BY hour "
                          "ORDER BY hour").rows
    assert [tuple(map(int, r)) for r in rows] == [(13, 12, 18), (14, 12, 18)]


def wait_for_log(platform: Platform, line: str, timeout: float = 60, function: str = COMPACTION_FUNCTION) -> str:
    """A function's log once it holds ``line`` (the runtime writes START, output, REPORT)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = "".join(e.message for e in platform.functions.logs(function))
        if line in text:
            return text
        time.sleep(0.1)
    raise AssertionError(f"{function} did not finish: {text}")


# The seed's hourly merge function, in its shape: handed the Scheduled Event, it only calls Athena
# (StartQueryExecution) through boto3, which reaches tidelake through AWS_ENDPOINT_URL: drop the
# previous run's temporary table, register the new hour's partitions, then a CTAS writes the hour
# before the event as Parquet at the target table's location. (The seed sleeps between statements;
# this one waits for each with GetQueryExecution.)
SEED_MERGE = """
import datetime, os, time
import boto3

athena = boto3.client("athena")


def run(query, database=None):
    context = {"Database": database} if database else {}
    qid = athena.start_query_execution(
        QueryString=query, QueryExecutionContext=context, WorkGroup=os.environ["ATHENA_WORK_GROUP"],
        ResultConfiguration={"OutputLocation": os.environ["STAGING_OUTPUT_PREFIX"]})["QueryExecutionId"]
    while True:
        status = athena.get_query_execution(QueryExecutionId=qid)["QueryExecution"]["Status"]
        if status["State"] in ("SUCCEEDED", "FAILED", "CANCELLED"):
            print(status["State"], query.split("\\n")[0])
            return status["State"]
        time.sleep(0.05)


def lambda_handler(event, context):
    hour = datetime.datetime.strptime(event["time"], "%Y-%m-%dT%H:%M:%SZ") - datetime.timedelta(hours=1)
    db, old, new = os.environ["DATABASE"], os.environ["OLD_TABLE_NAME"], os.environ["NEW_TABLE_NAME"]
    tag = f"{hour:%Y%m%d%H}"
    where = f"year={hour.year} AND month={hour.month} AND day={hour.day} AND hour={hour.hour}"
    run(f"DROP TABLE IF EXISTS {db}.tmp_{new}_{tag}")
    run(f"ALTER TABLE {db}.{old} ADD IF NOT EXISTS PARTITION (year={hour.year}, month={hour.month}, "
        f"day={hour.day}, hour={hour.hour}) LOCATION '{os.environ['OLD_TABLE_LOCATION_PREFIX']}/"
        f"year={hour.year}/month={hour:%m}/day={hour:%d}/hour={hour:%H}/'")
    location = f"{os.environ['OUTPUT_PREFIX']}/year={hour.year}/month={hour:%m}/day={hour:%d}/hour={hour:%H}/"
    return run(f"CREATE TABLE {db}.tmp_{new}_{tag} WITH (external_location='{location}', format='PARQUET', "
               f"parquet_compression='SNAPPY') AS SELECT * FROM {db}.{old} WHERE {where} WITH DATA", db)
"""


def test_the_seeds_merge_function_runs_as_written_on_its_schedule(platform, tmp_path):
    platform.objects.create_bucket("my-bucket")
    for hour in (13, 14):
        rows = [{"Invoice": f"{hour}-{i}", "Quantity": i, "Price": 2.5, "Country": "France"} for i in range(5)]
        platform.objects.put_object("my-bucket", f"json-data/year=2026/month=11/day=23/hour={hour}/part-0.json",
                                    b"".join(orjson.dumps(r) + b"\n" for r in rows))
    engine = platform.queries.engine
    engine.execute("CREATE DATABASE mydatabase")
    engine.execute(DDL)  # no partitions yet: the function adds the hour it merges
    (tmp_path / "merge").mkdir()
    (tmp_path / "merge" / "merge.py").write_text(SEED_MERGE)
    arn = platform.functions.create_function("merge-small-files", "merge.lambda_handler", code_dir=tmp_path / "merge",
                                             timeout=60, environment={
        "DATABASE": "mydatabase", "OLD_TABLE_NAME": "retail_json", "NEW_TABLE_NAME": "retail_parquet",
        "ATHENA_WORK_GROUP": "primary", "OLD_TABLE_LOCATION_PREFIX": "s3://my-bucket/json-data",
        "OUTPUT_PREFIX": "s3://my-bucket/parquet-data", "STAGING_OUTPUT_PREFIX": "s3://my-bucket/athena-staging"}
    ).function_arn
    platform.schedules.put_rule("merge-small-files", schedule_expression="cron(5 * * * ? *)")
    platform.schedules.put_targets("merge-small-files", [Target("merge", arn)])

    platform.clock.advance(60)  # 15:05
    [fire] = platform.schedules.tick()
    assert fire.delivered == ["merge"]
    log = wait_for_log(platform, "REPORT RequestId", function="merge-small-files")
    assert log.count("SUCCEEDED") == 3, log
    [key] = keys(platform, "parquet-data/")
    assert key.startswith("parquet-data/year=2026/month=11/day=23/hour=14/")
    rows = engine.execute("SELECT count(*), sum(quantity) FROM mydatabase.tmp_retail_parquet_2026112314").rows
    assert [tuple(map(int, r)) for r in rows] == [(5, 10)]
