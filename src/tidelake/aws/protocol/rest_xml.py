"""The REST-XML protocol (S3): bodies and headers rendered from, and parsed by, botocore's models.

Handlers return dicts keyed by the output shape's member names; ``render`` puts header members in
headers (``ETag``, ``x-amz-meta-*``) and the rest in an XML document, with the element names,
flattened lists and timestamp formats botocore's parser expects. ``parse`` reads an XML payload
(``<Delete>``, ``<CompleteMultipartUpload>``) into a dict of member names, refusing what the
shape does not allow with S3's ``MalformedXML``.
"""
from __future__ import annotations

import email.header
import email.utils
import xml.etree.ElementTree as ET
from datetime import datetime, timezone
from functools import cache
from typing import Any, Mapping
from xml.sax.saxutils import escape

from botocore.model import Shape

from tidelake.aws.protocol.models import service_model
from tidelake.errors import InvalidArgument, MalformedRequest

NAMESPACE = "http://s3.amazonaws.com/doc/2006-03-01/"
XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>\n'

# S3's root element per operation: botocore ignores it, other SDKs and tools read it.
ROOTS = {
    "ListBuckets": "ListAllMyBucketsResult",
    "ListObjects": "ListBucketResult",
    "ListObjectsV2": "ListBucketResult",
    "CreateMultipartUpload": "InitiateMultipartUploadResult",
    "CompleteMultipartUpload": "CompleteMultipartUploadResult",
    "ListParts": "ListPartsResult",
    "DeleteObjects": "DeleteResult",
    "GetBucketVersioning": "VersioningConfiguration",
}


class MalformedXML(MalformedRequest):
    def __init__(self, message: str = "The XML you provided was not well-formed or did not validate "
                                      "against our published schema") -> None:
        super().__init__(message)


class MethodNotAllowed(InvalidArgument):
    def __init__(self, method: str, resource_type: str) -> None:
        self.method = method
        self.resource_type = resource_type
        super().__init__("The specified method is not allowed against this resource.")


class InvalidRequest(InvalidArgument):
    """S3's catch-all for a request that is well formed but not allowed (``InvalidRequest``)."""


class PreconditionFailed(InvalidArgument):
    def __init__(self, condition: str) -> None:
        self.condition = condition
        super().__init__("At least one of the pre-conditions you specified did not hold")


def iso8601(epoch: float) -> str:
    """Timestamps in S3 XML bodies: ``2026-11-23T13:18:38.000Z``."""
    moment = datetime.fromtimestamp(epoch, timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def http_date(epoch: float) -> str:
    """Timestamps in headers (``Last-Modified``): RFC 7231, one-second precision."""
    return email.utils.formatdate(epoch, usegmt=True)


def parse_http_date(text: str) -> float | None:
    try:
        return email.utils.parsedate_to_datetime(text).timestamp()
    except (TypeError, ValueError, IndexError):
        return None


# -- rendering ----------------------------------------------------------------------------------

def render(operation: str, result: Mapping[str, Any]) -> tuple[dict[str, str], bytes]:
    """Headers and XML body of ``operation``'s output; the body is empty when nothing goes in it."""
    shape = service_model("s3").operation_model(operation).output_shape
    headers: dict[str, str] = {}
    if shape is None:
        return headers, b""
    payload = shape.serialization.get("payload")
    body_members: dict[str, Any] = {}
    for name, member in shape.members.items():
        value = result.get(name)
        if value is None:
            continue
        location = member.serialization.get("location")
        if location == "header":
            headers[member.serialization["name"]] = _header_value(member, value)
        elif location == "headers":
            prefix = member.serialization["name"]
            headers.update({prefix + key: _header_text(str(item)) for key, item in value.items()})
        elif location is None and (payload is None or name == payload):
            body_members[name] = value
    if payload is not None:
        if payload not in body_members or shape.members[payload].type_name != "structure":
            return headers, b""
        member = shape.members[payload]
        root = member.serialization.get("name", member.name)
        return headers, _document(root, _structure_xml(member, body_members[payload]))
    if operation == "GetBucketLocation":  # the root element is the value itself
        return headers, _document("LocationConstraint", escape(body_members.get("LocationConstraint") or ""))
    if not body_members and operation not in ROOTS:
        return headers, b""
    return headers, _document(ROOTS[operation], _structure_xml(shape, body_members))


def _document(root: str, inner: str) -> bytes:
    return f'{XML_DECLARATION}<{root} xmlns="{NAMESPACE}">{inner}</{root}>'.encode()


def _header_text(text: str) -> str:
    """Header values travel as latin-1; S3 sends other text RFC 2047-encoded, as we do."""
    try:
        text.encode("latin-1")
        return text
    except UnicodeEncodeError:
        return email.header.Header(text, "utf-8").encode()


def _header_value(shape: Shape, value: Any) -> str:
    if shape.type_name == "timestamp":
        if shape.serialization.get("timestampFormat") == "iso8601":
            return iso8601(value)
        return http_date(value)
    if shape.type_name == "boolean":
        return "true" if value else "false"
    return str(value)


def _structure_xml(shape: Shape, value: Mapping[str, Any]) -> str:
    parts = []
    for name, member in shape.members.items():
        item = value.get(name)
        if item is None or member.serialization.get("location"):
            continue
        tag = member.serialization.get("name", name)
        if member.type_name == "list":
            inner = member.member
            if member.serialization.get("flattened"):
                parts.extend(_element(tag, inner, entry) for entry in item)
            else:
                entry_tag = inner.serialization.get("name", "member")
                parts.append(f"<{tag}>" + "".join(_element(entry_tag, inner, e) for e in item) + f"</{tag}>")
        else:
            parts.append(_element(tag, member, item))
    return "".join(parts)


def _element(tag: str, shape: Shape, value: Any) -> str:
    return f"<{tag}>{_scalar_or_structure(shape, value)}</{tag}>"


def _scalar_or_structure(shape: Shape, value: Any) -> str:
    kind = shape.type_name
    if kind == "structure":
        return _structure_xml(shape, value)
    if kind == "timestamp":
        return iso8601(value)
    if kind == "boolean":
        return "true" if value else "false"
    return escape(str(value))


# -- parsing ------------------------------------------------------------------------------------

@cache
def _payload_shape(operation: str) -> Shape:
    shape = service_model("s3").operation_model(operation).input_shape
    return shape.members[shape.serialization["payload"]]


def parse(operation: str, body: bytes) -> dict[str, Any]:
    """The operation's XML payload as a dict of member names (MalformedXML when it does not fit)."""
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        raise MalformedXML() from None
    shape = _payload_shape(operation)
    if _local(root.tag) != shape.serialization.get("name", shape.name):
        raise MalformedXML()
    return _parse_structure(shape, root)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _parse_structure(shape: Shape, node: ET.Element) -> dict[str, Any]:
    by_tag = {member.serialization.get("name", name): (name, member) for name, member in shape.members.items()}
    out: dict[str, Any] = {}
    for child in node:
        found = by_tag.get(_local(child.tag))
        if found is None:
            continue  # S3 ignores elements it does not know; so do we
        name, member = found
        if member.type_name == "list" and member.serialization.get("flattened"):
            out.setdefault(name, []).append(_parse_value(member.member, child))
        elif member.type_name == "list":
            out[name] = [_parse_value(member.member, item) for item in child]
        else:
            out[name] = _parse_value(member, child)
    missing = [name for name in shape.required_members if name not in out]
    if missing:
        raise MalformedXML()
    return out


def _parse_value(shape: Shape, node: ET.Element) -> Any:
    kind = shape.type_name
    if kind == "structure":
        return _parse_structure(shape, node)
    text = (node.text or "").strip() if kind != "string" else (node.text or "")
    if kind in ("integer", "long"):
        try:
            return int(text)
        except ValueError:
            raise MalformedXML() from None
    if kind == "boolean":
        if text not in ("true", "false"):
            raise MalformedXML()
        return text == "true"
    return text


def error_body(code: str, message: str, fields: Mapping[str, Any]) -> bytes:
    """S3's REST error document: ``<Error><Code/><Message/>...<RequestId/></Error>``."""
    extra = "".join(f"<{tag}>{escape(str(value))}</{tag}>" for tag, value in fields.items() if value is not None)
    return (f"{XML_DECLARATION}<Error><Code>{escape(code)}</Code><Message>{escape(message)}</Message>"
            f"{extra}</Error>").encode()
