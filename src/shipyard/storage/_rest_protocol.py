"""The wire protocol shared by the REST store (client) and the server: which store methods are
operations, and how values are encoded.

Every abstract method of :class:`~shipyard.storage.base.MetadataStore` is one operation,
``POST /api/v1/store/<method>`` with the keyword arguments as a JSON object, answered with the
encoded return value. Deriving both sides from the interface keeps them from drifting apart
(one implementation per behaviour): a new store method is served and called without new code.
JSON here allows ``NaN`` and ``Infinity`` (metrics can be non-finite).
"""

from __future__ import annotations

import dataclasses
import enum
import inspect
import json
import typing
from collections.abc import Mapping
from typing import Any

from shipyard.storage.base import PAGED, AccessStore, MetadataStore, QuotaStore

API_PREFIX = "/api/v1"
STORE_PREFIX = f"{API_PREFIX}/store"
ADMIN_PREFIX = f"{API_PREFIX}/admin"
ARTIFACTS_PREFIX = f"{API_PREFIX}/artifacts"

#: Most items one response of a paged operation carries; the server answers larger requests a
#: page at a time and names the next page's offset in the ``X-Next-Offset`` header (the SDK
#: follows it, so callers still get the whole list unless they pass ``limit``).
PAGE_SIZE = {"get_metric_history": 25_000}
DEFAULT_PAGE_SIZE = 1_000
NEXT_OFFSET = "x-next-offset"


def page_size(op: str) -> int | None:
    """The server's page size for ``op``, or None when it is not paged."""
    return PAGE_SIZE.get(op, DEFAULT_PAGE_SIZE) if op in PAGED else None


def operations() -> list[str]:
    """Names of the store operations served over HTTP."""
    return sorted(MetadataStore.__abstractmethods__ - {"uri", "info"})


def admin_operations() -> list[str]:
    """Access-store operations, served to admins only under ``/api/v1/admin/<op>``."""
    return sorted(AccessStore.__abstractmethods__ | QuotaStore.__abstractmethods__)


def admin_owner(name: str) -> type | None:
    """The admin interface that declares ``name`` (None for a store operation)."""
    for owner in (AccessStore, QuotaStore):
        if name in owner.__abstractmethods__:
            return owner
    return None


def signature(name: str) -> tuple[inspect.Signature, dict[str, Any]]:
    """The method's signature and its resolved type hints."""
    owner = admin_owner(name) or MetadataStore
    method = getattr(owner, name)
    return inspect.signature(method), typing.get_type_hints(method)


def encode(value: Any) -> Any:
    """Entities and containers as JSON-ready Python values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Mapping):
        return {str(k): encode(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [encode(v) for v in value]
    return value


def dumps(value: Any) -> bytes:
    return json.dumps(encode(value), allow_nan=True, separators=(",", ":")).encode()


def loads(data: bytes) -> Any:
    return json.loads(data) if data else None
