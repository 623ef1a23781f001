"""The function registry: configurations in SQLite (``functions/functions.db``), code in a CodeStore.

Every configuration is also held in memory: an invocation looks its function up without a query.
"""
from __future__ import annotations

import dataclasses
import threading
from pathlib import Path

import orjson

from tidelake import sqlite
from tidelake.functions.code import CodeStore, hex_digest
from tidelake.functions.errors import FunctionAlreadyExists
from tidelake.functions.models import FunctionConfig


class FunctionRegistry:
    def __init__(self, root: Path) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.code = CodeStore(root / "code")
        self._db = sqlite.connect(root / "functions.db")
        self._db.execute("CREATE TABLE IF NOT EXISTS functions (name TEXT PRIMARY KEY, config BLOB NOT NULL)")
        self._lock = threading.Lock()
        self._configs = {name: self._load(blob) for name, blob in self._db.execute("SELECT name, config FROM functions")}
        # No worker runs yet: code left by deleted or updated functions can go.
        self.code.collect(hex_digest(c.code_sha256) for c in self._configs.values())

    def get(self, name: str) -> FunctionConfig | None:
        return self._configs.get(name)

    def all(self) -> list[FunctionConfig]:
        return sorted(self._configs.values(), key=lambda c: c.function_name)

    def add(self, config: FunctionConfig) -> None:
        with self._lock:
            if config.function_name in self._configs:
                raise FunctionAlreadyExists(config.function_name)
            self._db.execute("INSERT INTO functions VALUES (?, ?)", (config.function_name, _dump(config)))
            self._configs[config.function_name] = config

    def replace(self, config: FunctionConfig) -> None:
        with self._lock:
            self._db.execute("UPDATE functions SET config = ? WHERE name = ?", (_dump(config), config.function_name))
            self._configs[config.function_name] = config

    def remove(self, name: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM functions WHERE name = ?", (name,))
            self._configs.pop(name, None)

    def close(self) -> None:
        with self._lock:
            self._db.close()


    def _load(self, blob: bytes) -> FunctionConfig:
        fields = orjson.loads(blob)
        # The code's place follows the data dir (which may have moved since): named by content.
        return FunctionConfig(**{**fields, "code_dir": self.code.root / hex_digest(fields["code_sha256"])})


def _dump(config: FunctionConfig) -> bytes:
    fields = dataclasses.asdict(config)
    del fields["code_dir"]
    return orjson.dumps(fields)
