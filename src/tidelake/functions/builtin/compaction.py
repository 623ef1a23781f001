"""Built-in function: compact a table, run by a schedule rule (``tidelake compact --schedule``).

The rule's target Input names the work, in the body of ``POST /_tidelake/compact``::

    {"source": "mydatabase.retail_trans_json", "target": "mydatabase.retail_trans_parquet",
     "location": "s3://my-bucket/parquet-data/", "partition": null, "all": false}

It runs in a function worker like any user code, with the standard library only, and reaches the
server that runs it through ``AWS_ENDPOINT_URL`` (set for every function). Compaction is idempotent,
so a slot fired twice (at least once) rewrites nothing the second time.
"""
from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from typing import Any

FIELDS = ("source", "target", "location", "partition", "all")


def lambda_handler(event: Any, context: Any) -> dict[str, Any]:
    if not isinstance(event, dict) or not event.get("source") or not event.get("target"):
        raise ValueError("Give the tables in the rule target's Input: {\"source\": \"db.table\", "
                         "\"target\": \"db.table_parquet\"}; got " + json.dumps(event)[:200])
    body = {key: event.get(key) for key in FIELDS}
    endpoint = os.environ["AWS_ENDPOINT_URL"].rstrip("/")
    request = urllib.request.Request(f"{endpoint}/_tidelake/compact", data=json.dumps(body).encode(),
                                     method="POST", headers={"Content-Type": "application/json"})
    timeout = context.get_remaining_time_in_millis() / 1000 if context is not None else 900
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            report = json.load(answer)
    except urllib.error.HTTPError as error:
        raise RuntimeError(f"compaction of {body['source']} failed: {error.read().decode(errors='replace')}") \
            from None
    actions: dict[str, int] = {}
    for partition in report["partitions"]:
        actions[partition["action"]] = actions.get(partition["action"], 0) + 1
    print(f"{report['source']} -> {report['target']}: {actions or 'no partitions'}; "
          f"{len(report['not_closed'])} not closed yet")
    return {"source": report["source"], "target": report["target"], "actions": actions,
            "not_closed": report["not_closed"], "created_target": report["created_target"]}
