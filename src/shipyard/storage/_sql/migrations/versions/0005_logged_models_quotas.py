"""Logged models (MLflow 3's model records) and per-project quotas with their usage counters.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "logged_models",
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
    )
    op.create_index("ix_logged_models_experiment", "logged_models", ["experiment_id", "created_at"])
    op.create_index("ix_logged_models_run", "logged_models", ["run_id"])
    op.create_table(
        "project_quotas",
        sa.Column("project", sa.String(256), primary_key=True),
        sa.Column("kind", sa.String(64), primary_key=True),
        sa.Column("max_value", sa.BigInteger, nullable=True),
        sa.Column("used", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("project_quotas")
    op.drop_index("ix_logged_models_run", "logged_models")
    op.drop_index("ix_logged_models_experiment", "logged_models")
    op.drop_table("logged_models")
