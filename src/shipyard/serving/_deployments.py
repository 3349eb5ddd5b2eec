"""Deployments as registry records: create, update, promote, roll back, and ask what served when.

A deployment names live routes (model references with traffic weights in percent, summing to 100),
shadow models (mirrored, never answering), an optional sticky key and its serving configuration.
Every change is one atomic write of the whole state plus a history event (who, what, when, why), so
``rollback`` is "the state before the current one" and "what served at T" is one query.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from shipyard._internal._time import parse_when
from shipyard.entities import Deployment, DeploymentEvent, DeploymentState, ModelVersionStatus, Route
from shipyard.exceptions import InvalidParameter, NotFound
from shipyard.registry import Registry
from shipyard.tracking import _environment

if TYPE_CHECKING:
    from shipyard.workspace import Workspace

_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]{0,127}")
#: Serving settings a deployment carries, with their allowed ranges.
CONFIG_RANGES = {"max_batch_size": (1, 4096), "max_wait_ms": (0, 1000), "cache_size": (0, 10_000_000),
                 "cache_ttl_s": (1, 86_400)}
DEFAULT_CONFIG = {"max_batch_size": 64, "max_wait_ms": 0, "cache_size": 0, "cache_ttl_s": 60}


@dataclass(frozen=True, slots=True)
class DeploymentStatus:
    """A deployment with each route resolved to the version it reaches now (aliases move)."""

    deployment: Deployment
    versions: Mapping[str, int]  # model reference -> version number

    def describe(self) -> str:
        d = self.deployment
        parts = [f"{r.model} (v{self.versions.get(r.model, '?')}) {r.weight}%" for r in d.routes]
        shadows = [f"{s} (v{self.versions.get(s, '?')})" for s in d.shadow]
        shadow = f"; shadow {', '.join(shadows)}" if shadows else ""
        sticky = f"; sticky on {d.sticky_key}" if d.sticky_key else ""
        return f"{d.name} r{d.revision} {d.state.value}: {', '.join(parts)}{shadow}{sticky}"


def model_ref(ref: str) -> str:
    """``models:/name@alias`` → ``name@alias`` (routes store the short form)."""
    return ref[len("models:/"):] if ref.startswith("models:/") else ref


class Deployments:
    """Deployments of one project on a workspace."""

    def __init__(self, workspace: Workspace, project: str) -> None:
        self.workspace = workspace
        self.project = project
        self.store = workspace.metadata
        self.registry = Registry(workspace, project)

    # -- validation -------------------------------------------------------------------------------
    def _resolve(self, ref: str, what: str) -> int:
        try:
            version = self.registry.resolve_version(f"models:/{ref}")
        except NotFound as exc:
            raise NotFound(f"{what} {ref!r} does not resolve: {exc}") from None
        except InvalidParameter as exc:
            raise InvalidParameter(f"{what} {ref!r} is not a model reference (name@alias or name/version): {exc}") from None
        if version.status is not ModelVersionStatus.READY:
            raise InvalidParameter(f"{what} {ref!r} is version {version.version}, which is {version.status.value}: "
                                   "only READY versions can serve.")
        return version.version

    def _routes(self, routes: Mapping[str, int] | Sequence[Route]) -> tuple[Route, ...]:
        items = [(r.model, r.weight) for r in routes] if not isinstance(routes, Mapping) else list(routes.items())
        problems, seen, out = [], set(), []
        for ref, weight in items:
            ref = model_ref(str(ref))
            if ref in seen:
                problems.append(f"{ref} is listed twice")
            seen.add(ref)
            if not isinstance(weight, int) or isinstance(weight, bool) or not 0 <= weight <= 100:
                problems.append(f"{ref}: weight {weight!r} is not a whole percentage from 0 to 100")
                continue
            out.append(Route(ref, weight))
        total = sum(r.weight for r in out)
        if not problems and total != 100:
            problems.append(f"the weights add up to {total}, not 100")
        if problems:
            raise InvalidParameter("Invalid routes: " + "; ".join(problems) + ". Example: "
                                   "routes={'flight-delay@champion': 90, 'flight-delay@challenger': 10}.")
        for route in out:
            self._resolve(route.model, "Route")
        return tuple(out)

    def _shadow(self, shadow: Sequence[str], routes: Sequence[Route]) -> tuple[str, ...]:
        refs = tuple(model_ref(s) for s in shadow)
        live = {r.model for r in routes if r.weight > 0}
        clash = [s for s in refs if s in live]
        if clash:
            raise InvalidParameter(f"{', '.join(clash)} cannot shadow the deployment and answer it too: "
                                   "drop it from shadow= or from routes=.")
        for ref in refs:
            self._resolve(ref, "Shadow model")
        return refs

    @staticmethod
    def _config(current: Mapping[str, Any] | None, changes: Mapping[str, Any]) -> dict[str, Any]:
        config = {**DEFAULT_CONFIG, **(current or {})}
        for key, value in changes.items():
            if value is None:
                continue
            low, high = CONFIG_RANGES[key]
            if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
                raise InvalidParameter(f"{key} must be a whole number from {low} to {high}, got {value!r}.")
            config[key] = value
        return config

    # -- changes ---------------------------------------------------------------------------------
    def deploy(
        self, name: str, routes: Mapping[str, int] | Sequence[Route], *, shadow: Sequence[str] = (),
        sticky_key: str | None = None, max_batch_size: int | None = None, max_wait_ms: int | None = None,
        cache_size: int | None = None, cache_ttl_s: int | None = None, description: str | None = None,
        reason: str | None = None, features: Sequence[str] | None = None,
    ) -> Deployment:
        """Create ``name``, or update it to exactly this state (a new revision in its history).
        ``max_batch_size`` / ``max_wait_ms``: micro-batching; ``cache_size`` (entries, 0 = off) and
        ``cache_ttl_s``: the response cache; ``features``: ``"view:feature"`` references the server
        reads from the online store by the request's entity keys before predicting (``[]`` turns it
        off). Settings left None keep their current value."""
        if sticky_key is not None and not _KEY.fullmatch(sticky_key):
            raise InvalidParameter(f"sticky_key {sticky_key!r} must be a field name (letters, digits, _ . -).")
        clean = self._routes(routes)
        shadows = self._shadow(shadow, clean)
        changes = {"max_batch_size": max_batch_size, "max_wait_ms": max_wait_ms, "cache_size": cache_size,
                   "cache_ttl_s": cache_ttl_s}
        if features is not None:
            if isinstance(features, str) or not all(isinstance(f, str) and ":" in f for f in features):
                raise InvalidParameter(f"features must be a list of 'view:feature' references, got {features!r}.")
            from shipyard.features._registry import resolve

            if features:
                resolve(list(features), project=self.project, store=self.store)  # fail now, not per request
        try:
            current = self.store.get_deployment(self.project, name)
        except NotFound:
            config = self._config(None, changes)
            if features:
                config["features"] = list(features)
            return self.store.create_deployment(  # type: ignore[no-any-return]
                self.project, name, routes=clean, shadow=shadows, sticky_key=sticky_key,
                config=config, description=description, actor=_environment.user(), reason=reason,
            )
        config = self._config(current.config, changes)
        if features is not None:
            config.pop("features", None)
            if features:
                config["features"] = list(features)
        return self.store.update_deployment(  # type: ignore[no-any-return]
            self.project, name, action="update", routes=clean, shadow=shadows, sticky_key=sticky_key,
            config=config, state=current.state, expected_revision=current.revision,
            actor=_environment.user(), reason=reason,
        )

    def promote(self, name: str, model: str, *, reason: str | None = None, actor: str | None = None) -> Deployment:
        """Send all live traffic to ``model`` in one atomic switch (blue-green); it leaves the shadows.
        ``actor``: who, for the history (default: the local user)."""
        current = self.store.get_deployment(self.project, name)
        ref = model_ref(model)
        routes = (Route(ref, 100),)
        self._resolve(ref, "Route")
        return self.store.update_deployment(  # type: ignore[no-any-return]
            self.project, name, action="promote", routes=routes, shadow=tuple(s for s in current.shadow if s != ref),
            sticky_key=current.sticky_key, config=current.config, state=current.state,
            expected_revision=current.revision, actor=actor or _environment.user(), reason=reason,
        )

    def rollback(self, name: str, *, reason: str | None = None, actor: str | None = None) -> Deployment:
        """Return to the state before the current revision, as recorded in the history."""
        current = self.store.get_deployment(self.project, name)
        if current.revision < 2:
            raise InvalidParameter(f"Deployment {name!r} has no earlier state to roll back to (it is at revision 1).")
        previous = self.store.deployment_history(self.project, name, offset=current.revision - 2, limit=1)[0]
        return self.store.update_deployment(  # type: ignore[no-any-return]
            self.project, name, action="rollback", routes=previous.routes, shadow=previous.shadow,
            sticky_key=previous.sticky_key, config=previous.config, state=previous.state,
            expected_revision=current.revision, actor=actor or _environment.user(),
            reason=reason or f"back to revision {previous.revision}",
        )

    def set_state(self, name: str, state: DeploymentState, *, reason: str | None = None) -> Deployment:
        current = self.store.get_deployment(self.project, name)
        action = "stop" if state is DeploymentState.STOPPED else "start"
        return self.store.update_deployment(  # type: ignore[no-any-return]
            self.project, name, action=action, routes=current.routes, shadow=current.shadow,
            sticky_key=current.sticky_key, config=current.config, state=state, expected_revision=current.revision,
            actor=_environment.user(), reason=reason,
        )

    # -- reading ---------------------------------------------------------------------------------
    def status(self, name: str) -> DeploymentStatus:
        deployment = self.store.get_deployment(self.project, name)
        versions = {}
        for ref in [*(r.model for r in deployment.routes), *deployment.shadow]:
            try:
                versions[ref] = self.registry.resolve_version(f"models:/{ref}").version
            except NotFound:
                pass  # an alias removed since: status shows "?"
        return DeploymentStatus(deployment, versions)

    def at(self, name: str, when: int | float | str | dt.datetime) -> DeploymentEvent | None:
        """What was serving ``name`` at ``when`` (the last change at or before it), or None if it did
        not exist yet."""
        events = self.store.deployment_history(self.project, name, at=parse_when(when))
        return events[-1] if events else None

    def history(self, name: str) -> list[DeploymentEvent]:
        return self.store.deployment_history(self.project, name)  # type: ignore[no-any-return]

    def list(self) -> list[Deployment]:
        return self.store.list_deployments(self.project)  # type: ignore[no-any-return]
