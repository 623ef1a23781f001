"""botocore's own service models: the source of shapes, limits and error names."""
from __future__ import annotations

from functools import cache

import botocore.session
from botocore.model import ServiceModel


@cache
def _session() -> botocore.session.Session:
    return botocore.session.get_session()


@cache
def service_model(name: str) -> ServiceModel:
    return _session().get_service_model(name)
