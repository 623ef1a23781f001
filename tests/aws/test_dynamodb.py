"""DynamoDB through boto3 (client and resource) against a real server.

Messages are DynamoDB's (docs.aws.amazon.com/amazondynamodb/latest/APIReference/CommonErrors.html and
each operation's Errors section); codes are asserted exactly."""
from __future__ import annotations

import csv
import itertools
from pathlib import Path
from typing import Any, Callable

import boto3
import pytest
from boto3.dynamodb.conditions import Attr, Key
from botocore.config import Config
from support import ServerProcess, aws_error

PRODUCTS = Path(__file__).resolve().parents[2] / "src" / "tidelake" / "generate" / "data" / "products.csv"
_names = itertools.count()


@pytest.fixture
def dynamodb(server: ServerProcess) -> Any:
    return server.client("dynamodb")


@pytest.fixture
def resource(server: ServerProcess) -> Any:
    return boto3.resource("dynamodb", endpoint_url=server.url, region_name="us-east-1", aws_access_key_id="test",
                          aws_secret_access_key="test", config=Config(retries={"total_max_attempts": 1}))


@pytest.fixture
def table_factory(dynamodb: Any, request: pytest.FixtureRequest) -> Callable[..., str]:
    """An on-demand table with a unique name: ``table_factory(("pk", "S"), ("sk", "N"))``."""

    def make(hash_key: tuple[str, str] = ("pk", "S"), range_key: tuple[str, str] | None = None) -> str:
        name = f"{request.node.name[:40]}-{next(_names)}".replace("[", "-").replace("]", "")
        name = "".join(c if c.isalnum() or c in "_.-" else "-" for c in name)
        keys = [hash_key] + ([range_key] if range_key else [])
        dynamodb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                              KeySchema=[{"AttributeName": k, "KeyType": t}
                                         for (k, _), t in zip(keys, ("HASH", "RANGE"))],
                              AttributeDefinitions=[{"AttributeName": k, "AttributeType": t} for k, t in keys])
        return name
    return make


# -- tables ---------------------------------------------------------------------------------------

def test_create_describe_list_and_delete_tables(dynamodb):
    created = dynamodb.create_table(
        TableName="lifecycle-a", KeySchema=[{"AttributeName": "id", "KeyType": "HASH"},
                                            {"AttributeName": "ts", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"},
                              {"AttributeName": "ts", "AttributeType": "N"}],
        ProvisionedThroughput={"ReadCapacityUnits": 5, "WriteCapacityUnits": 2})["TableDescription"]
    assert created["TableStatus"] == "ACTIVE"  # no CREATING phase: a waiter returns on its first poll
    dynamodb.get_waiter("table_exists").wait(TableName="lifecycle-a", WaiterConfig={"Delay": 1, "MaxAttempts": 2})
    table = dynamodb.describe_table(TableName="lifecycle-a")["Table"]
    assert table["TableArn"] == "arn:aws:dynamodb:us-east-1:000000000000:table/lifecycle-a"
    assert table["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"},
                                  {"AttributeName": "ts", "KeyType": "RANGE"}]
    assert table["ProvisionedThroughput"]["ReadCapacityUnits"] == 5
    assert table["BillingModeSummary"]["BillingMode"] == "PROVISIONED"
    assert (table["ItemCount"], table["TableSizeBytes"]) == (0, 0) and table["CreationDateTime"].year >= 2024
    for name in ("lifecycle-b", "lifecycle-c"):
        dynamodb.create_table(TableName=name, KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                              AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "B"}],
                              BillingMode="PAY_PER_REQUEST")
    page = dynamodb.list_tables(ExclusiveStartTableName="lifecycle-", Limit=2)
    assert page["TableNames"] == ["lifecycle-a", "lifecycle-b"] and page["LastEvaluatedTableName"] == "lifecycle-b"
    names = [n for p in dynamodb.get_paginator("list_tables").paginate(PaginationConfig={"PageSize": 1})
             for n in p["TableNames"]]
    assert {"lifecycle-a", "lifecycle-b", "lifecycle-c"} <= set(names) and names == sorted(names)
    assert dynamodb.delete_table(TableName="lifecycle-a")["TableDescription"]["TableStatus"] == "DELETING"
    dynamodb.get_waiter("table_not_exists").wait(TableName="lifecycle-a", WaiterConfig={"Delay": 1, "MaxAttempts": 2})
    with aws_error("ResourceNotFoundException", "Requested resource not found: Table: lifecycle-a not found"):
        dynamodb.describe_table(TableName="lifecycle-a")
    with aws_error("ResourceInUseException", "Table already exists: lifecycle-b"):
        dynamodb.create_table(TableName="lifecycle-b", KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                              AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                              BillingMode="PAY_PER_REQUEST")


@pytest.mark.parametrize("schema, definitions, extra, message", [
    ([("id", "HASH")], [("id", "S"), ("other", "S")], {},
     "One or more parameter values were invalid: Number of attributes in KeySchema does not exactly match number "
     "of attributes defined in AttributeDefinitions"),
    ([("id", "HASH")], [("other", "S")], {},
     "One or more parameter values were invalid: Some index key attributes are not defined in AttributeDefinitions. "
     "Keys: [id], AttributeDefinitions: [other]"),
    ([("id", "RANGE")], [("id", "S")], {}, "Invalid KeySchema: The first KeySchemaElement is not a HASH key type"),
    ([("id", "HASH")], [("id", "S")], {"BillingMode": "PROVISIONED"},
     "One or more parameter values were invalid: ReadCapacityUnits and WriteCapacityUnits must both be specified "
     "when BillingMode is PROVISIONED"),
    ([("id", "HASH")], [("id", "S")], {"ProvisionedThroughput": {"ReadCapacityUnits": 1, "WriteCapacityUnits": 1},
                                       "BillingMode": "PAY_PER_REQUEST"},
     "One or more parameter values were invalid: Neither ReadCapacityUnits nor WriteCapacityUnits can be specified "
     "when BillingMode is PAY_PER_REQUEST"),
    ([("id", "HASH")], [("id", "X")], {"BillingMode": "PAY_PER_REQUEST"},
     "1 validation error detected: Value 'X' at 'attributeDefinitions.1.member.attributeType' failed to satisfy "
     "constraint: Member must satisfy enum value set: [S, N, B]"),
])
def test_create_table_checks_the_key_schema_as_dynamodb_does(dynamodb, schema, definitions, extra, message):
    with aws_error("ValidationException") as info:
        dynamodb.create_table(TableName="refused", KeySchema=[{"AttributeName": n, "KeyType": t} for n, t in schema],
                              AttributeDefinitions=[{"AttributeName": n, "AttributeType": t} for n, t in definitions],
                              **extra)
    assert info.value.response["Error"]["Message"] == message


# -- the seed flow --------------------------------------------------------------------------------

@pytest.mark.slow
def test_products_load_one_put_item_per_row(resource):
    """The seed's loader: one PutItem per product (5,446 calls), then every product found by key."""
    with open(PRODUCTS, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    table = resource.create_table(TableName="products_info_put", BillingMode="PAY_PER_REQUEST",
                                  KeySchema=[{"AttributeName": "product_cd", "KeyType": "HASH"}],
                                  AttributeDefinitions=[{"AttributeName": "product_cd", "AttributeType": "S"}])
    for row in rows:
        table.put_item(Item=row)
    table.reload()
    assert table.item_count == 5446
    client = table.meta.client
    for start in range(0, len(rows), 100):
        keys = [{"product_cd": r["product_cd"]} for r in rows[start:start + 100]]
        found = client.batch_get_item(RequestItems={"products_info_put": {"Keys": keys}})["Responses"]
        assert sorted(found["products_info_put"], key=lambda i: i["product_cd"]) == sorted(
            rows[start:start + 100], key=lambda r: r["product_cd"])


def test_products_load_with_batch_writer_and_answer_queries(resource):
    """products.csv into products_info, as the workshop loads it (every column a string), then
    read back by key with query, get_item and a filtered scan."""
    with open(PRODUCTS, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    table = resource.create_table(TableName="products_info", BillingMode="PAY_PER_REQUEST",
                                  KeySchema=[{"AttributeName": "product_cd", "KeyType": "HASH"}],
                                  AttributeDefinitions=[{"AttributeName": "product_cd", "AttributeType": "S"}])
    table.wait_until_exists()
    with table.batch_writer() as batch:
        for row in rows:
            batch.put_item(Item=row)
    table.reload()
    assert table.item_count == 5446 and table.table_status == "ACTIVE"
    for row in rows[::997]:
        answer = table.query(KeyConditionExpression=Key("product_cd").eq(row["product_cd"]))
        assert answer["Items"] == [row] and answer["Count"] == 1
        assert table.get_item(Key={"product_cd": row["product_cd"]})["Item"] == row
    wanted = {r["product_cd"] for r in rows if r["subcategory_name"] == rows[0]["subcategory_name"]}
    found = set()
    scan = {"FilterExpression": Attr("subcategory_name").eq(rows[0]["subcategory_name"]),
            "ProjectionExpression": "product_cd"}
    while True:
        page = table.scan(**scan)
        found |= {i["product_cd"] for i in page["Items"]}
        if "LastEvaluatedKey" not in page:
            break
        scan["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    assert found == wanted


# -- items ----------------------------------------------------------------------------------------

def test_every_type_round_trips_and_numbers_come_back_canonical(dynamodb, table_factory):
    table = table_factory(("pk", "B"))
    item = {"pk": {"B": b"\x00\xff"}, "s": {"S": ""}, "n": {"N": "1.50"}, "e": {"N": "1E+2"}, "t": {"BOOL": True},
            "z": {"NULL": True}, "ss": {"SS": ["b", "a"]}, "ns": {"NS": ["2", "10"]}, "bs": {"BS": [b"\x01"]},
            "m": {"M": {"l": {"L": [{"N": "-0.0"}, {"M": {}}, {"L": []}]}}},
            "big": {"N": "12345678901234567890123456789012345678"}, "tiny": {"N": "-1E-130"}}
    dynamodb.put_item(TableName=table, Item=item)
    got = dynamodb.get_item(TableName=table, Key={"pk": {"B": b"\x00\xff"}}, ConsistentRead=True)["Item"]
    assert got["n"] == {"N": "1.5"} and got["e"] == {"N": "100"} and got["m"]["M"]["l"]["L"][0] == {"N": "0"}
    assert sorted(got["ss"]["SS"]) == ["a", "b"] and sorted(got["ns"]["NS"], key=int) == ["2", "10"]
    assert got["bs"] == {"BS": [b"\x01"]} and got["z"] == {"NULL": True} and got["s"] == {"S": ""}
    assert got["big"] == item["big"] and got["tiny"] == {"N": "-0." + "0" * 129 + "1"}


@pytest.mark.parametrize("value, message", [
    ({"N": "123456789012345678901234567890123456789"},
     "Attempting to store more than 38 significant digits in a Number"),
    ({"N": "1e126"}, "Number overflow. Attempting to store a number with magnitude larger than supported range"),
    ({"N": "1e-131"}, "Number underflow. Attempting to store a number with magnitude smaller than supported range"),
    ({"N": "one"}, "The parameter cannot be converted to a numeric value: one"),
    ({"SS": []}, "One or more parameter values were invalid: An string set  may not be empty"),
    ({"SS": ["a", "a"]}, "One or more parameter values were invalid: Input collection [a, a] contains duplicates."),
    ({"NS": ["1", "1.0"]}, "Input collection contains duplicates"),
    ({"NULL": False}, "One or more parameter values were invalid: Null attribute value types must have the value of "
                      "true"),
    ({}, "Supplied AttributeValue is empty, must contain exactly one of the supported datatypes"),
    ({"S": "a", "N": "1"}, "Supplied AttributeValue has more than one datatypes set, must contain exactly one of the "
                           "supported datatypes"),
])
def test_values_dynamodb_refuses(dynamodb, table_factory, value, message):
    table = table_factory()
    with aws_error("ValidationException") as info:
        dynamodb.put_item(TableName=table, Item={"pk": {"S": "a"}, "v": value})
    assert info.value.response["Error"]["Message"] == message


def test_item_errors(dynamodb, table_factory):
    table = table_factory(("pk", "S"), ("sk", "N"))
    with aws_error("ValidationException", "One or more parameter values were invalid: Missing the key sk in the item"):
        dynamodb.put_item(TableName=table, Item={"pk": {"S": "a"}})
    with aws_error("ValidationException", "Type mismatch for key sk expected: N actual: S"):
        dynamodb.put_item(TableName=table, Item={"pk": {"S": "a"}, "sk": {"S": "1"}})
    with aws_error("ValidationException", "The provided key element does not match the schema"):
        dynamodb.get_item(TableName=table, Key={"pk": {"S": "a"}})
    with aws_error("ValidationException", "Item size has exceeded the maximum allowed size"):
        dynamodb.put_item(TableName=table, Item={"pk": {"S": "a"}, "sk": {"N": "1"}, "v": {"S": "x" * 409_600}})
    with aws_error("ResourceNotFoundException", "Requested resource not found"):
        dynamodb.get_item(TableName="no-such-table", Key={"pk": {"S": "a"}})


def test_conditions_and_return_values_through_the_resource(resource, table_factory):
    table = resource.Table(table_factory())
    table.put_item(Item={"pk": "a", "n": 1, "tags": {"x"}}, ConditionExpression=Attr("pk").not_exists())
    with aws_error("ConditionalCheckFailedException", "The conditional request failed") as info:
        table.put_item(Item={"pk": "a"}, ConditionExpression=Attr("pk").not_exists(),
                       ReturnValuesOnConditionCheckFailure="ALL_OLD")
    assert info.value.response["Item"] == {"pk": {"S": "a"}, "n": {"N": "1"}, "tags": {"SS": ["x"]}}
    with aws_error("ConditionalCheckFailedException") as info:
        table.delete_item(Key={"pk": "a"}, ConditionExpression=Attr("n").gt(5))
    assert "Item" not in info.value.response
    answer = table.update_item(Key={"pk": "a"}, UpdateExpression="SET n = n + :d, note = :s ADD tags :t",
                               ConditionExpression=Attr("n").lt(5), ReturnValues="UPDATED_NEW",
                               ExpressionAttributeValues={":d": 2, ":s": "hi", ":t": {"y"}})
    assert answer["Attributes"] == {"n": 3, "note": "hi", "tags": {"x", "y"}}
    old = table.update_item(Key={"pk": "a"}, UpdateExpression="REMOVE note", ReturnValues="UPDATED_OLD")
    assert old["Attributes"] == {"note": "hi"}
    assert table.update_item(Key={"pk": "a"}, UpdateExpression="SET n = :z", ExpressionAttributeValues={":z": 0},
                             ReturnValues="ALL_NEW")["Attributes"] == {"pk": "a", "n": 0, "tags": {"x", "y"}}
    assert table.put_item(Item={"pk": "a"}, ReturnValues="ALL_OLD")["Attributes"]["n"] == 0
    assert table.delete_item(Key={"pk": "a"}, ReturnValues="ALL_OLD")["Attributes"] == {"pk": "a"}
    assert "Item" not in table.get_item(Key={"pk": "a"})


def test_expression_errors_come_back_as_dynamodb_words_them(dynamodb, table_factory):
    table = table_factory()
    key = {"pk": {"S": "a"}}
    with aws_error("ValidationException") as info:
        dynamodb.update_item(TableName=table, Key=key, UpdateExpression="SET a = = :v",
                             ExpressionAttributeValues={":v": {"N": "1"}})
    assert info.value.response["Error"]["Message"] == ('Invalid UpdateExpression: Syntax error; token: "=", '
                                                       'near: "= = :v"')
    with aws_error("ValidationException",
                   "Value provided in ExpressionAttributeValues unused in expressions: keys: {:w}"):
        dynamodb.put_item(TableName=table, Item=key, ConditionExpression="attribute_not_exists(pk)",
                          ExpressionAttributeValues={":w": {"N": "1"}})
    with aws_error("ValidationException", "Invalid ProjectionExpression: Attribute name is a reserved keyword; "
                                          "reserved keyword: name"):
        dynamodb.get_item(TableName=table, Key=key, ProjectionExpression="name")
    with aws_error("ValidationException", "ExpressionAttributeValues contains invalid value: One or more parameter "
                                          "values were invalid: An number set  may not be empty for key :v"):
        dynamodb.update_item(TableName=table, Key=key, UpdateExpression="ADD s :v",
                             ExpressionAttributeValues={":v": {"NS": []}})
    with aws_error("ValidationException", "use ConditionExpression instead of Expected"):
        dynamodb.put_item(TableName=table, Item=key, Expected={"pk": {"Exists": False}})
    with aws_error("ValidationException", "Cannot update attribute pk. This attribute is part of the key"):
        dynamodb.update_item(TableName=table, Key=key, UpdateExpression="SET pk = :v",
                             ExpressionAttributeValues={":v": {"S": "b"}})


# -- batches --------------------------------------------------------------------------------------

def test_batch_write_and_batch_get(dynamodb, table_factory):
    table = table_factory(("pk", "N"))
    puts = [{"PutRequest": {"Item": {"pk": {"N": str(i)}, "v": {"S": f"v{i}"}}}} for i in range(25)]
    assert dynamodb.batch_write_item(RequestItems={table: puts})["UnprocessedItems"] == {}
    with aws_error("ValidationException", "Member must have length less than or equal to 25"):
        dynamodb.batch_write_item(RequestItems={table: puts + puts[:1]})
    with aws_error("ValidationException", "Provided list of item keys contains duplicates"):
        dynamodb.batch_write_item(RequestItems={table: [puts[0], {"DeleteRequest": {"Key": {"pk": {"N": "0"}}}}]})
    dynamodb.batch_write_item(RequestItems={table: [{"DeleteRequest": {"Key": {"pk": {"N": "0"}}}}]})
    answer = dynamodb.batch_get_item(RequestItems={table: {
        "Keys": [{"pk": {"N": str(i)}} for i in (0, 1, 24)], "ProjectionExpression": "#v",
        "ExpressionAttributeNames": {"#v": "v"}}})
    assert sorted(answer["Responses"][table], key=lambda i: i["v"]["S"]) == [{"v": {"S": "v1"}}, {"v": {"S": "v24"}}]
    assert answer["UnprocessedKeys"] == {}
    with aws_error("ValidationException", "Provided list of item keys contains duplicates"):
        dynamodb.batch_get_item(RequestItems={table: {"Keys": [{"pk": {"N": "1"}}, {"pk": {"N": "1.0"}}]}})


# -- queries and scans ----------------------------------------------------------------------------

def test_query_key_conditions_pages_and_order(resource, dynamodb, table_factory):
    table = resource.Table(table_factory(("customer", "S"), ("seq", "N")))
    with table.batch_writer() as batch:
        for customer in ("ann", "bob"):
            for seq in range(-10, 40):
                batch.put_item(Item={"customer": customer, "seq": seq, "label": f"{customer}-{seq:03d}",
                                     "odd": seq % 2 == 1})
    answer = table.query(KeyConditionExpression=Key("customer").eq("ann") & Key("seq").between(-2, 2))
    assert [i["seq"] for i in answer["Items"]] == [-2, -1, 0, 1, 2]
    answer = table.query(KeyConditionExpression=Key("customer").eq("bob") & Key("seq").lt(-7), ScanIndexForward=False)
    assert [i["seq"] for i in answer["Items"]] == [-8, -9, -10]
    answer = table.query(KeyConditionExpression=Key("customer").eq("ann"), FilterExpression=Attr("odd").eq(True),
                         Select="COUNT")
    assert (answer["Count"], answer["ScannedCount"], "Items" in answer) == (25, 50, False)
    pages = dynamodb.get_paginator("query").paginate(
        TableName=table.name, KeyConditionExpression="customer = :c AND seq >= :s",
        ExpressionAttributeValues={":c": {"S": "ann"}, ":s": {"N": "30"}}, PaginationConfig={"PageSize": 3})
    assert [int(i["seq"]["N"]) for p in pages for i in p["Items"]] == list(range(30, 40))
    with aws_error("ValidationException", "Query condition missed key schema element: customer"):
        table.query(KeyConditionExpression=Key("seq").eq(1))
    with aws_error("ValidationException", "Condition parameter type does not match schema type"):
        table.query(KeyConditionExpression=Key("customer").eq(1))


def test_begins_with_on_the_sort_key(resource, table_factory):
    table = resource.Table(table_factory(("device", "S"), ("at", "S")))
    with table.batch_writer() as batch:
        for at in ("2024-12-31", "2025-01-01", "2025-01-15", "2025-02-01"):
            batch.put_item(Item={"device": "d1", "at": at})
    answer = table.query(KeyConditionExpression=Key("device").eq("d1") & Key("at").begins_with("2025-01"))
    assert [i["at"] for i in answer["Items"]] == ["2025-01-01", "2025-01-15"]


def test_parallel_scan_segments_cover_the_table_once(dynamodb, table_factory):
    table = table_factory(("pk", "N"))
    for start in range(0, 200, 25):
        dynamodb.batch_write_item(RequestItems={table: [{"PutRequest": {"Item": {"pk": {"N": str(i)}}}}
                                                        for i in range(start, start + 25)]})
    seen = []
    for segment in range(3):
        for page in dynamodb.get_paginator("scan").paginate(TableName=table, Segment=segment, TotalSegments=3,
                                                            PaginationConfig={"PageSize": 40}):
            seen += [int(i["pk"]["N"]) for i in page["Items"]]
    assert sorted(seen) == list(range(200))
    with aws_error("ValidationException", "The Segment parameter is zero-based and must be less than parameter "
                                          "TotalSegments: Segment: 3 is out of bounds for TotalSegments: 3"):
        dynamodb.scan(TableName=table, Segment=3, TotalSegments=3)
