"""Table definitions (SQLAlchemy Core). The Alembic migrations are the source of truth for the
database schema; a test checks that these tables and the migrated schema agree."""

from __future__ import annotations

import sqlalchemy as sa

#: Alembic revision this code expects. A test checks it equals the migrations' head.
SCHEMA_HEAD = "0008"

metadata = sa.MetaData()

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

projects = sa.Table(
    "projects",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(256), nullable=False, unique=True),
    sa.Column("created_at", sa.BigInteger, nullable=False),
)

experiments = sa.Table(
    "experiments",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("project_id", sa.BigInteger, sa.ForeignKey("projects.id"), nullable=False),
    sa.Column("name", sa.String(256), nullable=False),
    sa.Column("lifecycle", sa.String(16), nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("updated_at", sa.BigInteger, nullable=False),
    sa.UniqueConstraint("project_id", "name", name="uq_experiments_project_name"),
)

experiment_tags = sa.Table(
    "experiment_tags",
    metadata,
    sa.Column("experiment_id", sa.BigInteger, sa.ForeignKey("experiments.id"), primary_key=True),
    sa.Column("key", sa.String(250), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

runs = sa.Table(
    "runs",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("project_id", sa.BigInteger, sa.ForeignKey("projects.id"), nullable=False),
    sa.Column("experiment_id", sa.BigInteger, sa.ForeignKey("experiments.id"), nullable=False),
    sa.Column("name", sa.String(256), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("start_time", sa.BigInteger, nullable=False),
    sa.Column("end_time", sa.BigInteger, nullable=True),
    sa.Column("heartbeat_at", sa.BigInteger, nullable=True),
    sa.Column("heartbeat_timeout_ms", sa.BigInteger, nullable=True),
    sa.Column("user", sa.String(256), nullable=True),
    sa.Column("host", sa.String(256), nullable=True),
    sa.Column("parent_run_id", sa.String(32), nullable=True),
    sa.Column("lifecycle", sa.String(16), nullable=False),
    sa.Column("artifact_uri", sa.String(1000), nullable=False),
    sa.Column("git_commit", sa.String(64), nullable=True),
    sa.Column("git_dirty", sa.Boolean, nullable=True),
    sa.Column("source", sa.String(1000), nullable=True),
    sa.Column("failure", sa.Text, nullable=True),
    sa.Column("environment", sa.Text, nullable=True),
    sa.Index("ix_runs_experiment_start", "experiment_id", "start_time"),
    sa.Index("ix_runs_project", "project_id"),
    sa.Index("ix_runs_parent", "parent_run_id"),
)

params = sa.Table(
    "params",
    metadata,
    sa.Column("run_id", sa.String(32), sa.ForeignKey("runs.id"), primary_key=True),
    sa.Column("key", sa.String(250), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

tags = sa.Table(
    "tags",
    metadata,
    sa.Column("run_id", sa.String(32), sa.ForeignKey("runs.id"), primary_key=True),
    sa.Column("key", sa.String(250), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

metrics = sa.Table(
    "metrics",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(32), sa.ForeignKey("runs.id"), nullable=False),
    sa.Column("key", sa.String(250), nullable=False),
    sa.Column("value", sa.Double, nullable=False),
    sa.Column("is_nan", sa.Boolean, nullable=False),
    sa.Column("step", sa.BigInteger, nullable=False),
    sa.Column("timestamp", sa.BigInteger, nullable=False),
    sa.Index("ix_metrics_run_key_step", "run_id", "key", "step"),
)

latest_metrics = sa.Table(
    "latest_metrics",
    metadata,
    sa.Column("run_id", sa.String(32), sa.ForeignKey("runs.id"), primary_key=True),
    sa.Column("key", sa.String(250), primary_key=True),
    sa.Column("value", sa.Double, nullable=False),
    sa.Column("is_nan", sa.Boolean, nullable=False),
    sa.Column("step", sa.BigInteger, nullable=False),
    sa.Column("timestamp", sa.BigInteger, nullable=False),
)

# -- revision 0002: lineage -------------------------------------------------------------------

datasets = sa.Table(
    "datasets",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("project_id", sa.BigInteger, sa.ForeignKey("projects.id"), nullable=False),
    sa.Column("name", sa.String(256), nullable=False),
    sa.Column("digest", sa.String(64), nullable=False),
    sa.Column("num_rows", sa.BigInteger, nullable=False),
    sa.Column("schema", sa.Text, nullable=False),
    sa.Column("profile", sa.Text, nullable=False),
    sa.Column("source", sa.Text, nullable=True),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.UniqueConstraint("project_id", "name", "digest", name="uq_datasets_project_name_digest"),
)

run_datasets = sa.Table(
    "run_datasets",
    metadata,
    sa.Column("run_id", sa.String(32), sa.ForeignKey("runs.id"), primary_key=True),
    sa.Column("dataset_id", sa.BigInteger, sa.ForeignKey("datasets.id"), primary_key=True),
    sa.Column("role", sa.String(64), primary_key=True),
    sa.Column("direction", sa.String(8), primary_key=True),
)

artifacts = sa.Table(
    "artifacts",
    metadata,
    sa.Column("run_id", sa.String(32), sa.ForeignKey("runs.id"), primary_key=True),
    sa.Column("path", sa.String(1000), primary_key=True),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
)

# -- revision 0003: model registry --------------------------------------------------------------

registered_models = sa.Table(
    "registered_models",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("project_id", sa.BigInteger, sa.ForeignKey("projects.id"), nullable=False),
    sa.Column("name", sa.String(256), nullable=False),
    sa.Column("description", sa.Text, nullable=True),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("updated_at", sa.BigInteger, nullable=False),
    sa.UniqueConstraint("project_id", "name", name="uq_registered_models_project_name"),
)

registered_model_tags = sa.Table(
    "registered_model_tags",
    metadata,
    sa.Column("model_id", sa.BigInteger, sa.ForeignKey("registered_models.id"), primary_key=True),
    sa.Column("key", sa.String(250), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

model_versions = sa.Table(
    "model_versions",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("model_id", sa.BigInteger, sa.ForeignKey("registered_models.id"), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("status_message", sa.Text, nullable=True),
    sa.Column("source", sa.String(1000), nullable=False),
    sa.Column("storage_uri", sa.String(1000), nullable=False),
    sa.Column("run_id", sa.String(32), sa.ForeignKey("runs.id"), nullable=True),
    sa.Column("flavor", sa.String(64), nullable=False),
    sa.Column("manifest", sa.Text, nullable=False),
    sa.Column("manifest_sha256", sa.String(64), nullable=False),
    sa.Column("signature", sa.Text, nullable=False),
    sa.Column("package_signature", sa.String(256), nullable=True),
    sa.Column("description", sa.Text, nullable=True),
    sa.Column("created_by", sa.String(256), nullable=True),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("updated_at", sa.BigInteger, nullable=False),
    sa.UniqueConstraint("model_id", "version", name="uq_model_versions_model_version"),
    sa.Index("ix_model_versions_run", "run_id"),
)

model_version_tags = sa.Table(
    "model_version_tags",
    metadata,
    sa.Column("version_id", sa.BigInteger, sa.ForeignKey("model_versions.id"), primary_key=True),
    sa.Column("key", sa.String(250), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

model_aliases = sa.Table(
    "model_aliases",
    metadata,
    sa.Column("model_id", sa.BigInteger, sa.ForeignKey("registered_models.id"), primary_key=True),
    sa.Column("alias", sa.String(256), primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("updated_at", sa.BigInteger, nullable=False),
)

alias_events = sa.Table(
    "alias_events",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("model_id", sa.BigInteger, sa.ForeignKey("registered_models.id"), nullable=False),
    sa.Column("alias", sa.String(256), nullable=False),
    sa.Column("version", sa.Integer, nullable=True),
    sa.Column("previous_version", sa.Integer, nullable=True),
    sa.Column("actor", sa.String(256), nullable=True),
    sa.Column("reason", sa.Text, nullable=True),
    sa.Column("at", sa.BigInteger, nullable=False),
    sa.Index("ix_alias_events_model_alias_at", "model_id", "alias", "at"),
)

# -- revision 0004: access -------------------------------------------------------------------------

users = sa.Table(
    "users",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(256), nullable=False, unique=True),
    sa.Column("is_admin", sa.Boolean, nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
)

api_tokens = sa.Table(
    "api_tokens",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("user_id", sa.BigInteger, sa.ForeignKey("users.id"), nullable=False),
    sa.Column("salt", sa.String(64), nullable=False),
    sa.Column("secret_hash", sa.String(64), nullable=False),
    sa.Column("project", sa.String(256), nullable=True),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("description", sa.Text, nullable=True),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("expires_at", sa.BigInteger, nullable=True),
    sa.Column("revoked_at", sa.BigInteger, nullable=True),
)

audit_events = sa.Table(
    "audit_events",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("at", sa.BigInteger, nullable=False),
    sa.Column("actor", sa.String(256), nullable=True),
    sa.Column("action", sa.String(128), nullable=False),
    sa.Column("project", sa.String(256), nullable=True),
    sa.Column("target", sa.String(1000), nullable=True),
    sa.Column("status", sa.Integer, nullable=False),
    sa.Column("remote_addr", sa.String(64), nullable=True),
    sa.Column("detail", sa.Text, nullable=True),
    sa.Index("ix_audit_events_at", "at"),
)

# -- revision 0005: logged models, quotas ----------------------------------------------------------

logged_models = sa.Table(
    "logged_models",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("project_id", sa.BigInteger, sa.ForeignKey("projects.id"), nullable=False),
    sa.Column("experiment_id", sa.BigInteger, sa.ForeignKey("experiments.id"), nullable=False),
    sa.Column("run_id", sa.String(32), sa.ForeignKey("runs.id"), nullable=True),
    sa.Column("name", sa.String(256), nullable=False),
    sa.Column("artifact_uri", sa.String(1000), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("status_message", sa.Text, nullable=True),
    sa.Column("model_type", sa.String(256), nullable=True),
    sa.Column("created_by", sa.String(256), nullable=True),
    sa.Column("tags", sa.Text, nullable=False),
    sa.Column("params", sa.Text, nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("updated_at", sa.BigInteger, nullable=False),
    sa.Index("ix_logged_models_experiment", "experiment_id", "created_at"),
    sa.Index("ix_logged_models_run", "run_id"),
)

project_quotas = sa.Table(
    "project_quotas",
    metadata,
    sa.Column("project", sa.String(256), primary_key=True),
    sa.Column("kind", sa.String(64), primary_key=True),
    sa.Column("max_value", sa.BigInteger, nullable=True),
    sa.Column("used", sa.BigInteger, nullable=False),
)

# -- revision 0006: deployments --------------------------------------------------------------------

deployments = sa.Table(
    "deployments",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("project_id", sa.BigInteger, sa.ForeignKey("projects.id"), nullable=False),
    sa.Column("name", sa.String(256), nullable=False),
    sa.Column("revision", sa.Integer, nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("routes", sa.Text, nullable=False),
    sa.Column("shadow", sa.Text, nullable=False),
    sa.Column("sticky_key", sa.String(256), nullable=True),
    sa.Column("config", sa.Text, nullable=False),
    sa.Column("description", sa.Text, nullable=True),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("updated_at", sa.BigInteger, nullable=False),
    sa.UniqueConstraint("project_id", "name", name="uq_deployments_project_name"),
)

deployment_events = sa.Table(
    "deployment_events",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("deployment_id", sa.BigInteger, sa.ForeignKey("deployments.id"), nullable=False),
    sa.Column("revision", sa.Integer, nullable=False),
    sa.Column("action", sa.String(32), nullable=False),
    sa.Column("actor", sa.String(256), nullable=True),
    sa.Column("reason", sa.Text, nullable=True),
    sa.Column("at", sa.BigInteger, nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("routes", sa.Text, nullable=False),
    sa.Column("shadow", sa.Text, nullable=False),
    sa.Column("sticky_key", sa.String(256), nullable=True),
    sa.Column("config", sa.Text, nullable=False),
    sa.UniqueConstraint("deployment_id", "revision", name="uq_deployment_events_revision"),
    sa.Index("ix_deployment_events_at", "deployment_id", "at"),
)

# -- revision 0007: contracts, monitors, alerts, events ----------------------------------------------

contracts = sa.Table(
    "contracts",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("project_id", sa.BigInteger, sa.ForeignKey("projects.id"), nullable=False),
    sa.Column("name", sa.String(256), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("spec", sa.Text, nullable=False),
    sa.Column("description", sa.Text, nullable=True),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.UniqueConstraint("project_id", "name", "version", name="uq_contracts_version"),
)

monitors = sa.Table(
    "monitors",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("project_id", sa.BigInteger, sa.ForeignKey("projects.id"), nullable=False),
    sa.Column("name", sa.String(256), nullable=False),
    sa.Column("deployment", sa.String(256), nullable=False),
    sa.Column("revision", sa.Integer, nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("window_ms", sa.BigInteger, nullable=False),
    sa.Column("watermark", sa.BigInteger, nullable=True),
    sa.Column("reference", sa.Text, nullable=False),
    sa.Column("config", sa.Text, nullable=False),
    sa.Column("description", sa.Text, nullable=True),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("updated_at", sa.BigInteger, nullable=False),
    sa.UniqueConstraint("project_id", "name", name="uq_monitors_project_name"),
)

monitor_results = sa.Table(
    "monitor_results",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("monitor_id", sa.BigInteger, sa.ForeignKey("monitors.id"), nullable=False),
    sa.Column("window_start", sa.BigInteger, nullable=False),
    sa.Column("window_end", sa.BigInteger, nullable=False),
    sa.Column("rows", sa.BigInteger, nullable=False),
    sa.Column("labelled", sa.BigInteger, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("computed_at", sa.BigInteger, nullable=False),
    sa.Column("metrics", sa.Text, nullable=False),
    sa.Column("detail", sa.Text, nullable=False),
    sa.UniqueConstraint("monitor_id", "window_start", name="uq_monitor_results_window"),
)

alerts = sa.Table(
    "alerts",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("project_id", sa.BigInteger, sa.ForeignKey("projects.id"), nullable=False),
    sa.Column("monitor_id", sa.BigInteger, sa.ForeignKey("monitors.id"), nullable=False),
    sa.Column("monitor", sa.String(256), nullable=False),
    sa.Column("rule", sa.String(256), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("severity", sa.String(16), nullable=False),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("value", sa.Double, nullable=True),
    sa.Column("windows", sa.Integer, nullable=False),
    sa.Column("opened_at", sa.BigInteger, nullable=False),
    sa.Column("updated_at", sa.BigInteger, nullable=False),
    sa.Column("resolved_at", sa.BigInteger, nullable=True),
    sa.Index("ix_alerts_monitor_state", "monitor_id", "state"),
    sa.Index("ix_alerts_project", "project_id", "id"),
)

events = sa.Table(
    "events",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("project_id", sa.BigInteger, sa.ForeignKey("projects.id"), nullable=False),
    sa.Column("kind", sa.String(64), nullable=False),
    sa.Column("subject", sa.String(512), nullable=False),
    sa.Column("at", sa.BigInteger, nullable=False),
    sa.Column("payload", sa.Text, nullable=False),
    sa.Index("ix_events_project", "project_id", "id"),
)

# -- revision 0008: feature definitions and materialization watermarks --------------------------------

feature_definitions = sa.Table(
    "feature_definitions",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("project_id", sa.BigInteger, sa.ForeignKey("projects.id"), nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("name", sa.String(256), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("digest", sa.String(64), nullable=False),
    sa.Column("spec", sa.Text, nullable=False),
    sa.Column("deleted", sa.Boolean, nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.UniqueConstraint("project_id", "kind", "name", "version", name="uq_feature_definitions_version"),
)

feature_materializations = sa.Table(
    "feature_materializations",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("project_id", sa.BigInteger, sa.ForeignKey("projects.id"), nullable=False),
    sa.Column("view", sa.String(256), nullable=False),
    sa.Column("view_version", sa.Integer, nullable=False),
    sa.Column("watermark", sa.BigInteger, nullable=False),
    sa.Column("rows", sa.BigInteger, nullable=False),
    sa.Column("updated_at", sa.BigInteger, nullable=False),
    sa.UniqueConstraint("project_id", "view", name="uq_feature_materializations_view"),
)
