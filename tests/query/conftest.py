"""Fixtures for the SQL engine: a real catalog (SQLite) and a real local lake under tmp_path, with
JSON-lines files in the shape of the workshop's retail data (keys ``Invoice``, ``InvoiceDate``, ...)."""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterator

import orjson
import pytest

from tidelake.clock import ManualClock
from tidelake.lake.catalog.store import Catalog
from tidelake.lake.local_store import LocalObjectStore
from tidelake.query.engine import QueryEngine

RETAIL_DDL = """CREATE EXTERNAL TABLE mydatabase.retail_trans_json(invoice string, stockcode string, description string, quantity int, invoicedate timestamp, price float, customer_id string, country string)
PARTITIONED BY (year int, month int, day int, hour int)
ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe'
STORED AS INPUTFORMAT 'org.apache.hadoop.mapred.TextInputFormat' OUTPUTFORMAT 'org.apache.hadoop.hive.ql.io.IgnoreKeyTextOutputFormat'
LOCATION 's3://my-bucket/json-data'"""


def retail_record(i: int, day: int = 23, hour: int = 10) -> dict:
    return {"Invoice": f"{489434 + i}", "StockCode": f"85048{i % 3}", "Description": f"ITEM {i}",
            "Quantity": i % 5 + 1, "InvoiceDate": f"2026-11-{day:02d} {hour:02d}:{i % 60:02d}:00",
            "Price": 1.5 + i % 4, "Customer_ID": f"1{3085 + i % 7}", "Country": ["United Kingdom", "France"][i % 2]}


@pytest.fixture
def retail_ddl() -> str:
    return RETAIL_DDL


@pytest.fixture
def make_record() -> Callable[..., dict]:
    return retail_record


@pytest.fixture
def objects(tmp_path: Path) -> LocalObjectStore:
    store = LocalObjectStore(tmp_path / "lake", fsync=False)
    store.create_bucket("my-bucket")
    return store


@pytest.fixture
def catalog(tmp_path: Path) -> Iterator[Catalog]:
    cat = Catalog(tmp_path / "catalog.db", ManualClock(), "000000000000")
    yield cat
    cat.close()


@pytest.fixture
def engine(catalog: Catalog, objects: LocalObjectStore, tmp_path: Path) -> Iterator[QueryEngine]:
    eng = QueryEngine(catalog, tmp_path / "lake", objects, timeout_seconds=60)
    yield eng
    eng.close()


@pytest.fixture
def put_jsonl(objects: LocalObjectStore) -> Callable[..., int]:
    """Write records as JSON lines at ``key`` in my-bucket; returns the object size."""
    def put(key: str, records: list[dict]) -> int:
        data = b"".join(orjson.dumps(r) + b"\n" for r in records)
        objects.put_object("my-bucket", key, data)
        return len(data)
    return put


@pytest.fixture
def retail(engine: QueryEngine, put_jsonl: Callable[..., int]) -> dict:
    """The workshop's database and table, with two hours of data, repaired into the catalog."""
    sizes = {}
    sizes[10] = put_jsonl("json-data/year=2026/month=11/day=23/hour=10/part-0001.json",
                          [retail_record(i) for i in range(20)])
    sizes[11] = put_jsonl("json-data/year=2026/month=11/day=23/hour=11/part-0001.json",
                          [retail_record(i, hour=11) for i in range(20, 30)])
    engine.execute("CREATE DATABASE mydatabase")
    engine.execute(RETAIL_DDL)
    engine.execute("MSCK REPAIR TABLE mydatabase.retail_trans_json")
    return sizes
