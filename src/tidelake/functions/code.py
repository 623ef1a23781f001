"""Function code: zip archives kept by content, unzipped once into ``code/<sha256 hex>/``.

Two functions (or two versions of one) with the same zip share a directory, and a directory never
changes once written: a worker of an older revision keeps running the code it started with.
"""
from __future__ import annotations

import base64
import hashlib
import io
import os
import shutil
import stat
import uuid
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Iterable

from tidelake.functions.errors import InvalidParameterValue, InvalidZipFile

MAX_ZIP_BYTES = 50 * 1024 * 1024  # Lambda: 50 MB zipped, for direct upload
MAX_UNZIPPED_BYTES = 262_144_000  # Lambda: 250 MB unzipped
_SKIPPED = {"__pycache__", ".git", ".hg", ".svn", ".mypy_cache", ".pytest_cache"}


@dataclass(frozen=True)
class StoredCode:
    sha256: str  # base64, as Lambda's CodeSha256
    size: int
    directory: Path
    archive: Path


class CodeStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def put(self, zip_file: bytes) -> StoredCode:
        if len(zip_file) > MAX_ZIP_BYTES:
            raise InvalidParameterValue(f"Zipped code must be smaller than {MAX_ZIP_BYTES} bytes")
        digest = hashlib.sha256(zip_file)
        directory = self.root / digest.hexdigest()
        archive = self.root / f"{digest.hexdigest()}.zip"
        if not directory.is_dir():
            self._unzip(zip_file, directory)
        if not archive.is_file():
            temporary = archive.with_name(f".{uuid.uuid4().hex}.zip")
            temporary.write_bytes(zip_file)
            temporary.replace(archive)
        return StoredCode(base64.b64encode(digest.digest()).decode(), len(zip_file), directory, archive)

    def _unzip(self, zip_file: bytes, directory: Path) -> None:
        try:
            archive = zipfile.ZipFile(io.BytesIO(zip_file))
            members = archive.infolist()
        except (zipfile.BadZipFile, ValueError) as e:
            raise InvalidZipFile(str(e)) from None
        if sum(m.file_size for m in members) > MAX_UNZIPPED_BYTES:
            raise InvalidParameterValue(f"Unzipped size must be smaller than {MAX_UNZIPPED_BYTES} bytes")
        temporary = self.root / f".{uuid.uuid4().hex}"
        temporary.mkdir()
        try:
            for member in members:
                parts = PurePosixPath(member.filename.replace("\\", "/")).parts
                if not parts or parts[0] == "/" or ".." in parts:
                    raise InvalidZipFile(f"unsafe path {member.filename!r}")
                target = temporary.joinpath(*parts)
                if member.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                with archive.open(member) as source, open(target, "wb") as sink:
                    shutil.copyfileobj(source, sink, 1024 * 1024)
                mode = member.external_attr >> 16
                if mode & 0o111:  # keep executables (bundled binaries) executable
                    os.chmod(target, stat.S_IMODE(mode) | 0o400)
            temporary.rename(directory)
        except (zipfile.BadZipFile, OSError, RuntimeError) as e:
            shutil.rmtree(temporary, ignore_errors=True)
            if directory.is_dir():  # another thread unzipped the same content first
                return
            raise InvalidZipFile(str(e)) from None
        except BaseException:
            shutil.rmtree(temporary, ignore_errors=True)
            raise

    def archive_path(self, sha256: str) -> Path:
        return self.root / f"{hex_digest(sha256)}.zip"

    def collect(self, in_use: Iterable[str]) -> int:
        """Remove code no function uses (by sha256 hex); returns how many archives went."""
        keep = set(in_use)
        removed = 0
        for entry in self.root.iterdir():
            name = entry.name.removesuffix(".zip")
            if name in keep:
                continue
            if entry.is_dir():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
                removed += entry.suffix == ".zip"
        return removed


def zip_directory(directory: Path) -> bytes:
    """A directory as a zip archive (what ``--code DIR`` uploads), without caches and VCS folders."""
    if not directory.is_dir():
        raise InvalidParameterValue(f"{directory} is not a directory.")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(directory.rglob("*")):
            relative = path.relative_to(directory)
            if _SKIPPED.intersection(relative.parts) or path.suffix == ".pyc" or not path.is_file():
                continue
            # A fixed date: the same files give the same zip, so the same CodeSha256 and directory.
            info = zipfile.ZipInfo(relative.as_posix(), date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = (path.stat().st_mode & 0o777) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes())
    return buffer.getvalue()


def hex_digest(code_sha256: str) -> str:
    return base64.b64decode(code_sha256).hex()
