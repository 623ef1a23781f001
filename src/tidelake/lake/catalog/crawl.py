"""One crawler run: list the targets, classify the files, group them into tables, write the catalog.

Steps (``CrawlRun.run``):

1. List every object under each S3 target, minus exclusions and hidden files (``_x``, ``.x``).
2. Classify each file (``classifiers.classify``); with CRAWL_NEW_FOLDERS_ONLY after the first run,
   only files in folders not seen before, and those under a table of this crawler only add partitions.
3. Group bottom-up: a folder whose children (sub-folders and files) have compatible schemas becomes one
   table; otherwise each compatible child becomes its own table (Glue's "How does a crawler determine
   when to create partitions?"). Folder levels below a table's root are its partitions: ``k=v``
   names give key ``k``, others ``partition_0``, ``partition_1``...
4. Create or update each table per the SchemaChangePolicy, add its new partitions, then apply the
   DeleteBehavior to partitions and tables of this crawler that are no longer found.
"""
from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass, field, replace
from typing import Callable

from tidelake.clock import Clock
from tidelake.lake.catalog.classifiers import FileSchema, classify, hive_type, merge_fields
from tidelake.lake.catalog.errors import DatabaseNotFound, TableNotFound
from tidelake.lake.catalog.models import (LAZY_SIMPLE_SERDE, OPEN_CSV_SERDE, OPENX_JSON_SERDE, PARQUET_INPUT_FORMAT,
                                          PARQUET_OUTPUT_FORMAT, PARQUET_SERDE, TEXT_INPUT_FORMAT, TEXT_OUTPUT_FORMAT,
                                          Column, Database, Partition, SerDeInfo, StorageDescriptor, Table)
from tidelake.lake.catalog.store import Catalog
from tidelake.lake.objects import ObjectStore

log = logging.getLogger("tidelake.crawler")
SIMILARITY = 0.7  # share of the smaller schema's column names the other must have to be "similar"
CRAWLER_PARAM = "UPDATED_BY_CRAWLER"
DEPRECATED_PARAM = "DEPRECATED_BY_CRAWLER"


class Cancelled(Exception):
    """StopCrawler was called: the run ends between two files or two tables."""


@dataclass(slots=True)
class CrawlSpec:
    """What a run needs of the crawler's definition (kept apart from the wire-facing model)."""
    name: str
    database: str
    targets: list[tuple[str, list[str], int | None]]  # (s3 path, exclusions, sample size)
    table_prefix: str = ""
    update_behavior: str = "UPDATE_IN_DATABASE"
    delete_behavior: str = "DEPRECATE_IN_DATABASE"
    new_folders_only: bool = False
    combine_compatible: bool = False
    merge_new_columns: bool = False


@dataclass(slots=True)
class CrawlResult:
    tables_created: int = 0
    tables_updated: int = 0
    tables_deleted: int = 0
    folders: set[str] = field(default_factory=set)


@dataclass(slots=True)
class _File:
    bucket: str
    base: str  # the target's prefix, "" or ending in "/"
    dirs: tuple[str, ...]  # folders between the target and the file
    key: str
    size: int
    schema: FileSchema | None = None

    @property
    def folder(self) -> str:
        return f"s3://{self.bucket}/{self.base}{''.join(d + '/' for d in self.dirs)}"


@dataclass(slots=True)
class _Unit:
    """Files that can share one table: their common format and merged columns."""
    format_key: tuple[str, ...]
    columns: tuple
    files: list[_File]


class _Node:
    def __init__(self) -> None:
        self.files: list[_File] = []
        self.children: dict[str, _Node] = {}


class CrawlRun:
    def __init__(self, spec: CrawlSpec, catalog: Catalog, objects: ObjectStore, clock: Clock,
                 seen: set[str], cancelled: Callable[[], bool]) -> None:
        self.spec, self.catalog, self.objects, self.clock = spec, catalog, objects, clock
        self.seen, self.cancelled = seen, cancelled
        self.incremental = spec.new_folders_only and bool(seen)
        self.result = CrawlResult()
        self._known: set[tuple[str, ...]] = set()  # roots (below the target) of this crawler's tables

    def run(self) -> CrawlResult:
        self._ensure_database()
        planned: list[tuple[str, str, _Unit, tuple[str, ...]]] = []  # (name, location, unit, root dirs)
        for path, exclusions, sample_size in self.spec.targets:
            files = self._list(path, exclusions)  # Step 1
            self.result.folders.update(f.folder for f in files)
            if self.incremental:
                files = self._add_to_known_tables([f for f in files if f.folder not in self.seen])
            self._classify(files, sample_size)  # Step 2
            planned.extend(self._tables(path, files))  # Step 3
        names = set()
        for name, location, unit, root in planned:  # Step 4
            self._check()
            names.add(self._apply(name, location, unit, root))
        if not self.incremental:
            self._delete_missing(names)
        return self.result

    def _check(self) -> None:
        if self.cancelled():
            raise Cancelled()

    def _ensure_database(self) -> None:
        try:
            self.catalog.get_database(self.spec.database)
        except DatabaseNotFound:
            self.catalog.create_database(Database(self.spec.database))

    # -- Step 1: list ---------------------------------------------------------------------------

    def _list(self, path: str, exclusions: list[str]) -> list[_File]:
        bucket, base = split_path(path)
        excluded = [glob_regex(pattern) for pattern in exclusions]
        files, token = [], None
        while True:
            page = self.objects.list_objects(bucket, base, continuation_token=token)
            for obj in page.objects:
                rel = obj.key[len(base):]
                parts = rel.split("/")
                if not rel or rel.endswith("/") or obj.key.endswith("$folder$") or any(
                        p.startswith(("_", ".")) for p in parts):
                    continue
                ancestors = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
                if any(rx.fullmatch(a) for rx in excluded for a in ancestors):
                    continue
                files.append(_File(bucket, base, tuple(parts[:-1]), obj.key, obj.size))
            if not page.is_truncated:
                return files
            token = page.next_continuation_token

    # -- Step 2: classify -----------------------------------------------------------------------

    def _classify(self, files: list[_File], sample_size: int | None) -> None:
        per_folder: dict[str, int] = {}
        for f in files:
            self._check()
            if sample_size and per_folder.get(f.folder, 0) >= sample_size:
                continue
            per_folder[f.folder] = per_folder.get(f.folder, 0) + 1
            try:
                f.schema = classify(self.objects, f.bucket, f.key, f.size)
            except Exception as error:  # an unreadable file is skipped, as Glue logs and moves on
                log.warning("crawler %s: cannot classify s3://%s/%s: %s", self.spec.name, f.bucket, f.key, error)

    def _add_to_known_tables(self, files: list[_File]) -> list[_File]:
        """New folders under this crawler's tables become partitions; the rest are returned."""
        tables = [t for t in self._own_tables() if t.partition_keys and t.storage_descriptor.location]
        rest = []
        for f in files:
            location = f"s3://{f.bucket}/{f.key}"
            owner = next((t for t in tables if location.startswith(_slash(t.storage_descriptor.location))), None)
            if owner is None:
                rest.append(f)
                continue
            root = _slash(owner.storage_descriptor.location)
            segments = f.folder[len(root):].strip("/").split("/")
            keys = owner.partition_keys
            if len(segments) < len(keys) or not segments[0]:
                continue
            values = [s.split("=", 1)[1] if "=" in s else s for s in segments[:len(keys)]]
            part_location = root + "".join(s + "/" for s in segments[:len(keys)])
            sd = replace(owner.storage_descriptor, location=part_location)
            self.catalog.create_partitions(owner.database_name, owner.name, [Partition("", "", values, sd)],
                                           if_not_exists=True)
        return rest

    # -- Step 3: group --------------------------------------------------------------------------

    def _tables(self, path: str, files: list[_File]) -> list[tuple[str, str, _Unit, tuple[str, ...]]]:
        root = _Node()
        for f in files:
            if f.schema is None:
                continue
            node = root
            for d in f.dirs:
                node = node.children.setdefault(d, _Node())
            node.files.append(f)
        bucket, base = split_path(path)
        prefix = f"s3://{bucket}/{base}"
        self._known = {tuple(loc[len(prefix):].strip("/").split("/")) for loc in
                       (_slash(t.storage_descriptor.location or "") for t in self._own_tables())
                       if loc.startswith(prefix) and loc != prefix}
        unit, tables = self._group(root, ())
        if unit is not None:
            tables = [((), unit)]
        out = []
        for dirs, u in tables:
            leaf = dirs[-1] if dirs else (base.rstrip("/").rsplit("/", 1)[-1] or bucket)
            location = f"s3://{bucket}/{base}{''.join(d + '/' for d in dirs)}"
            out.append((table_name(self.spec.table_prefix + leaf), location, u, dirs))
        return out

    def _group(self, node: _Node, here: tuple[str, ...]) -> tuple[_Unit | None, list]:
        """(one unit for the whole folder, []) when it is one table, else (None, tables below it)."""
        units: list[tuple[tuple[str, ...], _Unit]] = []
        tables: list = []
        split = False
        for name in sorted(node.children):
            unit, below = self._group(node.children[name], here + (name,))
            if unit is None:
                split = split or bool(below)
                tables.extend(below)
            else:
                units.append((here + (name,), unit))
        direct = [_Unit(f.schema.format_key, tuple(f.schema.columns), [f]) for f in node.files if f.schema]
        candidates = [u for _, u in units] + direct
        keys = {n.split("=", 1)[0] for n in node.children if "=" in n}
        hive = not direct and len(keys) == 1 and all("=" in n for n in node.children)
        if not split and candidates and self._compatible(candidates, hive):
            columns: tuple = ()
            for u in candidates:
                columns = merge_fields(columns, u.columns)
            unit = _Unit(candidates[0].format_key, columns, [f for u in candidates for f in u.files])
            # A table this crawler made before keeps its root, so tables do not move between runs.
            return (None, [(here, unit)]) if here in self._known else (unit, [])
        if direct:
            log.warning("crawler %s: %d file(s) beside table folders in %s are not catalogued",
                        self.spec.name, len(direct), "/".join(here) or "the target root")
        return None, tables + units

    def _compatible(self, units: list[_Unit], hive: bool) -> bool:
        """Same format, and (unless CombineCompatibleSchemas, or the folders are Hive ``k=v``
        partitions of one key) most schemas similar to the most common one."""
        if len({u.format_key for u in units}) > 1:
            return False
        if self.spec.combine_compatible or hive or len(units) == 1:
            return True
        reference = max(units, key=lambda u: len(u.files))
        names = {n.lower() for n, _ in reference.columns}
        similar = 0
        for u in units:
            other = {n.lower() for n, _ in u.columns}
            similar += len(names & other) >= SIMILARITY * min(len(names), len(other))
        return similar * 2 > len(units) if len(units) > 2 else similar == len(units)

    # -- Step 4: write the catalog ----------------------------------------------------------------

    def _apply(self, name: str, location: str, unit: _Unit, root: tuple[str, ...]) -> str:
        depth = min(len(f.dirs) for f in unit.files) - len(root)
        keys, partitions = _partitions(unit.files, len(root), depth, location)
        table = self._table(name, location, unit, keys)
        try:
            existing = self.catalog.get_table(self.spec.database, name)
        except TableNotFound:
            self.catalog.create_table(table)
            self.result.tables_created += 1
            existing = None
        if existing is not None:
            if self.spec.update_behavior == "UPDATE_IN_DATABASE":
                if self.spec.merge_new_columns:
                    known = {c.name for c in existing.storage_descriptor.columns}
                    table.storage_descriptor.columns = existing.storage_descriptor.columns + [
                        c for c in table.storage_descriptor.columns if c.name not in known]
                if _definition(existing) != _definition(table) or DEPRECATED_PARAM in existing.parameters:
                    self.catalog.update_table(table)
                    self.result.tables_updated += 1
            else:
                if _definition(existing) != _definition(table):
                    log.info("crawler %s: schema of %s changed; UpdateBehavior LOG keeps it", self.spec.name, name)
                table = existing
        if len(table.partition_keys) == len(keys) and keys:
            sd = table.storage_descriptor
            new = [Partition("", "", list(values), replace(sd, location=loc)) for values, loc in partitions.items()]
            self.catalog.create_partitions(self.spec.database, name, new, if_not_exists=True)
            if self.spec.delete_behavior == "DELETE_FROM_DATABASE" and not self.incremental:
                gone = [p.values for p in self.catalog.get_partitions(self.spec.database, name)
                        if tuple(p.values) not in partitions]
                self.catalog.delete_partitions(self.spec.database, name, gone)
        return name

    def _table(self, name: str, location: str, unit: _Unit, keys: list[str]) -> Table:
        schema = unit.files[0].schema
        assert schema is not None
        columns, names = [], set(keys)
        for column, t in unit.columns:
            if column.lower() not in names:  # a partition key wins over a data column of its name
                names.add(column.lower())
                columns.append(Column(column.lower(), hive_type(t)))
        records = sum(f.schema.records for f in unit.files if f.schema)
        size = sum(f.size for f in unit.files)
        params = {"classification": schema.classification, "compressionType": schema.compression,
                  "typeOfData": "file", CRAWLER_PARAM: self.spec.name, "objectCount": str(len(unit.files)),
                  "recordCount": str(records), "sizeKey": str(size),
                  "averageRecordSize": str(size // records if records else 0),
                  "CrawlerSchemaDeserializerVersion": "1.0", "CrawlerSchemaSerializerVersion": "1.0"}
        sd = StorageDescriptor(columns=columns, location=location, compressed=schema.compression != "none")
        if schema.classification == "json":
            sd.serde_info = SerDeInfo(OPENX_JSON_SERDE, parameters={"paths": ",".join(c.name for c in columns)})
            sd.input_format, sd.output_format = TEXT_INPUT_FORMAT, TEXT_OUTPUT_FORMAT
        elif schema.classification == "csv":
            if schema.quoted:
                sd.serde_info = SerDeInfo(OPEN_CSV_SERDE, parameters={"separatorChar": schema.delimiter,
                                                                      "quoteChar": '"'})
            else:
                sd.serde_info = SerDeInfo(LAZY_SIMPLE_SERDE, parameters={"field.delim": schema.delimiter})
            sd.input_format, sd.output_format = TEXT_INPUT_FORMAT, TEXT_OUTPUT_FORMAT
            params.update({"delimiter": schema.delimiter, "areColumnsQuoted": str(schema.quoted).lower(),
                           "columnsOrdered": "true"})
            if schema.header:
                params["skip.header.line.count"] = "1"
        else:
            sd.serde_info = SerDeInfo(PARQUET_SERDE, parameters={"serialization.format": "1"})
            sd.input_format, sd.output_format = PARQUET_INPUT_FORMAT, PARQUET_OUTPUT_FORMAT
        sd.parameters = dict(params)
        return Table(self.spec.database, name, sd, [Column(k, "string") for k in keys], parameters=params)

    def _own_tables(self) -> list[Table]:
        return [t for t in self.catalog.list_tables(self.spec.database)
                if t.parameters.get(CRAWLER_PARAM) == self.spec.name]

    def _delete_missing(self, found: set[str]) -> None:
        roots = [f"s3://{b}/{p}" for b, p in (split_path(t[0]) for t in self.spec.targets)]
        for table in self._own_tables():
            location = _slash(table.storage_descriptor.location or "")
            if table.name in found or not any(location.startswith(r) for r in roots):
                continue
            behavior = self.spec.delete_behavior
            if behavior == "DELETE_FROM_DATABASE":
                self.catalog.delete_table(table.database_name, table.name)
                self.result.tables_deleted += 1
            elif behavior == "DEPRECATE_IN_DATABASE" and DEPRECATED_PARAM not in table.parameters:
                table.parameters[DEPRECATED_PARAM] = str(int(self.clock.now()))
                self.catalog.update_table(table)
                self.result.tables_deleted += 1
            else:
                log.info("crawler %s: table %s is no longer found; DeleteBehavior %s keeps it",
                         self.spec.name, table.name, behavior)


def _partitions(files: list[_File], start: int, depth: int, location: str
                ) -> tuple[list[str], dict[tuple[str, ...], str]]:
    """Partition keys of the levels below a table root, and each partition's values -> location."""
    keys = []
    for level in range(depth):
        segments = {f.dirs[start + level] for f in files}
        names = {s.split("=", 1)[0] for s in segments if "=" in s}
        hive = len(names) == 1 and all("=" in s for s in segments)
        key = table_name(names.pop()) if hive else f"partition_{level}"
        keys.append(key if key not in keys else f"partition_{level}")
    partitions: dict[tuple[str, ...], str] = {}
    for f in files:
        segments = f.dirs[start:start + depth]
        values = tuple(s.split("=", 1)[1] if "=" in s and not k.startswith("partition_") else s
                       for s, k in zip(segments, keys))
        partitions[values] = location + "".join(s + "/" for s in segments)
    return keys, partitions


def _definition(table: Table) -> tuple:
    sd = table.storage_descriptor
    return ([(c.name, c.type) for c in sd.columns], [(c.name, c.type) for c in table.partition_keys],
            sd.serde_info.serialization_library, sd.serde_info.parameters, sd.location, sd.input_format)


def _slash(location: str) -> str:
    return location if location.endswith("/") else location + "/"


def split_path(path: str) -> tuple[str, str]:
    """``s3://bucket/a/b`` -> (bucket, ``a/b/``)."""
    rest = path.split("://", 1)[1] if "://" in path else path
    bucket, _, prefix = rest.partition("/")
    prefix = prefix.strip("/")
    return bucket, (prefix + "/" if prefix else "")


def table_name(text: str) -> str:
    """Glue's table names: lower case, characters other than letters, digits and ``_`` -> ``_``."""
    name = re.sub(r"[^a-z0-9_]", "_", text.lower())
    return name if len(name) <= 255 else name[:240] + "_" + hashlib.md5(name.encode()).hexdigest()[:8]


def glob_regex(pattern: str) -> re.Pattern[str]:
    """Glue's exclude patterns: ``*`` within a folder, ``**`` across folders, ``?``, ``[...]``,
    ``{a,b}``; relative to the include path."""
    out, i = [], 0
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            end = pattern.find("]", i)
            if end < 0:
                out.append(re.escape(c))
            else:
                body = pattern[i + 1:end]
                out.append("[" + ("^" + body[1:] if body.startswith("!") else body) + "]")
                i = end
        elif c == "{":
            end = pattern.find("}", i)
            if end < 0:
                out.append(re.escape(c))
            else:
                out.append("(" + "|".join(re.escape(a) for a in pattern[i + 1:end].split(",")) + ")")
                i = end
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile("".join(out).rstrip("/"))
