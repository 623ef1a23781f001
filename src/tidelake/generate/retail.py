"""Retail transactions in the shape of the AWS analytics immersion day's generator.

Each record is a JSON object with ``Invoice``, ``StockCode``, ``Description``, ``Quantity``,
``InvoiceDate`` (``yyyy-MM-dd HH:mm:ss``), ``Price``, ``Customer_ID`` and ``Country``. Stock codes
and descriptions come from the real product table shipped with tidelake, so transactions join
with it (the ``products_info`` dimension table of the workshop).
"""
from __future__ import annotations

import csv
import random
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import cache
from importlib import resources
from typing import Iterator

import orjson

COUNTRIES = ["United Kingdom"] * 14 + ["Germany", "France", "EIRE", "Spain", "Netherlands", "Belgium",
                                        "Switzerland", "Portugal", "Australia", "Norway"]


@dataclass(frozen=True, slots=True)
class Product:
    product_cd: str
    product_name: str
    price: float


@cache
def products() -> tuple[Product, ...]:
    with resources.files(__package__).joinpath("data/products.csv").open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    # The table has no prices; give each product a stable one so revenue figures are repeatable.
    return tuple(Product(r["product_cd"], r["product_name"],
                         round(random.Random(r["product_cd"]).uniform(0.5, 30.0), 2)) for r in rows)


def transactions(seed: int = 7, first_invoice: int = 489_434,
                 now: "callable | None" = None) -> Iterator[dict[str, object]]:
    """An endless stream of transactions stamped with the current time (or ``now()``)."""
    rng = random.Random(seed)
    catalog = products()
    invoice = first_invoice
    clock = now or (lambda: datetime.now(timezone.utc))
    while True:
        invoice += 1
        customer = str(rng.randint(12_346, 18_287))
        country = rng.choice(COUNTRIES)
        for _ in range(rng.randint(1, 4)):  # an invoice has a few lines
            product = rng.choice(catalog)
            yield {"Invoice": str(invoice), "StockCode": product.product_cd, "Description": product.product_name,
                   "Quantity": rng.randint(1, 12), "InvoiceDate": clock().strftime("%Y-%m-%d %H:%M:%S"),
                   "Price": product.price, "Customer_ID": customer, "Country": country}


def encode(transaction: dict[str, object]) -> bytes:
    return orjson.dumps(transaction)
