"""The data catalog (Glue Data Catalog model): databases, tables, partitions, in SQLite."""
