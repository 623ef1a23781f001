"""Key-value tables: the DynamoDB data model on SQLite, without HTTP (see docs/dynamodb.md).

``store.TableStore`` holds the tables; ``values`` the attribute values and their rules;
``expressions`` and ``evaluate`` the expression language; ``load`` reads CSV files into items.
"""
