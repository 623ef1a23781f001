"""Amazon EventBridge (JSON 1.1, ``AWSEvents.*``): scheduled rules and their targets, over Schedules.

Only the default event bus exists. Rules with a ScheduleExpression fire; rules with an EventPattern
are stored and answered but never match anything (there is no PutEvents). See docs/eventbridge.md.
"""
from __future__ import annotations

import base64
from types import SimpleNamespace
from typing import Any

import orjson

from tidelake.aws.protocol.errors import to_aws
from tidelake.errors import ValidationFailed
from tidelake.functions.schedule_models import InputTransformer, Target, TargetFailure
from tidelake.functions.schedules import Schedules

P = dict[str, Any]
DEFAULT_LIMIT = 100


class EventsApi:
    def __init__(self, schedules: Schedules) -> None:
        self.schedules = schedules

    def put_rule(self, p: P) -> P:
        rule = self.schedules.put_rule(
            p["Name"], schedule_expression=p.get("ScheduleExpression"), event_pattern=p.get("EventPattern"),
            state=p.get("State"), description=p.get("Description"), role_arn=p.get("RoleArn"),
            tags={t["Key"]: t["Value"] for t in p.get("Tags", [])}, event_bus_name=p.get("EventBusName"))
        return {"RuleArn": rule.arn}

    def describe_rule(self, p: P) -> Any:
        return self.schedules.describe_rule(p["Name"], p.get("EventBusName"))

    def list_rules(self, p: P) -> Any:
        rules = {r.name: r for r in self.schedules.list_rules(p.get("NamePrefix"), p.get("EventBusName"))}
        page, token = _page(list(rules), p)
        # An object, not a dict: the serializer passes a dict of a plain shape through as it is.
        return SimpleNamespace(rules=[rules[n] for n in page], next_token=token.get("NextToken"))

    def delete_rule(self, p: P) -> None:
        self.schedules.delete_rule(p["Name"], bool(p.get("Force")), p.get("EventBusName"))

    def enable_rule(self, p: P) -> None:
        self.schedules.enable_rule(p["Name"], p.get("EventBusName"))

    def disable_rule(self, p: P) -> None:
        self.schedules.disable_rule(p["Name"], p.get("EventBusName"))

    def put_targets(self, p: P) -> P:
        failures = self.schedules.put_targets(p["Rule"], [_target(t) for t in p["Targets"]], p.get("EventBusName"))
        return _failed(failures)

    def remove_targets(self, p: P) -> P:
        self.schedules.remove_targets(p["Rule"], p["Ids"], p.get("EventBusName"))
        return _failed([])

    def list_targets_by_rule(self, p: P) -> P:
        targets = {t.id: t for t in self.schedules.list_targets_by_rule(p["Rule"], p.get("EventBusName"))}
        page, token = _page(list(targets), p)
        return {"Targets": [_target_out(targets[i]) for i in page], **token}

    def list_rule_names_by_target(self, p: P) -> P:
        page, token = _page(self.schedules.list_rule_names_by_target(p["TargetArn"], p.get("EventBusName")), p)
        return {"RuleNames": page, **token}

    def tag_resource(self, p: P) -> None:
        self.schedules.tag_resource(p["ResourceARN"], {t["Key"]: t["Value"] for t in p["Tags"]})

    def untag_resource(self, p: P) -> None:
        self.schedules.untag_resource(p["ResourceARN"], p["TagKeys"])

    def list_tags_for_resource(self, p: P) -> P:
        tags = self.schedules.list_tags_for_resource(p["ResourceARN"])
        return {"Tags": [{"Key": k, "Value": v} for k, v in sorted(tags.items())]}


def _target(t: P) -> Target:
    transformer = t.get("InputTransformer")
    kinesis = t.get("KinesisParameters")
    return Target(t["Id"], t["Arn"], t.get("RoleArn"), t.get("Input"), t.get("InputPath"),
                  InputTransformer(transformer["InputTemplate"], transformer.get("InputPathsMap") or {})
                  if transformer else None, kinesis["PartitionKeyPath"] if kinesis else None)


def _target_out(target: Target) -> P:
    out: P = {"Id": target.id, "Arn": target.arn}
    for member, value in (("RoleArn", target.role_arn), ("Input", target.input), ("InputPath", target.input_path)):
        if value is not None:
            out[member] = value
    if target.input_transformer is not None:
        out["InputTransformer"] = {"InputTemplate": target.input_transformer.input_template}
        if target.input_transformer.input_paths_map:
            out["InputTransformer"]["InputPathsMap"] = target.input_transformer.input_paths_map
    if target.partition_key_path is not None:
        out["KinesisParameters"] = {"PartitionKeyPath": target.partition_key_path}
    return out


def _failed(failures: list[TargetFailure]) -> P:
    entries = []
    for failure in failures:
        aws = to_aws("events", failure.error)
        entries.append({"TargetId": failure.target_id, "ErrorCode": aws.code, "ErrorMessage": aws.message})
    return {"FailedEntryCount": len(entries), "FailedEntries": entries}


def _page(items: list[str], p: P) -> tuple[list[str], P]:
    """One page of ``items`` from the NextToken's position (an opaque token holding an offset)."""
    start = 0
    if p.get("NextToken"):
        try:
            start = int(orjson.loads(base64.urlsafe_b64decode(p["NextToken"]))["offset"])
        except (ValueError, KeyError, TypeError):
            raise ValidationFailed("The NextToken is not valid.") from None
    limit = p.get("Limit") or DEFAULT_LIMIT
    end = start + limit
    token = {"NextToken": base64.urlsafe_b64encode(orjson.dumps({"offset": end})).decode()} if end < len(items) else {}
    return items[start:end], token
