"""One error hierarchy for the whole platform.

The core raises these; each edge (``aws/``, ``cli/``, ``web/``) translates them once.
Subclasses carry the fields an edge needs as attributes, not only as text.
"""
from __future__ import annotations


class TidelakeError(Exception):
    """Base for every error raised on purpose."""

    def __init__(self, message: str = "") -> None:
        super().__init__(message)
        self.message = message


class NotFound(TidelakeError):
    """The named resource does not exist (or is not ready to be used yet)."""


class AlreadyExists(TidelakeError):
    """A resource with that name already exists."""


class InUse(TidelakeError):
    """The resource is in a state that does not allow the operation (creating, updating, deleting)."""


class InvalidArgument(TidelakeError):
    """The request is well formed but its values break a rule of the service."""


class ValidationFailed(InvalidArgument):
    """The request does not match the operation's shape (types, lengths, patterns, ranges)."""


class LimitExceeded(TidelakeError):
    """An account or resource limit would be exceeded."""


class Expired(TidelakeError):
    """A token (iterator, pagination token) is too old to be used."""


class Throttled(TidelakeError):
    """A configured rate limit was hit; retry later."""


class AccessDenied(TidelakeError):
    """The caller's credentials are missing, unknown, or the signature does not match."""


class Unsupported(TidelakeError):
    """The operation exists in AWS but tidelake does not provide it (yet)."""


class DryRunRequested(TidelakeError):
    """The caller only asked whether the request would succeed (``DryRun``); nothing was done."""


class Transient:
    """Mixin: a retry may succeed."""


class MalformedRequest(InvalidArgument):
    """The request body cannot be read as the operation's input (bad JSON, wrong types)."""
