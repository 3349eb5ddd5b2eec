"""The metadata store port.

The metadata store holds records (projects, experiments, runs and what they log, datasets, artifact
records). Bulk data never goes here: artifacts, prediction logs and training sets live in the
artifact store.

Contract for every implementation
---------------------------------
* **Thread safety.** One store object may be shared by many threads; every method is safe to call
  concurrently. Several processes may open the same store at once (SQLite: WAL + immediate write
  transactions; PostgreSQL: row locks and ``ON CONFLICT``).
* **Atomicity.** Each method is one transaction: it applies completely or not at all. A crash
  mid-call leaves the store as it was before the call.
* **Returned values** are frozen entities (:mod:`shipyard.entities`), never live rows; later writes
  never change an entity already returned.
* **Trust.** Stores trust their inputs: public boundaries (``shipyard.tracking``) validate names,
  lengths and types once. Stores still refuse what would break an invariant (a param re-logged
  with a different value).
* **Errors.** :class:`~shipyard.exceptions.NotFound` for a missing record,
  :class:`~shipyard.exceptions.AlreadyExists` for a taken unique name,
  :class:`~shipyard.exceptions.InvalidParameter` for a broken invariant,
  :class:`~shipyard.exceptions.BackendUnavailable` when the backend cannot be reached.

Design note: the interface is three small role interfaces (experiments, runs, lineage) of at most
ten abstract methods each rather than one large class; :class:`MetadataStore` is their union.
Later domains (registry, access, deployments, contracts, monitors, events) add their own role interfaces the same way.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from typing import Any

from shipyard.entities import (
    Alert,
    AlertSignal,
    AlertState,
    AliasEvent,
    ApiToken,
    ArtifactRecord,
    AuditEvent,
    ContractVersion,
    Dataset,
    Deployment,
    DeploymentEvent,
    DeploymentState,
    Event,
    Experiment,
    LifecycleStage,
    LoggedModel,
    LoggedModelStatus,
    Metric,
    ModelVersion,
    ModelVersionStatus,
    Monitor,
    MonitorResult,
    MonitorState,
    Param,
    Project,
    Quota,
    RegisteredModel,
    Role,
    Route,
    Run,
    RunInput,
    RunPage,
    RunStatus,
    RunTag,
    User,
)
from shipyard.storage._feature_port import FeatureRegistryStore


class ExperimentStore(abc.ABC):
    """Projects and experiments."""

    @abc.abstractmethod
    def get_or_create_project(self, name: str) -> Project:
        """Return the project called ``name``, creating it if needed (safe under concurrency)."""

    @abc.abstractmethod
    def list_projects(self) -> list[Project]:
        """All projects, by name."""

    @abc.abstractmethod
    def create_experiment(self, project: str, name: str, tags: Mapping[str, str] | None = None) -> Experiment:
        """Create an experiment in ``project`` (created if missing).

        Raises:
            AlreadyExists: an experiment of that name exists in the project (active or deleted).
        """

    @abc.abstractmethod
    def get_experiment(self, project: str, *, id: str | None = None, name: str | None = None) -> Experiment:
        """Look an experiment up by id or by name (exactly one of them).

        Raises:
            NotFound: no such experiment in the project.
        """

    @abc.abstractmethod
    def list_experiments(
        self, project: str, lifecycle: LifecycleStage | None = LifecycleStage.ACTIVE, *, offset: int = 0, limit: int | None = None
    ) -> list[Experiment]:
        """Experiments of a project, oldest first; ``lifecycle=None`` lists active and deleted ones.
        ``offset``/``limit`` select a window (every list that can grow takes them; see PAGED)."""

    @abc.abstractmethod
    def update_experiment(
        self, project: str, id: str, *, name: str | None = None, lifecycle: LifecycleStage | None = None
    ) -> Experiment:
        """Rename, delete (soft) or restore an experiment. Deleting it soft-deletes its runs too.

        Raises:
            NotFound: no such experiment.
            AlreadyExists: the new name is taken.
        """


class RunStore(abc.ABC):
    """Runs and what they log."""

    @abc.abstractmethod
    def create_run(
        self,
        project: str,
        experiment_id: str,
        *,
        run_id: str,
        name: str,
        start_time: int,
        artifact_uri: str,
        user: str | None = None,
        host: str | None = None,
        parent_run_id: str | None = None,
        heartbeat_timeout_ms: int | None = None,
        git_commit: str | None = None,
        git_dirty: bool | None = None,
        source: str | None = None,
        environment: Mapping[str, Any] | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> Run:
        """Create a RUNNING run.

        Raises:
            NotFound: the experiment (or the parent run) does not exist in the project.
            AlreadyExists: ``run_id`` is taken.
        """

    @abc.abstractmethod
    def update_run(
        self,
        run_id: str,
        *,
        status: RunStatus | None = None,
        end_time: int | None = None,
        heartbeat_at: int | None = None,
        name: str | None = None,
        failure: str | None = None,
        lifecycle: LifecycleStage | None = None,
    ) -> None:
        """Change a run's status, end time, heartbeat, name, failure text or lifecycle stage.

        Raises:
            NotFound: no such run.
        """

    @abc.abstractmethod
    def get_run(self, run_id: str) -> Run:
        """A run with its params, tags and latest metrics. A stale RUNNING run reads as KILLED.

        Raises:
            NotFound: no such run.
        """

    @abc.abstractmethod
    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric] = (),
        params: Sequence[Param] = (),
        tags: Sequence[RunTag] = (),
    ) -> None:
        """Append metrics, set params (write-once) and tags (last write wins), in one transaction.

        Every metric given is stored exactly once; NaN and ±inf are stored and read back as such.

        Raises:
            NotFound: no such run.
            InvalidParameter: a param already has a different value (nothing of the batch is written).
        """

    @abc.abstractmethod
    def get_metric_history(self, run_id: str, key: str, *, offset: int = 0, limit: int | None = None) -> list[Metric]:
        """Every value logged for ``key``, by step then timestamp (empty if none).

        Raises:
            NotFound: no such run.
        """

    @abc.abstractmethod
    def search_runs(
        self,
        project: str,
        experiment_ids: Sequence[str] | None = None,
        filter: str | None = None,
        order_by: Sequence[str] | None = None,
        max_results: int = 1000,
        page_token: str | None = None,
        lifecycle: LifecycleStage | None = LifecycleStage.ACTIVE,
    ) -> RunPage:
        """Runs of a project matching a filter (see :mod:`shipyard.storage._filter`), evaluated by
        the backend itself, never by scanning in Python.

        Raises:
            FilterSyntaxError: malformed filter or order-by.
            InvalidParameter: a bad page token or max_results.
        """

    @abc.abstractmethod
    def delete_runs_permanently(self, run_ids: Sequence[str]) -> int:
        """Remove runs and everything they logged (used by ``shipyard store gc``). Returns the count."""


class LineageStore(abc.ABC):
    """Datasets, which runs used or produced them, and the artifact records of runs."""

    @abc.abstractmethod
    def log_dataset(
        self,
        project: str,
        *,
        name: str,
        digest: str,
        num_rows: int,
        schema: Mapping[str, Any],
        profile: Mapping[str, Any],
        source: str | None = None,
    ) -> Dataset:
        """Record a dataset; the same (project, name, digest) returns the existing record."""

    @abc.abstractmethod
    def link_dataset(self, run_id: str, dataset_id: int, role: str, direction: str = "input") -> None:
        """Record that a run consumed (``input``) or produced (``output``) a dataset. Idempotent.

        Raises:
            NotFound: no such run or dataset.
        """

    @abc.abstractmethod
    def list_run_datasets(self, run_id: str) -> list[RunInput]:
        """Datasets linked to a run."""

    @abc.abstractmethod
    def record_artifact(self, run_id: str, path: str, size: int, sha256: str) -> ArtifactRecord:
        """Record (or replace) the size and sha256 of a file already written to the artifact store.

        Raises:
            NotFound: no such run.
        """

    @abc.abstractmethod
    def list_artifacts(
        self, run_id: str, prefix: str | None = None, *, offset: int = 0, limit: int | None = None
    ) -> list[ArtifactRecord]:
        """Artifact records of a run under ``prefix`` (a folder path), by path.

        Raises:
            NotFound: no such run.
        """


class LoggedModelStore(abc.ABC):
    """Logged models: packages logged into an experiment (from a run or not) before registration.
    The MLflow 3 client creates one per ``log_model``; the files live under its ``artifact_uri``."""

    @abc.abstractmethod
    def create_logged_model(
        self,
        project: str,
        experiment_id: str,
        *,
        model_id: str,
        name: str,
        artifact_uri: str,
        run_id: str | None = None,
        model_type: str | None = None,
        created_by: str | None = None,
        tags: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
    ) -> LoggedModel:
        """Record a logged model, PENDING until :meth:`update_logged_model` marks it READY.

        Raises:
            NotFound: no such experiment, or ``run_id`` is not a run of that experiment's project.
            AlreadyExists: ``model_id`` is taken.
        """

    @abc.abstractmethod
    def get_logged_model(self, model_id: str) -> LoggedModel:
        """Raises: NotFound: no such logged model."""

    @abc.abstractmethod
    def update_logged_model(
        self,
        model_id: str,
        *,
        status: LoggedModelStatus | None = None,
        status_message: str | None = None,
        set_tags: Mapping[str, str] | None = None,
        delete_tags: Sequence[str] = (),
        set_params: Mapping[str, str] | None = None,
    ) -> LoggedModel:
        """Change a logged model's status, tags or params (params are write-once: a changed value
        is refused).

        Raises:
            NotFound: no such logged model.
            InvalidParameter: a param would change.
        """

    @abc.abstractmethod
    def search_logged_models(
        self,
        project: str,
        experiment_ids: Sequence[str] | None = None,
        *,
        name: str | None = None,
        run_id: str | None = None,
        statuses: Sequence[LoggedModelStatus] | None = None,
        max_results: int = 100,
        page_token: str | None = None,
    ) -> tuple[list[LoggedModel], str | None]:
        """Logged models of the project (of some experiments), newest first, a page at a time:
        ``(models, next page token or None)``."""

    @abc.abstractmethod
    def delete_logged_model(self, model_id: str) -> None:
        """Remove the record (its files are the caller's to delete).

        Raises:
            NotFound: no such logged model.
        """


class RegistryStore(abc.ABC):
    """Registered models, their versions, and aliases with a full history.

    Version numbers are 1, 2, 3, ... per model and unique under concurrent registration from
    several processes. Alias moves are atomic; concurrent moves of one alias: the last writer
    wins and both moves are in the history.
    """

    @abc.abstractmethod
    def create_registered_model(
        self, project: str, name: str, description: str | None = None, tags: Mapping[str, str] | None = None
    ) -> RegisteredModel:
        """Create a registered model.

        Raises:
            AlreadyExists: the name is taken in the project.
        """

    @abc.abstractmethod
    def get_registered_model(self, project: str, name: str) -> RegisteredModel:
        """A registered model with its tags, current aliases and latest version number.

        Raises:
            NotFound: no such model; the message lists similar names.
        """

    @abc.abstractmethod
    def search_registered_models(
        self, project: str, name_like: str | None = None, tags: Mapping[str, str] | None = None, alias: str | None = None,
        *, offset: int = 0, limit: int | None = None,
    ) -> list[RegisteredModel]:
        """Models whose name matches ``name_like`` (SQL LIKE, case-insensitive), carrying every
        given tag, and having ``alias`` set; by name."""

    @abc.abstractmethod
    def update_registered_model(
        self,
        project: str,
        name: str,
        *,
        description: str | None = None,
        set_tags: Mapping[str, str] | None = None,
        delete_tags: Sequence[str] = (),
    ) -> RegisteredModel:
        """Change a model's description or tags.

        Raises:
            NotFound: no such model.
        """

    @abc.abstractmethod
    def create_model_version(
        self,
        project: str,
        name: str,
        *,
        source: str,
        storage_uri: str,
        run_id: str | None,
        flavor: str,
        manifest: Mapping[str, Any],
        manifest_sha256: str,
        signature: Mapping[str, Any],
        created_by: str | None = None,
        description: str | None = None,
        tags: Mapping[str, str] | None = None,
        status: ModelVersionStatus = ModelVersionStatus.REGISTERING,
        status_message: str | None = None,
        package_signature: str | None = None,
    ) -> ModelVersion:
        """Add the next version of ``name`` (the model is created if missing), in ``status``
        (REGISTERING while its files are still being checked; READY or FAILED when they were).

        Raises:
            NotFound: ``run_id`` is given and no such run exists in the project.
        """

    @abc.abstractmethod
    def get_model_version(self, project: str, name: str, version: int) -> ModelVersion:
        """One version, with its tags and the aliases pointing at it.

        Raises:
            NotFound: no such model or version; the message lists the versions that exist.
        """

    @abc.abstractmethod
    def search_model_versions(
        self,
        project: str,
        name: str | None = None,
        tags: Mapping[str, str] | None = None,
        statuses: Sequence[ModelVersionStatus] | None = None,
        run_id: str | None = None,
        *,
        offset: int = 0,
        limit: int | None = None,
    ) -> list[ModelVersion]:
        """Versions filtered by model name, tags, status and source run; newest first."""

    @abc.abstractmethod
    def update_model_version(
        self,
        project: str,
        name: str,
        version: int,
        *,
        status: ModelVersionStatus | None = None,
        status_message: str | None = None,
        description: str | None = None,
        set_tags: Mapping[str, str] | None = None,
        package_signature: str | None = None,
        manifest: Mapping[str, Any] | None = None,
        delete_tags: Sequence[str] = (),
    ) -> ModelVersion:
        """Change a version's status, description, tags (set or delete), package signature or manifest.

        Raises:
            NotFound: no such version.
            InvalidParameter: archiving a version that an alias points to.
        """

    @abc.abstractmethod
    def set_alias(
        self, project: str, name: str, alias: str, version: int | None, actor: str | None = None, reason: str | None = None
    ) -> AliasEvent:
        """Point ``alias`` at ``version`` (``None`` removes it) and append the move to the history,
        atomically.

        Raises:
            NotFound: no such model or version (or, when removing, no such alias).
            InvalidParameter: the version is not READY.
        """

    @abc.abstractmethod
    def alias_history(
        self, project: str, name: str, alias: str | None = None, *, offset: int = 0, limit: int | None = None
    ) -> list[AliasEvent]:
        """Every alias move of a model (or of one alias), oldest first.

        Raises:
            NotFound: no such model.
        """


class DeploymentStore(abc.ABC):
    """Deployments: the model routes a serving endpoint answers with, and every change to them.

    Each change writes the deployment's whole new state and appends it, with who / why, to the history
    in one transaction; ``expected_revision`` makes concurrent edits fail instead of overwriting.
    """

    @abc.abstractmethod
    def create_deployment(
        self, project: str, name: str, *, routes: Sequence[Route], shadow: Sequence[str] = (),
        sticky_key: str | None = None, config: Mapping[str, Any] | None = None, description: str | None = None,
        actor: str | None = None, reason: str | None = None,
    ) -> Deployment:
        """Create a deployment at revision 1 (counted against the project's ``deployments`` quota).

        Raises:
            AlreadyExists: the name is taken in the project.
            QuotaExceeded: the project has as many deployments as its quota allows.
        """

    @abc.abstractmethod
    def get_deployment(self, project: str, name: str) -> Deployment:
        """Raises: NotFound: no such deployment (the message lists similar names)."""

    @abc.abstractmethod
    def list_deployments(self, project: str, *, offset: int = 0, limit: int | None = None) -> list[Deployment]:
        """Deployments of a project, by name."""

    @abc.abstractmethod
    def update_deployment(
        self, project: str, name: str, *, action: str, routes: Sequence[Route], shadow: Sequence[str],
        sticky_key: str | None, config: Mapping[str, Any], state: DeploymentState,
        expected_revision: int | None = None, actor: str | None = None, reason: str | None = None,
    ) -> Deployment:
        """Replace the deployment's state (next revision) and record the change as ``action``.

        Raises:
            NotFound: no such deployment.
            AlreadyExists: ``expected_revision`` is given and the deployment has moved past it.
        """

    @abc.abstractmethod
    def deployment_history(
        self, project: str, name: str, *, at: int | None = None, offset: int = 0, limit: int | None = None
    ) -> list[DeploymentEvent]:
        """Every change, oldest first; with ``at`` (epoch ms) only those made at or before it, so the
        last one is the state that was serving at that time.

        Raises:
            NotFound: no such deployment.
        """


class ContractStore(abc.ABC):
    """Data contracts as versioned records: each save is a new version, never an edit."""

    @abc.abstractmethod
    def create_contract_version(
        self, project: str, name: str, spec: Mapping[str, Any], *, description: str | None = None
    ) -> ContractVersion:
        """Store ``spec`` as the contract's next version (1 for a new name)."""

    @abc.abstractmethod
    def get_contract(self, project: str, name: str, version: int | None = None) -> ContractVersion:
        """A version of a contract, the latest when ``version`` is None.

        Raises:
            NotFound: no such contract or version (the message lists similar names).
        """

    @abc.abstractmethod
    def list_contracts(self, project: str, *, offset: int = 0, limit: int | None = None) -> list[ContractVersion]:
        """The latest version of every contract of a project, by name."""


class MonitorStore(abc.ABC):
    """Monitors, their results per window, and the alerts they raise.

    :meth:`record_window` is the one write of an evaluation: the result, the monitor's watermark,
    the alerts' life cycle and the events go in together, so a crash leaves either the whole window
    or none of it, and two runners evaluating the same window cannot both record it.
    """

    @abc.abstractmethod
    def create_monitor(
        self, project: str, name: str, *, deployment: str, window_ms: int, reference: Mapping[str, Any],
        config: Mapping[str, Any] | None = None, description: str | None = None,
    ) -> Monitor:
        """Create a monitor at revision 1.

        Raises:
            AlreadyExists: the name is taken in the project.
        """

    @abc.abstractmethod
    def get_monitor(self, project: str, name: str) -> Monitor:
        """Raises: NotFound: no such monitor (the message lists similar names)."""

    @abc.abstractmethod
    def list_monitors(self, project: str, *, offset: int = 0, limit: int | None = None) -> list[Monitor]:
        """Monitors of a project, by name."""

    @abc.abstractmethod
    def update_monitor(
        self, project: str, name: str, *, window_ms: int, reference: Mapping[str, Any], config: Mapping[str, Any],
        state: MonitorState, description: str | None = None, expected_revision: int | None = None,
    ) -> Monitor:
        """Replace the monitor's definition (next revision); results and alerts are kept.

        Raises:
            NotFound: no such monitor.
            AlreadyExists: ``expected_revision`` is given and the monitor has moved past it.
        """

    @abc.abstractmethod
    def delete_monitor(self, project: str, name: str) -> None:
        """Delete a monitor with its results and alerts (its events stay).

        Raises:
            NotFound: no such monitor.
        """

    @abc.abstractmethod
    def record_window(
        self, project: str, name: str, result: MonitorResult, firing: Sequence[AlertSignal] = ()
    ) -> list[Alert]:
        """Record one evaluated window and move the alerts on, in one transaction.

        Every rule in ``firing`` raises an alert, or keeps the monitor's open alert for that rule open
        (counting one more window) instead of raising a second one; every open alert whose rule is not
        in ``firing`` is resolved. The watermark moves to ``result.window_end``. Events are appended:
        ``monitor.window`` always, ``alert.fired`` / ``alert.resolved`` for each change.

        Returns:
            The alerts this window touched, each with its ``change``.
        Raises:
            NotFound: no such monitor.
            AlreadyExists: this window was recorded already.
        """

    @abc.abstractmethod
    def list_monitor_results(
        self, project: str, name: str, *, since: int | None = None, until: int | None = None,
        offset: int = 0, limit: int | None = None,
    ) -> list[MonitorResult]:
        """Results of windows starting in ``[since, until)`` (epoch ms), oldest first.

        Raises:
            NotFound: no such monitor.
        """

    @abc.abstractmethod
    def list_alerts(
        self, project: str, *, monitor: str | None = None, state: AlertState | None = None,
        offset: int = 0, limit: int | None = None,
    ) -> list[Alert]:
        """Alerts of a project (or one monitor), newest first."""


class EventStore(abc.ABC):
    """The project's event log, appended by other store writes (see :meth:`MonitorStore.record_window`)."""

    @abc.abstractmethod
    def list_events(
        self, project: str, *, after: int = 0, kinds: Sequence[str] = (), offset: int = 0, limit: int | None = None
    ) -> list[Event]:
        """Events with an id greater than ``after``, oldest first; ``kinds`` keeps only those kinds
        (a kind ending in ``.*`` keeps its family, e.g. ``alert.*``)."""


#: Store operations whose result can grow without bound: they take ``offset``/``limit``, and the
#: server answers them a page at a time (see :mod:`shipyard.storage._rest_protocol`).
PAGED = frozenset({
    "list_experiments", "get_metric_history", "list_artifacts", "search_registered_models",
    "search_model_versions", "alias_history", "list_deployments", "deployment_history",
    "list_contracts", "list_monitors", "list_feature_definitions", "list_monitor_results", "list_alerts", "list_events",
})


class MetadataStore(
    ExperimentStore, RunStore, LineageStore, LoggedModelStore, RegistryStore, DeploymentStore, ContractStore,
    MonitorStore, EventStore, FeatureRegistryStore,
):
    """Union of the role interfaces, plus housekeeping."""

    #: Optional capabilities, declared as data; the conformance suite reads them.
    capabilities: frozenset[str] = frozenset()

    @property
    @abc.abstractmethod
    def uri(self) -> str:
        """The URI the store was opened with, with any password masked."""

    @abc.abstractmethod
    def info(self) -> dict[str, Any]:
        """Backend, schema revision and record counts, for ``shipyard store info``."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections. The default does nothing."""


class AccessStore(abc.ABC):
    """Users, API tokens (salted hashes only) and the audit log. Deliberately *not* part of
    :class:`MetadataStore`: it is never served by the generic store API, only by the server's
    admin routes."""

    @abc.abstractmethod
    def create_user(self, name: str, is_admin: bool = False) -> User:
        """Raises: AlreadyExists: the name is taken."""

    @abc.abstractmethod
    def get_user(self, name: str) -> User:
        """Raises: NotFound: no such user."""

    @abc.abstractmethod
    def list_users(self) -> list[User]:
        """All users, by name."""

    @abc.abstractmethod
    def create_token(
        self, *, token_id: str, user: str, salt: str, secret_hash: str, project: str | None, role: Role,
        expires_at: int | None = None, description: str | None = None,
    ) -> ApiToken:
        """Store a token's salted hash. Raises: NotFound: no such user. AlreadyExists: the token id is taken."""

    @abc.abstractmethod
    def get_token(self, token_id: str) -> tuple[ApiToken, str, str]:
        """``(token, salt, secret hash)``. Raises: NotFound: no such token."""

    @abc.abstractmethod
    def list_tokens(self, user: str | None = None) -> list[ApiToken]:
        """Tokens (of one user), newest first."""

    @abc.abstractmethod
    def revoke_token(self, token_id: str) -> ApiToken:
        """Raises: NotFound: no such token."""

    @abc.abstractmethod
    def append_audit(
        self, *, actor: str | None, action: str, project: str | None, target: str | None, status: int,
        remote_addr: str | None, detail: Mapping[str, Any] | None = None,
    ) -> None:
        """Record one event of the audit log."""

    @abc.abstractmethod
    def search_audit(
        self, *, actor: str | None = None, action: str | None = None, project: str | None = None,
        since: int | None = None, limit: int = 100, before_id: int | None = None,
    ) -> list[AuditEvent]:
        """Audit events, newest first, at most ``limit`` (≤ 10,000). Page back in time by passing the
        last id seen as ``before_id``."""


class QuotaStore(abc.ABC):
    """Per-project quotas and their usage counters. Like :class:`AccessStore`, served only under the
    admin routes; the server charges usage itself as uploads arrive."""

    @abc.abstractmethod
    def set_quota(self, project: str, kind: str, limit: int | None) -> Quota:
        """Set (``None``: remove) the limit of one quota of a project; usage is kept."""

    @abc.abstractmethod
    def list_quotas(self, project: str | None = None) -> list[Quota]:
        """Quotas (of one project) with their usage, by project and kind."""

    @abc.abstractmethod
    def charge_quota(self, project: str, kind: str, amount: int) -> Quota:
        """Add ``amount`` (negative: release) to the usage, atomically refusing to go over the limit.
        Usage is tracked even where no limit is set, and never goes below zero.

        Raises:
            QuotaExceeded: the project's ``kind`` quota would be exceeded (nothing is charged).
        """
