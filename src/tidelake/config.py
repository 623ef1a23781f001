"""Settings: one frozen dataclass, read once at start-up and passed down explicitly.

Precedence, lowest first: defaults, ``tidelake.toml`` (in the data dir or given by ``--config``),
``TIDELAKE_<FIELD>`` environment variables, explicit overrides (command-line options).
"""
from __future__ import annotations

import dataclasses
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from tidelake.errors import InvalidArgument

ENV_PREFIX = "TIDELAKE_"
CONFIG_FILE = "tidelake.toml"
DURABILITY_MODES = ("fsync", "flush")


def _doc(text: str, default: Any) -> Any:
    return field(default=default, metadata={"doc": text})


@dataclass(frozen=True)
class Settings:
    host: str = _doc("Address the server binds to. Keep 127.0.0.1 unless the machine is trusted.", "127.0.0.1")
    port: int = _doc("Port serving every AWS API and the console.", 4566)
    data_dir: Path = _doc("Directory holding everything the platform keeps (stream log, lake, catalog).",
                          Path("tidelake-data"))
    region: str = _doc("Region reported in ARNs and events when a request names none.", "us-east-1")
    account_id: str = _doc("Account id used in ARNs and error messages.", "000000000000")
    credentials: tuple[tuple[str, str], ...] = _doc(
        "Access key / secret pairs. Empty: any credentials are accepted. Set: every request must carry "
        "a valid SigV4 signature from one of them. Env form: `AKID:SECRET,AKID2:SECRET2`.", ())
    durability: str = _doc(
        "`fsync`: an acknowledged record is fsynced (survives power loss). `flush`: it is written to the "
        "OS before the answer (survives `kill -9` of the server, not a power cut).", "fsync")
    transition_seconds: float = _doc(
        "How long a stream or consumer stays CREATING / UPDATING / DELETING before it settles.", 0.5)
    iterator_ttl_seconds: float = _doc("Lifetime of a shard iterator (AWS: 300 s).", 300.0)
    enforce_throughput: bool = _doc(
        "Apply the per-shard Kinesis limits (1 MiB/s and 1,000 records/s in, 5 reads/s and 2 MiB/s out) "
        "and answer ProvisionedThroughputExceededException.", False)
    shard_limit: int = _doc("Open shards allowed per account (AWS default: 500 in us-east-1).", 500)
    on_demand_shard_count: int = _doc("Shards an ON_DEMAND stream starts with (AWS: 4).", 4)
    retention_check_seconds: float = _doc("How often expired records are removed from the log.", 60.0)
    lake_endpoint_url: str = _doc(
        "Keep the lake on an S3-compatible service at this URL instead of under the data dir "
        "(empty: the local folder `DATA_DIR/lake`).", "")
    lake_access_key: str = _doc("Access key for `lake_endpoint_url`.", "")
    lake_secret_key: str = _doc("Secret key for `lake_endpoint_url`.", "")
    lake_region: str = _doc("Region for `lake_endpoint_url`.", "us-east-1")
    lake_bucket_map: tuple[tuple[str, str], ...] = _doc(
        "Lake bucket name -> real bucket name on `lake_endpoint_url`. Env form: `lake:real-bucket,raw:raw-2`.", ())
    query_workers: int = _doc("Athena queries that run at once; more wait QUEUED.", 4)
    query_timeout_seconds: float = _doc(
        "Longest an Athena query may run before it fails with a timeout (Athena's DML limit: 30 minutes).", 1800.0)
    crawler_schedule_seconds: float = _doc(
        "How often scheduled Glue crawlers are checked for a due cron expression.", 5.0)
    function_concurrency: int = _doc(
        "Worker processes one function may run at once (its warm pool's bound); more invocations wait their turn.", 8)
    function_idle_seconds: float = _doc("A warm function worker idle this long is stopped.", 300.0)
    function_log_max_bytes: int = _doc(
        "Log text kept per function; the oldest invocations' logs go first.", 16 * 1024 * 1024)
    schedule_check_seconds: float = _doc(
        "How often EventBridge schedule rules are checked for a due slot (a fire is at most this late).", 1.0)
    mapping_poll_seconds: float = _doc(
        "How often Kinesis event source mappings check the stream log for new records (one check for all of "
        "them): about the most a new record waits before its batch starts. Lambda polls once a second.", 0.05)
    log_level: str = _doc("Server log level: debug, info, warning, error.", "info")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, config_file: Path | None = None,
                 **overrides: Any) -> "Settings":
        """Build settings from defaults, the config file, the environment and ``overrides``."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        data_dir = overrides.get("data_dir") or env.get(ENV_PREFIX + "DATA_DIR") or cls.data_dir
        path = config_file or Path(data_dir) / CONFIG_FILE
        if config_file is not None or path.is_file():
            with open(path, "rb") as f:
                values.update(tomllib.load(f))
        for f in dataclasses.fields(cls):
            raw = env.get(ENV_PREFIX + f.name.upper())
            if raw is not None:
                values[f.name] = raw
        values.update({k: v for k, v in overrides.items() if v is not None})
        unknown = set(values) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise InvalidArgument(f"Unknown setting(s): {', '.join(sorted(unknown))}. See docs/settings.md.")
        return cls(**{name: _coerce(name, value) for name, value in values.items()})

    def __post_init__(self) -> None:
        if self.durability not in DURABILITY_MODES:
            raise InvalidArgument(f"durability must be one of {DURABILITY_MODES}, not {self.durability!r}")

    @property
    def endpoint_url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::") else self.host
        return f"http://{host}:{self.port}"


def _coerce(name: str, value: Any) -> Any:
    """Turn a string from the environment (or a TOML value) into the field's type."""
    kind = {f.name: f.type for f in dataclasses.fields(Settings)}[name]
    try:
        if kind == "Path":
            return Path(value)
        if kind == "bool":
            if isinstance(value, str):
                if value.lower() not in ("1", "true", "yes", "on", "0", "false", "no", "off"):
                    raise ValueError(value)
                return value.lower() in ("1", "true", "yes", "on")
            return bool(value)
        if kind == "int":
            return int(value)
        if kind == "float":
            return float(value)
        if kind.startswith("tuple"):
            if isinstance(value, str):
                pairs = [item.split(":", 1) for item in value.split(",") if item.strip()]
            else:
                pairs = [item.split(":", 1) if isinstance(item, str) else item for item in value]
            return tuple((str(k).strip(), str(s).strip()) for k, s in pairs)
        return str(value)
    except (TypeError, ValueError) as e:
        raise InvalidArgument(f"Setting {name}={value!r} is not a valid {kind}: {e}") from None
