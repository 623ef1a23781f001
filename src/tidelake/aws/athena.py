"""Athena (JSON 1.1, ``AmazonAthena.*``): translate, call QueryExecutions or the catalog, answer.

Query executions, workgroups and named queries live in ``query.executions``; the metadata
operations (ListDatabases, GetTableMetadata, ...) read the data catalog, which is the only catalog
tidelake serves (``AwsDataCatalog``, as Athena names the Glue Data Catalog).
"""
from __future__ import annotations

from typing import Any, Sequence, TypeVar

from tidelake.errors import InvalidArgument, TidelakeError
from tidelake.lake.catalog.models import Column, Database, Table
from tidelake.lake.catalog.store import Catalog
from tidelake.query.execution_models import (
    DEFAULT_CATALOG,
    ColumnInfo,
    DataCatalogNotFound,
    NamedQuery,
    QueryExecution,
    WorkGroup,
)
from tidelake.query.executions import QueryExecutions

P = dict[str, Any]
T = TypeVar("T")
ENGINE_VERSION = {"SelectedEngineVersion": "AUTO", "EffectiveEngineVersion": "Athena engine version 3"}


class AthenaApi:
    def __init__(self, queries: QueryExecutions, catalog: Catalog, account_id: str) -> None:
        self.queries = queries
        self.catalog = catalog
        self.account_id = account_id

    # -- query executions ----------------------------------------------------------------------

    def start_query_execution(self, p: P) -> P:
        context = p.get("QueryExecutionContext") or {}
        query_id = self.queries.start(
            p["QueryString"], context.get("Database"), context.get("Catalog"),
            (p.get("ResultConfiguration") or {}).get("OutputLocation"), p.get("WorkGroup"),
            p.get("ExecutionParameters"), p.get("ClientRequestToken"))
        return {"QueryExecutionId": query_id}

    def get_query_execution(self, p: P) -> P:
        return {"QueryExecution": _execution(self.queries.get(p["QueryExecutionId"]))}

    def batch_get_query_execution(self, p: P) -> P:
        found, missing = [], []
        for query_id in p["QueryExecutionIds"]:
            try:
                found.append(_execution(self.queries.get(query_id)))
            except TidelakeError as error:
                missing.append({"QueryExecutionId": query_id, "ErrorCode": "INVALID_INPUT",
                                "ErrorMessage": error.message})
        return {"QueryExecutions": found, "UnprocessedQueryExecutionIds": missing}

    def list_query_executions(self, p: P) -> P:
        ids, token = self.queries.list(p.get("WorkGroup"), p.get("NextToken"), p.get("MaxResults") or 50)
        return {"QueryExecutionIds": ids, "NextToken": token}

    def stop_query_execution(self, p: P) -> None:
        self.queries.stop(p["QueryExecutionId"])

    def get_query_results(self, p: P) -> P:
        page = self.queries.results(p["QueryExecutionId"], p.get("NextToken"), p.get("MaxResults") or 1000)
        rows = [{"Data": [{} if v is None else {"VarCharValue": v} for v in row]} for row in page.rows]
        return {"UpdateCount": page.update_count or 0, "NextToken": page.next_token,
                "ResultSet": {"Rows": rows, "ResultSetMetadata": {"ColumnInfo": [_column(c) for c in page.columns]}}}

    # -- workgroups ----------------------------------------------------------------------------

    def create_work_group(self, p: P) -> None:
        config = p.get("Configuration") or {}
        self.queries.create_work_group(
            p["Name"], p.get("Description"), (config.get("ResultConfiguration") or {}).get("OutputLocation"),
            bool(config.get("EnforceWorkGroupConfiguration", False)), config.get("BytesScannedCutoffPerQuery"),
            {t["Key"]: t.get("Value", "") for t in p.get("Tags") or []})

    def get_work_group(self, p: P) -> P:
        return {"WorkGroup": _work_group(self.queries.get_work_group(p["WorkGroup"]))}

    def list_work_groups(self, p: P) -> P:
        groups, token = _page(self.queries.list_work_groups(), p.get("NextToken"), p.get("MaxResults") or 50)
        return {"WorkGroups": [{"Name": g.name, "State": g.state, "Description": g.description,
                                "CreationTime": g.creation_time, "EngineVersion": ENGINE_VERSION} for g in groups],
                "NextToken": token}

    def update_work_group(self, p: P) -> None:
        updates = p.get("ConfigurationUpdates") or {}
        results = updates.get("ResultConfigurationUpdates") or {}
        self.queries.update_work_group(
            p["WorkGroup"], description=p.get("Description"), state=p.get("State"),
            output_location=results.get("OutputLocation"),
            remove_output_location=bool(results.get("RemoveOutputLocation")),
            enforce=updates.get("EnforceWorkGroupConfiguration"),
            bytes_scanned_cutoff=updates.get("BytesScannedCutoffPerQuery"),
            remove_bytes_scanned_cutoff=bool(updates.get("RemoveBytesScannedCutoffPerQuery")))

    def delete_work_group(self, p: P) -> None:
        self.queries.delete_work_group(p["WorkGroup"], bool(p.get("RecursiveDeleteOption")))

    # -- named queries -------------------------------------------------------------------------

    def create_named_query(self, p: P) -> P:
        return {"NamedQueryId": self.queries.create_named_query(
            p["Name"], p["Database"], p["QueryString"], p.get("Description"), p.get("WorkGroup"),
            p.get("ClientRequestToken"))}

    def get_named_query(self, p: P) -> P:
        return {"NamedQuery": _named_query(self.queries.get_named_query(p["NamedQueryId"]))}

    def batch_get_named_query(self, p: P) -> P:
        found, missing = [], []
        for named_id in p["NamedQueryIds"]:
            try:
                found.append(_named_query(self.queries.get_named_query(named_id)))
            except TidelakeError as error:
                missing.append({"NamedQueryId": named_id, "ErrorCode": "INVALID_INPUT", "ErrorMessage": error.message})
        return {"NamedQueries": found, "UnprocessedNamedQueryIds": missing}

    def list_named_queries(self, p: P) -> P:
        ids, token = _page(self.queries.list_named_queries(p.get("WorkGroup")), p.get("NextToken"),
                           p.get("MaxResults") or 50)
        return {"NamedQueryIds": ids, "NextToken": token}

    def delete_named_query(self, p: P) -> None:
        self.queries.delete_named_query(p["NamedQueryId"])

    # -- the data catalog ----------------------------------------------------------------------

    def list_data_catalogs(self, p: P) -> P:
        return {"DataCatalogsSummary": [{"CatalogName": DEFAULT_CATALOG, "Type": "GLUE", "Status": "CREATE_COMPLETE"}]}

    def get_data_catalog(self, p: P) -> P:
        _check_catalog(p["Name"])
        return {"DataCatalog": {"Name": DEFAULT_CATALOG, "Description": "tidelake data catalog", "Type": "GLUE",
                                "Parameters": {"catalog-id": self.account_id}, "Status": "CREATE_COMPLETE"}}

    def list_databases(self, p: P) -> P:
        _check_catalog(p["CatalogName"])
        databases, token = _page(self.catalog.list_databases(), p.get("NextToken"), p.get("MaxResults") or 50)
        return {"DatabaseList": [_database(d) for d in databases], "NextToken": token}

    def get_database(self, p: P) -> P:
        _check_catalog(p["CatalogName"])
        return {"Database": _database(self.catalog.get_database(p["DatabaseName"]))}

    def list_table_metadata(self, p: P) -> P:
        _check_catalog(p["CatalogName"])
        tables = self.catalog.list_tables(p["DatabaseName"], p.get("Expression"))
        tables, token = _page(tables, p.get("NextToken"), p.get("MaxResults") or 50)
        return {"TableMetadataList": [_table(t) for t in tables], "NextToken": token}

    def get_table_metadata(self, p: P) -> P:
        _check_catalog(p["CatalogName"])
        return {"TableMetadata": _table(self.catalog.get_table(p["DatabaseName"], p["TableName"]))}


def _check_catalog(name: str) -> None:
    if name.lower() != DEFAULT_CATALOG.lower():
        raise DataCatalogNotFound(name)


def _page(items: Sequence[T], token: str | None, limit: int) -> tuple[Sequence[T], str | None]:
    if token and not token.isdigit():
        raise InvalidArgument("The NextToken is not valid.")
    start = int(token or 0)
    end = start + limit
    return items[start:end], (str(end) if end < len(items) else None)


def _execution(e: QueryExecution) -> P:
    status: P = {"State": e.state.value, "StateChangeReason": e.state_change_reason,
                 "SubmissionDateTime": e.submitted, "CompletionDateTime": e.completed}
    if e.error_category is not None:
        status["AthenaError"] = {"ErrorCategory": e.error_category, "ErrorType": e.error_type, "Retryable": False,
                                 "ErrorMessage": e.state_change_reason}
    statistics = {"EngineExecutionTimeInMillis": e.engine_ms, "DataScannedInBytes": e.data_scanned_bytes,
                  "TotalExecutionTimeInMillis": e.total_ms, "QueryQueueTimeInMillis": e.queue_ms,
                  "ServicePreProcessingTimeInMillis": 0, "QueryPlanningTimeInMillis": 0,
                  "ServiceProcessingTimeInMillis": e.service_ms,
                  "ResultReuseInformation": {"ReusedPreviousResult": False}}
    statement = e.statement_type or ("DML" if e.output_location.endswith(".csv") else "DDL")
    return {"QueryExecutionId": e.query_execution_id, "Query": e.query, "StatementType": statement,
            "ResultConfiguration": {"OutputLocation": e.output_location},
            "ResultReuseConfiguration": {"ResultReuseByAgeConfiguration": {"Enabled": False}},
            "QueryExecutionContext": {"Database": e.database, "Catalog": e.catalog},
            "Status": status, "Statistics": statistics, "WorkGroup": e.work_group, "EngineVersion": ENGINE_VERSION,
            "ExecutionParameters": e.execution_parameters}


def _column(c: ColumnInfo) -> P:
    return {"CatalogName": c.catalog_name, "SchemaName": c.schema_name, "TableName": c.table_name, "Name": c.name,
            "Label": c.label, "Type": c.type, "Precision": c.precision, "Scale": c.scale, "Nullable": c.nullable,
            "CaseSensitive": c.case_sensitive}


def _work_group(g: WorkGroup) -> P:
    config: P = {"EnforceWorkGroupConfiguration": g.enforce_work_group_configuration,
                 "PublishCloudWatchMetricsEnabled": False, "RequesterPaysEnabled": False,
                 "EngineVersion": ENGINE_VERSION, "BytesScannedCutoffPerQuery": g.bytes_scanned_cutoff_per_query}
    if g.output_location:
        config["ResultConfiguration"] = {"OutputLocation": g.output_location}
    return {"Name": g.name, "State": g.state, "Description": g.description, "CreationTime": g.creation_time,
            "Configuration": config}


def _named_query(q: NamedQuery) -> P:
    # Built as a dict: the shape holds only strings, so the serializer passes it through untouched.
    return {"Name": q.name, "Description": q.description, "Database": q.database, "QueryString": q.query_string,
            "NamedQueryId": q.named_query_id, "WorkGroup": q.work_group}


def _database(d: Database) -> P:
    parameters = dict(d.parameters)
    if d.location_uri:
        parameters.setdefault("location", d.location_uri)
    return {"Name": d.name, "Description": d.description or None, "Parameters": parameters}


def _table(t: Table) -> P:
    sd = t.storage_descriptor
    parameters = {"EXTERNAL": "TRUE", **t.parameters}
    for key, value in (("location", sd.location), ("inputformat", sd.input_format),
                       ("outputformat", sd.output_format),
                       ("serde.serialization.lib", sd.serde_info.serialization_library)):
        if value:
            parameters[key] = value
    parameters.update({f"serde.param.{k}": v for k, v in sd.serde_info.parameters.items()})
    return {"Name": t.name, "CreateTime": t.create_time, "LastAccessTime": t.update_time or t.create_time,
            "TableType": t.table_type, "Columns": [_catalog_column(c) for c in sd.columns],
            "PartitionKeys": [_catalog_column(c) for c in t.partition_keys], "Parameters": parameters}


def _catalog_column(c: Column) -> P:
    return {"Name": c.name, "Type": c.type, "Comment": c.comment}
