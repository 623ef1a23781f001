"""The speed layer of the demo: a Lambda handler for the transaction stream.

Each batch of Kinesis records is enriched with its products' categories from the ``products_info``
table, then added to running totals per main category in ``sales_by_category`` (an upsert with
DynamoDB's ADD, so concurrent batches from several shards never lose an update). Written as for AWS:
boto3 reaches tidelake through the ``AWS_ENDPOINT_URL`` the runtime sets.
"""
from __future__ import annotations

import base64
import json
import os
from collections import defaultdict
from decimal import Decimal
from typing import Any

import boto3

PRODUCTS = os.environ.get("PRODUCTS_TABLE", "products_info")
TOTALS = os.environ.get("TOTALS_TABLE", "sales_by_category")
dynamodb = boto3.client("dynamodb")


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, int]:
    sales = [json.loads(base64.b64decode(r["kinesis"]["data"])) for r in event["Records"]]
    categories = _categories({s["StockCode"] for s in sales})
    totals: dict[str, list[Decimal]] = defaultdict(lambda: [Decimal(0), Decimal(0), Decimal(0)])
    for sale in sales:
        total = totals[categories.get(sale["StockCode"], "unknown")]
        total[0] += 1
        total[1] += sale["Quantity"]
        total[2] += Decimal(str(sale["Price"])) * sale["Quantity"]
    for category, (lines, quantity, revenue) in totals.items():
        dynamodb.update_item(
            TableName=TOTALS, Key={"category": {"S": category}},
            UpdateExpression="ADD #lines :lines, quantity :quantity, revenue :revenue",
            ExpressionAttributeNames={"#lines": "lines"},
            ExpressionAttributeValues={":lines": {"N": str(lines)}, ":quantity": {"N": str(quantity)},
                                       ":revenue": {"N": str(revenue)}})
    print(f"{len(sales)} sales into {len(totals)} categories")
    return {"sales": len(sales), "categories": len(totals)}


def _categories(codes: set[str]) -> dict[str, str]:
    """product_cd -> maincategory_name, 100 keys per BatchGetItem as DynamoDB allows."""
    found: dict[str, str] = {}
    wanted = sorted(codes)
    for start in range(0, len(wanted), 100):
        request = {PRODUCTS: {"Keys": [{"product_cd": {"S": c}} for c in wanted[start:start + 100]],
                              "ProjectionExpression": "product_cd, maincategory_name"}}
        while request:
            answer = dynamodb.batch_get_item(RequestItems=request)
            for item in answer["Responses"].get(PRODUCTS, []):
                found[item["product_cd"]["S"]] = item["maincategory_name"]["S"]
            request = answer.get("UnprocessedKeys") or {}
    return found
