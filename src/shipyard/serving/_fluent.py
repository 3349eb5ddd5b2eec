"""Module-level deployment functions on the process-wide workspace and the current project."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence

from shipyard.config import get_settings
from shipyard.entities import Deployment, DeploymentEvent, Route
from shipyard.serving._deployments import Deployments, DeploymentStatus
from shipyard.workspace import current_workspace


def deployments(project: str | None = None) -> Deployments:
    """The deployments of ``project`` (default: the current project) on the current workspace."""
    return Deployments(current_workspace(), project or get_settings().project)


def deploy(name: str, routes: Mapping[str, int] | Sequence[Route], *, shadow: Sequence[str] = (),
           sticky_key: str | None = None, max_batch_size: int | None = None, max_wait_ms: int | None = None,
           cache_size: int | None = None, cache_ttl_s: int | None = None, description: str | None = None,
           reason: str | None = None, features: Sequence[str] | None = None) -> Deployment:
    """Create or update a deployment: ``sy.deploy("flights-prod", routes={"flight-delay@champion": 90,
    "flight-delay@challenger": 10}, shadow=["flight-delay/7"], sticky_key="user_id")``; with
    ``features=["origin_weather:temp", ...]`` the server reads those features from the online store by
    the request's entity keys before predicting."""
    return deployments().deploy(name, routes, shadow=shadow, sticky_key=sticky_key, max_batch_size=max_batch_size,
                                max_wait_ms=max_wait_ms, cache_size=cache_size, cache_ttl_s=cache_ttl_s,
                                description=description, reason=reason, features=features)


def promote(name: str, model: str, reason: str | None = None) -> Deployment:
    return deployments().promote(name, model, reason=reason)


def rollback(name: str, reason: str | None = None) -> Deployment:
    return deployments().rollback(name, reason=reason)


def status(name: str) -> DeploymentStatus:
    return deployments().status(name)


def deployment_at(name: str, when: int | float | str | dt.datetime) -> DeploymentEvent | None:
    """What was serving ``name`` at ``when``, with which weights (None: it did not exist yet)."""
    return deployments().at(name, when)
