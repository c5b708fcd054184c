"""Batch assignment on SQLite and the real PostgreSQL: complete, exact, idempotent, chunked.

Also the ``customer_persona`` view and the export of current assignments.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from assign_support import World, build_world
from personamap.adapters.database import catalog_records
from personamap.adapters.database.assignments import (
    CustomerRange,
    production_version,
    read_unassigned,
)
from personamap.adapters.database.models import Base
from personamap.domain.cohort import month_bounds
from personamap.services.batch import assign_batch, cohort_ranges, since_range
from personamap.services.catalog import effective_catalog
from personamap.services.export import export_assignments

pytestmark = pytest.mark.integration
EVERYONE = [CustomerRange()]


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch, engine: Engine, use_database: str) -> World:
    return build_world(monkeypatch)


def _assignments(engine: Engine) -> pd.DataFrame:
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT * FROM assignments ORDER BY customer_id")).all()
        return pd.DataFrame(rows, columns=list(rows[0]._fields) if rows else None)


def _source_table(engine: Engine) -> pd.DataFrame:
    with engine.connect() as connection:
        return pd.read_sql(text("SELECT * FROM customers ORDER BY customer_id"), connection)


def test_the_models_match_the_migrations(engine: Engine) -> None:
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    ours = set(Base.metadata.tables)
    relevant = [d for d in differences if not (d[0] == "remove_table" and d[1].name not in ours)]
    assert relevant == []


def test_every_customer_gets_the_persona_the_in_process_assigner_gives(world: World) -> None:
    engine = world.context.engine
    before = _source_table(engine)
    result = assign_batch(world.context, EVERYONE, chunk_size=700)
    assert (result.selected, result.assigned) == (world.customers, world.customers)
    stored = _assignments(engine).set_index("customer_id")
    _, catalog = effective_catalog(world.context, world.version)
    frame = pd.concat([c.frame for c in world.cohorts], ignore_index=True)
    expected = catalog.assign(frame.drop(columns=["customer_id", "signup_at"]))
    expected.index = frame["customer_id"]
    stored = stored.loc[expected.index]
    assert (stored["persona_id"] == expected["persona_id"]).all()
    assert (stored["fit"] == expected["fit"]).all()
    assert stored["distance"].to_numpy() == pytest.approx(expected["distance"].to_numpy())
    assert stored["confidence"].to_numpy() == pytest.approx(expected["confidence"].to_numpy())
    assert set(stored["catalog_version"]) == {world.version}
    assert set(stored["source"]) == {"batch"}
    pd.testing.assert_frame_equal(_source_table(engine), before)  # the user's table is untouched
    assert int(result.mix["customers"].sum()) == world.customers
    assert sorted(result.mix.index.get_level_values("cohort").unique()) == [
        c.month for c in world.cohorts
    ]


def test_a_rerun_changes_nothing(world: World) -> None:
    engine = world.context.engine
    assign_batch(world.context, EVERYONE)
    first = _assignments(engine)
    again = assign_batch(world.context, EVERYONE)
    assert (again.selected, again.assigned) == (0, 0)
    pd.testing.assert_frame_equal(_assignments(engine), first)


def test_a_cohort_or_a_start_date_selects_only_those_customers(world: World) -> None:
    context = world.context
    march = assign_batch(context, cohort_ranges(["2025-03"], context.cohort_timezone))
    assert march.assigned == len(world.cohorts[2].frame)
    assert list(march.mix.index.get_level_values("cohort").unique()) == ["2025-03"]
    later = assign_batch(context, [since_range("2025-03-01", context.cohort_timezone)])
    assert later.assigned == len(world.cohorts[3].frame) + len(world.cohorts[4].frame)
    assert len(_assignments(context.engine)) == sum(len(c.frame) for c in world.cohorts[2:])


def test_customers_are_read_in_chunks_of_the_chunk_size(world: World) -> None:
    chunks = read_unassigned(
        world.context.engine,
        spec=world.context.spec,
        model_name=world.context.model_name,
        version=world.version,
        customers=CustomerRange(*month_bounds("2025-01")),
        chunk_size=128,
    )
    sizes = [chunk.num_rows for chunk in chunks]
    assert sizes == [128] * 3 + [500 - 3 * 128]


def test_the_view_gives_each_customers_persona_under_production_with_its_current_name(
    world: World,
) -> None:
    context, engine = world.context, world.context.engine
    assign_batch(context, cohort_ranges(["2025-01"], context.cohort_timezone))
    catalog_names = {
        p.persona_id: p.name for p in effective_catalog(context, world.version)[1].personas
    }
    with Session(engine) as session, session.begin():
        catalog_records.rename_persona(
            session,
            model_name=context.model_name,
            version=world.version,
            persona_id=1,
            name="Sustainable Steve",
        )
    with engine.connect() as connection:
        view = pd.read_sql(text("SELECT * FROM customer_persona"), connection)
    assert len(view) == 500
    assert view["customer_id"].is_unique
    expected = {**catalog_names, 1: "Sustainable Steve"}
    assert (view["persona_name"] == view["persona_id"].map(expected)).all()
    assert production_version(engine, model_name=context.model_name) == world.version

    # Production moves on (a version nobody assigned with yet): the view follows it.
    with Session(engine) as session, session.begin():
        catalog_records.record_event(
            session,
            actor="test",
            action="promote",
            model_name=context.model_name,
            from_version=world.version,
            to_version=world.version + 1,
            reason="newer catalog",
        )
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM customer_persona")).scalar() == 0


@pytest.mark.parametrize("file_format", ["csv", "parquet"])
def test_export_writes_the_current_assignments_with_persona_names(
    world: World, tmp_path: Path, file_format: str
) -> None:
    context = world.context
    assign_batch(context, EVERYONE)
    everyone = export_assignments(
        context.engine,
        spec=context.spec,
        model_name=context.model_name,
        path=tmp_path / f"all.{file_format}",
        file_format=file_format,
    )
    assert (everyone.rows, everyone.version) == (world.customers, world.version)
    april = export_assignments(
        context.engine,
        spec=context.spec,
        model_name=context.model_name,
        path=tmp_path / f"april.{file_format}",
        file_format=file_format,
        ranges=cohort_ranges(["2025-04"], context.cohort_timezone),
        chunk_size=100,
    )
    assert april.rows == len(world.cohorts[3].frame)
    path = april.path
    frame = pd.read_csv(path) if file_format == "csv" else pq.read_table(path).to_pandas()
    assert list(frame.columns) == [
        "customer_id",
        "persona_id",
        "persona_name",
        "fit",
        "distance",
        "confidence",
        "catalog_version",
        "assigned_at",
    ]
    assert sorted(frame["customer_id"]) == sorted(world.cohorts[3].frame["customer_id"])
    assert frame["persona_name"].notna().all()
    assert not list(tmp_path.glob(".*.partial"))
