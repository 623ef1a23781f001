"""LocalObjectStore: the lake as a folder tree, one plain file per object.

Under ``root``::

    <bucket>/<key>                       object bytes, at their key (escapes: see layout.py)
    .tidelake/tmp/                       staging; every write is renamed from here into place
    .tidelake/meta/<bucket>/bucket.json  creation date
    .tidelake/meta/<bucket>/objects/<h[:2]>/<h>.json   sidecar, h = sha256(key)
    .tidelake/uploads/<upload id>/       multipart parts (local_uploads.py)
    .tidelake/journal/<id>.json          intent of a two-step move, replayed after a crash

Sidecars rather than xattrs: xattrs are missing or size-limited on tmpfs (older kernels), some
overlay/NFS mounts, and macOS/Windows, and they vanish when a user copies the lake with ordinary
tools. Sidecar names are hashed so that no key (``a`` next to ``a/b``, 1,024-byte keys) can make
two sidecars collide as file and folder. Each sidecar entry carries a stamp of the data file
(size, mtime_ns) and is used only while it matches; otherwise -- sidecar lost, file replaced
by hand, crash between the two renames -- the ETag is recomputed from the bytes (and
remembered) and the content type falls back to S3's default. A put writes the sidecar *before* renaming the data,
keeping the previous object's entry too, so either file a crash leaves in place is described.

One process owns a root: the locks below are in-process.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Callable, Iterator, Sequence, cast

import orjson

from tidelake.clock import Clock, SystemClock
from tidelake.errors import TidelakeError, ValidationFailed
from tidelake.lake import layout
from tidelake.lake.errors import (
    BucketAlreadyExists,
    BucketNotEmpty,
    BucketNotFound,
    InvalidObjectKey,
    InvalidRange,
    ObjectNotFound,
    UploadNotFound,
)
from tidelake.lake.rules import (
    ByteRange,
    Data,
    check_range,
    is_valid_bucket_name,
    multipart_etag,
    normalize_metadata,
    quote_etag,
    resolve_range,
    validate_bucket_name,
    validate_key,
    validate_part_number,
)
from tidelake.lake.layout import decode_token, encode_token
from tidelake.lake.local_files import (
    RangeReader,
    Staged,
    Staging,
    md5_of_fd,
    md5_of_path,
    unlink_quietly,
)
from tidelake.lake.local_tree import Tree
from tidelake.lake.local_uploads import LocalUploads
from tidelake.lake.models import (
    DEFAULT_CONTENT_TYPE,
    MAX_KEYS,
    MIN_PART_SIZE,
    BucketInfo,
    DeleteResult,
    ListPage,
    ObjectInfo,
    ObjectSummary,
    PartInfo,
)

_KEY_LOCKS = 64


class LocalObjectStore:
    """The ObjectStore on a local folder; see the module docstring for the layout."""

    def __init__(self, root: str | os.PathLike[str], *, fsync: bool = True,
                 clock: Clock | None = None, min_part_size: int = MIN_PART_SIZE) -> None:
        self.root = Path(os.path.abspath(root))
        self.min_part_size = min_part_size
        self._root = str(self.root)
        system = os.path.join(self._root, ".tidelake")
        self._meta = os.path.join(system, "meta")
        os.makedirs(self._meta, exist_ok=True)
        self._staging = Staging(os.path.join(system, "tmp"), clock or SystemClock(), fsync)
        self._uploads = LocalUploads(os.path.join(system, "uploads"), self._staging)
        # Lock order: a key lock, then the tree lock. The tree lock guards every change to
        # folders (mkdir, rmdir, file<->folder moves) and the final rename of a put.
        self._tree_lock = threading.RLock()
        self._key_locks = [threading.RLock() for _ in range(_KEY_LOCKS)]
        self._tree = Tree(self._root, os.path.join(system, "journal"), self._staging)
        self._tree.recover()
        self._staging.remove_stale()

    # -- buckets ---------------------------------------------------------------------------

    def create_bucket(self, bucket: str) -> BucketInfo:
        bucket_dir = self._bucket_dir(bucket)
        with self._tree_lock:
            if os.path.isdir(bucket_dir):
                raise BucketAlreadyExists(bucket)
            meta_dir = os.path.join(self._meta, bucket)
            shutil.rmtree(meta_dir, ignore_errors=True)  # a crash may have left a deleted one's
            os.makedirs(meta_dir)
            created = self._staging.clock.now()
            self._staging.write_atomic(os.path.join(meta_dir, "bucket.json"),
                                       orjson.dumps({"creation_date": created}))
            os.mkdir(bucket_dir)  # last: the bucket exists only once its metadata does
            self._staging.sync_dir(self._root)
        return BucketInfo(bucket, created)

    def head_bucket(self, bucket: str) -> BucketInfo:
        bucket_dir = self._require_bucket(bucket)
        return BucketInfo(bucket, self._creation_date(bucket, bucket_dir))

    def list_buckets(self) -> list[BucketInfo]:
        found = []
        with os.scandir(self._root) as entries:
            for entry in entries:
                if entry.is_dir() and is_valid_bucket_name(entry.name):
                    found.append(BucketInfo(entry.name, self._creation_date(entry.name, entry.path)))
        return sorted(found, key=lambda info: info.name)

    def delete_bucket(self, bucket: str) -> None:
        """Delete an empty bucket; in-progress multipart uploads into it are aborted."""
        bucket_dir = self._bucket_dir(bucket)
        with self._tree_lock:
            self._require_bucket(bucket)
            if any(files for _, _, files in os.walk(bucket_dir)):
                raise BucketNotEmpty(bucket)
            for upload_id in self._uploads.ids_for_bucket(bucket):
                self._uploads.remove(upload_id)
            for folder, _, _ in sorted(os.walk(bucket_dir), key=lambda w: -len(w[0])):
                os.rmdir(folder)  # only empty folders are left: deepest first
            shutil.rmtree(os.path.join(self._meta, bucket), ignore_errors=True)

    # -- objects ---------------------------------------------------------------------------

    def put_object(self, bucket: str, key: str, data: Data,
                   metadata: dict[str, str] | None = None,
                   content_type: str | None = None) -> ObjectInfo:
        self._key_path(bucket, key)
        clean = normalize_metadata(bucket, key, metadata)
        self._require_bucket(bucket)  # fail before reading the data, not after
        staged = self._staging.stage(data)
        return self._commit(bucket, key, staged, quote_etag(staged.md5.hex()), content_type, clean)

    def get_object(self, bucket: str, key: str,
                   byte_range: ByteRange | None = None) -> tuple[ObjectInfo, bytes]:
        info, stream = self.open_object(bucket, key, byte_range)
        with stream:
            return info, stream.read()

    def open_object(self, bucket: str, key: str,
                    byte_range: ByteRange | None = None) -> tuple[ObjectInfo, BinaryIO]:
        """Info and a reader of the object (or range). Objects are replaced, never rewritten in
        place, so the reader keeps seeing the version it opened while others overwrite it."""
        check_range(bucket, key, byte_range)
        raw, info = self._open(bucket, key)
        first_last = resolve_range(byte_range, info.size)
        if first_last is None:
            raw.close()
            raise InvalidRange(bucket, key, cast(ByteRange, byte_range), info.size)
        return info, cast(BinaryIO, RangeReader.buffered(raw, *first_last))

    def head_object(self, bucket: str, key: str) -> ObjectInfo:
        raw, info = self._open(bucket, key)
        raw.close()
        return info

    def delete_object(self, bucket: str, key: str) -> None:
        """Remove the object; like S3, deleting a missing key succeeds."""
        bucket_dir, names = self._key_path(bucket, key)
        self._require_bucket(bucket)
        with self._key_lock(bucket, key):
            with self._tree_lock:
                path = layout.locate(bucket_dir, names)
                if path is not None:
                    os.unlink(path)
                    self._tree.prune(bucket_dir, os.path.dirname(path))
            unlink_quietly(self._sidecar_path(bucket, key))

    def delete_objects(self, bucket: str, keys: Sequence[str]) -> list[DeleteResult]:
        self._require_bucket(bucket)
        results = []
        for key in keys:
            try:
                self.delete_object(bucket, key)
                results.append(DeleteResult(key))
            except TidelakeError as error:
                results.append(DeleteResult(key, error))
        return results

    def copy_object(self, src_bucket: str, src_key: str, dst_bucket: str, dst_key: str, *,
                    metadata: dict[str, str] | None = None,
                    content_type: str | None = None) -> ObjectInfo:
        """Copy an object; metadata and content type are the source's unless given."""
        self._key_path(dst_bucket, dst_key)
        clean = normalize_metadata(dst_bucket, dst_key, metadata) if metadata is not None else None
        self._require_bucket(dst_bucket)
        raw, info = self._open(src_bucket, src_key)
        with raw:
            staged = self._staging.stage(raw)
        return self._commit(dst_bucket, dst_key, staged, quote_etag(staged.md5.hex()),
                            content_type or info.content_type,
                            dict(info.metadata) if clean is None else clean)

    def list_objects(self, bucket: str, prefix: str = "", delimiter: str | None = None,
                     start_after: str | None = None, max_keys: int = MAX_KEYS,
                     continuation_token: str | None = None) -> ListPage:
        """One ListObjectsV2 page; ``start_after`` is ignored when a token is given (as in S3)."""
        bucket_dir = self._require_bucket(bucket)
        if max_keys < 0:
            raise ValidationFailed("max_keys must not be negative")
        after = decode_token(bucket, continuation_token) if continuation_token else start_after
        entries = layout.list_entries(bucket_dir, prefix or "", delimiter or None, after or None)
        limit = min(max_keys, MAX_KEYS)
        if limit == 0:
            return ListPage([], [], False)  # what S3 answers to max-keys=0
        objects: list[ObjectSummary] = []
        prefixes: list[str] = []
        last = ""
        for item, path in entries:
            if len(objects) + len(prefixes) == limit:  # one entry more than fits: truncated
                return ListPage(objects, prefixes, True, encode_token(last))
            if path is None:
                prefixes.append(item)
            elif (summary := self._summary(bucket, item, path)) is not None:
                objects.append(summary)
            last = item
        return ListPage(objects, prefixes, False)

    # -- multipart -------------------------------------------------------------------------

    def create_multipart_upload(self, bucket: str, key: str,
                                metadata: dict[str, str] | None = None,
                                content_type: str | None = None) -> str:
        self._key_path(bucket, key)
        clean = normalize_metadata(bucket, key, metadata)
        self._require_bucket(bucket)
        return self._uploads.create(bucket, key, content_type, clean)

    def upload_part(self, bucket: str, key: str, upload_id: str, part_number: int,
                    data: Data) -> str:
        validate_part_number(bucket, key, part_number)
        self._uploads.load(bucket, key, upload_id)
        staged = self._staging.stage(data, prefix="part-")
        return self._uploads.add_part(bucket, key, upload_id, part_number, staged)

    def complete_multipart_upload(self, bucket: str, key: str, upload_id: str,
                                  parts: Sequence[tuple[int, str]]) -> ObjectInfo:
        # No lock while the parts are joined (that may take minutes): an abort meanwhile
        # surfaces as a vanished part, and the rename in _commit decides the winner.
        doc = self._uploads.load(bucket, key, upload_id)
        try:
            staged, digests = self._uploads.assemble(bucket, key, upload_id, parts,
                                                     self.min_part_size)
        except FileNotFoundError:
            raise UploadNotFound(bucket, key, upload_id) from None
        info = self._commit(bucket, key, staged, multipart_etag(digests),
                            doc["content_type"], doc["metadata"])
        self._uploads.remove(upload_id)
        return info

    def abort_multipart_upload(self, bucket: str, key: str, upload_id: str) -> None:
        self._uploads.load(bucket, key, upload_id)
        self._uploads.remove(upload_id)

    def list_parts(self, bucket: str, key: str, upload_id: str) -> list[PartInfo]:
        self._uploads.load(bucket, key, upload_id)
        return self._uploads.parts(upload_id)

    # -- paths -----------------------------------------------------------------------------

    def _bucket_dir(self, bucket: str) -> str:
        validate_bucket_name(bucket)
        return os.path.join(self._root, bucket)

    def _require_bucket(self, bucket: str) -> str:
        bucket_dir = self._bucket_dir(bucket)
        if not os.path.isdir(bucket_dir):
            raise BucketNotFound(bucket)
        return bucket_dir

    def _key_path(self, bucket: str, key: str) -> tuple[str, list[str]]:
        """The bucket folder and the path components of ``key`` (InvalidObjectKey if unsafe)."""
        bucket_dir = self._bucket_dir(bucket)
        validate_key(bucket, key)
        names = layout.encode_key(key)
        if names is None:
            raise InvalidObjectKey(bucket, key, "a path segment is longer than 255 bytes")
        # Belt and braces: validate_key already refused every segment that could climb out.
        full = os.path.normpath(os.path.join(bucket_dir, *names))
        if not full.startswith(bucket_dir + os.sep):
            raise InvalidObjectKey(bucket, key, "resolves outside the bucket")
        return bucket_dir, names

    def _sidecar_path(self, bucket: str, key: str) -> str:
        digest = hashlib.sha256(key.encode("utf-8")).hexdigest()
        return os.path.join(self._meta, bucket, "objects", digest[:2], digest + ".json")

    @contextmanager
    def _key_lock(self, bucket: str, key: str) -> Iterator[None]:
        with self._key_locks[hash((bucket, key)) % _KEY_LOCKS]:
            yield

    def _creation_date(self, bucket: str, bucket_dir: str) -> float:
        try:
            with open(os.path.join(self._meta, bucket, "bucket.json"), "rb") as f:
                return float(orjson.loads(f.read())["creation_date"])
        except (OSError, ValueError, KeyError):
            return os.stat(bucket_dir).st_mtime  # a folder dropped into the lake by hand

    # -- reading ---------------------------------------------------------------------------

    def _open(self, bucket: str, key: str) -> tuple[BinaryIO, ObjectInfo]:
        """Open the data file and describe exactly the version that was opened."""
        bucket_dir, names = self._key_path(bucket, key)
        self._require_bucket(bucket)
        raw = self._open_data(bucket_dir, names)
        if raw is None:
            with self._tree_lock:  # it may have been mid-move between file and folder form
                raw = self._open_data(bucket_dir, names)
        if raw is None:
            raise ObjectNotFound(bucket, key)
        try:
            st = os.fstat(raw.fileno())
            entry = self._entry(bucket, key, st, lambda: md5_of_fd(raw.fileno()))
        except BaseException:
            raw.close()
            raise
        return raw, _info(bucket, key, st, entry)

    @staticmethod
    def _open_data(bucket_dir: str, names: list[str]) -> BinaryIO | None:
        path = layout.locate(bucket_dir, names)
        try:
            return cast(BinaryIO, open(path, "rb", buffering=0)) if path else None
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return None

    def _summary(self, bucket: str, key: str, path: str) -> ObjectSummary | None:
        try:
            st = os.stat(path)
        except FileNotFoundError:  # deleted or moved since the walk saw it
            path = layout.locate(*self._key_path(bucket, key)) or ""
            try:
                st = os.stat(path)
            except FileNotFoundError:
                return None
        entry = self._entry(bucket, key, st, lambda: md5_of_path(path))
        return ObjectSummary(bucket, key, st.st_size, entry["etag"], st.st_mtime)

    def _entry(self, bucket: str, key: str, st: os.stat_result,
               md5_hex: Callable[[], str]) -> dict:
        """The sidecar entry describing the file ``st``; rebuilt from its bytes if missing."""
        stamp = _stamp(st)
        for entry in self._read_sidecar(bucket, key):
            if entry.get("stamp") == stamp:
                return entry
        entry = _new_entry(stamp, quote_etag(md5_hex()), None, {})
        self._repair(bucket, key, entry)
        return entry

    def _repair(self, bucket: str, key: str, entry: dict) -> None:
        """Remember a recomputed ETag, unless a writer has replaced the object meanwhile."""
        bucket_dir, names = self._key_path(bucket, key)
        with self._key_lock(bucket, key):
            path = layout.locate(bucket_dir, names)
            try:
                if path is None or _stamp(os.stat(path)) != entry["stamp"]:
                    return
                self._write_sidecar(bucket, key, [entry])
            except OSError:
                pass  # a read-only lake still answers, it only recomputes next time

    def _read_sidecar(self, bucket: str, key: str) -> list[dict]:
        try:
            with open(self._sidecar_path(bucket, key), "rb") as f:
                doc = orjson.loads(f.read())
        except (OSError, orjson.JSONDecodeError):
            return []
        return doc.get("entries", []) if doc.get("key") == key else []

    def _write_sidecar(self, bucket: str, key: str, entries: list[dict]) -> None:
        path = self._sidecar_path(bucket, key)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        self._staging.write_atomic(path, orjson.dumps({"bucket": bucket, "key": key,
                                                       "entries": entries}))

    # -- writing ---------------------------------------------------------------------------

    def _commit(self, bucket: str, key: str, staged: Staged, etag: str,
                content_type: str | None, metadata: dict[str, str]) -> ObjectInfo:
        """Make a staged file the object ``key``.

        1. Write the sidecar: the new entry, plus the current object's entry so that whichever
           file a crash leaves at the key is still described.
        2. Under the tree lock: create the parent folders, rename the staged file into place.
        3. fsync the folder so the rename survives a power cut.
        """
        bucket_dir, names = self._key_path(bucket, key)
        st = os.stat(staged.path)
        entry = _new_entry(_stamp(st), etag, content_type, metadata)
        try:
            with self._key_lock(bucket, key):
                # Step 1
                old = self._current_entry(bucket, key, bucket_dir, names)
                self._write_sidecar(bucket, key, [entry] + ([old] if old else []))
                # Step 2
                with self._tree_lock:
                    self._require_bucket(bucket)
                    dest = self._tree.prepare_dest(bucket_dir, names)
                    if dest is None:
                        raise InvalidObjectKey(bucket, key, "a path component is not a folder")
                    os.replace(staged.path, dest)
        except BaseException:
            unlink_quietly(staged.path)
            raise
        # Step 3
        self._staging.sync_dir(os.path.dirname(dest))
        return _info(bucket, key, st, entry)

    def _current_entry(self, bucket: str, key: str, bucket_dir: str,
                       names: list[str]) -> dict | None:
        path = layout.locate(bucket_dir, names)
        try:
            stamp = _stamp(os.stat(path)) if path else None
        except FileNotFoundError:  # moved between file and folder form meanwhile: no matter
            return None
        return next((e for e in self._read_sidecar(bucket, key) if e.get("stamp") == stamp), None)


def _stamp(st: os.stat_result) -> list[int]:
    # No inode: a lake restored with cp -a / rsync -a keeps size and mtime, and its metadata.
    return [st.st_size, st.st_mtime_ns]


def _new_entry(stamp: list[int], etag: str, content_type: str | None,
               metadata: dict[str, str]) -> dict:
    return {"stamp": stamp, "etag": etag, "content_type": content_type or DEFAULT_CONTENT_TYPE,
            "metadata": metadata}


def _info(bucket: str, key: str, st: os.stat_result, entry: dict) -> ObjectInfo:
    return ObjectInfo(bucket, key, st.st_size, entry["etag"], st.st_mtime,
                      entry["content_type"], dict(entry["metadata"]))
