"""Tables and indexes the dashboard reads (see migration 0005).

``persona_cohort_counts`` holds, per catalog version, how many customers of each cohort each
persona has, so that pages answer from a few hundred rows instead of scanning every assignment.
It is refreshed by :func:`personamap.adapters.database.persona_counts.refresh_persona_counts`.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from personamap.adapters.database.models import Assignment, Base, UTCDateTime, utcnow


class PersonaCohortCount(Base):
    """Customers of one cohort assigned to one persona by one catalog version."""

    __tablename__ = "persona_cohort_counts"

    model_name: Mapped[str] = mapped_column(String(200), primary_key=True)
    catalog_version: Mapped[int] = mapped_column(Integer, primary_key=True)
    cohort: Mapped[str] = mapped_column(String(7), primary_key=True)
    """Signup month, ``YYYY-MM``, in the configured cohort time zone."""
    persona_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customers: Mapped[int] = mapped_column(BigInteger)
    poor_fit: Mapped[int] = mapped_column(BigInteger)
    """How many of them no persona describes well (``fit = 'poor'``)."""
    refreshed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


CLOSEST_CUSTOMERS_INDEX = Index(
    "ix_assignments_persona_distance",
    Assignment.model_name,
    Assignment.catalog_version,
    Assignment.persona_id,
    Assignment.distance,
)
"""Serves "the customers closest to a persona's centroid" from the index alone."""
