"""Firehose ``CompressionFormat``: compress a delivered object, name its extension and encoding.

Sources: "Configure Amazon S3 object name format" (s3-object-name.html) tables the extensions;
the API reference's CompressionFormat enum gives the values (case matters: ``Snappy`` is not
``SNAPPY``). Two details differ from a first reading of the docs and follow what the service
delivers, as objects captured from real AWS show (the floci emulator's issue #2328 and a second,
independent emulator report the same):

- ``Snappy`` is the xerial snappy-java stream (``SnappyOutputStream``: magic ``\\x82SNAPPY\\x00``,
  two version words, then length-prefixed raw snappy blocks), not the snappy framing format.
- ``HADOOP_SNAPPY`` is Hadoop's block format, and its objects end in ``.snappy`` although the
  object-name table says ``.hsnappy``; only ``Content-Encoding`` tells the two apart.

With format conversion the object is ``.parquet`` and its compression lives inside the file
(Firehose requires ``CompressionFormat`` UNCOMPRESSED then).
"""
from __future__ import annotations

import gzip
import io
import struct
import uuid
import zipfile
import zlib

import cramjam

from tidelake.delivery.errors import CompressedDataCorrupt, CompressionFormatUnknown

UNCOMPRESSED = "UNCOMPRESSED"
GZIP = "GZIP"
ZIP = "ZIP"
SNAPPY = "Snappy"
HADOOP_SNAPPY = "HADOOP_SNAPPY"
FORMATS = (UNCOMPRESSED, GZIP, ZIP, SNAPPY, HADOOP_SNAPPY)

_EXTENSIONS = {UNCOMPRESSED: "", GZIP: ".gz", ZIP: ".zip", SNAPPY: ".snappy", HADOOP_SNAPPY: ".snappy"}
DOCUMENTED_HADOOP_SNAPPY_EXTENSION = ".hsnappy"  # what s3-object-name.html tables; not what S3 receives
PARQUET_EXTENSION = ".parquet"

XERIAL_MAGIC = b"\x82SNAPPY\x00"
_XERIAL_HEADER = XERIAL_MAGIC + struct.pack(">ii", 1, 1)  # version 1, minimum compatible version 1
BLOCK_SIZE = 32 * 1024  # snappy-java's default block for both stream formats
GZIP_LEVEL = 6  # zlib's default: level 9 costs ~3x the CPU for a few percent


def _check(fmt: str) -> str:
    if fmt not in _EXTENSIONS:
        raise CompressionFormatUnknown(fmt, FORMATS)
    return fmt


def extension(fmt: str, *, parquet: bool = False) -> str:
    """The suffix Firehose appends to an object name (``""`` for UNCOMPRESSED)."""
    _check(fmt)
    return PARQUET_EXTENSION if parquet else _EXTENSIONS[fmt]


def compress(data: bytes, fmt: str, *, zip_entry: str | None = None) -> bytes:
    """The object body for ``data`` in format ``fmt``.

    A ZIP object holds one deflated entry; Firehose names it with a random UUID, so pass
    ``zip_entry`` when the bytes must be reproducible.
    """
    _check(fmt)
    if fmt == UNCOMPRESSED:
        return data
    if fmt == GZIP:
        return gzip.compress(data, compresslevel=GZIP_LEVEL, mtime=0)
    if fmt == ZIP:
        return _zip(data, zip_entry or str(uuid.uuid4()))
    if fmt == SNAPPY:
        return _xerial(data)
    return _hadoop(data)


def decompress(data: bytes, fmt: str) -> bytes:
    """The inverse of ``compress``, for tests and tools (raises CompressedDataCorrupt)."""
    _check(fmt)
    try:
        if fmt == UNCOMPRESSED:
            return data
        if fmt == GZIP:
            return gzip.decompress(data)
        if fmt == ZIP:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                names = archive.namelist()
                if len(names) != 1:
                    raise CompressedDataCorrupt(fmt, f"expected one entry, found {len(names)}")
                return archive.read(names[0])
        if fmt == SNAPPY:
            return _unxerial(data)
        return _unhadoop(data)
    except (OSError, EOFError, zlib.error, zipfile.BadZipFile, struct.error,
            cramjam.DecompressionError) as e:
        raise CompressedDataCorrupt(fmt, str(e)) from e


def _zip(data: bytes, entry: str) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=GZIP_LEVEL) as archive:
        archive.writestr(zipfile.ZipInfo(entry, date_time=(1980, 1, 1, 0, 0, 0)), data,
                         compress_type=zipfile.ZIP_DEFLATED)
    return out.getvalue()


def _blocks(data: bytes) -> list[bytes]:
    view = memoryview(data)
    return [bytes(cramjam.snappy.compress_raw(view[i:i + BLOCK_SIZE])) for i in range(0, len(data), BLOCK_SIZE)]


def _xerial(data: bytes) -> bytes:
    # Step per block: 4-byte big-endian compressed length, then the raw snappy bytes.
    parts = [_XERIAL_HEADER]
    for block in _blocks(data):
        parts += (struct.pack(">i", len(block)), block)
    return b"".join(parts)


def _hadoop(data: bytes) -> bytes:
    # Hadoop BlockCompressorStream: uncompressed length, compressed length, raw snappy, per block.
    parts: list[bytes] = []
    for start, block in zip(range(0, len(data), BLOCK_SIZE), _blocks(data)):
        parts += (struct.pack(">ii", min(BLOCK_SIZE, len(data) - start), len(block)), block)
    return b"".join(parts)


def _unxerial(data: bytes) -> bytes:
    if data[:8] != XERIAL_MAGIC:
        raise CompressedDataCorrupt(SNAPPY, "missing the snappy-java magic header")
    out, offset = bytearray(), 16
    while offset < len(data):
        (length,) = struct.unpack_from(">i", data, offset)
        offset += 4
        if length < 0:  # snappy-java stores a block uncompressed when compression would grow it
            out += data[offset:offset - length]
            offset -= length
        else:
            out += cramjam.snappy.decompress_raw(data[offset:offset + length])
            offset += length
    return bytes(out)


def _unhadoop(data: bytes) -> bytes:
    # A block may hold several compressed chunks; the leading length covers all of them.
    out, offset = bytearray(), 0
    while offset < len(data):
        (expected,) = struct.unpack_from(">i", data, offset)
        offset += 4
        produced = 0
        while produced < expected:
            (length,) = struct.unpack_from(">i", data, offset)
            offset += 4
            chunk = bytes(cramjam.snappy.decompress_raw(data[offset:offset + length]))
            offset += length
            out += chunk
            produced += len(chunk)
        if produced != expected:
            raise CompressedDataCorrupt(HADOOP_SNAPPY, f"block decoded to {produced} bytes, header said {expected}")
    return bytes(out)
