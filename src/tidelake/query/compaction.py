"""Compaction: the workshop's hourly "merge small files" job, built in.

    report = compact(catalog, engine, objects, ("mydatabase", "retail_trans_json"),
                     ("mydatabase", "retail_trans_parquet"), clock=clock)

For each chosen partition of the source table (by default every *closed* one: its hour, day, month
or year -- the finest of the ``year/month/day/hour`` keys it has -- ended before ``clock.now()``),
the partition's files are read as a SELECT reads them (SerDe, case-insensitive JSON keys, catalog
types) and rewritten as ONE snappy Parquet object at the same ``year=/month=/day=/hour=`` sub-path of
the target table, which is then registered in the catalog. The source files are kept.

Per partition (``_compact_partition``):
1. List the source objects; their sorted (key, ETag) manifest hashes to ``digest``.
2. The target partition's parameters hold the digest it was built from: equal -> nothing to do.
3. The target object's metadata holds the digest of its content: equal -> a previous run wrote it
   and stopped before step 5; go to step 5.
4. COPY the rows into a scratch Parquet file and put it at ``<partition>/part-00000.snappy.parquet``
   through the object store, which replaces an object atomically: readers of the partition see the
   old object or the new one, never a part of one and never both (a name per version would leave
   two objects, double rows, between the put and the delete of the old one).
5. Create or update the target partition, recording the digest, file count and rows.
A crash anywhere leaves the old state or a complete new object that the next run registers, and a
changed manifest (late data, a replaced file) makes the next run rewrite the object.
"""
from __future__ import annotations

import calendar
import hashlib
import shutil
import threading
import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any, Callable

from tidelake.clock import Clock
from tidelake.errors import NotFound
from tidelake.lake.catalog.errors import PartitionNotFound, TableNotFound
from tidelake.lake.catalog.models import (PARQUET_INPUT_FORMAT, PARQUET_OUTPUT_FORMAT, PARQUET_SERDE, Column,
                                          Partition, SerDeInfo, StorageDescriptor, Table)
from tidelake.lake.catalog.store import Catalog
from tidelake.query.ddl import partition_location
from tidelake.query.errors import InvalidCompaction
from tidelake.query.sources import location_to_path, split_location, table_format

OBJECT_NAME = "part-00000.snappy.parquet"
DIGEST = "tidelake.compaction.digest"  # sha256 of the source manifest (partition parameters, object metadata)
FILES = "tidelake.compaction.source_files"
ROWS = "tidelake.compaction.rows"
SOURCE = "tidelake.compaction.source"  # db.table, on the target table
_TIME_KEYS = ("year", "month", "day", "hour")

# Actions of a partition: written the first time, rewritten after its sources changed, registered
# (a complete object left by an interrupted run), unchanged, empty (no source files: nothing written).
COMPACTED, REWRITTEN, REGISTERED, UNCHANGED, EMPTY = "compacted", "rewritten", "registered", "unchanged", "empty"


@dataclass(slots=True)
class PartitionCompaction:
    values: list[str]
    spec: str  # year=2026/month=11/day=23/hour=10
    action: str
    files_in: int
    bytes_in: int
    rows: int
    object_out: str | None  # s3://bucket/key of the Parquet object
    bytes_out: int
    source_files: list[str] = field(default_factory=list)  # s3:// URIs, kept in place


@dataclass(slots=True)
class CompactionReport:
    source: str  # db.table
    target: str
    target_location: str
    created_target: bool
    partitions: list[PartitionCompaction] = field(default_factory=list)
    not_closed: list[str] = field(default_factory=list)  # specs of partitions left for a later run

    @property
    def written(self) -> list[PartitionCompaction]:
        return [p for p in self.partitions if p.action in (COMPACTED, REWRITTEN)]


Progress = Callable[[int, int, PartitionCompaction | None], None]  # (done, total, the partition just done)

_locks: dict[tuple[str, str], threading.Lock] = {}
_locks_guard = threading.Lock()


def compact(catalog: Catalog, engine: Any, objects: Any, source: tuple[str, str], target: tuple[str, str], *,
            partitions: str | None = None, closed: bool = True, target_location: str | None = None,
            create_target: bool = True, clock: Clock | None = None, progress: Progress | None = None
            ) -> CompactionReport:
    """Compact the source partitions matching the Glue expression ``partitions`` (None: all) and,
    with ``closed``, whose period has ended. ``engine`` is the ``QueryEngine`` (its ``scan`` reads
    the files, its scratch folder holds the Parquet file until it is put); ``progress`` is called
    with (0, total, None) once the plan is known, then after each partition."""
    src = catalog.get_table(*source)
    keys = src.partition_keys
    if src.is_view or not keys:
        raise InvalidCompaction(f"{src.database_name}.{src.name} is not a partitioned table: compaction "
                                "rewrites a table partition by partition")
    chosen = catalog.get_partitions(src.database_name, src.name, partitions)
    not_closed: list[str] = []
    if closed:
        now = (clock or catalog.clock).now()
        open_ = [p for p in chosen if not _is_closed(keys, p.values, now)]
        not_closed = [_spec(keys, p.values) for p in open_]
        chosen = [p for p in chosen if _is_closed(keys, p.values, now)]
    dst, created = _target_table(catalog, src, target, target_location, create_target)
    report = CompactionReport(f"{src.database_name}.{src.name}", f"{dst.database_name}.{dst.name}",
                              dst.storage_descriptor.location or "", created, not_closed=not_closed)
    with _lock_for(dst):
        if progress:
            progress(0, len(chosen), None)
        for n, partition in enumerate(chosen, 1):
            done = _compact_partition(catalog, engine, objects, src, dst, partition)
            report.partitions.append(done)
            if progress:
                progress(n, len(chosen), done)
    return report


def _compact_partition(catalog: Catalog, engine: Any, objects: Any, src: Table, dst: Table,
                       partition: Partition) -> PartitionCompaction:
    values = partition.values
    # Step 1
    location = partition.storage_descriptor.location or partition_location(src, values)
    bucket, prefix = split_location(location)
    listed = _list_visible(objects, bucket, prefix)
    digest = hashlib.sha256("\n".join(f"{key}\t{etag}" for key, etag, _ in listed).encode()).hexdigest()
    out_location = partition_location(dst, values)
    out_bucket, out_prefix = split_location(out_location)
    out_key = out_prefix + OBJECT_NAME
    result = PartitionCompaction(values, _spec(src.partition_keys, values), UNCHANGED, len(listed),
                                 sum(size for _, _, size in listed), 0, None, 0,
                                 [f"s3://{bucket}/{key}" for key, _, _ in listed])
    if not listed:
        result.action = EMPTY
        return result
    # Step 2
    registered = _registered(catalog, dst, values)
    current = _head(objects, out_bucket, out_key)
    if registered is not None and registered.parameters.get(DIGEST) == digest and current is not None:
        result.rows, result.object_out = int(registered.parameters.get(ROWS, 0)), f"s3://{out_bucket}/{out_key}"
        result.bytes_out = current.size
        return result
    # Step 3
    if current is not None and current.metadata.get(DIGEST) == digest:
        result.action, result.rows = REGISTERED, int(current.metadata.get(ROWS, 0))
    else:
        # Step 4
        result.action = REWRITTEN if registered is not None or current is not None else COMPACTED
        result.rows = _write(engine, objects, src, values, [(str(location_to_path(engine.lake_root,
                             f"s3://{bucket}/{key}")), size) for key, _, size in listed],
                             out_bucket, out_key, digest)
        current = objects.head_object(out_bucket, out_key)
    result.object_out, result.bytes_out = f"s3://{out_bucket}/{out_key}", current.size
    # Step 5
    _register(catalog, dst, values, out_location, registered,
              {DIGEST: digest, FILES: str(len(listed)), ROWS: str(result.rows)})
    return result


def _write(engine: Any, objects: Any, src: Table, values: list[str], files: list[tuple[str, int]],
           bucket: str, key: str, digest: str) -> int:
    """Rows of ``files`` -> one snappy Parquet object at ``key`` (partition columns stay in the path)."""
    work = engine.scratch / f"compaction-{uuid.uuid4().hex}"
    work.mkdir(parents=True)
    try:
        path = work / OBJECT_NAME
        columns = ", ".join(_quote(c.name) for c in src.storage_descriptor.columns)
        with engine.scan(src, [(values, files)]) as (cursor, sql):
            rows = cursor.execute(f"COPY (SELECT {columns} FROM ({sql})) TO '{path}' "
                                  "(FORMAT parquet, COMPRESSION snappy)").fetchone()[0]
        with open(path, "rb") as data:
            objects.put_object(bucket, key, data, metadata={DIGEST: digest, ROWS: str(rows)},
                               content_type="application/vnd.apache.parquet")
        return int(rows)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _register(catalog: Catalog, dst: Table, values: list[str], location: str, registered: Partition | None,
              parameters: dict[str, str]) -> None:
    sd = replace(dst.storage_descriptor, columns=list(dst.storage_descriptor.columns), location=location,
                 parameters={})
    if registered is None and not catalog.create_partitions(
            dst.database_name, dst.name, [Partition(dst.database_name, dst.name, values, sd, parameters)]):
        return
    catalog.update_partition(dst.database_name, dst.name, values, Partition(
        dst.database_name, dst.name, values, sd, {**(registered.parameters if registered else {}), **parameters}))


def _registered(catalog: Catalog, dst: Table, values: list[str]) -> Partition | None:
    try:
        return catalog.get_partition(dst.database_name, dst.name, values)
    except PartitionNotFound:
        return None


def _head(objects: Any, bucket: str, key: str) -> Any:
    try:
        return objects.head_object(bucket, key)
    except NotFound:
        return None


def _list_visible(objects: Any, bucket: str, prefix: str) -> list[tuple[str, str, int]]:
    """(key, ETag, size) of the objects a query of the partition reads: hidden names (``.``/``_``
    segments, ``_$folder$`` markers, folder keys) are left out, as in Hive."""
    found: list[tuple[str, str, int]] = []
    token = None
    while True:
        page = objects.list_objects(bucket, prefix=prefix, continuation_token=token)
        for o in page.objects:
            rest = o.key[len(prefix):]
            if rest and not rest.endswith("/") and not rest.endswith("_$folder$") and \
                    not any(part.startswith((".", "_")) for part in rest.split("/")):
                found.append((o.key, o.etag, o.size))
        if not page.is_truncated:
            return sorted(found)
        token = page.next_continuation_token


def _target_table(catalog: Catalog, src: Table, target: tuple[str, str], location: str | None,
                  create: bool) -> tuple[Table, bool]:
    """The target table, created like the workshop's ``CREATE EXTERNAL TABLE ... STORED AS PARQUET``
    when missing: the source's columns and partition keys, Parquet SerDe, snappy."""
    try:
        dst = catalog.get_table(*target)
    except TableNotFound:
        if not create:
            raise
        dst = None
    if dst is not None:
        if dst.is_view or table_format(dst) != "parquet":
            raise InvalidCompaction(f"{dst.database_name}.{dst.name} exists and is not a Parquet table")
        if [k.name.lower() for k in dst.partition_keys] != [k.name.lower() for k in src.partition_keys]:
            raise InvalidCompaction(f"{dst.database_name}.{dst.name} exists with other partition keys than "
                                    f"{src.database_name}.{src.name}")
        if location and _norm(location) != _norm(dst.storage_descriptor.location or ""):
            raise InvalidCompaction(f"{dst.database_name}.{dst.name} exists at {dst.storage_descriptor.location}, "
                                    f"not at {location}")
        _check_apart(src, dst.storage_descriptor.location or "")
        return dst, False
    database = catalog.get_database(target[0])
    if not location:
        if database.location_uri:
            location = database.location_uri.rstrip("/") + f"/{target[1].lower()}/"
        else:
            location = f"s3://{split_location(src.storage_descriptor.location or '')[0]}/{target[1].lower()}/"
    location = _norm(location)
    _check_apart(src, location)
    sd = StorageDescriptor([Column(c.name, c.type, c.comment) for c in src.storage_descriptor.columns], location,
                           PARQUET_INPUT_FORMAT, PARQUET_OUTPUT_FORMAT, compressed=True,
                           serde_info=SerDeInfo(PARQUET_SERDE, None, {"serialization.format": "1"}))
    table = Table(target[0], target[1], sd, [Column(k.name, k.type, k.comment) for k in src.partition_keys],
                  parameters={"EXTERNAL": "TRUE", "classification": "parquet", "parquet.compression": "SNAPPY",
                              SOURCE: f"{src.database_name}.{src.name}"})
    return catalog.create_table(table), True


def _check_apart(src: Table, location: str) -> None:
    """The target's objects must not land among the source's files (they would be read as JSON)."""
    source = _norm(src.storage_descriptor.location or "")
    if source and (location.startswith(source) or source.startswith(location)):
        raise InvalidCompaction(f"The target location {location} overlaps the source location {source}")


def _norm(location: str) -> str:
    return location.rstrip("/") + "/"


def _lock_for(dst: Table) -> threading.Lock:
    """One compaction at a time per target table in this process (the CLI and a schedule may overlap)."""
    with _locks_guard:
        return _locks.setdefault((dst.database_name, dst.name), threading.Lock())


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _spec(keys: list[Column], values: list[str]) -> str:
    return "/".join(f"{k.name}={v}" for k, v in zip(keys, values))


def _is_closed(keys: list[Column], values: list[str], now: float) -> bool:
    """Whether the partition's period -- its finest of year, month, day, hour -- ended by ``now``."""
    given = {k.name.lower(): v for k, v in zip(keys, values)}
    if "year" not in given:
        names = ", ".join(k.name for k in keys)
        raise InvalidCompaction(f"Cannot tell which partitions are closed: the partition keys ({names}) are not "
                                "year/month/day/hour; compact chosen partitions with closed=False (--all)")
    fields = {"month": 1, "day": 1, "hour": 0}
    finest = -1
    try:
        for key in _TIME_KEYS:  # year, then month, day, hour as long as the table has them in a row
            if key not in given:
                break
            fields[key], finest = int(given[key]), finest + 1
        year, month = fields["year"], fields["month"]
        start = datetime(year, month, fields["day"], fields["hour"], tzinfo=timezone.utc).timestamp()
    except ValueError:  # __HIVE_DEFAULT_PARTITION__, month=13 and the like: never closed
        return False
    if finest == 3:
        end = start + 3600
    elif finest == 2:
        end = start + 86400
    elif finest == 1:
        end = start + 86400 * calendar.monthrange(year, month)[1]
    else:
        end = datetime(year + 1, 1, 1, tzinfo=timezone.utc).timestamp()
    return end <= now
