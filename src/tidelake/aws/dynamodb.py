"""DynamoDB (JSON 1.0, ``DynamoDB_20120810.*``): translate, call the TableStore, answer.

Inputs arrive validated against botocore's model (blobs decoded); attribute values are converted by
``dynamodb_wire``. Only the expression parameters are served: the legacy ones (KeyConditions,
AttributeUpdates, Expected, ScanFilter, ...) answer ValidationException naming the expression to use.
"""
from __future__ import annotations

from typing import Any

from tidelake.aws.dynamodb_wire import decode_item, decode_values, encode_item
from tidelake.aws.protocol.serialize import Wire
from tidelake.errors import Unsupported, ValidationFailed
from tidelake.tables.evaluate import project, updated_paths
from tidelake.tables.expressions import (CONDITION, FILTER, KEY_CONDITION, PROJECTION, UPDATE, Expressions,
                                         compile_expressions)
from tidelake.tables.models import KeyAttribute, Page, Table, Write
from tidelake.tables.store import TableStore

P = dict[str, Any]
INVALID = "One or more parameter values were invalid: "
BATCH_WRITE_REQUESTS = 25
LIST_TABLES_LIMIT = 100
_LEGACY = {"AttributesToGet": PROJECTION, "KeyConditions": KEY_CONDITION, "QueryFilter": FILTER,
           "ScanFilter": FILTER, "Expected": CONDITION, "AttributeUpdates": UPDATE, "ConditionalOperator": CONDITION}


class DynamoDbApi:
    def __init__(self, tables: TableStore) -> None:
        self.tables = tables

    # -- tables -----------------------------------------------------------------------------

    def create_table(self, p: P) -> P:
        for member in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
            if p.get(member):
                raise Unsupported(f"tidelake does not support secondary indexes ({member}) yet: create the table "
                                  "without them. See docs/dynamodb.md.")
        if (p.get("StreamSpecification") or {}).get("StreamEnabled"):
            raise Unsupported("tidelake does not support DynamoDB Streams yet. See docs/dynamodb.md.")
        hash_key, range_key = _key_schema(p["KeySchema"], p["AttributeDefinitions"])
        mode = p.get("BillingMode", "PROVISIONED")
        throughput = p.get("ProvisionedThroughput")
        if mode == "PAY_PER_REQUEST" and throughput:
            raise ValidationFailed(f"{INVALID}Neither ReadCapacityUnits nor WriteCapacityUnits can be specified when "
                                   "BillingMode is PAY_PER_REQUEST")
        if mode == "PROVISIONED" and not throughput:
            raise ValidationFailed(f"{INVALID}ReadCapacityUnits and WriteCapacityUnits must both be specified when "
                                   "BillingMode is PROVISIONED")
        throughput = throughput or {}
        table = self.tables.create_table(p["TableName"], hash_key, range_key, mode,
                                         throughput.get("ReadCapacityUnits", 0),
                                         throughput.get("WriteCapacityUnits", 0))
        return {"TableDescription": _description(table)}

    def describe_table(self, p: P) -> P:
        return {"Table": _description(self.tables.describe_table(p["TableName"]))}

    def delete_table(self, p: P) -> P:
        return {"TableDescription": _description(self.tables.delete_table(p["TableName"]))}

    def list_tables(self, p: P) -> P:
        names = self.tables.list_tables()
        start = p.get("ExclusiveStartTableName")
        if start:
            names = [n for n in names if n > start]
        limit = p.get("Limit", LIST_TABLES_LIMIT)
        page = names[:limit]
        return {"TableNames": page, "LastEvaluatedTableName": page[-1] if len(names) > limit else None}

    # -- items ------------------------------------------------------------------------------

    def put_item(self, p: P) -> P:
        returns = _old_or_none(p)
        e = _expressions(p, (CONDITION,), condition=p.get("ConditionExpression"))
        old = self.tables.put_item(p["TableName"], decode_item(p["Item"]), e.condition, return_old=returns,
                                   old_on_failure=_old_on_failure(p))
        return {"Attributes": encode_item(old)} if old else {}

    def get_item(self, p: P) -> P:
        e = _expressions(p, (PROJECTION,), projection=p.get("ProjectionExpression"))
        item = self.tables.get_item(p["TableName"], decode_item(p["Key"]), e.projection)
        return {"Item": encode_item(item)} if item is not None else {}

    def delete_item(self, p: P) -> P:
        returns = _old_or_none(p)
        e = _expressions(p, (CONDITION,), condition=p.get("ConditionExpression"))
        old = self.tables.delete_item(p["TableName"], decode_item(p["Key"]), e.condition, return_old=returns,
                                      old_on_failure=_old_on_failure(p))
        return {"Attributes": encode_item(old)} if old else {}

    def update_item(self, p: P) -> P:
        e = _expressions(p, (UPDATE, CONDITION), update=p.get("UpdateExpression"),
                         condition=p.get("ConditionExpression"))
        old, new = self.tables.update_item(p["TableName"], decode_item(p["Key"]), e.update, e.condition,
                                           old_on_failure=_old_on_failure(p))
        returns = p.get("ReturnValues", "NONE")
        if returns == "ALL_NEW":
            answer = new
        elif returns == "ALL_OLD":
            answer = old
        elif returns in ("UPDATED_OLD", "UPDATED_NEW") and e.update is not None:
            base = old if returns == "UPDATED_OLD" else new
            answer = project(base, updated_paths(e.update)) if base is not None else None
        else:
            answer = None
        return {"Attributes": encode_item(answer)} if answer else {}

    # -- batches ----------------------------------------------------------------------------

    def batch_write_item(self, p: P) -> P:
        requests = p["RequestItems"]
        if sum(len(r) for r in requests.values()) > BATCH_WRITE_REQUESTS:
            raise ValidationFailed("Too many items requested for the BatchWriteItem call")
        writes = []
        for table, entries in requests.items():
            for entry in entries:
                put, delete = entry.get("PutRequest"), entry.get("DeleteRequest")
                if (put is None) == (delete is None):
                    raise ValidationFailed("Supplied WriteRequest must contain exactly one of PutRequest or "
                                           "DeleteRequest")
                writes.append(Write(table, item=decode_item(put["Item"])) if put is not None
                              else Write(table, key=decode_item(delete["Key"])))
        self.tables.batch_write(writes)
        return {"UnprocessedItems": {}}

    def batch_get_item(self, p: P) -> P:
        requests, asked = {}, p["RequestItems"]
        for table, request in asked.items():
            e = _expressions(request, (PROJECTION,), projection=request.get("ProjectionExpression"))
            requests[table] = ([decode_item(k) for k in request["Keys"]], e.projection)
        found, unprocessed = self.tables.batch_get(requests)
        left = {}
        for table, keys in unprocessed.items():
            left[table] = {**asked[table], "Keys": [encode_item(k) for k in keys]}
        return {"Responses": {t: Wire(encode_item(i, text_blobs=True) for i in items) for t, items in found.items()},
                "UnprocessedKeys": left}

    # -- queries ----------------------------------------------------------------------------

    def query(self, p: P) -> P:
        if p.get("IndexName"):
            raise Unsupported("tidelake does not support secondary indexes yet: query the table. "
                              "See docs/dynamodb.md.")
        e = _expressions(p, (KEY_CONDITION, FILTER, PROJECTION), key_condition=p.get("KeyConditionExpression"),
                         filter=p.get("FilterExpression"), projection=p.get("ProjectionExpression"))
        if e.key_condition is None:
            raise ValidationFailed("Either the KeyConditions or KeyConditionExpression parameter must be specified "
                                   "in the request.")
        start = p.get("ExclusiveStartKey")
        page = self.tables.query(p["TableName"], e.key_condition, filter=e.filter, projection=e.projection,
                                 limit=p.get("Limit"), exclusive_start_key=decode_item(start) if start else None,
                                 scan_index_forward=p.get("ScanIndexForward", True), count_only=_count_only(p, e))
        return _page(page, p)

    def scan(self, p: P) -> P:
        if p.get("IndexName"):
            raise Unsupported("tidelake does not support secondary indexes yet: scan the table. "
                              "See docs/dynamodb.md.")
        e = _expressions(p, (FILTER, PROJECTION), filter=p.get("FilterExpression"),
                         projection=p.get("ProjectionExpression"))
        start = p.get("ExclusiveStartKey")
        page = self.tables.scan(p["TableName"], filter=e.filter, projection=e.projection, limit=p.get("Limit"),
                                exclusive_start_key=decode_item(start) if start else None, segment=p.get("Segment"),
                                total_segments=p.get("TotalSegments"), count_only=_count_only(p, e))
        return _page(page, p)


def _key_schema(schema: list[P], definitions: list[P]) -> tuple[KeyAttribute, KeyAttribute | None]:
    """KeySchema against AttributeDefinitions, in the order DynamoDB checks them."""
    defined = {d["AttributeName"]: d["AttributeType"] for d in definitions}
    keys = [k["AttributeName"] for k in schema]
    if len(keys) > len(defined):
        raise ValidationFailed("Invalid KeySchema: Some index key attribute have no definition")
    if any(k not in defined for k in keys):
        raise ValidationFailed(f"{INVALID}Some index key attributes are not defined in AttributeDefinitions. Keys: "
                               f"[{', '.join(keys)}], AttributeDefinitions: [{', '.join(defined)}]")
    if len(keys) == 2 and keys[0] == keys[1]:
        raise ValidationFailed("Both the Hash Key and the Range Key element in the KeySchema have the same name")
    if schema[0]["KeyType"] != "HASH":
        raise ValidationFailed("Invalid KeySchema: The first KeySchemaElement is not a HASH key type")
    if len(schema) == 2 and schema[1]["KeyType"] != "RANGE":
        raise ValidationFailed("Invalid KeySchema: The second KeySchemaElement is not a RANGE key type")
    if len(defined) != len(keys) or len(definitions) != len(defined):
        raise ValidationFailed(f"{INVALID}Number of attributes in KeySchema does not exactly match number of "
                               "attributes defined in AttributeDefinitions")
    attributes = [KeyAttribute(k, defined[k]) for k in keys]
    return attributes[0], attributes[1] if len(attributes) > 1 else None


def _description(table: Table) -> P:
    key_schema = [{"AttributeName": table.hash_key.name, "KeyType": "HASH"}]
    if table.range_key is not None:
        key_schema.append({"AttributeName": table.range_key.name, "KeyType": "RANGE"})
    billing: P = {"BillingMode": table.billing_mode}
    if table.billing_mode == "PAY_PER_REQUEST":
        billing["LastUpdateToPayPerRequestDateTime"] = table.creation_date_time
    return {"TableName": table.table_name, "TableArn": table.table_arn, "TableId": table.table_id,
            "TableStatus": table.table_status, "CreationDateTime": table.creation_date_time,
            "KeySchema": key_schema,
            "AttributeDefinitions": [{"AttributeName": k.name, "AttributeType": k.type}
                                     for k in table.key_attributes],
            "ProvisionedThroughput": {"ReadCapacityUnits": table.read_capacity_units,
                                      "WriteCapacityUnits": table.write_capacity_units,
                                      "NumberOfDecreasesToday": 0},
            "BillingModeSummary": billing, "ItemCount": table.item_count, "TableSizeBytes": table.table_size_bytes,
            "DeletionProtectionEnabled": False}


def _legacy(p: P) -> None:
    for member, expression in _LEGACY.items():
        if p.get(member) is not None:
            raise ValidationFailed(f"tidelake supports the expression parameters only: use {expression} instead of "
                                   f"{member}. See docs/dynamodb.md.")


def _expressions(p: P, accepts: tuple[str, ...], **texts: str | None) -> Expressions:
    _legacy(p)
    return compile_expressions(p.get("ExpressionAttributeNames"), decode_values(p.get("ExpressionAttributeValues")),
                               accepts=accepts, **texts)


def _old_or_none(p: P) -> bool:
    returns = p.get("ReturnValues", "NONE")
    if returns not in ("NONE", "ALL_OLD"):
        raise ValidationFailed("Return values set to invalid value")
    return returns == "ALL_OLD"


def _old_on_failure(p: P) -> bool:
    return p.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD"


def _count_only(p: P, e: Expressions) -> bool:
    select = p.get("Select")
    if select == "ALL_PROJECTED_ATTRIBUTES":
        raise ValidationFailed(f"{INVALID}Select type ALL_PROJECTED_ATTRIBUTES is supported only when querying an "
                               "index")
    if select == "SPECIFIC_ATTRIBUTES" and e.projection is None:
        raise ValidationFailed(f"{INVALID}Select type SPECIFIC_ATTRIBUTES requires a ProjectionExpression")
    if select in ("ALL_ATTRIBUTES", "COUNT") and e.projection is not None:
        raise ValidationFailed(f"{INVALID}Cannot specify the ProjectionExpression when choosing to get {select}")
    return select == "COUNT"


def _page(page: Page, p: P) -> P:
    answer: P = {"Count": page.count, "ScannedCount": page.scanned_count}
    if p.get("Select") != "COUNT":
        answer["Items"] = Wire(encode_item(i, text_blobs=True) for i in page.items)
    if page.last_evaluated_key is not None:
        answer["LastEvaluatedKey"] = encode_item(page.last_evaluated_key)
    return answer
