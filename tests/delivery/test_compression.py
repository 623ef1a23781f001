"""Firehose CompressionFormat: bodies, extensions, Content-Encoding.

Pages: OBJ "Configure Amazon S3 object name format" (s3-object-name.html) for the extensions;
API reference "ExtendedS3DestinationConfiguration" for the CompressionFormat values. Where the
service differs from OBJ (Snappy is snappy-java's stream format; HADOOP_SNAPPY objects end in
.snappy), the tests say so.
"""
from __future__ import annotations

import gzip
import io
import os
import struct
import zipfile

import cramjam
import pytest

from tidelake.delivery import compression
from tidelake.delivery.compression import (
    BLOCK_SIZE,
    FORMATS,
    GZIP,
    HADOOP_SNAPPY,
    SNAPPY,
    UNCOMPRESSED,
    ZIP,
    compress,
    decompress,
    extension,
)
from tidelake.delivery.errors import CompressedDataCorrupt, CompressionFormatUnknown

PAYLOADS = {
    "empty": b"",
    "one line": b'{"Invoice":"489434","Quantity":12}\n',
    "exactly one block": b"x" * BLOCK_SIZE,
    "blocks and a tail": b"".join(b'{"n":%d}\n' % i for i in range(20_000)),
    "incompressible": os.urandom(3 * BLOCK_SIZE + 17),
}


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("name", PAYLOADS)
def test_round_trip(fmt: str, name: str) -> None:
    data = PAYLOADS[name]
    assert decompress(compress(data, fmt), fmt) == data


def test_extensions_follow_the_object_name_table() -> None:
    # OBJ: Gzip .gz, Zip .zip, Snappy .snappy, Parquet .parquet; nothing for UNCOMPRESSED.
    assert extension(UNCOMPRESSED) == ""
    assert extension(GZIP) == ".gz"
    assert extension(ZIP) == ".zip"
    assert extension(SNAPPY) == ".snappy"


def test_hadoop_snappy_objects_end_in_snappy_not_the_documented_hsnappy() -> None:
    # OBJ tables .hsnappy, but objects delivered by the service end in .snappy (reproduced
    # against real AWS); the two Snappy formats differ only in Content-Encoding.
    assert extension(HADOOP_SNAPPY) == ".snappy"
    assert compression.DOCUMENTED_HADOOP_SNAPPY_EXTENSION == ".hsnappy"


@pytest.mark.parametrize("fmt", FORMATS)
def test_parquet_objects_are_dot_parquet_whatever_the_format(fmt: str) -> None:
    assert extension(fmt, parquet=True) == ".parquet"


@pytest.mark.parametrize("value", ["SNAPPY", "gzip", "LZ4", ""])
def test_values_are_the_enum_spelled_exactly(value: str) -> None:
    with pytest.raises(CompressionFormatUnknown) as e:
        compress(b"x", value)
    assert e.value.value == value
    with pytest.raises(CompressionFormatUnknown):
        extension(value)


def test_uncompressed_is_the_data_itself() -> None:
    assert compress(b"abc", UNCOMPRESSED) == b"abc"


def test_gzip_is_standard_gzip() -> None:
    data = PAYLOADS["blocks and a tail"]
    body = compress(data, GZIP)
    assert body[:2] == b"\x1f\x8b"
    assert gzip.decompress(body) == data
    assert compress(data, GZIP) == body  # mtime 0: a redone flush writes the same bytes


def test_zip_holds_one_deflated_entry() -> None:
    body = compress(b"hello\n", ZIP, zip_entry="entry")
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        (info,) = archive.infolist()
        assert info.filename == "entry"
        assert info.compress_type == zipfile.ZIP_DEFLATED
        assert archive.read(info) == b"hello\n"
    # Without a name the entry gets a random UUID, as Firehose's does.
    with zipfile.ZipFile(io.BytesIO(compress(b"x", ZIP))) as archive:
        assert len(archive.namelist()[0]) == 36


def _xerial_chunks(body: bytes) -> list[bytes]:
    chunks, offset = [], 16
    while offset < len(body):
        (length,) = struct.unpack_from(">i", body, offset)
        chunks.append(body[offset + 4:offset + 4 + length])
        offset += 4 + length
    assert offset == len(body)
    return chunks


def test_snappy_is_the_snappy_java_stream_format() -> None:
    data = PAYLOADS["blocks and a tail"]
    body = compress(data, SNAPPY)
    assert body[:8] == b"\x82SNAPPY\x00"
    assert struct.unpack_from(">ii", body, 8) == (1, 1)  # version, minimum compatible version
    plain = [bytes(cramjam.snappy.decompress_raw(c)) for c in _xerial_chunks(body)]
    assert b"".join(plain) == data
    assert all(len(p) == BLOCK_SIZE for p in plain[:-1]) and 0 < len(plain[-1]) <= BLOCK_SIZE


def test_snappy_of_nothing_is_the_header_alone() -> None:
    assert compress(b"", SNAPPY) == b"\x82SNAPPY\x00" + struct.pack(">ii", 1, 1)


def test_hadoop_snappy_block_structure() -> None:
    # Per block: 4-byte big-endian uncompressed length, 4-byte big-endian compressed length,
    # then raw snappy bytes (Hadoop's BlockCompressorStream with the SnappyCodec).
    data = PAYLOADS["blocks and a tail"]
    body = compress(data, HADOOP_SNAPPY)
    offset, out, sizes = 0, bytearray(), []
    while offset < len(body):
        raw_length, compressed_length = struct.unpack_from(">ii", body, offset)
        block = bytes(cramjam.snappy.decompress_raw(body[offset + 8:offset + 8 + compressed_length]))
        assert len(block) == raw_length
        sizes.append(raw_length)
        out += block
        offset += 8 + compressed_length
    assert bytes(out) == data
    assert sizes == [BLOCK_SIZE] * (len(data) // BLOCK_SIZE) + [len(data) % BLOCK_SIZE]


def test_hadoop_snappy_reader_accepts_several_chunks_per_block() -> None:
    # Other writers split a block into several compressed chunks under one length.
    first, second = b"a" * 100, b"b" * 50
    body = struct.pack(">i", 150)
    for part in (first, second):
        chunk = bytes(cramjam.snappy.compress_raw(part))
        body += struct.pack(">i", len(chunk)) + chunk
    assert decompress(body, HADOOP_SNAPPY) == first + second


def test_snappy_java_reader_accepts_stored_blocks() -> None:
    # snappy-java writes a negative length for a block it kept uncompressed.
    body = compress(b"", SNAPPY) + struct.pack(">i", -3) + b"abc"
    assert decompress(body, SNAPPY) == b"abc"


@pytest.mark.parametrize("fmt, body", [(GZIP, b"not gzip"), (ZIP, b"not zip"), (SNAPPY, b"\x00" * 20),
                                       (SNAPPY, compress(b"", SNAPPY) + b"\x00\x00\x00\x05garbage"),
                                       (HADOOP_SNAPPY, b"\x00\x00\x00\x05\x00\x00\x00\x03abc"),
                                       (HADOOP_SNAPPY, b"\x00\x00")])
def test_corrupt_data_is_reported(fmt: str, body: bytes) -> None:
    with pytest.raises(CompressedDataCorrupt):
        decompress(body, fmt)
