"""Rules, targets and fires of the scheduler (EventBridge's members in snake_case), and its errors."""
from __future__ import annotations

from dataclasses import dataclass, field

from tidelake.errors import InvalidArgument, LimitExceeded, NotFound, ValidationFailed

DEFAULT_BUS = "default"
MAX_TARGETS_PER_RULE = 5  # EventBridge quota "Targets per rule", not adjustable


@dataclass(slots=True)
class Rule:
    name: str
    arn: str
    schedule_expression: str | None = None
    event_pattern: str | None = None  # stored and returned; nothing publishes events to match it
    state: str = "ENABLED"  # ENABLED | DISABLED | ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS
    description: str | None = None
    role_arn: str | None = None
    event_bus_name: str = DEFAULT_BUS
    created_by: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    anchor: float = 0.0  # when the schedule started counting: created, enabled or given a new expression
    last_slot: float | None = None  # scheduled time of the last fire

    @property
    def enabled(self) -> bool:
        return self.state != "DISABLED"


@dataclass(slots=True)
class InputTransformer:
    input_template: str
    input_paths_map: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class Target:
    id: str
    arn: str
    role_arn: str | None = None
    input: str | None = None  # JSON text sent instead of the event
    input_path: str | None = None  # JSONPath ($.detail) selecting part of the event
    input_transformer: InputTransformer | None = None
    partition_key_path: str | None = None  # KinesisParameters.PartitionKeyPath


@dataclass(slots=True)
class TargetFailure:
    """One entry PutTargets or RemoveTargets could not take; the rest of the request went through."""
    target_id: str
    error: Exception


@dataclass(slots=True)
class Fire:
    """One scheduled slot, handed to every target of its rule."""
    rule: str
    slot: float  # the scheduled time (the event's ``time``)
    fired_at: float
    event_id: str
    skipped: int = 0  # older slots missed while the server was down or the rule could not run
    delivered: list[str] = field(default_factory=list)  # target ids
    failed: dict[str, str] = field(default_factory=dict)  # target id -> error


class RuleNotFound(NotFound):
    def __init__(self, name: str, bus: str = DEFAULT_BUS) -> None:
        self.rule_name = name
        super().__init__(f"Rule {name} does not exist on EventBus {bus}.")


class EventBusNotFound(NotFound):
    def __init__(self, bus: str) -> None:
        self.event_bus_name = bus
        super().__init__(f"Event bus {bus} does not exist.")


class RuleHasTargets(ValidationFailed):
    def __init__(self, name: str) -> None:
        self.rule_name = name
        super().__init__("Rule can't be deleted since it has targets.")


class TargetLimitExceeded(LimitExceeded):
    def __init__(self, name: str) -> None:
        self.rule_name = name
        super().__init__("The requested resource exceeds the maximum number allowed.")


class InvalidEventPattern(InvalidArgument):
    def __init__(self, reason: str) -> None:
        super().__init__(f"Event pattern is not valid. Reason: {reason}")


class InvalidTarget(InvalidArgument):
    """A target the whole PutTargets request is refused for (a malformed ARN, two inputs)."""


class UnsupportedTarget(InvalidArgument):
    """A target tidelake cannot deliver to: it is reported in FailedEntries, the others are kept."""
