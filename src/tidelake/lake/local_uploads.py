"""Multipart uploads of the local lake, staged under ``.tidelake/uploads/<upload id>/``.

``upload.json`` names the bucket, key, content type and metadata; each part is a file
``<part number, 5 digits>`` with ``<part number>.json`` beside it (its ETag and size, for
ListParts). Completing re-reads every part anyway to concatenate it, and checks each part's md5
against the ETag the client sent, so a stale ``.json`` can never produce a wrong object.
"""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import uuid
from typing import Sequence

import orjson

from tidelake.lake.errors import (
    InvalidPart,
    PartTooSmall,
    UploadNotFound,
)
from tidelake.lake.rules import CHUNK, check_part_list, quote_etag, unquote_etag
from tidelake.lake.local_files import Staged, Staging, unlink_quietly
from tidelake.lake.models import PartInfo

_UPLOAD_ID = re.compile(r"^[0-9a-f]{32}$")  # also keeps a forged id from naming another folder


class LocalUploads:
    def __init__(self, directory: str, staging: Staging) -> None:
        self.directory = directory
        self.staging = staging
        os.makedirs(directory, exist_ok=True)

    def create(self, bucket: str, key: str, content_type: str | None,
               metadata: dict[str, str]) -> str:
        upload_id = uuid.uuid4().hex
        folder = os.path.join(self.directory, upload_id)
        os.mkdir(folder)
        doc = {"bucket": bucket, "key": key, "content_type": content_type,
               "metadata": metadata, "initiated": self.staging.clock.now()}
        self.staging.write_atomic(os.path.join(folder, "upload.json"), orjson.dumps(doc))
        return upload_id

    def load(self, bucket: str, key: str, upload_id: str) -> dict:
        """The upload's description; UploadNotFound unless it exists for this bucket and key."""
        if not isinstance(upload_id, str) or not _UPLOAD_ID.match(upload_id):
            raise UploadNotFound(bucket, key, upload_id)
        try:
            with open(os.path.join(self.directory, upload_id, "upload.json"), "rb") as f:
                doc = orjson.loads(f.read())
        except (FileNotFoundError, orjson.JSONDecodeError):
            raise UploadNotFound(bucket, key, upload_id) from None
        if doc.get("bucket") != bucket or doc.get("key") != key:
            raise UploadNotFound(bucket, key, upload_id)
        return doc

    def add_part(self, bucket: str, key: str, upload_id: str, part_number: int,
                 staged: Staged) -> str:
        folder = os.path.join(self.directory, upload_id)
        etag = quote_etag(staged.md5.hex())
        name = f"{part_number:05d}"
        try:
            os.replace(staged.path, os.path.join(folder, name))
            doc = {"etag": etag, "size": staged.size, "last_modified": self.staging.clock.now()}
            self.staging.write_atomic(os.path.join(folder, name + ".json"), orjson.dumps(doc))
        except FileNotFoundError:  # aborted or completed meanwhile
            unlink_quietly(staged.path)
            raise UploadNotFound(bucket, key, upload_id) from None
        return etag

    def parts(self, upload_id: str) -> list[PartInfo]:
        folder = os.path.join(self.directory, upload_id)
        result = []
        for name in sorted(os.listdir(folder)):
            if not name.endswith(".json") or not name[:-5].isdigit():
                continue
            with open(os.path.join(folder, name), "rb") as f:
                doc = orjson.loads(f.read())
            result.append(PartInfo(int(name[:-5]), doc["etag"], doc["size"], doc["last_modified"]))
        return result

    def assemble(self, bucket: str, key: str, upload_id: str,
                 parts: Sequence[tuple[int, str]], min_part_size: int) -> tuple[Staged, list[bytes]]:
        """Concatenate the listed parts into one staged file; return it and each part's md5."""
        check_part_list(bucket, key, upload_id, parts)
        folder = os.path.join(self.directory, upload_id)
        paths = [self._part_path(bucket, key, upload_id, folder, n, min_part_size, last=i == len(parts) - 1)
                 for i, (n, _) in enumerate(parts)]
        digests: list[bytes] = []

        def chunks():
            for (number, etag), path in zip(parts, paths):
                digest = hashlib.md5()
                with open(path, "rb") as part:
                    while chunk := part.read(CHUNK):
                        digest.update(chunk)
                        yield chunk
                if digest.hexdigest() != unquote_etag(etag):
                    raise InvalidPart(bucket, key, upload_id, number)
                digests.append(digest.digest())

        return self.staging.stage(chunks(), prefix="mpu-"), digests

    def remove(self, upload_id: str) -> None:
        shutil.rmtree(os.path.join(self.directory, upload_id), ignore_errors=True)

    def ids_for_bucket(self, bucket: str) -> list[str]:
        found = []
        for upload_id in os.listdir(self.directory):
            try:
                with open(os.path.join(self.directory, upload_id, "upload.json"), "rb") as f:
                    if orjson.loads(f.read()).get("bucket") == bucket:
                        found.append(upload_id)
            except (OSError, orjson.JSONDecodeError):
                continue
        return found

    @staticmethod
    def _part_path(bucket: str, key: str, upload_id: str, folder: str, number: int,
                   min_part_size: int, last: bool) -> str:
        path = os.path.join(folder, f"{number:05d}")
        try:
            size = os.stat(path).st_size
        except (FileNotFoundError, ValueError):
            raise InvalidPart(bucket, key, upload_id, number) from None
        if not last and size < min_part_size:
            raise PartTooSmall(bucket, key, upload_id, number, size, min_part_size)
        return path
