"""Request payloads of the REST protocols: streamed from the socket, decoded, checked.

Object bodies are not read into memory: ``BodyPump`` hands the ASGI stream to the (sync) object
store about one MiB at a time, ``decode_aws_chunked`` unwraps ``Content-Encoding: aws-chunked``
framing (``STREAMING-*`` payload hashes: chunk signatures, trailing checksums), and ``Integrity``
recomputes every digest the client declared (Content-MD5, x-amz-content-sha256, x-amz-checksum-*,
trailing x-amz-checksum-*) and raises at the end of the stream, so the store discards the object
instead of keeping corrupt bytes.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
from typing import Any, Callable, Iterable, Iterator, Mapping

import anyio.from_thread
from botocore import httpchecksum
from starlette.requests import Request

from tidelake.errors import InvalidArgument

READ_SIZE = 1024 * 1024  # bytes handed to the store per hop between the event loop and its thread
MAX_FRAME_LINE = 4096  # a chunk header or trailer line longer than this is not aws-chunked
STREAMING_PREFIX = "STREAMING-"


class BadDigest(InvalidArgument):
    def __init__(self, algorithm: str) -> None:
        self.algorithm = algorithm
        what = "Content-MD5" if algorithm == "md5" else algorithm.upper()
        super().__init__(f"The {what} you specified did not match the calculated checksum.")


class InvalidDigest(InvalidArgument):
    def __init__(self, header: str) -> None:
        self.header = header
        super().__init__(f"The {header} you specified is not valid.")


class ContentSHA256Mismatch(InvalidArgument):
    def __init__(self, declared: str, computed: str) -> None:
        self.declared = declared
        self.computed = computed
        super().__init__("The provided 'x-amz-content-sha256' header does not match what was computed.")


class IncompleteBody(InvalidArgument):
    def __init__(self, message: str = "You did not provide the number of bytes specified by the "
                                      "Content-Length HTTP header.") -> None:
        super().__init__(message)


def _checksum_classes() -> dict[str, Callable[[], Any]]:
    """Flexible-checksum algorithms botocore can compute here (CRC32C/CRC64NVME need awscrt)."""
    classes: dict[str, Callable[[], Any]] = {
        "crc32": httpchecksum.Crc32Checksum, "sha1": httpchecksum.Sha1Checksum,
        "sha256": httpchecksum.Sha256Checksum, "sha512": httpchecksum.Sha512Checksum,
    }
    classes.update(getattr(httpchecksum, "_CHECKSUM_CLS", {}))  # includes the awscrt ones when present
    return classes


CHECKSUMS = _checksum_classes()


class BodyPump:
    """Reads the request body on the event loop, in ~1 MiB pieces, for code running in a worker
    thread (``anyio.from_thread``): the store's sync writers consume it as an iterator."""

    def __init__(self, request: Request) -> None:
        self._stream = request.stream().__aiter__()
        self._done = False

    async def read(self) -> bytes:
        parts: list[bytes] = []
        size = 0
        while not self._done and size < READ_SIZE:
            try:
                chunk = await self._stream.__anext__()
            except StopAsyncIteration:
                self._done = True
                break
            parts.append(chunk)
            size += len(chunk)
        return b"".join(parts)

    def chunks(self) -> Iterator[bytes]:
        """Call from a worker thread only."""
        while data := anyio.from_thread.run(self.read):
            yield data


class Integrity:
    """Digests declared by the request, recomputed over the bytes as they pass."""

    def __init__(self, headers: Mapping[str, str]) -> None:
        self._md5 = None
        self._sha256 = None
        self._expected: dict[str, str] = {}
        self._checksums: dict[str, Any] = {}
        if "content-md5" in headers:
            self._expected["md5"] = _b64_digest(headers["content-md5"], 16, "Content-MD5")
            self._md5 = hashlib.md5()
        declared_sha = headers.get("x-amz-content-sha256", "")
        if len(declared_sha) == 64 and not declared_sha.startswith(STREAMING_PREFIX):
            self._expected["content-sha256"] = declared_sha.lower()
            self._sha256 = hashlib.sha256()
        trailers = {name.strip().lower() for name in headers.get("x-amz-trailer", "").split(",")}
        for algorithm, cls in CHECKSUMS.items():
            name = f"x-amz-checksum-{algorithm}"
            if name in headers:
                self._expected[algorithm] = headers[name]
                self._checksums[algorithm] = cls()
            elif name in trailers:
                self._checksums[algorithm] = cls()  # the value arrives after the body

    def update(self, data: bytes | memoryview) -> None:
        if self._md5 is not None:
            self._md5.update(data)
        if self._sha256 is not None:
            self._sha256.update(data)
        for checksum in self._checksums.values():
            checksum.update(data)

    def verify(self, trailers: Mapping[str, str] | None = None) -> dict[str, str]:
        """Raise on any mismatch; returns the verified ``x-amz-checksum-*`` values to echo."""
        if self._sha256 is not None and self._sha256.hexdigest() != self._expected["content-sha256"]:
            raise ContentSHA256Mismatch(self._expected["content-sha256"], self._sha256.hexdigest())
        if self._md5 is not None and self._md5.digest() != self._expected["md5"]:
            raise BadDigest("md5")
        verified = {}
        for algorithm, checksum in self._checksums.items():
            name = f"x-amz-checksum-{algorithm}"
            expected = self._expected.get(algorithm) or (trailers or {}).get(name)
            if expected is None:
                continue
            if checksum.b64digest() != expected.strip():
                raise BadDigest(algorithm)
            verified[name] = checksum.b64digest()
        return verified


def _b64_digest(value: str, size: int, header: str) -> bytes:
    try:
        digest = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise InvalidDigest(header) from None
    if len(digest) != size:
        raise InvalidDigest(header)
    return digest


def is_aws_chunked(headers: Mapping[str, str]) -> bool:
    return headers.get("x-amz-content-sha256", "").startswith(STREAMING_PREFIX)


def decode_aws_chunked(raw: Iterable[bytes], trailers: dict[str, str]) -> Iterator[bytes]:
    """Unwrap ``<hex size>[;chunk-signature=..]\\r\\n<data>\\r\\n ... 0\\r\\n<trailers>\\r\\n``.

    Trailer lines (``x-amz-checksum-crc32:...``) are stored in ``trailers``. Chunk signatures are
    read but not checked: the seed signature covers the headers (see docs/s3.md).
    """
    source = iter(raw)
    buffer = bytearray()

    def fill(size: int) -> bool:
        while len(buffer) < size:
            chunk = next(source, None)
            if chunk is None:
                return False
            buffer.extend(chunk)
        return True

    def line() -> bytes:
        while (end := buffer.find(b"\r\n")) < 0:
            if len(buffer) > MAX_FRAME_LINE or not fill(len(buffer) + 1):
                raise IncompleteBody("The aws-chunked body ended inside a chunk header.")
        if end > MAX_FRAME_LINE:
            raise IncompleteBody("An aws-chunked chunk header is too long.")
        text = bytes(buffer[:end])
        del buffer[:end + 2]
        return text

    while True:
        header = line()
        try:
            size = int(header.split(b";", 1)[0].strip(), 16)
        except ValueError:
            raise IncompleteBody("An aws-chunked chunk header is malformed.") from None
        if size == 0:
            break
        if not fill(size + 2):
            raise IncompleteBody("The aws-chunked body ended inside a chunk.")
        if buffer[size:size + 2] != b"\r\n":
            raise IncompleteBody("An aws-chunked chunk is longer than its header says.")
        yield bytes(buffer[:size])
        del buffer[:size + 2]
    while buffer or fill(1):  # trailers end with an empty line; tolerate a body that just ends
        trailer = line()
        if not trailer:
            break
        name, _, value = trailer.decode("latin-1").partition(":")
        trailers[name.strip().lower()] = value.strip()


def checked_body(chunks: Iterable[bytes], headers: Mapping[str, str],
                 verified: dict[str, str]) -> Iterator[bytes]:
    """The object's bytes from the request body: decoded, counted and checked. Raises (so the
    store keeps nothing) after the last byte if a digest or the declared length does not match;
    fills ``verified`` with the checksums to echo."""
    integrity = Integrity(headers)
    trailers: dict[str, str] = {}
    if is_aws_chunked(headers):
        chunks = decode_aws_chunked(chunks, trailers)
        declared = headers.get("x-amz-decoded-content-length")
    else:
        declared = None
    total = 0
    for chunk in chunks:
        integrity.update(chunk)
        total += len(chunk)
        yield chunk
    if declared is not None and declared.isdigit() and int(declared) != total:
        raise IncompleteBody(f"The decoded body is {total} bytes; x-amz-decoded-content-length says {declared}.")
    verified.update(integrity.verify(trailers))
