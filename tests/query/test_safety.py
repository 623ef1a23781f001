"""User SQL reads only the lake: table functions, file access, settings and extensions are refused,
first by the allow-list, and DuckDB's sandbox stops anything that slipped through."""
from __future__ import annotations

import pytest

from tidelake.query.errors import QueryFailed

ESCAPES = [
    "SELECT * FROM read_csv('/etc/passwd')",
    "SELECT * FROM read_text('/etc/passwd')",
    "SELECT * FROM \"/etc/passwd\"",
    "SELECT * FROM glob('/etc/*')",
    "SELECT current_setting('enable_external_access')",
    "SELECT getenv('HOME')",
    "COPY (SELECT 1) TO '/tmp/out.csv'",
    "INSTALL httpfs",
    "LOAD httpfs",
    "ATTACH '/tmp/x.db' AS x",
    "SET enable_external_access = true",
    "PRAGMA version",
    "SELECT * FROM other_catalog.db.t",
    "SELECT 1; SELECT 2",
]


@pytest.mark.parametrize("sql", ESCAPES)
def test_escape_is_refused(engine, sql):
    with pytest.raises(QueryFailed):
        engine.execute(sql)


def test_sandbox_blocks_files_outside_the_lake(engine):
    import duckdb
    cursor = engine._con.cursor()
    with pytest.raises(duckdb.PermissionException):
        cursor.execute("SELECT * FROM read_csv('/etc/passwd')")
    with pytest.raises(duckdb.Error):
        cursor.execute("SET enable_external_access = true")


def test_location_cannot_climb_out_of_the_lake(engine):
    with pytest.raises(QueryFailed):
        engine.location_to_path("s3://my-bucket/../../etc")
