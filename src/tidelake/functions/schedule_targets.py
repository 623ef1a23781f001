"""What a scheduled rule sends, and where: the Scheduled Event, a target's Input / InputPath /
InputTransformer, and delivery to a Lambda function, a Kinesis stream or a Firehose delivery stream.

The event is the one EventBridge sends (docs: eb-run-lambda-schedule):

    {"version": "0", "id": "<uuid>", "detail-type": "Scheduled Event", "source": "aws.events",
     "account": "000000000000", "time": "2026-11-23T15:05:00Z", "region": "us-east-1",
     "resources": ["arn:aws:events:us-east-1:000000000000:rule/NAME"], "detail": {}}

Paths (InputPath, InputPathsMap values, PartitionKeyPath) are JSONPath in dot notation, the only form
EventBridge accepts: ``$``, ``$.detail``, ``$.detail.table``.
"""
from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any, Protocol

import orjson

from tidelake.functions.schedule_models import InvalidTarget, Rule, Target, UnsupportedTarget

_ARN = re.compile(r"arn:aws[\w-]*:([a-z0-9-]+):([a-z0-9-]*):(\d{12})?:(.+)")
_PATH = re.compile(r"\$(\.[^.\s\[\]]+)*")
_PLACEHOLDER = re.compile(r"<([A-Za-z0-9_.\-]+)>")
_QUOTE = re.compile(r'(?<!\\)"')
_RESOURCES = {"lambda": re.compile(r"function:([A-Za-z0-9_-]+)(:[A-Za-z0-9$_-]+)?"),
              "kinesis": re.compile(r"stream/([A-Za-z0-9_.-]+)"),
              "firehose": re.compile(r"deliverystream/([A-Za-z0-9_.-]+)")}
PREDEFINED = ("aws.events.rule-arn", "aws.events.rule-name", "aws.events.event.ingestion-time",
              "aws.events.event.json")


class FunctionInvoker(Protocol):
    def invoke(self, name_or_arn: str, payload: bytes, *, invocation_type: str = "RequestResponse",
               log_tail: bool = False) -> Any: ...


class StreamWriter(Protocol):
    def put_record(self, stream_name: str, data: bytes, partition_key: str) -> tuple[str, str]: ...

    def stream_name_from_arn(self, arn: str) -> str: ...


class DeliveryWriter(Protocol):
    def put_record_batch(self, name: str, records: list[bytes]) -> list[str]: ...


def scheduled_event(rule: Rule, slot: float, event_id: str, account: str, region: str) -> dict[str, Any]:
    return {"version": "0", "id": event_id, "detail-type": "Scheduled Event", "source": "aws.events",
            "account": account, "time": iso_time(slot), "region": region, "resources": [rule.arn], "detail": {}}


def iso_time(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def check_target(target: Target) -> None:
    """Refuse (for the whole request) what EventBridge refuses; UnsupportedTarget only fails this entry."""
    if not _ARN.fullmatch(target.arn):
        raise InvalidTarget(f"Parameter {target.arn} is not valid. Reason: Provided Arn is not in correct format.")
    given = [target.input is not None, target.input_path is not None, target.input_transformer is not None]
    if sum(given) > 1:
        raise InvalidTarget(f"Only one of Input, InputPath, or InputTransformer must be provided for target "
                            f"{target.id}.")
    if target.input is not None:
        try:
            orjson.loads(target.input)
        except orjson.JSONDecodeError:
            raise InvalidTarget(f"Input for target {target.id} is not valid JSON text.") from None
    for path in [target.input_path, target.partition_key_path,
                 *(target.input_transformer.input_paths_map.values() if target.input_transformer else ())]:
        if path is not None and not _PATH.fullmatch(path):
            raise InvalidTarget(f"{path} is not a valid JsonPath for target {target.id}: use dot notation, "
                                "like $.detail.name.")
    if target.input_transformer is not None:
        known = set(target.input_transformer.input_paths_map) | set(PREDEFINED)
        for name in _PLACEHOLDER.findall(target.input_transformer.input_template):
            if name not in known:
                raise InvalidTarget(f"InputTemplate for target {target.id} contains invalid placeholder {name}.")
    service, resource = target_kind(target.arn)
    if service not in _RESOURCES or not _RESOURCES[service].fullmatch(resource):
        raise UnsupportedTarget(f"tidelake delivers scheduled events to Lambda functions, Kinesis streams and "
                                f"Firehose delivery streams; {target.arn} is none of them.")


def target_kind(arn: str) -> tuple[str, str]:
    """(service, resource) of a target ARN."""
    match = _ARN.fullmatch(arn)
    return (match.group(1), match.group(4)) if match else ("", "")


def select(document: Any, path: str) -> Any:
    """A dot-notation JSONPath's value in ``document``; None where it leads nowhere."""
    for key in path.split(".")[1:]:
        if not isinstance(document, dict):
            return None
        document = document.get(key)
    return document


def payload(target: Target, event: dict[str, Any], rule: Rule) -> bytes:
    """The bytes the target receives: the event, or what its Input / InputPath / InputTransformer makes of it."""
    if target.input is not None:
        return target.input.encode()
    if target.input_path is not None:
        return orjson.dumps(select(event, target.input_path))
    transformer = target.input_transformer
    if transformer is None:
        return orjson.dumps(event)
    values = {name: select(event, path) for name, path in transformer.input_paths_map.items()}
    values.update({"aws.events.rule-arn": rule.arn, "aws.events.rule-name": rule.name,
                   "aws.events.event.ingestion-time": event["time"], "aws.events.event.json": event})
    return _render(transformer.input_template, values).encode()


def _render(template: str, values: dict[str, Any]) -> str:
    """Fill ``<name>`` placeholders: inside a JSON string as text, elsewhere as a JSON value."""
    out: list[str] = []
    inside, pos = False, 0
    for match in _PLACEHOLDER.finditer(template):
        segment = template[pos:match.start()]
        inside ^= len(_QUOTE.findall(segment)) % 2 == 1
        out.append(segment)
        value = values[match.group(1)]
        if inside:
            text = "" if value is None else value if isinstance(value, str) else orjson.dumps(value).decode()
            out.append(orjson.dumps(text).decode()[1:-1])
        else:
            out.append(orjson.dumps(value).decode())
        pos = match.end()
    out.append(template[pos:])
    return "".join(out)


class TargetDispatch:
    """Hands one payload to one target: asynchronous Invoke, PutRecord, or a Firehose put."""

    def __init__(self, functions: FunctionInvoker, streams: StreamWriter, delivery: DeliveryWriter) -> None:
        self.functions = functions
        self.streams = streams
        self.delivery = delivery

    def send(self, target: Target, data: bytes, event: dict[str, Any]) -> None:
        service, resource = target_kind(target.arn)
        if service == "lambda":
            self.functions.invoke(target.arn, data, invocation_type="Event")
        elif service == "kinesis":
            key = select(event, target.partition_key_path) if target.partition_key_path else None
            if key is None or key == "":
                key = event["id"]  # EventBridge's default partition key: the event id
            self.streams.put_record(self.streams.stream_name_from_arn(target.arn), data,
                                    key if isinstance(key, str) else orjson.dumps(key).decode())
        elif service == "firehose":
            self.delivery.put_record_batch(resource.split("/", 1)[1], [data])
        else:
            raise UnsupportedTarget(f"{target.arn} is not a target tidelake delivers to.")
