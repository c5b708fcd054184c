"""Dashboard aggregates: persona counts per cohort, and the closest-customers index.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

from personamap.adapters.database.models import UTCDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "persona_cohort_counts",
        sa.Column("model_name", sa.String(length=200), nullable=False),
        sa.Column("catalog_version", sa.Integer(), nullable=False),
        sa.Column("cohort", sa.String(length=7), nullable=False),
        sa.Column("persona_id", sa.Integer(), nullable=False),
        sa.Column("customers", sa.BigInteger(), nullable=False),
        sa.Column("poor_fit", sa.BigInteger(), nullable=False),
        sa.Column("refreshed_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint(
            "model_name",
            "catalog_version",
            "cohort",
            "persona_id",
            name=op.f("pk_persona_cohort_counts"),
        ),
    )
    op.create_index(
        "ix_assignments_persona_distance",
        "assignments",
        ["model_name", "catalog_version", "persona_id", "distance"],
    )


def downgrade() -> None:
    op.drop_index("ix_assignments_persona_distance", table_name="assignments")
    op.drop_table("persona_cohort_counts")
