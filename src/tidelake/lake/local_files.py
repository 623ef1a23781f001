"""File primitives of the local lake: stage in a scratch folder, fsync, rename into place.

Every byte the lake writes goes to a file in the staging folder first and reaches its final
name with ``os.replace``: a reader sees the old file or the new one, never a part of one.
The staging folder is on the same filesystem as the lake, so the rename never copies.
"""
from __future__ import annotations

import hashlib
import io
import os
import tempfile
import time
from dataclasses import dataclass
from typing import Any, BinaryIO

from tidelake.clock import Clock
from tidelake.lake.rules import CHUNK, Data, iter_chunks

STALE_STAGING_SECONDS = 3600.0


def _read_umask() -> int:
    mask = os.umask(0)  # the only portable way to read it; done once, at import
    os.umask(mask)
    return mask


# mkstemp creates files 0600; lake files must be readable by other tools (DuckDB, Trino in a
# container), so they get the mode a plain open() would have given them.
FILE_MODE = 0o666 & ~_read_umask()


@dataclass(frozen=True)
class Staged:
    """A fully written, synced file in staging, with the digest of its bytes."""

    path: str
    md5: bytes
    size: int


class Staging:
    def __init__(self, directory: str, clock: Clock, fsync: bool) -> None:
        self.directory = directory
        self.clock = clock
        self.fsync = fsync
        os.makedirs(directory, exist_ok=True)

    def stage(self, data: Data, prefix: str = "obj-") -> Staged:
        """Write ``data`` to a new staging file; if ``data`` fails halfway, nothing is left behind."""
        fd, path = tempfile.mkstemp(dir=self.directory, prefix=prefix)
        digest = hashlib.md5()
        size = 0
        try:
            os.fchmod(fd, FILE_MODE)
            with open(fd, "wb") as out:
                for chunk in iter_chunks(data):
                    out.write(chunk)
                    digest.update(chunk)
                    size += memoryview(chunk).nbytes
                out.flush()  # before utime: a later flush would move the mtime again
                # The object's Last-Modified is the clock's time at upload, kept as the mtime.
                ns = int(self.clock.now() * 1e9)
                os.utime(out.fileno(), ns=(ns, ns))
                self._sync(out.fileno())
        except BaseException:
            unlink_quietly(path)
            raise
        return Staged(path, digest.digest(), size)

    def write_atomic(self, path: str, data: bytes) -> None:
        """Replace the small file ``path`` (sidecars, journal records) in one step."""
        fd, tmp = tempfile.mkstemp(dir=self.directory, prefix="meta-")
        try:
            os.fchmod(fd, FILE_MODE)
            with open(fd, "wb") as out:
                out.write(data)
                self._sync(out.fileno())
            os.replace(tmp, path)
        except BaseException:
            unlink_quietly(tmp)
            raise

    def new_path(self, prefix: str) -> str:
        """A fresh name in staging that nothing else uses (for files parked during a move)."""
        fd, path = tempfile.mkstemp(dir=self.directory, prefix=prefix)
        os.close(fd)
        os.unlink(path)
        return path

    def sync_dir(self, path: str) -> None:
        """fsync a folder so the renames in it survive a power cut (no-op unless fsync is on)."""
        if not self.fsync:
            return
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            return
        try:
            os.fsync(fd)
        except OSError:
            pass  # some filesystems refuse fsync on folders; the rename itself is done
        finally:
            os.close(fd)

    def remove_stale(self) -> None:
        """Delete staging files left by a crashed process (by ctime: utime cannot fake it)."""
        cutoff = time.time() - STALE_STAGING_SECONDS
        with os.scandir(self.directory) as entries:
            for entry in entries:
                try:
                    if entry.is_file() and entry.stat().st_ctime < cutoff:
                        os.unlink(entry.path)
                except OSError:
                    continue

    def _sync(self, fd: int) -> None:
        if self.fsync:
            os.fsync(fd)


def unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except (FileNotFoundError, NotADirectoryError):
        pass


def md5_of_fd(fd: int) -> str:
    """Hex md5 of an open file, read with pread so the caller's position is untouched."""
    digest = hashlib.md5()
    offset = 0
    while chunk := os.pread(fd, CHUNK, offset):
        digest.update(chunk)
        offset += len(chunk)
    return digest.hexdigest()


def md5_of_path(path: str) -> str:
    with open(path, "rb", buffering=0) as f:
        return md5_of_fd(f.fileno())


class RangeReader(io.RawIOBase):
    """Reads bytes ``first..last`` (inclusive) of an open file, then reports end of file."""

    def __init__(self, raw: BinaryIO, first: int, last: int) -> None:
        super().__init__()
        self._raw = raw
        self._raw.seek(first)
        self._left = last - first + 1

    @classmethod
    def buffered(cls, raw: BinaryIO, first: int, last: int) -> io.BufferedReader:
        return io.BufferedReader(cls(raw, first, last), buffer_size=CHUNK)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._left <= 0:
            return 0
        view = memoryview(buffer).cast("B")[:self._left]
        count = self._raw.readinto(view) or 0  # type: ignore[attr-defined]
        self._left -= count
        return count

    def close(self) -> None:
        if not self.closed:
            self._raw.close()
        super().close()
