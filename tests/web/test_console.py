"""The console's overview page lists what the platform holds, each capability in its section."""
from __future__ import annotations

import urllib.request

from support import zipped


def test_overview_lists_functions_schedules_and_tables(server):
    lam, events, dynamodb = server.client("lambda"), server.client("events"), server.client("dynamodb")
    arn = lam.create_function(FunctionName="console-fn", Runtime="python3.12", Role="arn:aws:iam::000000000000:role/r",
                              Handler="handler.lambda_handler",
                              Code={"ZipFile": zipped("def lambda_handler(event, context):\n    return 1\n")}
                              )["FunctionArn"]
    events.put_rule(Name="console-rule", ScheduleExpression="cron(5 * * * ? *)")
    events.put_targets(Rule="console-rule", Targets=[{"Id": "fn", "Arn": arn}])
    dynamodb.create_table(TableName="console-table", BillingMode="PAY_PER_REQUEST",
                          KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
                          AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}])
    dynamodb.put_item(TableName="console-table", Item={"k": {"S": "a"}})
    with urllib.request.urlopen(f"{server.url}/ui/") as answer:
        page = answer.read().decode()
    for section in ("<h2>Functions</h2>", "<h2>Event source mappings</h2>", "<h2>Schedules</h2>",
                    "<h2>Key-value tables</h2>"):
        assert section in page
    assert "<td>console-fn</td><td>python3.12</td><td>handler.lambda_handler</td><td>3 s</td>" in page
    assert "<td>console-rule</td><td>cron(5 * * * ? *)</td><td>ENABLED</td><td>console-fn</td>" in page
    assert "<td>console-table</td><td>k</td><td>1</td>" in page
