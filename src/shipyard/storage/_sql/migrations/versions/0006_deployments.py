"""Deployments (routes, shadows, sticky key, config, state) and their event history.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "deployments",
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
    op.create_table(
        "deployment_events",
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
    )
    op.create_index("ix_deployment_events_at", "deployment_events", ["deployment_id", "at"])


def downgrade() -> None:
    op.drop_index("ix_deployment_events_at", "deployment_events")
    op.drop_table("deployment_events")
    op.drop_table("deployments")
