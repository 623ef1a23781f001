"""Folder shape of the local lake: parents on write, pruning on delete, file<->folder moves.

A key ``a`` that meets a key ``a/...`` must turn the file ``a`` into a folder holding
``a/.tl~self`` (and back once the folder empties). No rename does that in one step, so the file
is parked in staging in between, with a journal record naming where it belongs; a crash
mid-move is repaired on the next start by ``recover``. All methods expect the caller to hold
the store's tree lock.
"""
from __future__ import annotations

import os
import stat
from contextlib import contextmanager
from typing import Iterator

import orjson

from tidelake.lake import layout
from tidelake.lake.local_files import Staging, unlink_quietly


class Tree:
    def __init__(self, root: str, journal_dir: str, staging: Staging) -> None:
        self.root = root
        self.journal_dir = journal_dir
        self.staging = staging
        os.makedirs(journal_dir, exist_ok=True)

    def prepare_dest(self, bucket_dir: str, names: list[str]) -> str | None:
        """Create the folders of ``names`` and return where the data file goes (None when a
        path component is something other than a file or folder)."""
        path = bucket_dir
        for name in names[:-1]:
            path = os.path.join(path, name)
            try:
                mode = os.stat(path).st_mode
            except FileNotFoundError:
                os.mkdir(path)
                continue
            if stat.S_ISREG(mode):
                self._file_to_folder(path)  # the key "a" meets a key "a/...": "a" moves aside
            elif not stat.S_ISDIR(mode):
                return None
        target = os.path.join(path, names[-1])
        if os.path.isdir(target):
            if os.listdir(target):
                return os.path.join(target, layout.SELF)
            os.rmdir(target)
        return target

    def prune(self, bucket_dir: str, folder: str) -> None:
        """After a delete: drop folders left empty, and give a lone ``.tl~self`` its plain name."""
        while folder != bucket_dir and folder.startswith(bucket_dir + os.sep):
            entries = os.listdir(folder)
            if entries == [layout.SELF]:
                self._folder_to_file(folder)
            if entries:
                return
            os.rmdir(folder)
            folder = os.path.dirname(folder)

    def recover(self) -> None:
        """Finish the moves a crash interrupted."""
        for name in os.listdir(self.journal_dir):
            record = os.path.join(self.journal_dir, name)
            try:
                with open(record, "rb") as f:
                    doc = orjson.loads(f.read())
                if doc["path"].startswith(self.root + os.sep) and doc["parked"].startswith(
                        self.staging.directory + os.sep):
                    _put_back(doc["parked"], doc["path"])
            except (OSError, ValueError, KeyError):
                pass
            unlink_quietly(record)

    def _file_to_folder(self, path: str) -> None:
        with self._journaled(path) as parked:
            os.replace(path, parked)
            os.mkdir(path)
            os.replace(parked, os.path.join(path, layout.SELF))

    def _folder_to_file(self, path: str) -> None:
        with self._journaled(path) as parked:
            os.replace(os.path.join(path, layout.SELF), parked)
            os.rmdir(path)
            os.replace(parked, path)

    @contextmanager
    def _journaled(self, path: str) -> Iterator[str]:
        """Yield a staging name to park ``path``'s object file at, recorded in the journal."""
        parked = self.staging.new_path("park-")
        record = os.path.join(self.journal_dir, os.path.basename(parked) + ".json")
        self.staging.write_atomic(record, orjson.dumps({"parked": parked, "path": path}))
        try:
            yield parked
        finally:
            _put_back(parked, path)  # a no-op when the move finished
            self.staging.sync_dir(os.path.dirname(path))
            self.staging.sync_dir(path if os.path.isdir(path) else os.path.dirname(path))
            os.unlink(record)


def _put_back(parked: str, path: str) -> None:
    """Move a parked object file to the key path ``path``, in file or folder form."""
    if not os.path.exists(parked):
        return
    if os.path.isdir(path):
        if not os.listdir(path):
            os.rmdir(path)
            os.replace(parked, path)
        elif not os.path.exists(os.path.join(path, layout.SELF)):
            os.replace(parked, os.path.join(path, layout.SELF))
        else:
            os.unlink(parked)  # a newer object took its place
    elif not os.path.exists(path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        os.replace(parked, path)
    else:
        os.unlink(parked)
