"""The real AWS CLI (v1, from PyPI) against tidelake's S3: `aws s3` transfers and `aws s3api` errors.

awscli 1.46 uploads files above 8 MiB as multipart uploads of 8 MiB parts with a CRC32 per part,
and downloads them as ranged GETs guarded by If-Match; both are exercised by the 20 MiB tests."""
from __future__ import annotations

import hashlib
import itertools
import json
import os
from pathlib import Path
from typing import Any

import pytest
from support import aws, error_code, ok

MiB = 1024 * 1024
_names = itertools.count()


@pytest.fixture
def bucket(server: Any) -> str:
    name = f"cli-bucket-{next(_names)}-{os.getpid()}"
    assert f"make_bucket: {name}" in ok(aws(server.url, "s3", "mb", f"s3://{name}"))
    return name


def test_cli_small_files_and_listing(server, bucket, tmp_path):
    (tmp_path / "one.txt").write_text("one\n")
    ok(aws(server.url, "s3", "cp", str(tmp_path / "one.txt"), f"s3://{bucket}/docs/one.txt"))
    ok(aws(server.url, "s3", "cp", str(tmp_path / "one.txt"), f"s3://{bucket}/docs/deeper/two words.txt"))
    ok(aws(server.url, "s3", "cp", str(tmp_path / "one.txt"), f"s3://{bucket}/top.txt"))

    assert bucket in ok(aws(server.url, "s3", "ls"))
    top = ok(aws(server.url, "s3", "ls", f"s3://{bucket}/"))
    assert "PRE docs/" in top and "top.txt" in top and "one.txt" not in top
    recursive = [line.split(maxsplit=3)[3] for line in ok(aws(server.url, "s3", "ls", "--recursive",
                                                               f"s3://{bucket}")).splitlines()]
    assert recursive == ["docs/deeper/two words.txt", "docs/one.txt", "top.txt"]

    ok(aws(server.url, "s3", "cp", f"s3://{bucket}/docs/deeper/two words.txt", str(tmp_path / "back.txt")))
    assert (tmp_path / "back.txt").read_text() == "one\n"

    assert f"delete: s3://{bucket}/top.txt" in ok(aws(server.url, "s3", "rm", f"s3://{bucket}/top.txt"))
    ok(aws(server.url, "s3", "rm", "--recursive", f"s3://{bucket}/docs/"))
    assert ok(aws(server.url, "s3", "ls", "--recursive", f"s3://{bucket}")).strip() == ""
    ok(aws(server.url, "s3", "rb", f"s3://{bucket}"))
    assert bucket not in ok(aws(server.url, "s3", "ls"))


def test_cli_twenty_mib_both_directions(server, bucket, tmp_path):
    source = tmp_path / "big.bin"
    data = os.urandom(20 * MiB)
    source.write_bytes(data)
    ok(aws(server.url, "s3", "cp", str(source), f"s3://{bucket}/blobs/big.bin"))
    head = json.loads(ok(aws(server.url, "s3api", "head-object", "--bucket", bucket, "--key", "blobs/big.bin")))
    assert head["ContentLength"] == 20 * MiB
    parts = [data[i:i + 8 * MiB] for i in range(0, len(data), 8 * MiB)]  # awscli's 8 MiB chunks
    digests = b"".join(hashlib.md5(p).digest() for p in parts)
    assert head["ETag"] == f'"{hashlib.md5(digests).hexdigest()}-{len(parts)}"'

    target = tmp_path / "back.bin"
    ok(aws(server.url, "s3", "cp", f"s3://{bucket}/blobs/big.bin", str(target)))
    assert hashlib.sha256(target.read_bytes()).digest() == hashlib.sha256(data).digest()


def test_cli_recursive_copy_and_sync(server, bucket, tmp_path):
    tree = tmp_path / "tree"
    for rel in ["year=2026/month=11/part-0001.json", "year=2026/month=12/part-0001.json", "README"]:
        (tree / rel).parent.mkdir(parents=True, exist_ok=True)
        (tree / rel).write_text(rel)
    ok(aws(server.url, "s3", "cp", "--recursive", str(tree), f"s3://{bucket}/lake"))
    listed = ok(aws(server.url, "s3", "ls", "--recursive", f"s3://{bucket}/lake/"))
    assert sorted(line.split()[-1] for line in listed.splitlines()) == [
        "lake/README", "lake/year=2026/month=11/part-0001.json", "lake/year=2026/month=12/part-0001.json"]
    out = tmp_path / "out"
    ok(aws(server.url, "s3", "sync", f"s3://{bucket}/lake", str(out)))
    assert (out / "year=2026/month=12/part-0001.json").read_text() == "year=2026/month=12/part-0001.json"
    assert ok(aws(server.url, "s3", "sync", str(tree), f"s3://{bucket}/lake")).strip() == ""  # nothing changed


def test_cli_s3api_error_codes(server, bucket, tmp_path):
    assert error_code(aws(server.url, "s3api", "get-object", "--bucket", bucket, "--key", "missing",
                          str(tmp_path / "out"))) == "NoSuchKey"
    assert error_code(aws(server.url, "s3api", "head-object", "--bucket", bucket, "--key", "missing")) == "404"
    assert error_code(aws(server.url, "s3api", "list-objects-v2", "--bucket", "no-such-bucket-cli")) == "NoSuchBucket"
    assert error_code(aws(server.url, "s3api", "create-bucket", "--bucket", bucket, "--create-bucket-configuration",
                          "LocationConstraint=eu-west-1", region="eu-west-1")) == "BucketAlreadyOwnedByYou"
    ok(aws(server.url, "s3api", "put-object", "--bucket", bucket, "--key", "keep", "--body", __file__))
    assert error_code(aws(server.url, "s3api", "delete-bucket", "--bucket", bucket)) == "BucketNotEmpty"
    assert error_code(aws(server.url, "s3api", "create-bucket", "--bucket", "Not_Valid")) == "InvalidBucketName"
    assert error_code(aws(server.url, "s3api", "get-object", "--bucket", bucket, "--key", "keep", "--range",
                          "bytes=999999-", str(tmp_path / "out"))) == "InvalidRange"
    assert error_code(aws(server.url, "s3api", "get-bucket-policy", "--bucket", bucket)) == "NotImplemented"
    result = aws(server.url, "s3", "rb", f"s3://{bucket}")
    assert result.returncode != 0 and "BucketNotEmpty" in result.stderr


def test_cli_s3api_copy_and_list(server, bucket):
    ok(aws(server.url, "s3api", "put-object", "--bucket", bucket, "--key", "src/a+b c.txt", "--body", __file__,
           "--metadata", "team=data"))
    ok(aws(server.url, "s3api", "copy-object", "--bucket", bucket, "--key", "dst/copy.txt",
           "--copy-source", f"{bucket}/src/a+b c.txt"))
    head = json.loads(ok(aws(server.url, "s3api", "head-object", "--bucket", bucket, "--key", "dst/copy.txt")))
    assert head["Metadata"] == {"team": "data"} and head["ContentLength"] == Path(__file__).stat().st_size
    listed = json.loads(ok(aws(server.url, "s3api", "list-objects-v2", "--bucket", bucket, "--delimiter", "/")))
    assert [p["Prefix"] for p in listed["CommonPrefixes"]] == ["dst/", "src/"]  # merged pages: no KeyCount
    keys = json.loads(ok(aws(server.url, "s3api", "list-objects", "--bucket", bucket, "--page-size", "1")))
    assert [o["Key"] for o in keys["Contents"]] == ["dst/copy.txt", "src/a+b c.txt"]  # the CLI follows markers
