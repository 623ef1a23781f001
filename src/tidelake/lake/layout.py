"""How object keys map to files under ``<root>/<bucket>/``, and how a listing walks them.

A key is split on ``/`` and every segment becomes one path component, so
``json-data/year=2026/month=11/f.json`` is that very file and Hive-style readers (DuckDB, Trino,
Spark) see ordinary partition folders. S3 keys can do three things a file tree cannot; each gets
an escape whose name starts with ``.tl~`` (a dot-name, so Hive/Trino/Spark skip it as hidden):

* ``.tl~self`` -- a key that is also a "folder" (``a`` and ``a/b`` both exist): ``a`` becomes a
  directory and the object ``a`` is stored as ``a/.tl~self``. It moves back to the plain file
  ``a`` once ``a/`` holds nothing else, so only the rare conflicting keys ever use the escape.
* ``.tl~empty`` -- an empty segment: the folder marker ``year=2026/`` is the (usually empty) file
  ``year=2026/.tl~empty``; ``a//b`` is ``a/.tl~empty/b``.
* ``.tl~x`` -- a user segment that itself starts with ``.tl~`` is stored as ``.tl~x<segment>``.

Any other name starting with ``.tl~`` is ignored by listings. Segments ``.`` and ``..`` never reach
this module (``rules.validate_key`` rejects them).
"""
from __future__ import annotations

import base64
import binascii
import os
from typing import Iterator

from tidelake.lake.errors import InvalidContinuationToken
from tidelake.lake.rules import segment_problem

ESCAPE = ".tl~"
SELF = ".tl~self"
EMPTY = ".tl~empty"
LITERAL = ".tl~x"
MAX_NAME_BYTES = 255  # NAME_MAX of ext4, xfs, btrfs, apfs

_FILE, _DIR = 0, 1
Entry = tuple[str, "str | None"]  # (key, file path) or (common prefix, None)


def encode_segment(segment: str) -> str:
    if segment == "":
        return EMPTY
    if segment.startswith(ESCAPE):
        return LITERAL + segment
    return segment


def decode_name(name: str) -> str | None:
    """The key segment a directory entry stands for; None for internal or foreign names."""
    if name.startswith(ESCAPE):
        if name == EMPTY:
            return ""
        rest = name[len(LITERAL):]
        return rest if name.startswith(LITERAL) and rest.startswith(ESCAPE) else None
    try:
        name.encode("utf-8")  # undecodable on-disk names come back with lone surrogates
    except UnicodeEncodeError:
        return None
    return None if segment_problem(name) else name  # a hand-made file no valid key could name


def encode_key(key: str) -> list[str] | None:
    """Path components for a validated key, or None if one is longer than a file name may be."""
    names = [encode_segment(segment) for segment in key.split("/")]
    if any(len(name.encode("utf-8")) > MAX_NAME_BYTES for name in names):
        return None
    return names


def locate(bucket_dir: str, names: list[str]) -> str | None:
    """The data file of the key spelled by ``names``, or None if there is no such object."""
    path = os.path.join(bucket_dir, *names)
    try:
        if os.path.isfile(path):
            return path
        self_path = os.path.join(path, SELF)
        return self_path if os.path.isfile(self_path) else None
    except (OSError, ValueError):
        return None


def any_object(dir_path: str) -> bool:
    """Whether a directory holds at least one object (unsorted, stops at the first)."""
    subdirs = []
    try:
        with os.scandir(dir_path) as entries:
            for entry in entries:
                if entry.name != SELF and decode_name(entry.name) is None:
                    continue
                if entry.is_file():
                    return True
                if entry.is_dir() and entry.name != SELF:
                    subdirs.append(entry.path)
    except OSError:
        return False
    return any(any_object(path) for path in subdirs)


def list_entries(bucket_dir: str, prefix: str, delimiter: str | None,
                 after: str | None) -> Iterator[Entry]:
    """Keys and common prefixes in S3 ListObjectsV2 order, each greater than ``after``.

    As in S3, keys are rolled up into common prefixes first, then entries not after ``after``
    are dropped: a start-after or token equal to a common prefix skips everything inside it.
    With ``/`` as delimiter, directories are rolled up without being descended into.
    """
    last_prefix = None
    for item, path in _walk(bucket_dir, "", prefix, after, delimiter == "/"):
        if path is not None and delimiter:
            cut = item.find(delimiter, len(prefix))
            if cut >= 0:
                common = item[:cut + len(delimiter)]
                if common != last_prefix and (after is None or common > after):
                    last_prefix = common
                    yield common, None
                continue
        yield item, path


def _walk(dir_path: str, base: str, prefix: str, after: str | None,
          rollup: bool) -> Iterator[Entry]:
    """Objects under ``dir_path`` (whose keys start with ``base``), in key order.

    Python compares str by code point, which is the same order as UTF-8 bytes (S3's order).
    """
    rest = prefix[len(base):] if len(prefix) > len(base) else ""
    if "/" in rest:  # the prefix names a deeper folder: go straight there, list nothing here
        segment = rest.split("/", 1)[0]
        if "\x00" in segment or segment in (".", ".."):
            return
        child = os.path.join(dir_path, encode_segment(segment))
        if os.path.isdir(child):
            yield from _walk(child, base + segment + "/", prefix, after, rollup)
        return
    for _, segment, kind, path in _children(dir_path, rest):
        if kind == _FILE:
            key = base + segment
            if after is None or key > after:
                yield key, path
            continue
        folder = base + segment + "/"  # every key inside starts with it: one contiguous block
        if after is not None and folder < after and not after.startswith(folder):
            continue
        if rollup:
            if (after is None or folder > after) and any_object(path):
                yield folder, None
            continue
        yield from _walk(path, folder, prefix, after, rollup)


def _children(dir_path: str, rest: str) -> list[tuple[str, str, int, str]]:
    """Sorted ``(sort key, segment, kind, path)`` of the entries whose segment starts with ``rest``.

    A folder sorts as ``segment + "/"`` (where its keys start); its ``.tl~self`` object sorts as
    the bare segment, which can differ from the folder's place (``a`` < ``a!`` < ``a/``).
    """
    children = []
    try:
        with os.scandir(dir_path) as entries:
            for entry in entries:
                segment = decode_name(entry.name)
                if segment is None or not segment.startswith(rest):
                    continue
                if entry.is_dir():
                    children.append((segment + "/", segment, _DIR, entry.path))
                    self_path = os.path.join(entry.path, SELF)
                    if os.path.isfile(self_path):
                        children.append((segment, segment, _FILE, self_path))
                elif entry.is_file():
                    children.append((segment, segment, _FILE, entry.path))
    except (FileNotFoundError, NotADirectoryError):
        return []
    children.sort()
    return children


_TOKEN_PREFIX = "tl1."


def encode_token(last_entry: str) -> str:
    """An opaque continuation token: the last key or common prefix of the page."""
    return _TOKEN_PREFIX + base64.urlsafe_b64encode(last_entry.encode("utf-8")).decode("ascii")


def decode_token(bucket: str, token: str) -> str:
    try:
        if not token.startswith(_TOKEN_PREFIX):
            raise ValueError(token)
        raw = base64.b64decode(token[len(_TOKEN_PREFIX):], altchars=b"-_", validate=True)
        if not raw:
            raise ValueError(token)
        return raw.decode("utf-8")
    except (ValueError, binascii.Error, UnicodeError):
        raise InvalidContinuationToken(bucket, token) from None
