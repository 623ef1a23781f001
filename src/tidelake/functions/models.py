"""What the function registry and runtime hold. Attribute names follow Lambda's shape members in
snake_case (``code_sha256`` <-> ``CodeSha256``) so the edge can pick them by name."""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path


class InvocationType(str, Enum):
    REQUEST_RESPONSE = "RequestResponse"
    EVENT = "Event"
    DRY_RUN = "DryRun"


@dataclass(frozen=True)
class FunctionConfig:
    function_name: str
    function_arn: str
    runtime: str
    role: str
    handler: str
    code_sha256: str  # base64 of the zip's SHA-256, as Lambda reports it
    code_size: int
    code_dir: Path  # the unzipped code: LAMBDA_TASK_ROOT
    description: str = ""
    timeout: int = 3
    memory_size: int = 128
    environment: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    created_at: float = 0.0
    last_modified: float = 0.0
    revision_id: str = ""  # changes with every update: warm workers of an older revision retire
    version: str = "$LATEST"
    state: str = "Active"
    last_update_status: str = "Successful"

    @property
    def log_group_name(self) -> str:
        return f"/aws/lambda/{self.function_name}"


@dataclass(frozen=True)
class Invocation:
    request_id: str
    status_code: int  # 200 RequestResponse, 202 Event, 204 DryRun
    payload: bytes  # the handler's result as JSON, or the error document
    function_error: str | None = None  # "Unhandled" when the handler raised, timed out or crashed
    log_result: str = ""  # base64 of the last 4 KB of the log, when asked for
    executed_version: str | None = "$LATEST"  # None for Event and DryRun: nothing ran yet
    duration_ms: float = 0.0


@dataclass(frozen=True)
class LogEvent:
    timestamp: float
    message: str
    request_id: str
    invocation_id: int  # the stored invocation the line belongs to: increases with time
