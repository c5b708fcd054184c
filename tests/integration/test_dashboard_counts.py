"""The dashboard's aggregates: persona counts per cohort, refreshed set-based from assignments."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from sqlalchemy import Engine

from personamap.adapters.database.assignments import write_assignments
from personamap.adapters.database.models import utcnow
from personamap.adapters.database.persona_counts import (
    read_persona_counts,
    refresh_persona_counts,
)
from personamap.domain.cohort import cohort_of
from personamap.domain.spec import load_spec
from personamap.domain.synthetic import generate_cohorts, load_personas
from personamap.services.generate import ingest_cohorts
from personamap.services.ingest import frame_fingerprint, ingest_frame

pytestmark = pytest.mark.integration
SPEC = load_spec("anonymised")


def _assign_randomly(engine: Engine, ids: pd.Series, *, version: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = pd.DataFrame(
        {
            "customer_id": ids.astype(str).to_numpy(),
            "persona_id": rng.integers(1, 4, len(ids)).astype(np.int32),
            "distance": rng.random(len(ids)),
            "confidence": rng.random(len(ids)),
            "fit": np.where(rng.random(len(ids)) < 0.2, "poor", "good"),
        }
    )
    with engine.begin() as connection:
        write_assignments(
            connection,
            model_name="personamap",
            version=version,
            rows=pa.Table.from_pandas(rows, preserve_index=False),
            source="batch",
            assigned_at=utcnow(),
        )
    return rows


def _expected(customers: pd.DataFrame, rows: pd.DataFrame, timezone: str) -> pd.DataFrame:
    months = cohort_of(customers[SPEC.timestamp_column], timezone)
    joined = rows.assign(
        cohort=months.set_axis(customers[SPEC.id_column].astype(str))
        .loc[rows["customer_id"]]
        .to_numpy()
    )
    grouped = joined.groupby(["cohort", "persona_id"]).agg(
        customers=("customer_id", "size"), poor_fit=("fit", lambda f: int((f == "poor").sum()))
    )
    return grouped.reset_index().astype({"persona_id": "int64", "poor_fit": "int64"})


def test_counts_equal_a_recount_of_the_assignments_per_cohort_and_persona(engine: Engine) -> None:
    cohorts = generate_cohorts(
        SPEC, load_personas(SPEC), ["2025-01", "2025-02", "2025-03"], n_per_month=150
    )
    ingest_cohorts(cohorts, SPEC, engine)
    customers = pd.concat([c.frame for c in cohorts], ignore_index=True)
    customers[SPEC.timestamp_column] = pd.to_datetime(
        customers[SPEC.timestamp_column], utc=True, format="ISO8601"
    )
    rows = _assign_randomly(engine, customers[SPEC.id_column], version=1, seed=1)
    _assign_randomly(engine, customers[SPEC.id_column], version=2, seed=2)

    written = refresh_persona_counts(
        engine, spec=SPEC, model_name="personamap", version=1, timezone="UTC"
    )
    counts = read_persona_counts(engine, model_name="personamap", version=1)

    expected = _expected(customers, rows, "UTC")
    assert written == len(expected)
    pd.testing.assert_frame_equal(counts.frame, expected, check_dtype=False)
    assert counts.frame["customers"].sum() == len(customers)
    assert counts.refreshed_at is not None
    assert counts.refreshed_at.tzinfo is not None
    assert read_persona_counts(engine, model_name="personamap", version=3).empty


def test_a_refresh_replaces_the_counts_of_its_version_only(engine: Engine) -> None:
    cohorts = generate_cohorts(SPEC, load_personas(SPEC), ["2025-01"], n_per_month=100)
    ingest_cohorts(cohorts, SPEC, engine)
    ids = cohorts[0].frame[SPEC.id_column]
    _assign_randomly(engine, ids[:50], version=1, seed=1)
    _assign_randomly(engine, ids, version=2, seed=2)
    for version in (1, 2):
        refresh_persona_counts(
            engine, spec=SPEC, model_name="personamap", version=version, timezone="UTC"
        )
    _assign_randomly(engine, ids[50:], version=1, seed=3)

    refresh_persona_counts(engine, spec=SPEC, model_name="personamap", version=1, timezone="UTC")
    again = refresh_persona_counts(
        engine, spec=SPEC, model_name="personamap", version=1, timezone="UTC"
    )

    first = read_persona_counts(engine, model_name="personamap", version=1).frame
    second = read_persona_counts(engine, model_name="personamap", version=2).frame
    assert first["customers"].sum() == 100
    assert second["customers"].sum() == 100
    assert again == len(first)


def test_cohorts_are_cut_in_the_configured_time_zone(engine: Engine, tmp_path: Path) -> None:
    frame = generate_cohorts(SPEC, load_personas(SPEC), ["2025-01"], n_per_month=3)[0].frame
    # 23:30 UTC on 31 January is already February in Berlin; 22:30 is not.
    frame[SPEC.timestamp_column] = [
        "2025-01-31T23:30:00Z",
        "2025-01-31T22:30:00Z",
        "2025-01-15T12:00:00Z",
    ]
    ingest_frame(
        frame,
        source=tmp_path / "edge.csv",
        fingerprint=frame_fingerprint(frame),
        spec=SPEC,
        engine=engine,
        rejects_path=None,
    )
    _assign_randomly(engine, frame[SPEC.id_column], version=1, seed=1)

    refresh_persona_counts(
        engine, spec=SPEC, model_name="personamap", version=1, timezone="Europe/Berlin"
    )
    berlin = read_persona_counts(engine, model_name="personamap", version=1).frame
    refresh_persona_counts(engine, spec=SPEC, model_name="personamap", version=1, timezone="UTC")
    utc = read_persona_counts(engine, model_name="personamap", version=1).frame

    assert berlin.groupby("cohort")["customers"].sum().to_dict() == {"2025-01": 2, "2025-02": 1}
    assert utc.groupby("cohort")["customers"].sum().to_dict() == {"2025-01": 3}


def test_nothing_is_counted_before_customers_or_assignments_exist(engine: Engine) -> None:
    assert (
        refresh_persona_counts(
            engine, spec=SPEC, model_name="personamap", version=1, timezone="UTC"
        )
        == 0
    )
    counts = read_persona_counts(engine, model_name="personamap", version=1)
    assert counts.empty
    assert counts.refreshed_at is None


def test_refreshes_at_the_same_time_take_turns(engine: Engine) -> None:
    cohorts = generate_cohorts(SPEC, load_personas(SPEC), ["2025-01", "2025-02"], n_per_month=200)
    ingest_cohorts(cohorts, SPEC, engine)
    ids = pd.concat([c.frame[SPEC.id_column] for c in cohorts], ignore_index=True)
    _assign_randomly(engine, ids, version=1, seed=1)

    def refresh(_: int) -> int:
        return refresh_persona_counts(
            engine, spec=SPEC, model_name="personamap", version=1, timezone="UTC"
        )

    with ThreadPoolExecutor(max_workers=4) as pool:
        written = list(pool.map(refresh, range(8)))

    counts = read_persona_counts(engine, model_name="personamap", version=1).frame
    assert len(set(written)) == 1
    assert counts["customers"].sum() == 400
