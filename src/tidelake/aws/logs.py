"""Amazon CloudWatch Logs (JSON 1.1, ``Logs_20140328.*``) over the function logs: the log group
``/aws/lambda/NAME`` of each function that has run, one log stream per worker process.

Reads only: DescribeLogGroups, DescribeLogStreams, GetLogEvents and FilterLogEvents. Paging tokens
are positions in the order lines were stored (``f/<position>`` forward, ``b/<position>``
backward), so they stay valid while the log grows; an event's ``eventId`` is its position.
"""
from __future__ import annotations

import re
from typing import Any, Callable

from tidelake.errors import InvalidArgument
from tidelake.functions.errors import LogGroupNotFound
from tidelake.functions.logs import millis
from tidelake.functions.models import LOG_GROUP_PREFIX, LogEvent, LogGroup, LogPage, LogStream
from tidelake.functions.service import FunctionService

P = dict[str, Any]
DEFAULT_DESCRIBE_LIMIT = 50
MAX_EVENTS = 10_000  # per page, when no limit is given
MAX_RESPONSE_BYTES = 1024 * 1024  # a page holds at most 1 MB of events
# FilterLogEvents reads newest first only from a startTime on or after 2024-01-01 (the API reference).
NEWEST_FIRST_SINCE_MS = 1_704_067_200_000
_TOKEN = re.compile(r"([fb])/(\d{1,30})")
_GROUP_ARN = re.compile(r"arn:aws[\w-]*:logs:[^:]*:[^:]*:log-group:([^:]+)(?::\*)?")
_TERM = re.compile(r"[A-Za-z0-9_]+")


def filter_terms(pattern: str) -> list[str]:
    """The terms of a filter pattern for unstructured events: words (letters, digits, ``_``) and
    double-quoted phrases, all of which a line must contain, case-sensitively. Other forms of the
    syntax (JSON ``{...}``, space-delimited ``[...]``, regex ``%...%``, ``?`` alternatives, ``-``
    exclusions) are refused."""
    terms: list[str] = []
    rest = pattern.strip()
    if rest[:1] in ("{", "[", "%"):
        raise InvalidArgument(f"Unsupported filter pattern {pattern!r}: tidelake matches plain terms and quoted "
                              "phrases (ERROR \"Task timed out\"); JSON, space-delimited and regex patterns are not "
                              "supported.")
    while rest:
        if rest.startswith('"'):
            end = rest.find('"', 1)
            if end < 0:
                raise InvalidArgument(f"Invalid filter pattern {pattern!r}: a quoted phrase is not closed.")
            phrase, rest = rest[1:end], rest[end + 1:].lstrip()
            if phrase:
                terms.append(phrase)
            continue
        term, _, rest = rest.partition(" ")
        rest = rest.lstrip()
        if term[:1] in ("?", "-"):
            raise InvalidArgument(f"Unsupported filter pattern {pattern!r}: tidelake matches lines containing every "
                                  "term; ?term alternatives and -term exclusions are not supported.")
        if not _TERM.fullmatch(term):
            raise InvalidArgument(f"Invalid character(s) in term '{term}': put terms with characters other than "
                                  "letters, digits and _ in double quotes.")
        terms.append(term)
    return terms


def _token(text: str) -> tuple[bool, int]:
    """(backward, position) of a paging token."""
    match = _TOKEN.fullmatch(text)
    if match is None:
        raise InvalidArgument("The specified nextToken is invalid.")
    return match.group(1) == "b", int(match.group(2))


def event_id(event: LogEvent) -> str:
    return f"{event.position:056d}"  # 56 digits, as CloudWatch's; they sort as the lines were stored


class LogsApi:
    def __init__(self, functions: FunctionService) -> None:
        self.functions = functions
        settings = functions.settings
        self._arn_prefix = f"arn:aws:logs:{settings.region}:{settings.account_id}:log-group:"

    def _function(self, p: P) -> str:
        """The function whose log group the request names (logGroupName or logGroupIdentifier)."""
        name, identifier = p.get("logGroupName"), p.get("logGroupIdentifier")
        if (name is None) == (identifier is None):
            raise InvalidArgument("You must include either logGroupIdentifier or logGroupName, but not both.")
        group = _group_name(name if name is not None else identifier)
        if not group.startswith(LOG_GROUP_PREFIX):
            raise LogGroupNotFound(group)
        return group[len(LOG_GROUP_PREFIX):]

    # -- groups and streams ----------------------------------------------------------------------

    def describe_log_groups(self, p: P) -> P:
        prefix, pattern = p.get("logGroupNamePrefix"), p.get("logGroupNamePattern")
        if prefix is not None and pattern is not None:
            raise InvalidArgument("LogGroupNamePrefix and LogGroupNamePattern are mutually exclusive. "
                                  "Only one of these parameters can be passed.")
        groups = self.functions.log_groups()
        if p.get("logGroupIdentifiers"):
            wanted = {_group_name(identifier) for identifier in p["logGroupIdentifiers"]}
            groups = [g for g in groups if g.log_group_name in wanted]
        if prefix is not None:
            groups = [g for g in groups if g.log_group_name.startswith(prefix)]
        if pattern:
            groups = [g for g in groups if pattern in g.log_group_name]
        if p.get("logGroupClass", "STANDARD") != "STANDARD":
            groups = []  # every function log is a STANDARD group
        page, token = _page(groups, lambda g: g.log_group_name, p.get("nextToken"), False,
                            p.get("limit", DEFAULT_DESCRIBE_LIMIT))
        # With a pattern, CloudWatch answers only the name, the ARN and the creation time.
        out: P = {"logGroups": [self._group(g, brief=pattern is not None) for g in page]}
        if token is not None:
            out["nextToken"] = token
        return out

    def _group(self, group: LogGroup, brief: bool) -> P:
        arn = self._arn_prefix + group.log_group_name
        out: P = {"logGroupName": group.log_group_name, "creationTime": millis(group.creation_time),
                  "arn": arn + ":*"}
        if not brief:
            out.update({"metricFilterCount": 0, "storedBytes": group.stored_bytes, "logGroupClass": "STANDARD",
                        "logGroupArn": arn})
        return out

    def describe_log_streams(self, p: P) -> P:
        function = self._function(p)
        prefix, by_time = p.get("logStreamNamePrefix"), p.get("orderBy", "LogStreamName") == "LastEventTime"
        if by_time and prefix is not None:
            raise InvalidArgument("Cannot order by LastEventTime with a logStreamNamePrefix.")
        streams = self.functions.log_streams(function)
        if prefix is not None:
            streams = [s for s in streams if s.log_stream_name.startswith(prefix)]
        if by_time:
            page, token = _page(streams, lambda s: (millis(s.last_event_timestamp), s.log_stream_name),
                                p.get("nextToken"), p.get("descending", False), p.get("limit", DEFAULT_DESCRIBE_LIMIT),
                                lambda key: f"{key[0]}/{key[1]}", _time_key)
        else:
            page, token = _page(streams, lambda s: s.log_stream_name, p.get("nextToken"), p.get("descending", False),
                                p.get("limit", DEFAULT_DESCRIBE_LIMIT))
        group = LOG_GROUP_PREFIX + function
        out: P = {"logStreams": [self._stream(group, s) for s in page]}
        if token is not None:
            out["nextToken"] = token
        return out

    def _stream(self, group: str, stream: LogStream) -> P:
        return {"logStreamName": stream.log_stream_name, "creationTime": millis(stream.creation_time),
                "firstEventTimestamp": millis(stream.first_event_timestamp),
                "lastEventTimestamp": millis(stream.last_event_timestamp),
                "lastIngestionTime": millis(stream.last_ingestion_time),
                "arn": f"{self._arn_prefix}{group}:log-stream:{stream.log_stream_name}",
                "storedBytes": 0}  # deprecated: CloudWatch answers 0

    # -- events --------------------------------------------------------------------------------------

    def get_log_events(self, p: P) -> P:
        function = self._function(p)
        if p.get("nextToken"):
            backward, cursor = _token(p["nextToken"])
        else:
            backward, cursor = not p.get("startFromHead", False), None
        page = self.functions.read_logs(
            function, log_stream=p["logStreamName"], cursor=cursor, backward=backward, start_ms=p.get("startTime"),
            end_ms=p.get("endTime"), limit=p.get("limit", MAX_EVENTS), max_bytes=MAX_RESPONSE_BYTES)
        events = page.events[::-1] if backward else page.events
        forward_from, backward_from = _bounds(page, events, backward)
        return {"events": [{"timestamp": millis(e.timestamp), "message": e.message,
                            "ingestionTime": millis(e.ingestion_time)} for e in events],
                "nextForwardToken": f"f/{forward_from}", "nextBackwardToken": f"b/{backward_from}"}

    def filter_log_events(self, p: P) -> P:
        function = self._function(p)
        names, prefix = p.get("logStreamNames"), p.get("logStreamNamePrefix")
        if names is not None and prefix is not None:
            raise InvalidArgument("logStreamNames and logStreamNamePrefix are mutually exclusive. "
                                  "Only one of these parameters can be passed.")
        terms = filter_terms(p.get("filterPattern") or "")
        if p.get("nextToken"):
            backward, cursor = _token(p["nextToken"])  # the token's direction wins over startFromHead
        else:
            backward, cursor = not p.get("startFromHead", True), None
            if backward and p.get("startTime") is not None and p["startTime"] < NEWEST_FIRST_SINCE_MS:
                raise InvalidArgument("Setting startFromHead to false is supported only when startTime is on or "
                                      "after Jan 1, 2024 00:00:00 UTC.")
        end = p.get("endTime")
        page = self.functions.read_logs(
            function, cursor=cursor, backward=backward, streams=names, stream_prefix=prefix,
            start_ms=p.get("startTime"), end_ms=None if end is None else end + 1,  # endTime is inclusive here
            terms=terms, limit=p.get("limit", MAX_EVENTS), max_bytes=MAX_RESPONSE_BYTES)
        out: P = {"events": [{"logStreamName": e.log_stream, "timestamp": millis(e.timestamp), "message": e.message,
                              "ingestionTime": millis(e.ingestion_time), "eventId": event_id(e)}
                             for e in page.events],
                  "searchedLogStreams": []}  # deprecated: CloudWatch answers an empty list
        if page.more:
            out["nextToken"] = f"{'b' if backward else 'f'}/{page.next}"
        return out


def _group_name(identifier: str) -> str:
    """A log group name from a name or an ARN (with or without the trailing ``:*``)."""
    match = _GROUP_ARN.fullmatch(identifier)
    return match.group(1) if match else identifier


def _bounds(page: LogPage, events: list[LogEvent], backward: bool) -> tuple[int, int]:
    """The positions GetLogEvents' next forward and backward tokens hold. At the end of the stream in
    the direction read, the token given comes back unchanged (the API reference)."""
    if backward:
        return (events[-1].position if events else max(page.cursor - 1, 0)), page.next
    return page.next, (events[0].position if events else page.cursor + 1)


def _time_key(token: str) -> tuple[int, str]:
    stamp, _, name = token.partition("/")
    if not stamp.isdigit() or not name:
        raise InvalidArgument("The specified nextToken is invalid.")
    return int(stamp), name


def _page(items: list[Any], key: Callable[[Any], Any], token: str | None, descending: bool, limit: int,
          encode: Callable[[Any], str] = str, decode: Callable[[str], Any] = str) -> tuple[list[Any], str | None]:
    """One page of ``items`` sorted by ``key``, after the item whose key the token holds: tokens stay
    valid while groups and streams come and go."""
    items = sorted(items, key=key, reverse=descending)
    if token:
        after = decode(token)
        items = [i for i in items if (key(i) < after if descending else key(i) > after)]
    if len(items) <= limit:
        return items, None
    return items[:limit], encode(key(items[limit - 1]))
