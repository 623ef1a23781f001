"""Catalog data model, after the Glue Data Catalog. Attribute names follow the Glue members in
snake_case (``StorageDescriptor.SerdeInfo.SerializationLibrary`` -> ``storage_descriptor.serde_info.
serialization_library``), so the wire layer can pick them by name."""
from __future__ import annotations

from dataclasses import dataclass, field

# SerDe libraries and formats Athena's DDL names, as the catalog records them.
OPENX_JSON_SERDE = "org.openx.data.jsonserde.JsonSerDe"
HIVE_JSON_SERDE = "org.apache.hive.hcatalog.data.JsonSerDe"
LAZY_SIMPLE_SERDE = "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe"
OPEN_CSV_SERDE = "org.apache.hadoop.hive.serde2.OpenCSVSerde"
PARQUET_SERDE = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
TEXT_INPUT_FORMAT = "org.apache.hadoop.mapred.TextInputFormat"
TEXT_OUTPUT_FORMAT = "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat"
PARQUET_INPUT_FORMAT = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
PARQUET_OUTPUT_FORMAT = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat"


@dataclass(slots=True)
class Column:
    name: str
    type: str  # a Hive type string, lower case: string, int, bigint, double, timestamp, array<string>, ...
    comment: str | None = None
    parameters: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class SortColumn:
    column: str
    sort_order: int = 1  # 1 ascending, 0 descending (Hive's convention)


@dataclass(slots=True)
class SerDeInfo:
    serialization_library: str | None = None
    name: str | None = None
    parameters: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class StorageDescriptor:
    columns: list[Column] = field(default_factory=list)
    location: str | None = None  # s3://bucket/prefix (the lake)
    input_format: str | None = None
    output_format: str | None = None
    compressed: bool = False
    number_of_buckets: int = -1
    serde_info: SerDeInfo = field(default_factory=SerDeInfo)
    bucket_columns: list[str] = field(default_factory=list)
    parameters: dict[str, str] = field(default_factory=dict)
    sort_columns: list[SortColumn] = field(default_factory=list)
    stored_as_sub_directories: bool = False


@dataclass(slots=True)
class Database:
    name: str
    description: str | None = None
    location_uri: str | None = None
    parameters: dict[str, str] = field(default_factory=dict)
    create_time: float = 0.0
    catalog_id: str = ""


@dataclass(slots=True)
class Table:
    database_name: str
    name: str
    storage_descriptor: StorageDescriptor = field(default_factory=StorageDescriptor)
    partition_keys: list[Column] = field(default_factory=list)
    table_type: str = "EXTERNAL_TABLE"  # or VIRTUAL_VIEW
    parameters: dict[str, str] = field(default_factory=dict)  # classification, projection.*, ...
    description: str | None = None
    owner: str | None = None
    view_original_text: str | None = None
    view_expanded_text: str | None = None
    create_time: float = 0.0
    update_time: float = 0.0
    catalog_id: str = ""
    retention: int = 0
    version_id: str = "0"  # bumped by every update, as Glue's table versions are numbered

    @property
    def is_view(self) -> bool:
        return self.table_type == "VIRTUAL_VIEW"


@dataclass(slots=True)
class Partition:
    database_name: str
    table_name: str
    values: list[str]  # in the order of the table's partition keys
    storage_descriptor: StorageDescriptor = field(default_factory=StorageDescriptor)
    parameters: dict[str, str] = field(default_factory=dict)
    creation_time: float = 0.0
    catalog_id: str = ""
