"""Online feature reads over HTTP: ``POST /v1/features/online`` and, for existing Feast clients (e.g.
KServe's Feast transformer), the same at ``POST /get-online-features`` — Feast's request and
response shapes (column-oriented results with a status and an event time per value)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from pydantic import BaseModel, Field

from shipyard.entities import Role
from shipyard.exceptions import InvalidParameter

if TYPE_CHECKING:
    from shipyard.workspace import Workspace


class OnlineFeaturesRequest(BaseModel):
    """Feature references and the entities' join keys (column-wise), as Feast's feature server takes them."""

    features: list[str] = Field(description="'view:feature' references ('view:*' for all of a view's features).")
    entities: dict[str, list[Any]] = Field(description="Join-key (and request-field) columns, e.g. "
                                                       "{\"origin\": [\"JFK\", \"LGA\"]}.")
    full_feature_names: bool = Field(False, description="Name features 'view__feature'.")
    project: str | None = Field(None, description="Project of the feature views (default: the server's).")
    at: str | None = Field(None, description="Judge TTLs at this ISO-8601 time instead of now.")
    feature_service: str | None = Field(None, description="Not supported: list the features instead.")


class OnlineFeatureResult(BaseModel):
    values: list[Any]
    statuses: list[str] = Field(description="PRESENT, NULL_VALUE, NOT_FOUND or OUTSIDE_MAX_AGE per value.")
    event_timestamps: list[str | None]


class OnlineFeaturesResponse(BaseModel):
    metadata: dict[str, list[str]] = Field(description="{\"feature_names\": [join keys..., features...]}")
    results: list[OnlineFeatureResult]


def install(app: FastAPI, ws: Workspace) -> None:
    from shipyard._internal._time import parse_when
    from shipyard.features._online import OnlineReader
    from shipyard.server._app import NanJSONResponse, principal_of

    readers: dict[str, OnlineReader] = {}

    async def online_features(request: Request, body: OnlineFeaturesRequest) -> Any:
        principal = principal_of(request)
        project = body.project or ws.settings.project
        principal.require(project, Role.VIEWER)
        if body.feature_service is not None:
            raise InvalidParameter("Feature services are not supported: list the features ('view:feature') instead.")
        reader = readers.get(project)
        if reader is None:
            reader = readers[project] = OnlineReader(project, store=ws.metadata)
        result = reader.read(body.features, body.entities, at_ms=parse_when(body.at) if body.at else None,
                             full_names=body.full_feature_names, store=ws.online)
        return NanJSONResponse(result.to_response())

    for path, name in (("/v1/features/online", "online_features"), ("/get-online-features", "get_online_features")):
        app.post(path, name=name, tags=["features"], response_model=OnlineFeaturesResponse,
                 summary="Read online feature values" + (" (Feast-compatible path)" if "get" in path else ""),
                 response_class=NanJSONResponse)(online_features)
