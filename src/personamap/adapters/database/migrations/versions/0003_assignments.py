"""Assignments and the customer_persona view.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04

``customer_persona`` gives each customer's assignment under the production catalog, with the
persona's current name. The production version is the ``to_version`` of the model's latest
``promote`` event in ``model_events``: personamap records that event in the same place, and in
the same transaction, as the rest of its audit trail whenever it moves the ``production``
alias, so the database knows the served version without asking MLflow. Plain SQL, the same on
SQLite and PostgreSQL.
"""

import sqlalchemy as sa
from alembic import op

from personamap.adapters.database.models import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

CUSTOMER_PERSONA = """
CREATE VIEW customer_persona AS
SELECT
    a.customer_id,
    a.persona_id,
    p.name AS persona_name,
    a.fit,
    a.distance,
    a.confidence,
    a.model_name,
    a.catalog_version,
    a.assigned_at
FROM assignments AS a
JOIN (
    SELECT promoted.model_name, promoted.to_version AS catalog_version
    FROM model_events AS promoted
    WHERE promoted.action = 'promote' AND promoted.id = (
        SELECT max(later.id) FROM model_events AS later
        WHERE later.model_name = promoted.model_name AND later.action = 'promote'
    )
) AS production
    ON production.model_name = a.model_name
    AND production.catalog_version = a.catalog_version
LEFT JOIN catalog_personas AS p
    ON p.model_name = a.model_name
    AND p.catalog_version = a.catalog_version
    AND p.persona_id = a.persona_id
"""


def upgrade() -> None:
    op.create_table(
        "assignments",
        sa.Column("model_name", sa.String(length=200), nullable=False),
        sa.Column("catalog_version", sa.Integer(), nullable=False),
        sa.Column(
            "customer_id",
            sa.Text().with_variant(sa.Text(collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column("persona_id", sa.Integer(), nullable=False),
        sa.Column("distance", sa.Double(), nullable=False),
        sa.Column("confidence", sa.Double(), nullable=False),
        sa.Column("fit", sa.String(length=4), nullable=False),
        sa.Column("source", sa.String(length=10), nullable=False),
        sa.Column("assigned_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint(
            "model_name", "catalog_version", "customer_id", name=op.f("pk_assignments")
        ),
    )
    op.execute(CUSTOMER_PERSONA)


def downgrade() -> None:
    op.execute("DROP VIEW customer_persona")
    op.drop_table("assignments")
