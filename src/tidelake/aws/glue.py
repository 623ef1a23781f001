"""Glue Data Catalog (JSON 1.1, ``AWSGlue.*``): translate, call the Catalog, answer.

Inputs arrive validated against botocore's model. Wire shapes (DatabaseInput, TableInput,
PartitionInput, StorageDescriptor...) become the catalog's dataclasses here and nowhere else; outputs
are those dataclasses, picked member by member by the serializer. ``CatalogId`` is accepted and
ignored: there is one catalog, the account's.
"""
from __future__ import annotations

import base64
import dataclasses
from typing import Any

import orjson

from tidelake.aws.glue_crawlers import GlueCrawlersMixin
from tidelake.aws.protocol.errors import to_aws
from tidelake.errors import InvalidArgument, Unsupported
from tidelake.lake.catalog.models import (Column, Database, Partition, SerDeInfo, SortColumn, StorageDescriptor,
                                          Table)
from tidelake.lake.catalog.crawler import CrawlerService
from tidelake.lake.catalog.store import Catalog

P = dict[str, Any]
DEFAULT_PAGE = 100  # GetDatabases / GetTables when MaxResults is absent
DEFAULT_PARTITION_PAGE = 1000


class GlueApi(GlueCrawlersMixin):
    def __init__(self, catalog: Catalog, crawlers: CrawlerService | None = None) -> None:
        self.catalog = catalog
        self.crawlers = crawlers

    # -- databases ----------------------------------------------------------------------------

    def create_database(self, p: P) -> None:
        self.catalog.create_database(_database_in(p["DatabaseInput"]))

    def get_database(self, p: P) -> P:
        return {"Database": self.catalog.get_database(p["Name"])}

    def get_databases(self, p: P) -> P:
        databases = self.catalog.list_databases()
        page, token = _page(databases, lambda d: d.name, p, DEFAULT_PAGE)
        return {"DatabaseList": page, "NextToken": token}

    def update_database(self, p: P) -> None:
        self.catalog.update_database(p["Name"], _database_in(p["DatabaseInput"]))

    def delete_database(self, p: P) -> None:
        self.catalog.delete_database(p["Name"])

    # -- tables -------------------------------------------------------------------------------

    def create_table(self, p: P) -> None:
        if p.get("OpenTableFormatInput"):
            raise Unsupported("tidelake does not support open table formats (Iceberg) in CreateTable yet.")
        table_input = p["TableInput"]
        if p.get("Name") and p["Name"].lower() != table_input["Name"].lower():
            raise InvalidArgument("Name and TableInput.Name must be the same.")
        self.catalog.create_table(_table_in(p["DatabaseName"], table_input))

    def get_table(self, p: P) -> P:
        return {"Table": self.catalog.get_table(p["DatabaseName"], p["Name"])}

    def get_tables(self, p: P) -> P:
        tables = self.catalog.list_tables(p["DatabaseName"], p.get("Expression"))
        page, token = _page(tables, lambda t: t.name, p, DEFAULT_PAGE)
        return {"TableList": page, "NextToken": token}

    def update_table(self, p: P) -> None:
        table = _table_in(p["DatabaseName"], p["TableInput"])
        self.catalog.update_table(table, name=p.get("Name"))

    def delete_table(self, p: P) -> None:
        self.catalog.delete_table(p["DatabaseName"], p["Name"])

    def batch_delete_table(self, p: P) -> P:
        self.catalog.get_database(p["DatabaseName"])
        errors = []
        for name in p["TablesToDelete"]:
            try:
                self.catalog.delete_table(p["DatabaseName"], name)
            except Exception as error:  # reported per table, as Glue's TableError list
                errors.append({"TableName": name, "ErrorDetail": _error_detail(error)})
        return {"Errors": errors}

    # -- partitions ---------------------------------------------------------------------------

    def create_partition(self, p: P) -> None:
        self.catalog.create_partition(p["DatabaseName"], p["TableName"], _partition_in(p["PartitionInput"]))

    def batch_create_partition(self, p: P) -> P:
        partitions = [_partition_in(item) for item in p["PartitionInputList"]]
        failed = self.catalog.create_partitions(p["DatabaseName"], p["TableName"], partitions)
        return {"Errors": _partition_errors(failed)}

    def get_partition(self, p: P) -> P:
        return {"Partition": self.catalog.get_partition(p["DatabaseName"], p["TableName"], p["PartitionValues"])}

    def get_partitions(self, p: P) -> P:
        segment = p.get("Segment")
        if segment and segment["SegmentNumber"] >= segment["TotalSegments"]:
            raise InvalidArgument("SegmentNumber must be less than TotalSegments.")
        after = _read_token(p.get("NextToken"))
        if after is not None and not (isinstance(after, list) and all(isinstance(v, str) for v in after)):
            raise InvalidArgument("Invalid continuation token.")
        limit = p.get("MaxResults") or DEFAULT_PARTITION_PAGE
        page = self.catalog.get_partitions(
            p["DatabaseName"], p["TableName"], p.get("Expression") or None, after=after, limit=limit + 1,
            segment=(segment["SegmentNumber"], segment["TotalSegments"]) if segment else None)
        more = len(page) > limit
        page = page[:limit]
        if p.get("ExcludeColumnSchema"):
            page = [dataclasses.replace(part, storage_descriptor=dataclasses.replace(
                part.storage_descriptor, columns=[])) for part in page]
        return {"Partitions": page, "NextToken": _token(page[-1].values) if more else None}

    def batch_get_partition(self, p: P) -> P:
        # Partitions that do not exist are left out of the answer, as Glue does.
        values_list = [item["Values"] for item in p["PartitionsToGet"]]
        return {"Partitions": self.catalog.batch_get_partitions(p["DatabaseName"], p["TableName"], values_list),
                "UnprocessedKeys": []}

    def update_partition(self, p: P) -> None:
        self.catalog.update_partition(p["DatabaseName"], p["TableName"], p["PartitionValueList"],
                                      _partition_in(p["PartitionInput"]))

    def delete_partition(self, p: P) -> None:
        self.catalog.delete_partition(p["DatabaseName"], p["TableName"], p["PartitionValues"])

    def batch_delete_partition(self, p: P) -> P:
        failed = self.catalog.delete_partitions(p["DatabaseName"], p["TableName"],
                                                [item["Values"] for item in p["PartitionsToDelete"]])
        return {"Errors": _partition_errors(failed)}


# -- wire shapes -> catalog dataclasses ---------------------------------------------------------

def _database_in(d: P) -> Database:
    return Database(name=d["Name"], description=d.get("Description"), location_uri=d.get("LocationUri"),
                    parameters=d.get("Parameters") or {})


def _column_in(c: P) -> Column:
    return Column(name=c["Name"], type=c.get("Type", ""), comment=c.get("Comment"),
                  parameters=c.get("Parameters") or {})


def _storage_in(sd: P | None) -> StorageDescriptor:
    sd = sd or {}
    serde = sd.get("SerdeInfo") or {}
    return StorageDescriptor(
        columns=[_column_in(c) for c in sd.get("Columns") or []],
        location=sd.get("Location"), input_format=sd.get("InputFormat"), output_format=sd.get("OutputFormat"),
        compressed=sd.get("Compressed", False), number_of_buckets=sd.get("NumberOfBuckets", -1),
        serde_info=SerDeInfo(serialization_library=serde.get("SerializationLibrary"), name=serde.get("Name"),
                             parameters=serde.get("Parameters") or {}),
        bucket_columns=sd.get("BucketColumns") or [], parameters=sd.get("Parameters") or {},
        sort_columns=[SortColumn(s["Column"], s["SortOrder"]) for s in sd.get("SortColumns") or []],
        stored_as_sub_directories=sd.get("StoredAsSubDirectories", False))


def _table_in(database: str, t: P) -> Table:
    return Table(database_name=database, name=t["Name"], storage_descriptor=_storage_in(t.get("StorageDescriptor")),
                 partition_keys=[_column_in(c) for c in t.get("PartitionKeys") or []],
                 table_type=t.get("TableType") or "EXTERNAL_TABLE", parameters=t.get("Parameters") or {},
                 description=t.get("Description"), owner=t.get("Owner"),
                 view_original_text=t.get("ViewOriginalText"), view_expanded_text=t.get("ViewExpandedText"),
                 retention=t.get("Retention", 0))


def _partition_in(p: P) -> Partition:
    # database_name and table_name are set by the catalog from the request, as Glue does.
    return Partition(database_name="", table_name="", values=list(p.get("Values") or []),
                     storage_descriptor=_storage_in(p.get("StorageDescriptor")), parameters=p.get("Parameters") or {})


# -- errors and pagination ----------------------------------------------------------------------

def _error_detail(error: BaseException) -> P:
    aws = to_aws("glue", error)
    return {"ErrorCode": aws.code, "ErrorMessage": aws.message}


def _partition_errors(failed: list[tuple[list[str], Exception]]) -> list[P]:
    return [{"PartitionValues": values, "ErrorDetail": _error_detail(error)} for values, error in failed]


def _token(position: Any) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(position)).decode()


def _read_token(token: str | None) -> Any:
    if not token:
        return None
    try:
        return orjson.loads(base64.urlsafe_b64decode(token.encode()))
    except (ValueError, orjson.JSONDecodeError):
        raise InvalidArgument("Invalid continuation token.") from None


def _page(items: list[Any], name: Any, p: P, default: int) -> tuple[list[Any], str | None]:
    """Items after the token's name (sorted by name), at most MaxResults, and the next token."""
    after = _read_token(p.get("NextToken"))
    if after is not None:
        if not isinstance(after, str):
            raise InvalidArgument("Invalid continuation token.")
        items = [item for item in items if name(item) > after]
    limit = p.get("MaxResults") or default
    page = items[:limit]
    return page, (_token(name(page[-1])) if len(items) > limit else None)

