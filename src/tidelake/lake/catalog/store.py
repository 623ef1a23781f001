"""Catalog: databases, tables and partitions after the Glue Data Catalog, durable in SQLite.

Methods that map 1:1 to a Glue operation carry its snake_case name. Each object is one orjson
document; partitions are keyed by (database, table, values) so a lookup by values is an index seek and
a table's partitions are one range scan. Database and table names are folded to lower case when
stored and looked up, as Glue does "for Hive compatibility" (and as Athena does in DDL).

One connection and one lock: the catalog is small, writes are rare next to reads, and a single
writer keeps SQLite's transactions simple. WAL with synchronous=FULL makes every commit durable.
"""
from __future__ import annotations

import dataclasses
import gc
import re
import sqlite3
import threading
import zlib
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any, Iterator, Sequence

import orjson

from tidelake import sqlite
from tidelake.clock import Clock
from tidelake.lake.catalog.errors import (DatabaseAlreadyExists, DatabaseNotFound, InvalidNamePattern,
                                          PartitionAlreadyExists, PartitionNotFound, PartitionValuesMismatch,
                                          TableAlreadyExists, TableNotFound)
from tidelake.lake.catalog.expressions import partition_filter, sort_key
from tidelake.lake.catalog.models import (Column, Database, Partition, SerDeInfo, SortColumn, StorageDescriptor,
                                          Table)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS databases (name TEXT PRIMARY KEY, doc BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS tables (
    db TEXT NOT NULL, name TEXT NOT NULL, doc BLOB NOT NULL, PRIMARY KEY (db, name));
CREATE TABLE IF NOT EXISTS partitions (
    db TEXT NOT NULL, tbl TEXT NOT NULL, vals TEXT NOT NULL, doc BLOB NOT NULL, PRIMARY KEY (db, tbl, vals));
"""

PartitionErrors = list[tuple[list[str], Exception]]


class Catalog:
    def __init__(self, path: Path, clock: Clock, account_id: str) -> None:
        self.path = Path(path)
        self.clock = clock
        self.account_id = account_id
        self._lock = threading.RLock()
        self._conn = sqlite.connect(self.path)
        self._conn.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def _rows(self, sql: str, args: Sequence[Any] = ()) -> list[tuple]:
        with self._lock:
            return self._conn.execute(sql, args).fetchall()

    def _write(self) -> "_Transaction":
        return _Transaction(self._conn, self._lock)

    # -- databases ----------------------------------------------------------------------------

    def create_database(self, db: Database) -> Database:
        db = dataclasses.replace(db, name=_fold(db.name), create_time=self.clock.now(), catalog_id=self.account_id)
        with self._write() as conn:
            if conn.execute("SELECT 1 FROM databases WHERE name = ?", (db.name,)).fetchone():
                raise DatabaseAlreadyExists(db.name)
            conn.execute("INSERT INTO databases VALUES (?, ?)", (db.name, _dump(db)))
        return db

    def get_database(self, name: str) -> Database:
        rows = self._rows("SELECT doc FROM databases WHERE name = ?", (_fold(name),))
        if not rows:
            raise DatabaseNotFound(_fold(name))
        return _database(orjson.loads(rows[0][0]))

    def list_databases(self) -> list[Database]:
        return [_database(orjson.loads(doc)) for (doc,) in self._rows("SELECT doc FROM databases ORDER BY name")]

    def update_database(self, name: str, db: Database) -> None:
        """Replace a database's definition; a different ``db.name`` renames it with its tables."""
        old = self.get_database(name)
        new = dataclasses.replace(db, name=_fold(db.name or old.name), create_time=old.create_time,
                                  catalog_id=self.account_id)
        with self._write() as conn:
            if new.name != old.name:
                if conn.execute("SELECT 1 FROM databases WHERE name = ?", (new.name,)).fetchone():
                    raise DatabaseAlreadyExists(new.name)
                self._rename_database(conn, old.name, new.name)
            conn.execute("UPDATE databases SET doc = ? WHERE name = ?", (_dump(new), new.name))

    def _rename_database(self, conn: sqlite3.Connection, old: str, new: str) -> None:
        conn.execute("UPDATE databases SET name = ? WHERE name = ?", (new, old))
        for name, doc in conn.execute("SELECT name, doc FROM tables WHERE db = ?", (old,)).fetchall():
            table = _table(orjson.loads(doc))
            table.database_name = new
            conn.execute("UPDATE tables SET db = ?, doc = ? WHERE db = ? AND name = ?", (new, _dump(table), old, name))
        for tbl, vals, doc in conn.execute("SELECT tbl, vals, doc FROM partitions WHERE db = ?", (old,)).fetchall():
            partition = _partition(orjson.loads(doc))
            partition.database_name = new
            conn.execute("UPDATE partitions SET db = ?, doc = ? WHERE db = ? AND tbl = ? AND vals = ?",
                         (new, _dump(partition), old, tbl, vals))

    def delete_database(self, name: str) -> None:
        """Delete a database with its tables and their partitions, as Glue's DeleteDatabase does."""
        name = _fold(name)
        with self._write() as conn:
            if conn.execute("DELETE FROM databases WHERE name = ?", (name,)).rowcount == 0:
                raise DatabaseNotFound(name)
            conn.execute("DELETE FROM tables WHERE db = ?", (name,))
            conn.execute("DELETE FROM partitions WHERE db = ?", (name,))

    # -- tables -------------------------------------------------------------------------------

    def create_table(self, table: Table) -> Table:
        now = self.clock.now()
        table = dataclasses.replace(table, database_name=_fold(table.database_name), name=_fold(table.name),
                                    create_time=now, update_time=now, catalog_id=self.account_id, version_id="0")
        with self._write() as conn:
            self._require_database(conn, table.database_name)
            if conn.execute("SELECT 1 FROM tables WHERE db = ? AND name = ?",
                            (table.database_name, table.name)).fetchone():
                raise TableAlreadyExists(table.database_name, table.name)
            conn.execute("INSERT INTO tables VALUES (?, ?, ?)", (table.database_name, table.name, _dump(table)))
        return table

    def get_table(self, database: str, name: str) -> Table:
        database, name = _fold(database), _fold(name)
        rows = self._rows("SELECT doc FROM tables WHERE db = ? AND name = ?", (database, name))
        if not rows:
            self.get_database(database)  # a missing database is reported as such
            raise TableNotFound(database, name)
        return _table(orjson.loads(rows[0][0]))

    def update_table(self, table: Table, name: str | None = None) -> Table:
        """Replace a table's definition, keeping its creation time. ``name`` is the current name when
        ``table.name`` renames the table (its partitions follow)."""
        old = self.get_table(table.database_name, name or table.name)
        new = dataclasses.replace(table, database_name=old.database_name, name=_fold(table.name),
                                  create_time=old.create_time, update_time=self.clock.now(),
                                  catalog_id=self.account_id, version_id=str(int(old.version_id or 0) + 1))
        with self._write() as conn:
            if new.name != old.name:
                if conn.execute("SELECT 1 FROM tables WHERE db = ? AND name = ?", (new.database_name, new.name)).fetchone():
                    raise TableAlreadyExists(new.database_name, new.name)
                conn.execute("UPDATE tables SET name = ? WHERE db = ? AND name = ?", (new.name, old.database_name, old.name))
                self._rename_partitions(conn, old.database_name, old.name, new.name)
            conn.execute("UPDATE tables SET doc = ? WHERE db = ? AND name = ?", (_dump(new), new.database_name, new.name))
        return new

    def _rename_partitions(self, conn: sqlite3.Connection, db: str, old: str, new: str) -> None:
        for vals, doc in conn.execute("SELECT vals, doc FROM partitions WHERE db = ? AND tbl = ?", (db, old)).fetchall():
            partition = _partition(orjson.loads(doc))
            partition.table_name = new
            conn.execute("UPDATE partitions SET tbl = ?, doc = ? WHERE db = ? AND tbl = ? AND vals = ?",
                         (new, _dump(partition), db, old, vals))

    def delete_table(self, database: str, name: str) -> None:
        database, name = _fold(database), _fold(name)
        with self._write() as conn:
            if conn.execute("DELETE FROM tables WHERE db = ? AND name = ?", (database, name)).rowcount == 0:
                self._require_database(conn, database)
                raise TableNotFound(database, name)
            conn.execute("DELETE FROM partitions WHERE db = ? AND tbl = ?", (database, name))

    def list_tables(self, database: str, expression: str | None = None) -> list[Table]:
        """Tables of a database by name; ``expression`` is Glue's name pattern (see ``name_matcher``)."""
        database = _fold(database)
        self.get_database(database)
        rows = self._rows("SELECT name, doc FROM tables WHERE db = ? ORDER BY name", (database,))
        if expression:
            matches = name_matcher(expression)
            rows = [row for row in rows if matches(row[0])]
        return [_table(orjson.loads(doc)) for _, doc in rows]

    def _require_database(self, conn: sqlite3.Connection, database: str) -> None:
        if not conn.execute("SELECT 1 FROM databases WHERE name = ?", (database,)).fetchone():
            raise DatabaseNotFound(database)

    # -- partitions ---------------------------------------------------------------------------

    def create_partitions(self, database: str, table: str, partitions: list[Partition],
                          if_not_exists: bool = False) -> PartitionErrors:
        """Add partitions; returns the ones that failed with their error, as BatchCreatePartition does
        (the others are created). ``if_not_exists`` skips existing ones silently (Athena's
        ``ADD IF NOT EXISTS``, MSCK REPAIR)."""
        owner = self.get_table(database, table)
        now = self.clock.now()
        errors: PartitionErrors = []
        with self._write() as conn:
            for partition in partitions:
                values = _strings(partition.values)
                if len(values) != len(owner.partition_keys):
                    errors.append((values, PartitionValuesMismatch(owner.name, values, len(owner.partition_keys))))
                    continue
                stored = dataclasses.replace(partition, database_name=owner.database_name, table_name=owner.name,
                                             values=values, creation_time=now, catalog_id=self.account_id)
                inserted = conn.execute(
                    "INSERT INTO partitions VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                    (owner.database_name, owner.name, _values_key(values), _dump(stored))).rowcount
                if not inserted and not if_not_exists:
                    errors.append((values, PartitionAlreadyExists(owner.database_name, owner.name, values)))
        return errors

    def create_partition(self, database: str, table: str, partition: Partition) -> None:
        """One partition; raises its error instead of returning it (CreatePartition)."""
        for _, error in self.create_partitions(database, table, [partition]):
            raise error

    def get_partition(self, database: str, table: str, values: list[str]) -> Partition:
        owner = self.get_table(database, table)
        if len(values) != len(owner.partition_keys):
            raise PartitionValuesMismatch(owner.name, list(values), len(owner.partition_keys))
        rows = self._rows("SELECT doc FROM partitions WHERE db = ? AND tbl = ? AND vals = ?",
                          (owner.database_name, owner.name, _values_key(values)))
        if not rows:
            raise PartitionNotFound(owner.database_name, owner.name, _strings(values))
        return _partition(orjson.loads(rows[0][0]))

    def get_partitions(self, database: str, table: str, expression: str | None = None, *,
                       after: list[str] | None = None, limit: int | None = None,
                       segment: tuple[int, int] | None = None) -> list[Partition]:
        """A table's partitions sorted by their typed values, filtered by a Glue partition expression
        (``year = 2026 AND month IN (10, 11)``; see ``expressions.partition_filter``).

        For paging (GetPartitions): ``after`` starts after the partition with those values, ``limit``
        caps the count, and ``segment=(number, total)`` keeps one of ``total`` disjoint, stable shares.
        Only the page is decoded, so paging through 10,000 partitions stays linear.
        """
        owner = self.get_table(database, table)
        keep = partition_filter(expression, owner.partition_keys) if expression else None
        rows = self._rows("SELECT vals, doc FROM partitions WHERE db = ? AND tbl = ?",
                          (owner.database_name, owner.name))
        order = sort_key(owner.partition_keys)
        with _gc_paused():
            selected = [(values, vals, doc) for values, vals, doc in ((orjson.loads(v), v, d) for v, d in rows)
                        if (keep is None or keep(values)) and (segment is None or _segment(vals, segment))]
            selected.sort(key=lambda item: order(item[0]))
            if after is not None:
                start = order(after)
                selected = [item for item in selected if order(item[0]) > start]
            if limit is not None:
                selected = selected[:limit]
            return [_partition(orjson.loads(doc)) for _, _, doc in selected]

    def batch_get_partitions(self, database: str, table: str, values_list: list[list[str]]) -> list[Partition]:
        """The partitions that exist among ``values_list``, in its order (BatchGetPartition)."""
        owner = self.get_table(database, table)
        found = []
        for values in values_list:
            rows = self._rows("SELECT doc FROM partitions WHERE db = ? AND tbl = ? AND vals = ?",
                              (owner.database_name, owner.name, _values_key(values)))
            if rows:
                found.append(_partition(orjson.loads(rows[0][0])))
        return found

    def update_partition(self, database: str, table: str, values: list[str], partition: Partition) -> None:
        """Replace a partition's definition; new ``partition.values`` move it (UpdatePartition)."""
        old = self.get_partition(database, table, values)
        owner = self.get_table(database, table)
        new_values = _strings(partition.values or values)
        if len(new_values) != len(owner.partition_keys):
            raise PartitionValuesMismatch(owner.name, new_values, len(owner.partition_keys))
        new = dataclasses.replace(partition, database_name=old.database_name, table_name=old.table_name,
                                  values=new_values, creation_time=old.creation_time, catalog_id=self.account_id)
        with self._write() as conn:
            if new_values != old.values:
                if conn.execute("SELECT 1 FROM partitions WHERE db = ? AND tbl = ? AND vals = ?",
                                (owner.database_name, owner.name, _values_key(new_values))).fetchone():
                    raise PartitionAlreadyExists(owner.database_name, owner.name, new_values)
            conn.execute("DELETE FROM partitions WHERE db = ? AND tbl = ? AND vals = ?",
                         (owner.database_name, owner.name, _values_key(old.values)))
            conn.execute("INSERT INTO partitions VALUES (?, ?, ?, ?)",
                         (owner.database_name, owner.name, _values_key(new_values), _dump(new)))

    def delete_partitions(self, database: str, table: str, values_list: list[list[str]]) -> PartitionErrors:
        """Delete partitions by values; returns the ones that failed (BatchDeletePartition)."""
        owner = self.get_table(database, table)
        errors: PartitionErrors = []
        with self._write() as conn:
            for values in values_list:
                values = _strings(values)
                deleted = conn.execute("DELETE FROM partitions WHERE db = ? AND tbl = ? AND vals = ?",
                                       (owner.database_name, owner.name, _values_key(values))).rowcount
                if not deleted:
                    errors.append((values, PartitionNotFound(owner.database_name, owner.name, values)))
        return errors

    def delete_partition(self, database: str, table: str, values: list[str]) -> None:
        for _, error in self.delete_partitions(database, table, [values]):
            raise error


class _Transaction:
    """``with catalog._write() as conn``: one IMMEDIATE transaction under the catalog's lock."""

    def __init__(self, conn: sqlite3.Connection, lock: threading.RLock) -> None:
        self.conn = conn
        self.lock = lock

    def __enter__(self) -> sqlite3.Connection:
        self.lock.acquire()
        try:
            self.conn.execute("BEGIN IMMEDIATE")
        except BaseException:
            self.lock.release()
            raise
        return self.conn

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: Any) -> None:
        try:
            self.conn.execute("COMMIT" if kind is None else "ROLLBACK")
        finally:
            self.lock.release()


def name_matcher(expression: str):
    """Glue's GetTables ``Expression``: "a regular expression pattern" in the Hive metastore's dialect,
    where ``*`` alone means any characters (``sales*``, ``*_json``) and ``|`` separates alternatives.
    Matching is whole-name and case-insensitive, as names are stored lower case."""
    alternatives = []
    for part in expression.split("|"):
        pattern = re.sub(r"(?<![.\\\]])\*", ".*", part.strip())  # a bare * is a wildcard, .* stays
        try:
            alternatives.append(re.compile(pattern, re.IGNORECASE))
        except re.error as error:
            raise InvalidNamePattern(expression, str(error)) from None
    return lambda name: any(p.fullmatch(name) for p in alternatives)


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Decoding 10,000 partitions allocates ~300,000 small objects, none of them cyclic garbage; the
    collector's passes over the growing heap would otherwise triple the time of GetPartitions."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _segment(values_key: str, segment: tuple[int, int]) -> bool:
    number, total = segment
    return zlib.crc32(values_key.encode()) % total == number


def _fold(name: str) -> str:
    return name.lower()


def _values_key(values: Sequence[Any]) -> str:
    return orjson.dumps(_strings(values)).decode()


def _strings(values: Sequence[Any]) -> list[str]:
    """Partition values are strings in Glue; ``2026`` from Python means ``"2026"``."""
    return [v if isinstance(v, str) else str(v) for v in values]


def _dump(obj: Any) -> bytes:
    return orjson.dumps(obj)  # orjson serializes (slotted) dataclasses natively


# -- documents -> dataclasses (nested ones need building by hand) -------------------------------

@cache
def _fields(cls: type) -> frozenset[str]:
    return frozenset(f.name for f in dataclasses.fields(cls))


def _build(cls: type, doc: dict[str, Any]) -> Any:
    """Fields a newer or older version of the model no longer has are dropped, not fatal."""
    try:
        return cls(**doc)
    except TypeError:
        known = _fields(cls)
        return cls(**{k: v for k, v in doc.items() if k in known})


def _columns(items: list[dict[str, Any]] | None) -> list[Column]:
    return [_build(Column, item) for item in items or []]


def _storage(doc: dict[str, Any] | None) -> StorageDescriptor:
    doc = doc or {}
    doc["columns"] = _columns(doc.get("columns"))
    doc["serde_info"] = _build(SerDeInfo, doc.get("serde_info") or {})
    if doc.get("sort_columns"):
        doc["sort_columns"] = [_build(SortColumn, item) for item in doc["sort_columns"]]
    return _build(StorageDescriptor, doc)


def _database(doc: dict[str, Any]) -> Database:
    return _build(Database, doc)


def _table(doc: dict[str, Any]) -> Table:
    doc["storage_descriptor"] = _storage(doc.get("storage_descriptor"))
    doc["partition_keys"] = _columns(doc.get("partition_keys"))
    return _build(Table, doc)


def _partition(doc: dict[str, Any]) -> Partition:
    doc["storage_descriptor"] = _storage(doc.get("storage_descriptor"))
    return _build(Partition, doc)

