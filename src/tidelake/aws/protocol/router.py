"""Which service a request is for: SigV4 credential scope, then X-Amz-Target, then the path."""
from __future__ import annotations

import re
from typing import Mapping

_SCOPE = re.compile(r"Credential=[^/,\s]+/\d{8}/[^/,\s]+/([^/,\s]+)/aws4_request")
_QUERY_SCOPE = re.compile(r"^[^/]+/\d{8}/[^/]+/([^/]+)/aws4_request$")

# X-Amz-Target prefixes of the JSON protocols served here.
TARGET_PREFIXES = {
    "Kinesis_20131202": "kinesis",
    "Firehose_20150804": "firehose",
    "AWSGlue": "glue",
    "AmazonAthena": "athena",
    "DynamoDB_20120810": "dynamodb",
    "AWSEvents": "events",
    "Logs_20140328": "logs",
}


def resolve_service(headers: Mapping[str, str], query: Mapping[str, str], path: str) -> str:
    match = _SCOPE.search(headers.get("authorization", ""))
    if match is None and "X-Amz-Credential" in query:
        match = _QUERY_SCOPE.match(query["X-Amz-Credential"])
    if match is not None:
        return match.group(1)
    target = headers.get("x-amz-target")
    if target:
        return TARGET_PREFIXES.get(target.split(".", 1)[0], target.split(".", 1)[0])
    if path.startswith("/2015-03-31/functions") or path.startswith("/2015-03-31/event-source-mappings"):
        return "lambda"
    return "s3"  # the only REST service addressed by path alone
