"""`tidelake query` runs Athena SQL through a running server and prints the rows."""
from __future__ import annotations

import json
import subprocess

from support import tidelake as run_tidelake


def tidelake(server, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return run_tidelake(server, "query", *args, check=check)


def test_select_as_table_csv_and_json(server):
    out = tidelake(server, "SELECT 1 AS one, 'a' AS letter UNION ALL SELECT 2, NULL ORDER BY 1").stdout
    assert "one" in out and "letter" in out and "NULL" in out
    csv_out = tidelake(server, "SELECT 1 AS one, 'a' AS letter", "--format", "csv").stdout.splitlines()
    assert csv_out == ["one,letter", "1,a"]
    [row] = [json.loads(line) for line in tidelake(server, "SELECT 42 AS x", "--format", "json").stdout.splitlines()]
    assert row == {"x": "42"}


def test_ddl_then_query_in_a_database(server):
    tidelake(server, "CREATE DATABASE IF NOT EXISTS clidb")
    assert "clidb" in tidelake(server, "SHOW DATABASES").stdout
    tidelake(server, "CREATE EXTERNAL TABLE IF NOT EXISTS t (a int) STORED AS PARQUET "
                     "LOCATION 's3://cli-query-lake/t/'", "--database", "clidb")
    assert tidelake(server, "SELECT count(*) AS n FROM t", "--database", "clidb", "--format", "csv"
                    ).stdout.splitlines() == ["n", "0"]


def test_a_failing_query_says_why(server):
    tidelake(server, "CREATE DATABASE IF NOT EXISTS failing")
    result = tidelake(server, "SELECT nope FROM failing.nowhere", check=False)
    assert result.returncode == 1
    assert "FAILED" in result.stderr and "nowhere" in result.stderr
