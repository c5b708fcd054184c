"""What the dashboard reads from the database: small, indexed queries only.

Keyword-only functions, never a scan of every customer per request: trends and shares come from
``persona_cohort_counts`` (see ``adapters.database.persona_counts``), example customers from the
``(model, version, persona, distance)`` index, and the map from a cheap random sample
(``TABLESAMPLE SYSTEM`` on PostgreSQL).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Engine, Table, inspect, select, text
from sqlalchemy.orm import Session

from personamap.adapters.database.customers import customer_table
from personamap.adapters.database.models import Assignment
from personamap.adapters.database.monitoring_models import MonitoringMetric, MonitoringRun
from personamap.domain.spec import FeatureSpec

SAMPLE_OVERDRAW = 5
"""How many more rows than needed a page sample reads, so the rows kept span many pages."""
SMALL_TABLE_SHARE = 20.0
"""Above this percentage of the table, a sample reads it whole and orders it randomly."""
_ROWS_PER_PAGE_GUESS = 60  # customer rows per 8 kB page, when the table was never analysed


def closest_customers(
    engine: Engine,
    *,
    spec: FeatureSpec,
    model_name: str,
    version: int,
    persona_id: int,
    limit: int = 5,
) -> pd.DataFrame:
    """The customers assigned to a persona with the smallest distance to its centroid.

    Columns: the spec's id column, ``distance``, ``confidence``, ``fit`` and the features.
    Empty when the customers were never assigned in batch (or the table does not exist).
    """
    customers = customer_table(spec)
    assignments: Table = Assignment.__table__  # type: ignore[assignment]
    columns = [spec.id_column, "distance", "confidence", "fit", *spec.feature_names]
    query = (
        select(
            customers.c[spec.id_column],
            assignments.c.distance,
            assignments.c.confidence,
            assignments.c.fit,
            *(customers.c[name] for name in spec.feature_names),
        )
        .select_from(
            assignments.join(customers, customers.c[spec.id_column] == assignments.c.customer_id)
        )
        .where(
            assignments.c.model_name == model_name,
            assignments.c.catalog_version == version,
            assignments.c.persona_id == persona_id,
        )
        .order_by(assignments.c.distance)
        .limit(limit)
    )
    with engine.connect() as connection:
        if not inspect(connection).has_table(spec.table):
            return pd.DataFrame(columns=columns)
        return pd.DataFrame(connection.execute(query).all(), columns=columns)


def sample_customers(
    engine: Engine, *, spec: FeatureSpec, size: int, random_state: int | None = None
) -> pd.DataFrame:
    """About ``size`` customers picked at random (fewer if the table has fewer): the features.

    PostgreSQL reads a random set of pages (``TABLESAMPLE SYSTEM``), a few times more rows than
    needed, and keeps ``size`` of them; a small table (and SQLite) is ordered randomly instead.
    """
    columns = ", ".join(f'"{name}"' for name in spec.feature_names)
    with engine.connect() as connection:
        if not inspect(connection).has_table(spec.table):
            return pd.DataFrame(columns=list(spec.feature_names))
        percent = (
            _sample_percent(connection, spec.table, size)
            if connection.dialect.name == "postgresql"
            else 100.0
        )
        if percent >= SMALL_TABLE_SHARE:
            query = text(f'SELECT {columns} FROM "{spec.table}" ORDER BY random() LIMIT :size')
            rows = connection.execute(query, {"size": size}).all()
        else:
            query = text(
                f'SELECT {columns} FROM "{spec.table}" TABLESAMPLE SYSTEM (CAST(:percent AS real))'
            )
            rows = connection.execute(query, {"percent": percent}).all()
    frame = pd.DataFrame(rows, columns=list(spec.feature_names))
    if len(frame) > size:
        keep = np.random.default_rng(random_state).choice(len(frame), size, replace=False)
        frame = frame.iloc[np.sort(keep)].reset_index(drop=True)
    for feature in spec.numeric:
        frame[feature.name] = frame[feature.name].astype("float64")
    return frame


def _sample_percent(connection: Connection, table: str, size: int) -> float:
    """The percentage of a PostgreSQL table's pages that holds about ``size`` times the overdraw."""
    query = text(
        "SELECT c.reltuples, pg_relation_size(c.oid) / current_setting('block_size')::int "
        "FROM pg_class AS c WHERE c.oid = to_regclass(:name)"
    )
    found = connection.execute(query, {"name": f'"{table}"'}).one_or_none()
    if found is None:
        return 100.0
    estimate, pages = float(found[0]), int(found[1])
    rows = estimate if estimate > 0 else pages * _ROWS_PER_PAGE_GUESS
    if rows <= 0:
        return 100.0
    return min(100.0, 100.0 * SAMPLE_OVERDRAW * size / rows)


def monitoring_runs(engine: Engine, *, model_name: str, limit: int = 200) -> list[MonitoringRun]:
    """The latest monitoring runs of the model, newest first."""
    query = (
        select(MonitoringRun)
        .where(MonitoringRun.model_name == model_name)
        .order_by(MonitoringRun.started_at.desc(), MonitoringRun.id.desc())
        .limit(limit)
    )
    with Session(engine) as session:
        runs = list(session.scalars(query))
        session.expunge_all()
    return runs


def feature_metrics(engine: Engine, *, run_ids: Sequence[int]) -> pd.DataFrame:
    """The feature drift metrics of some runs: run id, feature, effect, threshold, drifted."""
    columns = ["run_id", "name", "effect", "threshold", "drifted"]
    if not run_ids:
        return pd.DataFrame(columns=columns)
    query = select(*(getattr(MonitoringMetric, c) for c in columns)).where(
        MonitoringMetric.run_id.in_(list(run_ids)), MonitoringMetric.kind == "feature"
    )
    with engine.connect() as connection:
        return pd.DataFrame(connection.execute(query).all(), columns=columns)
