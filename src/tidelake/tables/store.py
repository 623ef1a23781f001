"""TableStore: key-value tables (the DynamoDB data model) in one SQLite database.

    >>> store = TableStore(Path("tables.db"), SystemClock(), "us-east-1", "000000000000")
    >>> store.create_table("products_info", KeyAttribute("product_cd", "S"))
    >>> store.put_item("products_info", {"product_cd": "88017099", "product_name": "..."})
    >>> store.lookup("products_info", ["88017099", "missing"])
    [{'product_cd': '88017099', 'product_name': '...'}, None]

Items are plain Python values (see ``values``). Every table's items live in one ``items`` table with a
unique index on (table, token, hash bytes, range bytes): a key is one index search and a Query is a
range scan of the index (see ``keys``). Rows themselves are appended in rowid order: a clustered
(WITHOUT ROWID) table would place each row at its random token and write three times the pages.

Writes run on one writer thread with group commit (see ``tidelake.group_commit``), which also makes a condition
check and the write it guards atomic; reads run in the caller's thread on its own connection.
"""
from __future__ import annotations

import sqlite3
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

import orjson

from tidelake.clock import Clock
from tidelake.errors import InvalidArgument, ValidationFailed
from tidelake.group_commit import GroupCommitWriter
from tidelake.tables.errors import ConditionalCheckFailed, ItemInvalid, TableAlreadyExists, TableNotFound
from tidelake.tables.evaluate import apply_update, holds, project
from tidelake.tables.expressions import Path as DocumentPath
from tidelake.tables.expressions import Update
from tidelake.tables.keys import KeyCondition, item_key, key_condition, key_of, key_values, segment_tokens, token
from tidelake.tables.models import KeyAttribute, Page, Table, Write
from tidelake.tables.values import (MAX_ITEM_BYTES, Item, dump_item, item_size, key_bytes, load_item, normalize,
                                    normalize_item, successor, type_name)

PAGE_BYTES = 1024 * 1024  # a Query or Scan page stops after reading 1 MB
BATCH_GET_BYTES = 16 * 1024 * 1024  # BatchGetItem answers at most 16 MB; the rest is UnprocessedKeys
BATCH_GET_KEYS = 100

_SCHEMA = """
CREATE TABLE IF NOT EXISTS tables (
    number INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    definition TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS items (
    id INTEGER PRIMARY KEY,
    table_number INTEGER NOT NULL,
    token INTEGER NOT NULL,
    hash BLOB NOT NULL,
    range BLOB NOT NULL,
    size INTEGER NOT NULL,
    item BLOB NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS items_key ON items (table_number, token, hash, range);
"""
_UPSERT = "INSERT OR REPLACE INTO items (table_number, token, hash, range, size, item) VALUES (?, ?, ?, ?, ?, ?)"
_DELETE = "DELETE FROM items WHERE table_number = ? AND token = ? AND hash = ? AND range = ?"
_RANGE_SQL = {"=": "range = ?", "<": "range < ?", "<=": "range <= ?", ">": "range > ?", ">=": "range >= ?",
              "BETWEEN": "range BETWEEN ? AND ?"}


class TableStore:
    def __init__(self, path: Path, clock: Clock, region: str, account_id: str, *, fsync: bool = True) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.clock = clock
        self.region = region
        self.account_id = account_id
        self._writer = GroupCommitWriter(path, fsync=fsync, schema=_SCHEMA, name="tables")
        # Changed only by writer jobs; read anywhere (a dict lookup is atomic).
        self._tables = {name: _table(number, name, orjson.loads(definition)) for number, name, definition
                        in self._writer.connection.execute("SELECT number, name, definition FROM tables")}

    def close(self) -> None:
        self._writer.close()

    # -- tables -----------------------------------------------------------------------------

    def create_table(self, name: str, hash_key: KeyAttribute, range_key: KeyAttribute | None = None,
                     billing_mode: str = "PAY_PER_REQUEST", read_capacity_units: int = 0,
                     write_capacity_units: int = 0) -> Table:
        """Create a table; it is ACTIVE at once."""
        for key in (hash_key, range_key):
            if key is not None and key.type not in ("S", "N", "B"):
                raise ValidationFailed(f"A key attribute is of type S, N or B, not {key.type}")
        if range_key is not None and range_key.name == hash_key.name:
            raise ValidationFailed("Both the Hash Key and the Range Key element in the KeySchema have the same name")
        definition = {"hash_key": [hash_key.name, hash_key.type],
                      "range_key": [range_key.name, range_key.type] if range_key else None,
                      "billing_mode": billing_mode, "read_capacity_units": read_capacity_units,
                      "write_capacity_units": write_capacity_units, "creation_date_time": self.clock.now(),
                      "table_arn": f"arn:aws:dynamodb:{self.region}:{self.account_id}:table/{name}",
                      "table_id": str(uuid.uuid4())}

        def job(conn: sqlite3.Connection) -> Table:
            if name in self._tables:
                raise TableAlreadyExists(name)
            number = conn.execute("INSERT INTO tables (name, definition) VALUES (?, ?)",
                                  (name, orjson.dumps(definition))).lastrowid
            assert number is not None
            table = self._tables[name] = _table(number, name, definition)
            return table
        return self._writer.write(job)

    def describe_table(self, name: str) -> Table:
        """The table with its current item count and size (DynamoDB refreshes these every few hours;
        here they are counted when asked)."""
        return self._counted(self._writer.reader(), self._table(name, detail=True))

    @staticmethod
    def _counted(conn: sqlite3.Connection, table: Table) -> Table:
        count, size = conn.execute("SELECT count(*), total(size) FROM items WHERE table_number = ?",
                                   (table.number,)).fetchone()
        return replace(table, item_count=count, table_size_bytes=int(size))

    def list_tables(self) -> list[str]:
        return sorted(self._tables)

    def delete_table(self, name: str) -> Table:
        """Delete a table and its items; answers it as DELETING (it is gone once this returns)."""
        def job(conn: sqlite3.Connection) -> Table:
            table = self._counted(conn, self._table(name, detail=True))
            conn.execute("DELETE FROM items WHERE table_number = ?", (table.number,))
            conn.execute("DELETE FROM tables WHERE number = ?", (table.number,))
            del self._tables[name]
            return replace(table, table_status="DELETING")
        return self._writer.write(job)

    def _table(self, name: str, detail: bool = False) -> Table:
        table = self._tables.get(name)
        if table is None:
            raise TableNotFound(name, detail)
        return table

    def _still(self, table: Table) -> None:
        """In a writer job: the table the caller prepared its rows for still exists."""
        if self._tables.get(table.table_name) is not table:
            raise TableNotFound(table.table_name, detail=False)

    # -- single items -----------------------------------------------------------------------

    def put_item(self, table: str, item: Item, condition: Any = None, *, return_old: bool = False,
                 old_on_failure: bool = False) -> Item | None:
        """Write ``item`` (replacing the item with its key) if ``condition`` holds for the item
        there now. Returns the replaced item if ``return_old``."""
        item = normalize_item(item)
        schema = self._table(table)
        hash_bytes, range_bytes = item_key(schema, item)
        row = (schema.number, token(hash_bytes), hash_bytes, range_bytes, _checked_size(item), dump_item(item))
        read_old = condition is not None or return_old

        def job(conn: sqlite3.Connection) -> Item | None:
            self._still(schema)
            old = _read(conn, schema.number, hash_bytes, range_bytes) if read_old else None
            _check(condition, old, old_on_failure)
            conn.execute(_UPSERT, row)
            return old
        old = self._writer.write(job)
        return old if return_old else None

    def get_item(self, table: str, key: Item, projection: Sequence[DocumentPath] | None = None) -> Item | None:
        schema = self._table(table)
        item = _read(self._writer.reader(), schema.number, *key_of(schema, normalize_item(key)))
        if item is None or projection is None:
            return item
        return project(item, projection)

    def delete_item(self, table: str, key: Item, condition: Any = None, *, return_old: bool = False,
                    old_on_failure: bool = False) -> Item | None:
        schema = self._table(table)
        hash_bytes, range_bytes = key_of(schema, normalize_item(key))
        read_old = condition is not None or return_old

        def job(conn: sqlite3.Connection) -> Item | None:
            self._still(schema)
            old = _read(conn, schema.number, hash_bytes, range_bytes) if read_old else None
            _check(condition, old, old_on_failure)
            conn.execute(_DELETE, (schema.number, token(hash_bytes), hash_bytes, range_bytes))
            return old
        old = self._writer.write(job)
        return old if return_old else None

    def update_item(self, table: str, key: Item, update: Update | None = None, condition: Any = None, *,
                    old_on_failure: bool = False) -> tuple[Item | None, Item]:
        """Apply ``update`` to the item with ``key`` (created from the key if there is none) if
        ``condition`` holds. Returns the item before (None: there was none) and after."""
        key = normalize_item(key)
        schema = self._table(table)
        hash_bytes, range_bytes = key_of(schema, key)

        def job(conn: sqlite3.Connection) -> tuple[Item | None, Item]:
            self._still(schema)
            old = _read(conn, schema.number, hash_bytes, range_bytes)
            _check(condition, old, old_on_failure)
            base = old if old is not None else key
            new = apply_update(update, base, schema.key_names) if update is not None else dict(base)
            size = item_size(new)
            if size > MAX_ITEM_BYTES:
                raise ItemInvalid("Item size to update has exceeded the maximum allowed size")
            conn.execute(_UPSERT, (schema.number, token(hash_bytes), hash_bytes, range_bytes, size, dump_item(new)))
            return old, new
        return self._writer.write(job)

    # -- batches ----------------------------------------------------------------------------

    def batch_write(self, writes: Sequence[Write]) -> None:
        """Puts and deletes in one commit (BatchWriteItem). Every request is checked first; two
        requests for the same key are refused, as DynamoDB refuses them."""
        rows: list[tuple[Any, ...]] = []
        deletes: list[tuple[Any, ...]] = []
        seen: set[tuple[str, bytes, bytes]] = set()
        schemas = set()
        for write in writes:
            schema = self._table(write.table)
            schemas.add(schema)
            if write.item is not None:
                item = normalize_item(write.item)
                hash_bytes, range_bytes = item_key(schema, item)
                rows.append((schema.number, token(hash_bytes), hash_bytes, range_bytes, _checked_size(item),
                             dump_item(item)))
            else:
                hash_bytes, range_bytes = key_of(schema, normalize_item(write.key or {}))
                deletes.append((schema.number, token(hash_bytes), hash_bytes, range_bytes))
            if (write.table, hash_bytes, range_bytes) in seen:
                raise ValidationFailed("Provided list of item keys contains duplicates")
            seen.add((write.table, hash_bytes, range_bytes))
        self._writer.write(self._rows_job(schemas, rows, deletes))

    def batch_put(self, table: str, items: Sequence[Item]) -> None:
        """Write many items in one commit (a bulk load: a later item with the same key wins)."""
        schema = self._table(table)
        rows = []
        for item in items:
            item = normalize_item(item)
            hash_bytes, range_bytes = item_key(schema, item)
            rows.append((schema.number, token(hash_bytes), hash_bytes, range_bytes, _checked_size(item),
                         dump_item(item)))
        self._writer.write(self._rows_job({schema}, rows, []))

    def _rows_job(self, schemas: set[Table], rows: list[tuple[Any, ...]],
                  deletes: list[tuple[Any, ...]]) -> Callable[[sqlite3.Connection], None]:
        def job(conn: sqlite3.Connection) -> None:
            for schema in schemas:
                self._still(schema)
            conn.executemany(_UPSERT, rows)
            conn.executemany(_DELETE, deletes)
        return job

    def batch_get(self, requests: Mapping[str, tuple[Sequence[Item], Sequence[DocumentPath] | None]]
                  ) -> tuple[dict[str, list[Item]], dict[str, list[Item]]]:
        """BatchGetItem: ``{table: (keys, projection)}`` -> (found items per table, keys left
        unprocessed because the answer reached 16 MB)."""
        if sum(len(keys) for keys, _ in requests.values()) > BATCH_GET_KEYS:
            raise ValidationFailed("Too many items requested for the BatchGetItem call")
        found: dict[str, list[Item]] = {}
        unprocessed: dict[str, list[Item]] = {}
        total = 0
        conn = self._writer.reader()
        for name, (keys, projection) in requests.items():
            schema = self._table(name)
            stored = [key_of(schema, normalize_item(key)) for key in keys]
            if len(set(stored)) < len(stored):
                raise ValidationFailed("Provided list of item keys contains duplicates")
            found[name] = []
            for key, (hash_bytes, range_bytes) in zip(keys, stored):
                if total >= BATCH_GET_BYTES:
                    unprocessed.setdefault(name, []).append(key)
                    continue
                item = _read(conn, schema.number, hash_bytes, range_bytes)
                if item is not None:
                    total += item_size(item)
                    found[name].append(project(item, projection) if projection is not None else item)
        return found, unprocessed

    def lookup(self, table: str, keys: Sequence[Any]) -> list[Item | None]:
        """Items by plain key values, in order (None where there is none): for enrichment.

        A key is the hash key value (str, int, Decimal or bytes) or, for a table with a range key, a
        (hash, range) tuple. A value of another type than the key's is an error, not a miss."""
        schema = self._table(table)
        conn = self._writer.reader()
        return [_read(conn, schema.number, *self._lookup_key(schema, key)) for key in keys]

    @staticmethod
    def _lookup_key(table: Table, key: Any) -> tuple[bytes, bytes]:
        values = key if table.range_key is not None else (key,)
        if not isinstance(values, tuple) or len(values) != len(table.key_attributes):
            raise InvalidArgument(f"Table {table.table_name} has the key {', '.join(table.key_names)}: look up "
                                  f"{'(hash, range) tuples' if table.range_key else 'hash key values'}, not {key!r}")
        parts = []
        for attribute, value in zip(table.key_attributes, values):
            value = normalize(value)
            if type_name(value) != attribute.type:
                raise InvalidArgument(f"Key value {value!r} is not of type {attribute.type}, the type of "
                                      f"{table.table_name}'s key {attribute.name}")
            parts.append(key_bytes(value))
        return parts[0], parts[1] if len(parts) > 1 else b""

    # -- queries and scans ------------------------------------------------------------------

    def query(self, table: str, condition: Any, *, filter: Any = None,
              projection: Sequence[DocumentPath] | None = None, limit: int | None = None,
              exclusive_start_key: Item | None = None, scan_index_forward: bool = True,
              count_only: bool = False) -> Page:
        """The items of one hash key whose range key meets ``condition`` (a key condition tree)."""
        schema = self._table(table)
        wanted = key_condition(condition, schema)
        hash_bytes = key_bytes(wanted.hash_value)
        sql = ["table_number = ? AND token = ? AND hash = ?"]
        params: list[Any] = [schema.number, token(hash_bytes), hash_bytes]
        _range_condition(wanted, sql, params)
        if exclusive_start_key is not None:
            start_hash, start_range = _start_key(schema, exclusive_start_key)
            if start_hash != hash_bytes:
                raise ValidationFailed("The provided starting key is outside query boundaries based on provided "
                                       "conditions")
            sql.append("range > ?" if scan_index_forward else "range < ?")
            params.append(start_range)
        rows = self._writer.reader().execute(f"SELECT item, size FROM items WHERE {' AND '.join(sql)} "
                                             f"ORDER BY range {'ASC' if scan_index_forward else 'DESC'}", params)
        return _page(schema, rows, filter, projection, limit, count_only)

    def scan(self, table: str, *, filter: Any = None, projection: Sequence[DocumentPath] | None = None,
             limit: int | None = None, exclusive_start_key: Item | None = None, segment: int | None = None,
             total_segments: int | None = None, count_only: bool = False) -> Page:
        """Every item, in token order; ``segment`` of ``total_segments`` reads one token range."""
        first, last = _segment(segment, total_segments)
        schema = self._table(table)
        sql = "table_number = ? AND token BETWEEN ? AND ?"
        params: list[Any] = [schema.number, first, last]
        if exclusive_start_key is not None:
            start_hash, start_range = _start_key(schema, exclusive_start_key)
            start_token = token(start_hash)
            if not first <= start_token <= last:
                raise ValidationFailed("The provided Exclusive start key does not map to the provided segment")
            sql += " AND (token, hash, range) > (?, ?, ?)"
            params += [start_token, start_hash, start_range]
        rows = self._writer.reader().execute(f"SELECT item, size FROM items WHERE {sql} ORDER BY token, hash, range",
                                             params)
        return _page(schema, rows, filter, projection, limit, count_only)


def _table(number: int, name: str, definition: dict[str, Any]) -> Table:
    range_key = definition["range_key"]
    return Table(table_name=name, hash_key=KeyAttribute(*definition["hash_key"]),
                 range_key=KeyAttribute(*range_key) if range_key else None, billing_mode=definition["billing_mode"],
                 read_capacity_units=definition["read_capacity_units"],
                 write_capacity_units=definition["write_capacity_units"],
                 creation_date_time=definition["creation_date_time"], table_arn=definition["table_arn"],
                 table_id=definition["table_id"], number=number)


def _read(conn: sqlite3.Connection, table_number: int, hash_bytes: bytes, range_bytes: bytes) -> Item | None:
    row = conn.execute("SELECT item FROM items WHERE table_number = ? AND token = ? AND hash = ? AND range = ?",
                       (table_number, token(hash_bytes), hash_bytes, range_bytes)).fetchone()
    return load_item(row[0]) if row else None


def _checked_size(item: Item) -> int:
    size = item_size(item)
    if size > MAX_ITEM_BYTES:
        raise ItemInvalid("Item size has exceeded the maximum allowed size")
    return size


def _check(condition: Any, old: Item | None, old_on_failure: bool) -> None:
    if condition is not None and not holds(condition, old if old is not None else {}):
        raise ConditionalCheckFailed(old if old_on_failure else None)


def _start_key(table: Table, key: Item) -> tuple[bytes, bytes]:
    try:
        return key_of(table, normalize_item(key))
    except ItemInvalid as error:
        raise ValidationFailed(f"The provided starting key is invalid: {error.message}") from None


def _segment(segment: int | None, total_segments: int | None) -> tuple[int, int]:
    if segment is None and total_segments is None:
        return segment_tokens(0, 1)
    if total_segments is None:
        raise ValidationFailed("The TotalSegments parameter is required but was not present in the request when "
                               "Segment parameter is present")
    if segment is None:
        raise ValidationFailed("The Segment parameter is required but was not present in the request when "
                               "parameter TotalSegments is present")
    if segment >= total_segments:
        raise ValidationFailed(f"The Segment parameter is zero-based and must be less than parameter TotalSegments: "
                               f"Segment: {segment} is out of bounds for TotalSegments: {total_segments}")
    return segment_tokens(segment, total_segments)


def _range_condition(wanted: KeyCondition, sql: list[str], params: list[Any]) -> None:
    if wanted.range_op is None:
        return
    encoded = [key_bytes(v) for v in wanted.range_values]
    if wanted.range_op == "begins_with":
        sql.append("range >= ?")
        params.append(encoded[0])
        upper = successor(encoded[0])
        if upper is not None:
            sql.append("range < ?")
            params.append(upper)
        return
    sql.append(_RANGE_SQL[wanted.range_op])
    params.extend(encoded)


def _page(table: Table, rows: Iterator[tuple[bytes, int]], filter: Any, projection: Sequence[DocumentPath] | None,
          limit: int | None, count_only: bool) -> Page:
    """Read rows until ``limit`` items or 1 MB were read; LastEvaluatedKey only if rows remain."""
    page = Page()
    read = 0
    last: Item | None = None
    for blob, size in rows:
        if (limit is not None and page.scanned_count >= limit) or read >= PAGE_BYTES:
            page.last_evaluated_key = key_values(table, last) if last is not None else None
            break
        item = load_item(blob)
        last = item
        read += size
        page.scanned_count += 1
        if filter is not None and not holds(filter, item):
            continue
        page.count += 1
        if not count_only:
            page.items.append(project(item, projection) if projection is not None else item)
    return page
