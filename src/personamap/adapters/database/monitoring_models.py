"""Tables of monitoring runs and their per-metric results (see migration 0004)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Double, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from personamap.adapters.database.models import Base, UTCDateTime, utcnow


class MonitoringRun(Base):
    """One comparison of a cohort with the reference cohort, and what followed from it."""

    __tablename__ = "monitoring_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    model_name: Mapped[str] = mapped_column(String(200))
    catalog_version: Mapped[int] = mapped_column(Integer)
    spec_name: Mapped[str] = mapped_column(String(200))
    reference_cohort: Mapped[str] = mapped_column(String(40))
    current_cohort: Mapped[str] = mapped_column(String(40), index=True)
    n_reference: Mapped[int] = mapped_column(Integer)
    n_current: Mapped[int] = mapped_column(Integer)
    drifted: Mapped[bool] = mapped_column(Boolean)
    reasons: Mapped[list[str]] = mapped_column(JSON, default=list)
    summary: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    report_path: Mapped[str | None] = mapped_column(Text, nullable=True)
    alert: Mapped[str] = mapped_column(String(20), default="none")
    candidate_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class MonitoringMetric(Base):
    """One drift metric of a monitoring run."""

    __tablename__ = "monitoring_metrics"

    run_id: Mapped[int] = mapped_column(
        ForeignKey("monitoring_runs.id", ondelete="CASCADE"), primary_key=True
    )
    kind: Mapped[str] = mapped_column(String(20), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    test: Mapped[str] = mapped_column(String(20))
    statistic: Mapped[float] = mapped_column(Double)
    p_value: Mapped[float] = mapped_column(Double)
    effect_name: Mapped[str] = mapped_column(String(40))
    effect: Mapped[float] = mapped_column(Double)
    threshold: Mapped[float] = mapped_column(Double)
    psi: Mapped[float] = mapped_column(Double)
    drifted: Mapped[bool] = mapped_column(Boolean)
