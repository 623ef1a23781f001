"""EventBridge schedule expressions: which ones are valid, and when their slots fall (UTC).
Rules from docs.aws.amazon.com/eventbridge/latest/userguide/eb-cron-expressions.html and
eb-rate-expressions.html."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from tidelake.schedule_expressions import (CronSchedule, InvalidScheduleExpression, RateSchedule,
                                                     parse_schedule)


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc).timestamp()


def iso(seconds: float | None) -> str | None:
    return None if seconds is None else datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%d %H:%M")


@pytest.mark.parametrize("expression, seconds", [
    ("rate(1 minute)", 60), ("rate(5 minutes)", 300), ("rate(1 hour)", 3600), ("rate(12 hours)", 43200),
    ("rate(1 day)", 86400), ("rate(7 days)", 604800)])
def test_rates(expression, seconds):
    schedule = parse_schedule(expression)
    assert isinstance(schedule, RateSchedule) and schedule.period == seconds


@pytest.mark.parametrize("expression", [
    "rate(1 minutes)", "rate(5 minute)", "rate(1 hours)", "rate(5 hour)", "rate(0 minutes)", "rate(5 weeks)",
    "rate(-1 minutes)", "rate(1.5 hours)", "rate(minutes)", "rate()", "RATE(5 minutes)", "every 5 minutes", "",
    "cron(5 * * * *)", "cron(5 * * * ? * *)", "cron(5 * * * * *)", "cron(5 * ? * ? *)", "cron(60 * * * ? *)",
    "cron(0 24 * * ? *)", "cron(0 10 32 * ? *)", "cron(0 10 * 13 ? *)", "cron(0 10 ? * 0 *)", "cron(0 10 ? * 8 *)",
    "cron(0 10 ? * 3#1,6#3 *)", "cron(0 10 * * ? 1969)", "cron(a * * * ? *)", "cron(0 10 ? * 2/2 *)",
    "cron(0 10 L * ? *", "cron(5W * * * ? *)", "cron(0 10 * * ? 2026) extra"])
def test_invalid_expressions_get_eventbridges_one_message(expression):
    with pytest.raises(InvalidScheduleExpression) as info:
        parse_schedule(expression)
    assert info.value.message == "Parameter ScheduleExpression is not valid."
    assert info.value.reason  # says which rule, for logs and docs


@pytest.mark.parametrize("expression, now, latest, following", [
    # The workshop's hourly merge at :05.
    ("cron(5 * * * ? *)", "2026-11-23 15:04:59", "2026-11-23 14:05", "2026-11-23 15:05"),
    ("cron(5 * * * ? *)", "2026-11-23 15:05:00", "2026-11-23 15:05", "2026-11-23 16:05"),
    ("cron(0 10 * * ? *)", "2026-11-23 12:00:00", "2026-11-23 10:00", "2026-11-24 10:00"),
    ("cron(0/15 * * * ? *)", "2026-11-23 12:20:00", "2026-11-23 12:15", "2026-11-23 12:30"),
    ("cron(1/10 * * * ? *)", "2026-11-23 12:20:00", "2026-11-23 12:11", "2026-11-23 12:21"),
    # Days of the week count from Sunday = 1: 2-6 is Monday to Friday. 2026-11-23 is a Monday.
    ("cron(0 18 ? * 2-6 *)", "2026-11-21 12:00:00", "2026-11-20 18:00", "2026-11-23 18:00"),
    ("cron(0 18 ? * MON-FRI *)", "2026-11-21 12:00:00", "2026-11-20 18:00", "2026-11-23 18:00"),
    ("cron(0 8 ? * 1 *)", "2026-11-23 12:00:00", "2026-11-22 08:00", "2026-11-29 08:00"),
    ("cron(0 8 ? * 7 *)", "2026-11-23 12:00:00", "2026-11-21 08:00", "2026-11-28 08:00"),
    # L: the last day of the month; alone in Day-of-week, Saturday; 6L the month's last Friday.
    ("cron(0 10 L * ? *)", "2026-11-23 12:00:00", "2026-10-31 10:00", "2026-11-30 10:00"),
    ("cron(0 10 ? * L *)", "2026-11-23 12:00:00", "2026-11-21 10:00", "2026-11-28 10:00"),
    ("cron(0 10 ? * 6L *)", "2026-11-23 12:00:00", "2026-10-30 10:00", "2026-11-27 10:00"),
    # W: the weekday nearest the day (2026-11-15 is a Sunday -> Monday 16th).
    ("cron(0 10 15W * ? *)", "2026-11-23 12:00:00", "2026-11-16 10:00", "2026-12-15 10:00"),
    # #: the second Tuesday.
    ("cron(0 10 ? * 3#2 *)", "2026-11-23 12:00:00", "2026-11-10 10:00", "2026-12-08 10:00"),
    ("cron(0 9 1 JAN-MAR ? *)", "2026-11-23 12:00:00", "2026-03-01 09:00", "2027-01-01 09:00"),
    # Year: only 2027; a year that has passed never fires again.
    ("cron(0 10 * * ? 2027)", "2026-11-23 12:00:00", None, "2027-01-01 10:00"),
    ("cron(0 10 * * ? 2020)", "2026-11-23 12:00:00", "2020-12-31 10:00", None),
])
def test_cron_slots_in_utc(expression, now, latest, following):
    schedule = parse_schedule(expression)
    assert isinstance(schedule, CronSchedule)
    assert iso(schedule.latest_until(at(now))) == latest
    after = schedule.first_after(at(now))
    assert (None if after == float("inf") else iso(after)) == following


def test_rate_slots_count_from_the_anchor():
    schedule = parse_schedule("rate(5 minutes)")
    anchor = at("2026-11-23 15:02:30")
    assert schedule.latest_until(anchor + 299, anchor) is None  # the first run is one period after
    assert iso(schedule.latest_until(anchor + 300, anchor)) == "2026-11-23 15:07"
    assert iso(schedule.latest_until(anchor + 3599, anchor)) == "2026-11-23 15:57"
    assert iso(schedule.first_after(anchor, anchor)) == "2026-11-23 15:07"
    assert iso(schedule.first_after(anchor + 300, anchor)) == "2026-11-23 15:12"
    assert schedule.count_between(anchor, anchor + 3300, anchor) == 10


def test_cron_counts_the_slots_between_two_times():
    schedule = parse_schedule("cron(5 * * * ? *)")
    assert schedule.count_between(at("2026-11-23 10:05:00"), at("2026-11-23 15:05:00")) == 4
    assert schedule.count_between(at("2026-11-23 10:05:00"), at("2026-11-23 11:05:00")) == 0
