"""``RestStore``: the metadata store of a Shipyard server, over HTTP (``http(s)://host:port``).

Each store method is one ``POST /api/v1/store/<method>`` (see :mod:`._rest_protocol`). Errors come
back as JSON with an ``error_code`` and are raised as the same Shipyard exception class.
"""

from __future__ import annotations

import functools
import threading
from typing import Any

from shipyard import exceptions as errors
from shipyard._internal._lazy import require
from shipyard._internal._wire import raise_for
from shipyard.storage import _rest_protocol as proto
from shipyard.storage.base import AccessStore, MetadataStore, QuotaStore


class RestStore(MetadataStore, AccessStore, QuotaStore):
    """Client of a Shipyard server's store API. Thread-safe (one pooled HTTP client)."""

    capabilities = frozenset({"remote"})

    def __init__(self, uri: str, *, token: str | None = None, timeout: float = 60.0) -> None:
        httpx = require("httpx", "client", "Talking to a Shipyard server")
        self.base = uri.rstrip("/")
        headers = {"content-type": "application/json", "user-agent": "shipyard-sdk"}
        if token:
            headers["authorization"] = f"Bearer {token}"
        self._client = httpx.Client(base_url=self.base, headers=headers, timeout=timeout)
        self._lock = threading.Lock()

    @property
    def uri(self) -> str:
        return self.base

    @property
    def http(self) -> Any:
        return self._client

    def close(self) -> None:
        self._client.close()

    def info(self) -> dict[str, Any]:
        data: dict[str, Any] = self._request("GET", f"{proto.API_PREFIX}/info")
        return data

    def _request(self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None) -> Any:
        httpx = require("httpx", "client", "Talking to a Shipyard server")
        try:
            response = self._client.request(method, path, content=body)
        except httpx.TransportError as exc:
            raise errors.BackendUnavailable(
                f"Cannot reach the Shipyard server at {self.base}: {exc}. Is `shipyard server` running there?"
            ) from exc
        payload = proto.loads(response.content)
        if response.status_code >= 400:
            raise_for(response.status_code, payload, self.base)
        if headers is not None:
            headers.update(response.headers)
        return payload

    def _call(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        sig, hints = proto.signature(name)
        bound = sig.bind(self, *args, **kwargs)
        bound.apply_defaults()
        payload = {k: v for k, v in bound.arguments.items() if k != "self"}
        prefix = proto.ADMIN_PREFIX if proto.admin_owner(name) else proto.STORE_PREFIX
        if proto.page_size(name) is None:
            result = self._request("POST", f"{prefix}/{name}", proto.dumps(payload))
            return _adapter(name, hints.get("return")).validate_python(result)
        # A paged operation: follow the server's pages until the caller's window is complete.
        wanted = payload.get("limit")
        items: list[Any] = []
        while True:
            headers: dict[str, str] = {}
            page = self._request("POST", f"{prefix}/{name}", proto.dumps(payload), headers)
            items.extend(page)
            next_offset = headers.get(proto.NEXT_OFFSET)
            if next_offset is None or not page or (wanted is not None and len(items) >= wanted):
                break
            payload["offset"] = int(next_offset)
            if wanted is not None:
                payload["limit"] = wanted - len(items)
        return _adapter(name, hints.get("return")).validate_python(items)


@functools.cache
def _adapter(name: str, annotation: Any) -> Any:
    from pydantic import TypeAdapter

    return TypeAdapter(annotation if annotation is not None else Any)


def _operation(name: str) -> Any:
    def call(self: RestStore, *args: Any, **kwargs: Any) -> Any:
        return self._call(name, args, kwargs)

    call.__name__ = name
    owner = proto.admin_owner(name) or MetadataStore
    call.__doc__ = getattr(owner, name).__doc__
    return call


for _name in proto.operations() + proto.admin_operations():
    setattr(RestStore, _name, _operation(_name))
RestStore.__abstractmethods__ = frozenset()
