"""Feature store: entity and feature-view definitions (versioned) and materialization watermarks.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "feature_definitions",
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
    op.create_table(
        "feature_materializations",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("project_id", sa.BigInteger, sa.ForeignKey("projects.id"), nullable=False),
        sa.Column("view", sa.String(256), nullable=False),
        sa.Column("view_version", sa.Integer, nullable=False),
        sa.Column("watermark", sa.BigInteger, nullable=False),
        sa.Column("rows", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("project_id", "view", name="uq_feature_materializations_view"),
    )


def downgrade() -> None:
    op.drop_table("feature_materializations")
    op.drop_table("feature_definitions")
