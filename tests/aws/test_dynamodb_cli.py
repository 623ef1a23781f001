"""The real AWS CLI (v1, from PyPI) against tidelake: `python -m awscli dynamodb ... --endpoint-url`."""
from __future__ import annotations

import json
import subprocess
from typing import Any

from support import aws as aws_cli
from support import error_code


def aws(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return aws_cli(url, "dynamodb", *args, "--output", "json", timeout=60)


def ok(result: subprocess.CompletedProcess[str]) -> Any:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout) if result.stdout.strip() else None


def test_cli_create_put_get_query(server):
    created = ok(aws(server.url, "create-table", "--table-name", "cli-music",
                     "--attribute-definitions", "AttributeName=Artist,AttributeType=S",
                     "AttributeName=SongTitle,AttributeType=S",
                     "--key-schema", "AttributeName=Artist,KeyType=HASH", "AttributeName=SongTitle,KeyType=RANGE",
                     "--billing-mode", "PAY_PER_REQUEST"))
    assert created["TableDescription"]["TableStatus"] == "ACTIVE"
    for title, year in (("Call Me Today", "2019"), ("Happy Day", "2021")):
        ok(aws(server.url, "put-item", "--table-name", "cli-music", "--item",
               json.dumps({"Artist": {"S": "Acme Band"}, "SongTitle": {"S": title}, "Year": {"N": year}})))
    got = ok(aws(server.url, "get-item", "--table-name", "cli-music", "--key",
                 '{"Artist": {"S": "Acme Band"}, "SongTitle": {"S": "Happy Day"}}'))
    assert got["Item"]["Year"] == {"N": "2021"}
    found = ok(aws(server.url, "query", "--table-name", "cli-music",
                   "--key-condition-expression", "Artist = :a AND begins_with(SongTitle, :t)",
                   "--expression-attribute-values", '{":a": {"S": "Acme Band"}, ":t": {"S": "Ca"}}'))
    assert [i["SongTitle"]["S"] for i in found["Items"]] == ["Call Me Today"] and found["Count"] == 1
    everything = ok(aws(server.url, "query", "--table-name", "cli-music", "--key-condition-expression", "Artist = :a",
                        "--expression-attribute-values", '{":a": {"S": "Acme Band"}}', "--page-size", "1"))
    assert [i["SongTitle"]["S"] for i in everything["Items"]] == ["Call Me Today", "Happy Day"]  # pages joined


def test_cli_sees_dynamodb_error_codes(server):
    assert error_code(aws(server.url, "get-item", "--table-name", "cli-missing", "--key",
                          '{"id": {"S": "1"}}')) == "ResourceNotFoundException"
    ok(aws(server.url, "create-table", "--table-name", "cli-conditional",
           "--attribute-definitions", "AttributeName=id,AttributeType=S",
           "--key-schema", "AttributeName=id,KeyType=HASH", "--billing-mode", "PAY_PER_REQUEST"))
    ok(aws(server.url, "put-item", "--table-name", "cli-conditional", "--item", '{"id": {"S": "1"}}'))
    assert error_code(aws(server.url, "put-item", "--table-name", "cli-conditional", "--item", '{"id": {"S": "1"}}',
                          "--condition-expression", "attribute_not_exists(id)")) == "ConditionalCheckFailedException"
