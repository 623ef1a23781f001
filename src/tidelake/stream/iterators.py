"""Shard iterator tokens: opaque, tamper-proof (HMAC) and stamped with their issue time."""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import struct
from dataclasses import dataclass

from tidelake.stream.errors import InvalidIterator

_FIXED = struct.Struct("<QIQQ")  # stream key, shard index, position (counter), issued at (ms)
_MAC_BYTES = 12


@dataclass(frozen=True, slots=True)
class IteratorState:
    stream_name: str
    stream_key: int
    shard_index: int
    position: int
    issued_ms: int


class IteratorCodec:
    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def _mac(self, body: bytes) -> bytes:
        return hmac.new(self._secret, body, hashlib.sha256).digest()[:_MAC_BYTES]

    def encode(self, state: IteratorState) -> str:
        body = _FIXED.pack(state.stream_key, state.shard_index, state.position, state.issued_ms) + \
            state.stream_name.encode()
        return base64.urlsafe_b64encode(body + self._mac(body)).decode()

    def decode(self, token: str) -> IteratorState:
        try:
            raw = base64.urlsafe_b64decode(token.encode())
        except (binascii.Error, ValueError, UnicodeEncodeError):
            raise InvalidIterator() from None
        body, mac = raw[:-_MAC_BYTES], raw[-_MAC_BYTES:]
        if len(body) <= _FIXED.size or not hmac.compare_digest(mac, self._mac(body)):
            raise InvalidIterator()
        stream_key, shard_index, position, issued_ms = _FIXED.unpack_from(body)
        return IteratorState(body[_FIXED.size:].decode(), stream_key, shard_index, position, issued_ms)
