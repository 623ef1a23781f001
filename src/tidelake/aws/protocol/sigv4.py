"""SigV4 verification with botocore's own signer: recompute the signature and compare."""
from __future__ import annotations

import hmac
import re
from datetime import datetime, timezone
from typing import Mapping

from botocore.auth import S3SigV4Auth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from tidelake.aws.protocol.errors import SignatureError

_AUTH = re.compile(r"AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request,\s*"
                   r"SignedHeaders=([^,]+),\s*Signature=([0-9a-f]+)")
MAX_SKEW_SECONDS = 15 * 60


class _Verifier(SigV4Auth):
    """Signs with the payload hash the client declared, as S3 clients do (UNSIGNED-PAYLOAD, ...)."""

    def __init__(self, credentials: Credentials, service: str, region: str, payload_hash: str | None) -> None:
        super().__init__(credentials, service, region)
        self._payload_hash = payload_hash

    def payload(self, request: AWSRequest) -> str:
        return self._payload_hash or super().payload(request)


class _S3Verifier(_Verifier, S3SigV4Auth):
    """S3 signs the path as sent, without normalising it."""


def verify(method: str, url: str, headers: Mapping[str, str], body: bytes,
           secrets: Mapping[str, str], now: datetime | None = None) -> str:
    """Check the request's signature; returns the access key id, raises SignatureError."""
    match = _AUTH.match(headers.get("authorization", ""))
    if match is None:
        raise SignatureError("MissingAuthenticationTokenException", "Missing Authentication Token")
    access_key, _, region, service, signed, signature = match.groups()
    secret = secrets.get(access_key)
    if secret is None:
        raise SignatureError("UnrecognizedClientException", "The security token included in the request is invalid.")
    amz_date = headers.get("x-amz-date", "")
    try:
        stamp = datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc)
    except ValueError:
        raise SignatureError("IncompleteSignatureException", "X-Amz-Date is missing or malformed.") from None
    if abs(((now or datetime.now(timezone.utc)) - stamp).total_seconds()) > MAX_SKEW_SECONDS:
        raise SignatureError("InvalidSignatureException", f"Signature expired: {amz_date} is now earlier or later "
                             "than the allowed 15 minutes.")
    names = signed.split(";")
    request = AWSRequest(method=method, url=url, data=body,
                         headers={name: headers.get(name, "") for name in names})
    request.context["timestamp"] = amz_date
    kind = _S3Verifier if service == "s3" else _Verifier
    verifier = kind(Credentials(access_key, secret), service, region, headers.get("x-amz-content-sha256"))
    canonical = verifier.canonical_request(request)
    expected = verifier.signature(verifier.string_to_sign(request, canonical), request)
    if not hmac.compare_digest(expected, signature):
        raise SignatureError("InvalidSignatureException",
                             "The request signature we calculated does not match the signature you provided. "
                             "Check your AWS Secret Access Key and signing method.")
    return access_key
