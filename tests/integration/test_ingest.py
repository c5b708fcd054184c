"""Ingest loads exactly the good rows, explains every bad one, and is idempotent and atomic.

Runs on SQLite and on the real PostgreSQL (the ``engine`` fixture is parametrised).
"""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import Engine, inspect, select, text
from sqlalchemy.orm import Session

from personamap.adapters.database.models import IngestBatch
from personamap.domain.spec import load_spec
from personamap.errors import IngestError
from personamap.services.ingest import ingest_file

SPEC = load_spec("survey")
GOOD = {
    "signup_at": "2025-01-03T10:00:00-05:00",
    "age": "34",
    "household_income": "61.5",
    "household_size": "3",
    "sustainability_attitude": "4",
    "digital_affinity": "7.2",
    "price_sensitivity": "3.1",
    "purchases_per_month": "5",
    "avg_basket_value": "42.0",
    "preferred_channel": "online",
    "region": "north",
}
BAD = [  # (changes, expected reason)
    ({"customer_id": "B1", "age": "thirty"}, "age: 'thirty' is not a number"),
    ({"customer_id": "B2", "household_income": "900"}, "household_income: 900 is out of range"),
    ({"customer_id": "B3", "preferred_channel": "telegram"}, "'telegram' is not one of"),
    ({"customer_id": ""}, "customer_id: missing id"),
    ({"customer_id": "G1", "age": "40"}, "customer_id: duplicate id 'G1' (first on row 1)"),
]


def _write(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=list(SPEC.columns))
        writer.writeheader()
        writer.writerows(rows)
    return path


@pytest.fixture
def mixed_file(tmp_path: Path) -> Path:
    good = [{**GOOD, "customer_id": f"G{i}"} for i in range(1, 8)]
    bad = [{**GOOD, **changes} for changes, _ in BAD]
    return _write(tmp_path / "customers.csv", [good[0], *bad[:3], *good[1:], *bad[3:]])


def _ids(engine: Engine) -> list[str]:
    with engine.connect() as connection:
        if not inspect(connection).has_table(SPEC.table):
            return []
        rows = connection.execute(text(f"SELECT customer_id FROM {SPEC.table} ORDER BY 1"))
        return [r[0] for r in rows]


def test_ingest_loads_exactly_the_good_rows_and_writes_every_bad_one_with_its_reason(
    engine: Engine, mixed_file: Path
) -> None:
    result = ingest_file(mixed_file, spec=SPEC, engine=engine)

    assert _ids(engine) == [f"G{i}" for i in range(1, 8)]
    assert (result.rows_total, result.rows_loaded, result.rows_rejected) == (12, 7, 5)
    assert result.rejects_path == mixed_file.with_name("customers.rejects.csv")
    rejects = pd.read_csv(result.rejects_path, dtype=str, keep_default_na=False)
    assert rejects["row"].tolist() == ["2", "3", "4", "11", "12"]
    for (_, expected), reason in zip(BAD, rejects["reason"], strict=True):
        assert expected in reason
    assert rejects["age"].tolist()[0] == "thirty"  # the value as the user wrote it


def test_reingesting_the_same_file_loads_nothing_new_and_says_so(
    engine: Engine, mixed_file: Path
) -> None:
    first = ingest_file(mixed_file, spec=SPEC, engine=engine)
    second = ingest_file(mixed_file, spec=SPEC, engine=engine)

    assert _ids(engine) == [f"G{i}" for i in range(1, 8)]
    assert (second.rows_loaded, second.rows_already_present) == (0, 7)
    assert second.earlier_batch_id == first.batch_id
    with Session(engine) as session:
        batches = session.scalars(select(IngestBatch).order_by(IngestBatch.id)).all()
    assert [(b.status, b.rows_loaded, b.rows_rejected) for b in batches] == [
        ("loaded", 7, 5),
        ("loaded", 0, 5),
    ]
    assert batches[0].finished_at is not None
    assert batches[0].finished_at.tzinfo is not None


def test_timestamps_are_stored_as_the_same_instant_in_utc(engine: Engine, tmp_path: Path) -> None:
    path = _write(tmp_path / "tz.csv", [{**GOOD, "customer_id": "T1"}])
    ingest_file(path, spec=SPEC, engine=engine)
    with engine.connect() as connection:
        stored = connection.execute(text(f"SELECT signup_at FROM {SPEC.table}")).scalar_one()
    stamp = pd.Timestamp(stored)  # SQLite returns naive UTC text, PostgreSQL an aware datetime
    assert (stamp if stamp.tzinfo else stamp.tz_localize("UTC")) == pd.Timestamp(
        "2025-01-03T15:00:00Z"
    )


def test_a_database_failure_leaves_nothing_half_written(engine: Engine, tmp_path: Path) -> None:
    """The table refuses one row (a CHECK the user added): no row of the file is loaded."""
    columns = ", ".join(
        f"{c} TEXT" if c in ("preferred_channel", "region") else f"{c} DOUBLE PRECISION"
        for c in SPEC.feature_names
    )
    with engine.begin() as connection:
        connection.execute(
            text(
                f"CREATE TABLE {SPEC.table} (customer_id TEXT PRIMARY KEY, "
                f"signup_at TIMESTAMP WITH TIME ZONE NOT NULL, {columns}, CHECK (age < 60))"
            )
        )
    rows = [{**GOOD, "customer_id": f"G{i}", "age": str(30 + 10 * i)} for i in range(5)]
    path = _write(tmp_path / "customers.csv", rows)

    with pytest.raises(IngestError, match="nothing was written"):
        ingest_file(path, spec=SPEC, engine=engine)

    assert _ids(engine) == []
    with Session(engine) as session:
        batch = session.scalars(select(IngestBatch)).one()
    assert (batch.status, batch.rows_loaded) == ("failed", 0)
    assert batch.error


def test_a_file_whose_columns_do_not_match_the_spec_is_refused_whole(
    engine: Engine, tmp_path: Path
) -> None:
    path = tmp_path / "wrong.csv"
    pd.DataFrame([{**GOOD, "customer_id": "G1"}]).drop(columns=["region"]).to_csv(path)
    with pytest.raises(IngestError, match=r"wrong.csv.*missing column\(s\) \['region'\]"):
        ingest_file(path, spec=SPEC, engine=engine)
    assert _ids(engine) == []


def test_parquet_files_are_ingested(engine: Engine, tmp_path: Path) -> None:
    frame = pd.DataFrame([{**GOOD, "customer_id": f"P{i}"} for i in range(3)])
    for feature in SPEC.numeric:
        frame[feature.name] = frame[feature.name].astype(float)
    frame["signup_at"] = pd.to_datetime(frame["signup_at"], utc=True)
    frame.to_parquet(tmp_path / "customers.parquet")
    result = ingest_file(tmp_path / "customers.parquet", spec=SPEC, engine=engine)
    assert result.rows_loaded == 3
    assert _ids(engine) == ["P0", "P1", "P2"]


def test_an_unreadable_file_is_refused_naming_it(engine: Engine, tmp_path: Path) -> None:
    (tmp_path / "customers.xlsx").write_text("x")
    with pytest.raises(IngestError, match=r"customers.xlsx.*suffix '.xlsx'"):
        ingest_file(tmp_path / "customers.xlsx", spec=SPEC, engine=engine)
    with pytest.raises(IngestError, match="does not exist"):
        ingest_file(tmp_path / "nope.csv", spec=SPEC, engine=engine)
