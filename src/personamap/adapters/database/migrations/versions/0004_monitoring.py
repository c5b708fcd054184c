"""Monitoring runs and their metrics.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

from personamap.adapters.database.models import UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "monitoring_runs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("model_name", sa.String(length=200), nullable=False),
        sa.Column("catalog_version", sa.Integer(), nullable=False),
        sa.Column("spec_name", sa.String(length=200), nullable=False),
        sa.Column("reference_cohort", sa.String(length=40), nullable=False),
        sa.Column("current_cohort", sa.String(length=40), nullable=False),
        sa.Column("n_reference", sa.Integer(), nullable=False),
        sa.Column("n_current", sa.Integer(), nullable=False),
        sa.Column("drifted", sa.Boolean(), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("summary", sa.JSON(), nullable=False),
        sa.Column("report_path", sa.Text(), nullable=True),
        sa.Column("alert", sa.String(length=20), nullable=False),
        sa.Column("candidate_version", sa.Integer(), nullable=True),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_monitoring_runs")),
    )
    op.create_index(
        op.f("ix_monitoring_runs_current_cohort"), "monitoring_runs", ["current_cohort"]
    )
    op.create_table(
        "monitoring_metrics",
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("test", sa.String(length=20), nullable=False),
        sa.Column("statistic", sa.Double(), nullable=False),
        sa.Column("p_value", sa.Double(), nullable=False),
        sa.Column("effect_name", sa.String(length=40), nullable=False),
        sa.Column("effect", sa.Double(), nullable=False),
        sa.Column("threshold", sa.Double(), nullable=False),
        sa.Column("psi", sa.Double(), nullable=False),
        sa.Column("drifted", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["monitoring_runs.id"],
            name=op.f("fk_monitoring_metrics_run_id_monitoring_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("run_id", "kind", "name", name=op.f("pk_monitoring_metrics")),
    )


def downgrade() -> None:
    op.drop_table("monitoring_metrics")
    op.drop_index(op.f("ix_monitoring_runs_current_cohort"), table_name="monitoring_runs")
    op.drop_table("monitoring_runs")
