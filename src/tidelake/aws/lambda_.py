"""AWS Lambda (REST-JSON, ``/2015-03-31/functions...``) over the FunctionService: the function
operations. Event source mappings are ``aws/lambda_mappings.py``'s, on the same service.
"""
from __future__ import annotations

import time
from typing import Any

from tidelake.errors import Unsupported
from tidelake.functions.code import MAX_UNZIPPED_BYTES, MAX_ZIP_BYTES
from tidelake.functions.errors import InvalidParameterValue
from tidelake.functions.models import FunctionConfig, Invocation
from tidelake.functions.service import FunctionService

P = dict[str, Any]
DEFAULT_MAX_ITEMS = 50
ACCOUNT_CONCURRENCY = 1000  # Lambda's default quota, reported by GetAccountSettings
ACCOUNT_CODE_STORAGE = 80 * 1024 ** 3  # 75 GB


def lambda_time(epoch: float) -> str:
    """Lambda's LastModified: ``2026-01-02T03:04:05.678+0000``."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch)) + f".{int(epoch * 1000) % 1000:03d}+0000"


def configuration(config: FunctionConfig) -> P:
    out: P = {
        "FunctionName": config.function_name, "FunctionArn": config.function_arn, "Runtime": config.runtime,
        "Role": config.role, "Handler": config.handler, "CodeSize": config.code_size,
        "Description": config.description, "Timeout": config.timeout, "MemorySize": config.memory_size,
        "LastModified": lambda_time(config.last_modified), "CodeSha256": config.code_sha256,
        "Version": config.version, "TracingConfig": {"Mode": "PassThrough"}, "RevisionId": config.revision_id,
        "State": config.state, "LastUpdateStatus": config.last_update_status, "PackageType": "Zip",
        "Architectures": ["x86_64"], "EphemeralStorage": {"Size": 512},
        "SnapStart": {"ApplyOn": "None", "OptimizationStatus": "Off"},
        "LoggingConfig": {"LogFormat": "Text", "LogGroup": config.log_group_name},
    }
    if config.environment:
        out["Environment"] = {"Variables": dict(config.environment)}
    return out


def _refuse_unsupported(p: P) -> None:
    """Settings that would change what the code sees: refused rather than ignored."""
    for member in ("Layers", "FileSystemConfigs", "ImageConfig"):
        if p.get(member):
            raise Unsupported(f"tidelake does not support {member} for functions (see docs/lambda.md).")


def _zip_code(code: P) -> bytes:
    for member in ("S3Bucket", "S3Key", "ImageUri"):
        if code.get(member):
            raise InvalidParameterValue(f"tidelake takes function code as a ZipFile only; {member} is not supported.")
    if code.get("ZipFile") is None:
        raise InvalidParameterValue("Please provide a source for function code.")
    return code["ZipFile"]


class LambdaApi:
    def __init__(self, functions: FunctionService) -> None:
        self.functions = functions

    def create_function(self, p: P) -> P:
        if p.get("PackageType", "Zip") != "Zip":
            raise InvalidParameterValue("tidelake runs functions of package type Zip only.")
        _refuse_unsupported(p)
        if not p.get("Runtime") or not p.get("Handler"):
            raise InvalidParameterValue("Runtime and Handler are mandatory parameters for functions created with "
                                        "deployment packages.")
        config = self.functions.create_function(
            p["FunctionName"], p["Handler"], zip_file=_zip_code(p["Code"]), runtime=p["Runtime"], role=p["Role"],
            description=p.get("Description", ""), timeout=p.get("Timeout", 3), memory_size=p.get("MemorySize", 128),
            environment=p.get("Environment", {}).get("Variables"), tags=p.get("Tags"))
        return configuration(config)

    def get_function(self, p: P) -> P:
        config = self.functions.get_function(_qualified(p))
        out: P = {"Configuration": configuration(config),
                  "Code": {"RepositoryType": "S3", "Location": self.functions.code_archive(config).as_uri()}}
        if config.tags:
            out["Tags"] = dict(config.tags)
        return out

    def get_function_configuration(self, p: P) -> P:
        return configuration(self.functions.get_function(_qualified(p)))

    def list_functions(self, p: P) -> P:
        configs = self.functions.list_functions()
        marker = p.get("Marker")
        if marker:
            configs = [c for c in configs if c.function_name > marker]
        page = configs[:p.get("MaxItems", DEFAULT_MAX_ITEMS)]
        out: P = {"Functions": [configuration(c) for c in page]}
        if len(page) < len(configs):
            out["NextMarker"] = page[-1].function_name
        return out

    def update_function_code(self, p: P) -> P:
        archive = _zip_code(p)
        if p.get("DryRun"):
            return configuration(self.functions.get_function(p["FunctionName"]))
        return configuration(self.functions.update_function_code(p["FunctionName"], zip_file=archive,
                                                                 revision_id=p.get("RevisionId")))

    def update_function_configuration(self, p: P) -> P:
        _refuse_unsupported(p)
        environment = p.get("Environment")
        config = self.functions.update_function_configuration(
            p["FunctionName"], handler=p.get("Handler"), runtime=p.get("Runtime"), role=p.get("Role"),
            description=p.get("Description"), timeout=p.get("Timeout"), memory_size=p.get("MemorySize"),
            environment=environment.get("Variables", {}) if environment is not None else None,
            revision_id=p.get("RevisionId"))
        return configuration(config)

    def delete_function(self, p: P) -> P:
        self.functions.delete_function(_qualified(p))
        return {"StatusCode": 204}

    def invoke(self, p: P) -> Invocation:
        return self.functions.invoke(_qualified(p), p.get("Payload", b""),
                                     invocation_type=p.get("InvocationType", "RequestResponse"),
                                     log_tail=p.get("LogType") == "Tail")

    def list_tags(self, p: P) -> P:
        return {"Tags": dict(self.functions.get_function(p["Resource"]).tags)}

    def tag_resource(self, p: P) -> None:
        self.functions.tag_function(p["Resource"], p["Tags"])

    def untag_resource(self, p: P) -> None:
        self.functions.untag_function(p["Resource"], p["TagKeys"])

    def get_account_settings(self, p: P) -> P:
        count, size = self.functions.usage()
        return {"AccountLimit": {"TotalCodeSize": ACCOUNT_CODE_STORAGE, "CodeSizeUnzipped": MAX_UNZIPPED_BYTES,
                                 "CodeSizeZipped": MAX_ZIP_BYTES, "ConcurrentExecutions": ACCOUNT_CONCURRENCY,
                                 "UnreservedConcurrentExecutions": ACCOUNT_CONCURRENCY},
                "AccountUsage": {"TotalCodeSize": size, "FunctionCount": count}}


def _qualified(p: P) -> str:
    """FunctionName with the Qualifier parameter, if any, as the core reads it (``name:qualifier``)."""
    qualifier = p.get("Qualifier")
    return f"{p['FunctionName']}:{qualifier}" if qualifier else p["FunctionName"]
