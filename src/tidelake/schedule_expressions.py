"""EventBridge schedule expressions: ``rate(5 minutes)`` and AWS's six-field ``cron(m h dom mon dow year)``.

A rate's slots are ``anchor + k * period`` (k >= 1) where the anchor is when the rule was created or
enabled; a cron's slots are the times croniter yields, in UTC. Both answer the same two questions the
scheduler asks: the first slot after a time, and the latest slot at or before now.

AWS cron differs from Unix cron in ways croniter does not know, so the fields are translated:
days of the week run 1-7 from Sunday (croniter: 0-6), ``?`` means "any" in one day field, ``L`` alone
in day-of-week is Saturday and ``5L`` the last Thursday (croniter: ``L4``), ``3#2`` keeps its
occurrence but shifts the day; the year is croniter's seventh field (after a zero seconds field).
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime, timezone

from croniter import croniter

from tidelake.errors import ValidationFailed

_RATE = re.compile(r"rate\((\d+) +(minute|minutes|hour|hours|day|days)\)")
_CRON = re.compile(r"cron\((.*)\)")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}
# The wildcards each AWS field allows (docs: eb-cron-expressions), checked before croniter sees them.
_FIELD_CHARS = [re.compile(p, re.IGNORECASE) for p in (
    r"[\d,\-*/]+", r"[\d,\-*/]+", r"[\d,\-*?/LW]+", r"[\dA-Z,\-*/]+", r"[\dA-Z,\-*?L#]+", r"[\d,\-*/]+")]
_COUNT_CAP = 10_000  # enough to say how many slots a pause skipped, without walking years of minutes


class InvalidScheduleExpression(ValidationFailed):
    """EventBridge's one answer for every malformed expression; ``reason`` says which rule it broke."""

    def __init__(self, expression: str, reason: str) -> None:
        self.expression = expression
        self.reason = reason
        super().__init__("Parameter ScheduleExpression is not valid.")


@dataclass(frozen=True)
class RateSchedule:
    expression: str
    period: float  # seconds

    def first_after(self, after: float, anchor: float) -> float:
        k = max(1, math.floor((after - anchor) / self.period) + 1)
        return anchor + k * self.period

    def latest_until(self, now: float, anchor: float) -> float | None:
        k = math.floor((now - anchor) / self.period)
        return anchor + k * self.period if k >= 1 else None

    def count_between(self, after: float, before: float, anchor: float) -> int:
        """Slots strictly between two slots (or the anchor) of this schedule."""
        return max(0, round((before - after) / self.period) - 1)


@dataclass(frozen=True)
class CronSchedule:
    expression: str
    spec: str  # croniter's seven fields: m h dom mon dow second year

    def first_after(self, after: float, anchor: float = 0.0) -> float:
        try:
            return croniter(self.spec, _utc(after)).get_next(float)
        except (ValueError, KeyError):  # croniter: no date matches (a past year, February 30)
            return math.inf

    def latest_until(self, now: float, anchor: float = 0.0) -> float | None:
        # croniter's get_prev is strict and works in whole seconds: start one second past now's second.
        try:
            return croniter(self.spec, _utc(math.floor(now) + 1)).get_prev(float)
        except (ValueError, KeyError):
            return None

    def count_between(self, after: float, before: float, anchor: float = 0.0) -> int:
        it = croniter(self.spec, _utc(after))
        for n in range(_COUNT_CAP):
            if it.get_next(float) >= before:
                return n
        return _COUNT_CAP


Schedule = RateSchedule | CronSchedule


def parse_schedule(expression: str) -> Schedule:
    """Validate an expression as EventBridge does; raises InvalidScheduleExpression."""
    rate = _RATE.fullmatch(expression)
    if rate:
        value, unit = int(rate.group(1)), rate.group(2)
        if value < 1:
            raise InvalidScheduleExpression(expression, "The value of a rate must be a positive integer.")
        if (value == 1) != (not unit.endswith("s")):
            raise InvalidScheduleExpression(expression, "Use the singular unit for 1 (rate(1 hour)) and the "
                                                        "plural for more (rate(5 hours)).")
        return RateSchedule(expression, value * _UNIT_SECONDS[unit.rstrip("s")])
    cron = _CRON.fullmatch(expression)
    if cron:
        return CronSchedule(expression, _croniter_spec(expression, cron.group(1).split()))
    raise InvalidScheduleExpression(expression, "Use rate(value unit) or cron(Minutes Hours Day-of-month Month "
                                                "Day-of-week Year).")


def _croniter_spec(expression: str, fields: list[str]) -> str:
    if len(fields) != 6:
        raise InvalidScheduleExpression(expression, "A cron expression has six fields.")
    for pattern, value in zip(_FIELD_CHARS, fields):
        if not pattern.fullmatch(value):
            raise InvalidScheduleExpression(expression, f"{value!r} uses a wildcard its field does not allow.")
    minute, hour, dom, month, dow, year = fields
    if (dom == "?") == (dow == "?"):
        raise InvalidScheduleExpression(expression, "Exactly one of Day-of-month and Day-of-week must be '?'.")
    if "#" in dow and "," in dow:
        raise InvalidScheduleExpression(expression, "A Day-of-week with '#' holds a single expression.")
    dom = "*" if dom == "?" else dom
    dow = "*" if dow == "?" else ",".join(_weekday(expression, item) for item in dow.split(","))
    spec = f"{minute} {hour} {dom} {month} {dow} 0 {year}"
    try:
        croniter(spec)
    except (ValueError, KeyError, TypeError) as error:  # croniter's errors are ValueErrors
        raise InvalidScheduleExpression(expression, str(error)) from None
    return spec


def _weekday(expression: str, item: str) -> str:
    """One Day-of-week list item, from AWS numbering (1-7 from Sunday) to croniter's (0-6)."""
    def shift(match: re.Match[str]) -> str:
        day = int(match.group(0))
        if not 1 <= day <= 7:
            raise InvalidScheduleExpression(expression, f"Day-of-week {day} is outside 1-7.")
        return str(day - 1)
    if item.upper() == "L":
        return "6"  # alone, L is the last day of the week: Saturday
    last = re.fullmatch(r"(\d+)L", item, re.IGNORECASE)
    if last:
        return "L" + re.sub(r"\d+", shift, last.group(1))
    day, hash_, nth = item.partition("#")
    return re.sub(r"\d+", shift, day) + hash_ + nth


def _utc(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, timezone.utc)
