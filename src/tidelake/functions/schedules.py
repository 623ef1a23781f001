"""Scheduled rules (EventBridge's PutRule / PutTargets on the default bus), durable in SQLite, and the
scheduler that fires them.

    schedules = Schedules(settings, clock, functions, streams, delivery)
    schedules.put_rule("hourly-merge", schedule_expression="cron(5 * * * ? *)")
    schedules.put_targets("hourly-merge", [Target("merge", "arn:aws:lambda:...:function:merge")])
    schedules.tick()  # a platform worker calls this every ``schedule_check_seconds``

Semantics (docs/eventbridge.md):

- Cron expressions are in UTC. A rate's first slot is one period after the rule was created, enabled,
  or given a new expression; the next ones follow every period.
- ``tick`` fires every enabled rule whose latest slot at or before now is newer than the last one it
  fired. Each fire hands the Scheduled Event (or the target's input) to every target, then records the
  slot: a crash in between fires that slot again at the next start (at least once); a slot recorded
  is never fired twice, across restarts too.
- Missed slots (the server was down, or stopped for longer than a period): the rule fires once, for the
  most recent missed slot, with that slot as the event's ``time``; the older ones are skipped, counted
  in the fire's ``skipped`` and logged. Never a burst.
- A target that fails (unknown function, deleted stream) is logged and counted in the fire; the other
  targets still get the event. There are no retries.
- Rules with an EventPattern are stored and answered, but never fire: nothing publishes events here.
"""
from __future__ import annotations

import dataclasses
import logging
import threading
import uuid
from pathlib import Path
from typing import Any

import orjson

from tidelake import sqlite
from tidelake.clock import Clock
from tidelake.config import Settings
from tidelake.errors import ValidationFailed
from tidelake.schedule_expressions import Schedule, parse_schedule
from tidelake.functions.schedule_models import (DEFAULT_BUS, MAX_TARGETS_PER_RULE, EventBusNotFound, Fire,
                                                InputTransformer, InvalidEventPattern, Rule, RuleHasTargets,
                                                RuleNotFound, Target, TargetFailure, TargetLimitExceeded,
                                                UnsupportedTarget)
from tidelake.functions.schedule_targets import (DeliveryWriter, FunctionInvoker, StreamWriter, TargetDispatch,
                                                 check_target, iso_time, payload, scheduled_event)

log = logging.getLogger("tidelake.schedules")
FIRES_KEPT = 100  # per rule

_SCHEMA = """
CREATE TABLE IF NOT EXISTS rules (name TEXT PRIMARY KEY, doc BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS targets (rule TEXT NOT NULL, id TEXT NOT NULL, position INTEGER NOT NULL,
    doc BLOB NOT NULL, PRIMARY KEY (rule, id));
CREATE TABLE IF NOT EXISTS fires (rule TEXT NOT NULL, slot REAL NOT NULL, doc BLOB NOT NULL, PRIMARY KEY (rule, slot));
"""


class Schedules:
    def __init__(self, settings: Settings, clock: Clock, functions: FunctionInvoker, streams: StreamWriter,
                 delivery: DeliveryWriter) -> None:
        self.settings = settings
        self.clock = clock
        self.dispatch = TargetDispatch(functions, streams, delivery)
        path: Path = settings.data_dir / "functions" / "schedules.db"
        self._conn = sqlite.connect(path, synchronous="FULL" if settings.durability == "fsync" else "NORMAL")
        self._conn.executescript(_SCHEMA)
        self._lock = threading.RLock()  # rules, targets and the connection
        self._tick_lock = threading.Lock()  # one tick at a time: a slot is fired by one of them
        self._rules = {name: _rule(doc) for name, doc in self._conn.execute("SELECT name, doc FROM rules")}
        self._targets: dict[str, dict[str, Target]] = {name: {} for name in self._rules}
        for rule, target_id, doc in self._conn.execute("SELECT rule, id, doc FROM targets ORDER BY rule, position"):
            self._targets.setdefault(rule, {})[target_id] = _target(doc)
        self._schedules: dict[str, Schedule] = {
            r.name: parse_schedule(r.schedule_expression) for r in self._rules.values() if r.schedule_expression}

    def rule_arn(self, name: str) -> str:
        return f"arn:aws:events:{self.settings.region}:{self.settings.account_id}:rule/{name}"

    # -- rules ---------------------------------------------------------------------------------

    def put_rule(self, name: str, *, schedule_expression: str | None = None, event_pattern: str | None = None,
                 state: str | None = None, description: str | None = None, role_arn: str | None = None,
                 tags: dict[str, str] | None = None, event_bus_name: str | None = None) -> Rule:
        """Create the rule, or replace its definition (its targets and tags stay)."""
        bus = _bus(event_bus_name)
        if not schedule_expression and not event_pattern:
            raise ValidationFailed("Parameter(s) EventPattern or ScheduleExpression must be specified.")
        schedule = parse_schedule(schedule_expression) if schedule_expression else None
        if event_pattern:
            _check_pattern(event_pattern)
        now = self.clock.now()
        with self._lock:
            old = self._rules.get(name)
            rule = Rule(name, self.rule_arn(name), schedule_expression or None, event_pattern or None,
                        state or "ENABLED", description, role_arn, bus, self.settings.account_id,
                        dict(tags or {}) if old is None else old.tags, anchor=now)
            if old is not None and old.enabled and rule.enabled and old.schedule_expression == rule.schedule_expression:
                rule.anchor, rule.last_slot = old.anchor, old.last_slot  # an unchanged schedule keeps its slots
            self._save(rule)
            self._targets.setdefault(name, {})
            if schedule is None:
                self._schedules.pop(name, None)
            else:
                self._schedules[name] = schedule
        return dataclasses.replace(rule)

    def describe_rule(self, name: str, event_bus_name: str | None = None) -> Rule:
        _bus(event_bus_name)
        with self._lock:
            rule = self._rules.get(name)
            if rule is None:
                raise RuleNotFound(name)
            return dataclasses.replace(rule, tags=dict(rule.tags))

    def list_rules(self, name_prefix: str | None = None, event_bus_name: str | None = None) -> list[Rule]:
        _bus(event_bus_name)
        with self._lock:
            return [dataclasses.replace(r) for n, r in sorted(self._rules.items()) if n.startswith(name_prefix or "")]

    def delete_rule(self, name: str, force: bool = False, event_bus_name: str | None = None) -> None:
        """Delete a rule; deleting one that does not exist succeeds, as in EventBridge. A rule with
        targets is refused unless ``force``, which removes its targets with it."""
        _bus(event_bus_name)
        with self._lock:
            if name not in self._rules:
                return
            if self._targets.get(name) and not force:
                raise RuleHasTargets(name)
            with self._conn:
                self._conn.execute("BEGIN")
                for table, column in (("rules", "name"), ("targets", "rule"), ("fires", "rule")):
                    self._conn.execute(f"DELETE FROM {table} WHERE {column} = ?", (name,))
            del self._rules[name]
            self._targets.pop(name, None)
            self._schedules.pop(name, None)

    def enable_rule(self, name: str, event_bus_name: str | None = None) -> None:
        self._set_state(name, "ENABLED", event_bus_name)

    def disable_rule(self, name: str, event_bus_name: str | None = None) -> None:
        self._set_state(name, "DISABLED", event_bus_name)

    def _set_state(self, name: str, state: str, event_bus_name: str | None) -> None:
        _bus(event_bus_name)
        with self._lock:
            rule = self._rules.get(name)
            if rule is None:
                raise RuleNotFound(name)
            if rule.enabled != (state == "ENABLED"):
                # Slots that passed while disabled are not owed: counting restarts now.
                updated = dataclasses.replace(rule, state=state, anchor=self.clock.now(), last_slot=None)
                self._save(updated)

    # -- targets -------------------------------------------------------------------------------

    def put_targets(self, rule_name: str, targets: list[Target],
                    event_bus_name: str | None = None) -> list[TargetFailure]:
        """Add or replace targets by id. Returns the entries refused one by one (tidelake cannot
        deliver to them); a malformed entry or going over 5 targets refuses the whole request."""
        _bus(event_bus_name)
        accepted: dict[str, Target] = {}
        failures: list[TargetFailure] = []
        for target in targets:
            try:
                check_target(target)
                accepted[target.id] = target
            except UnsupportedTarget as error:
                failures.append(TargetFailure(target.id, error))
        with self._lock:
            if rule_name not in self._rules:
                raise RuleNotFound(rule_name)
            current = self._targets[rule_name]
            if len(set(current) | set(accepted)) > MAX_TARGETS_PER_RULE:
                raise TargetLimitExceeded(rule_name)
            with self._conn:
                self._conn.execute("BEGIN")
                for target in accepted.values():
                    position = list(current).index(target.id) if target.id in current else len(current)
                    self._conn.execute("INSERT OR REPLACE INTO targets VALUES (?, ?, ?, ?)",
                                       (rule_name, target.id, position, orjson.dumps(dataclasses.asdict(target))))
                    current[target.id] = target
        return failures

    def remove_targets(self, rule_name: str, ids: list[str], event_bus_name: str | None = None) -> None:
        """Remove targets by id; ids the rule does not have are ignored, as in EventBridge."""
        _bus(event_bus_name)
        with self._lock:
            if rule_name not in self._rules:
                raise RuleNotFound(rule_name)
            with self._conn:
                self._conn.execute("BEGIN")
                for target_id in ids:
                    self._conn.execute("DELETE FROM targets WHERE rule = ? AND id = ?", (rule_name, target_id))
                    self._targets[rule_name].pop(target_id, None)

    def list_targets_by_rule(self, rule_name: str, event_bus_name: str | None = None) -> list[Target]:
        _bus(event_bus_name)
        with self._lock:
            if rule_name not in self._rules:
                raise RuleNotFound(rule_name)
            return list(self._targets[rule_name].values())

    def list_rule_names_by_target(self, target_arn: str, event_bus_name: str | None = None) -> list[str]:
        _bus(event_bus_name)
        with self._lock:
            return sorted(name for name, targets in self._targets.items()
                          if any(t.arn == target_arn for t in targets.values()))

    # -- tags ----------------------------------------------------------------------------------

    def tag_resource(self, arn: str, tags: dict[str, str]) -> None:
        with self._lock:
            rule = self._rule_by_arn(arn)
            self._save(dataclasses.replace(rule, tags={**rule.tags, **tags}))

    def untag_resource(self, arn: str, keys: list[str]) -> None:
        with self._lock:
            rule = self._rule_by_arn(arn)
            self._save(dataclasses.replace(rule, tags={k: v for k, v in rule.tags.items() if k not in keys}))

    def list_tags_for_resource(self, arn: str) -> dict[str, str]:
        with self._lock:
            return dict(self._rule_by_arn(arn).tags)

    def _rule_by_arn(self, arn: str) -> Rule:
        name = arn.rsplit(":rule/", 1)[-1]
        rule = self._rules.get(name)
        if ":rule/" not in arn or rule is None or rule.arn != arn:
            raise RuleNotFound(name)
        return rule

    # -- the scheduler -------------------------------------------------------------------------

    def tick(self) -> list[Fire]:
        """Fire every rule with a slot due (see the module docstring); returns the fires."""
        with self._tick_lock:
            now = self.clock.now()
            with self._lock:
                due = [(dataclasses.replace(self._rules[name]), schedule, list(self._targets[name].values()))
                       for name, schedule in self._schedules.items() if self._rules[name].enabled]
            fires = []
            for rule, schedule, targets in due:
                since = rule.anchor if rule.last_slot is None else rule.last_slot
                slot = schedule.latest_until(now, rule.anchor)
                if slot is None or slot <= since:
                    continue
                skipped = schedule.count_between(since, slot, rule.anchor) if targets else 0
                fire = Fire(rule.name, slot, now, str(uuid.uuid4()), skipped)
                if skipped:
                    log.warning("rule %s missed %d slot(s) after %s; it fires once, for %s", rule.name, skipped,
                                iso_time(since), iso_time(slot))
                self._deliver(rule, targets, fire)
                self._record(rule, fire, bool(targets))
                if targets:
                    fires.append(fire)
            return fires

    def _deliver(self, rule: Rule, targets: list[Target], fire: Fire) -> None:
        event = scheduled_event(rule, fire.slot, fire.event_id, self.settings.account_id, self.settings.region)
        for target in targets:
            try:
                self.dispatch.send(target, payload(target, event, rule), event)
                fire.delivered.append(target.id)
            except Exception as error:  # one target failing must not keep the event from the others
                fire.failed[target.id] = f"{type(error).__name__}: {error}"
                log.warning("rule %s: target %s (%s) failed: %s", rule.name, target.id, target.arn, error)

    def _record(self, fired: Rule, fire: Fire, keep: bool) -> None:
        with self._lock:
            rule = self._rules.get(fired.name)
            # Changed while firing (deleted, re-anchored by PutRule or EnableRule): its new schedule rules.
            if rule is None or rule.anchor != fired.anchor or rule.schedule_expression != fired.schedule_expression:
                return
            with self._conn:
                self._conn.execute("BEGIN")
                self._save(dataclasses.replace(rule, last_slot=fire.slot))
                if keep:
                    self._conn.execute("INSERT OR REPLACE INTO fires VALUES (?, ?, ?)",
                                       (fire.rule, fire.slot, orjson.dumps(dataclasses.asdict(fire))))
                    self._conn.execute("DELETE FROM fires WHERE rule = ? AND slot NOT IN (SELECT slot FROM fires "
                                       "WHERE rule = ? ORDER BY slot DESC LIMIT ?)", (fire.rule, fire.rule, FIRES_KEPT))

    def fires(self, rule_name: str, limit: int = 20) -> list[Fire]:
        """The rule's latest fires, newest first."""
        with self._lock:
            rows = self._conn.execute("SELECT doc FROM fires WHERE rule = ? ORDER BY slot DESC LIMIT ?",
                                      (rule_name, limit)).fetchall()
        return [Fire(**orjson.loads(doc)) for (doc,) in rows]

    def next_slot(self, rule_name: str) -> float | None:
        """When the rule fires next (None: disabled, no schedule, or never again)."""
        with self._lock:
            rule, schedule = self._rules.get(rule_name), self._schedules.get(rule_name)
            if rule is None or schedule is None or not rule.enabled:
                return None
            since = rule.anchor if rule.last_slot is None else rule.last_slot
            at = schedule.first_after(max(since, self.clock.now()), rule.anchor)
        return None if at == float("inf") else at

    def _save(self, rule: Rule) -> None:
        self._conn.execute("INSERT OR REPLACE INTO rules VALUES (?, ?)",
                           (rule.name, orjson.dumps(dataclasses.asdict(rule))))
        self._rules[rule.name] = rule

    def close(self) -> None:
        with self._lock:
            self._conn.close()


def _bus(name: str | None) -> str:
    """Only the default bus exists; it may be named by its ARN."""
    if name is None or name == DEFAULT_BUS or name.endswith(f":event-bus/{DEFAULT_BUS}"):
        return DEFAULT_BUS
    raise EventBusNotFound(name.rsplit("/", 1)[-1])


def _check_pattern(text: str) -> None:
    try:
        pattern = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise InvalidEventPattern("Filter is not valid JSON.") from None
    if not isinstance(pattern, dict):
        raise InvalidEventPattern("Filter is not an object")

    def walk(node: dict[str, Any]) -> None:
        for key, value in node.items():
            if isinstance(value, dict):
                walk(value)
            elif not isinstance(value, list):
                raise InvalidEventPattern(f"Match value must be String, number, true, false, or null at '{key}'")
            elif not value:
                raise InvalidEventPattern("Empty arrays are not allowed")
    walk(pattern)


def _rule(doc: bytes) -> Rule:
    return Rule(**orjson.loads(doc))


def _target(doc: bytes) -> Target:
    data = orjson.loads(doc)
    transformer = data.pop("input_transformer")
    return Target(**data, input_transformer=InputTransformer(**transformer) if transformer else None)

