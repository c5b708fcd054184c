"""Batch assignment benchmark: 1,000,000 customers in PostgreSQL assigned and written end to end.

Measures in one run against the same server:

- personamap: ``assign_batch`` on a cohort of N customers (COPY out in chunks, vectorised
  assignment, binary COPY into a staging table, one ``INSERT .. ON CONFLICT`` per chunk);
- the reference project's way: read the customers with pandas, assign, and one ``UPDATE`` per row
  built as a string, each committed, measured on a slice and reported per row;
- the floor: COPY the same rows out (binary, bytes discarded) and a result table of the same shape
  as ``assignments`` in (binary, prepared beforehand), with no work between.

Usage:

    .venv/bin/python benchmarks/batch.py [--rows 1000000] [--slice 5000] [--postgres-url URL]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import pandas as pd
import pyarrow as pa
from pgpq import ArrowToPostgresBinaryEncoder
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from personamap.adapters.database.assignments import CustomerRange
from personamap.config import load_settings
from personamap.domain.cohort import month_bounds
from personamap.domain.synthetic import generate_cohort, load_personas
from personamap.services.batch import assign_batch
from scratch import DEFAULT_URL, scratch_database

MONTH = "2025-02"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--slice", type=int, default=5_000, help="rows for the reference way")
    parser.add_argument("--chunk-size", type=int, default=100_000)
    parser.add_argument("--postgres-url", default=DEFAULT_URL)
    args = parser.parse_args()
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

    with scratch_database(args.postgres_url) as url, tempfile.TemporaryDirectory() as home:
        run(url, Path(home), args)


def run(url: str, home: Path, args: argparse.Namespace) -> None:
    from personamap.adapters.database import upgrade
    from personamap.adapters.database.engine import create_database_engine
    from personamap.cli.wiring import catalog_context
    from personamap.services.catalog import promote
    from personamap.services.discovery import discover
    from personamap.services.generate import ingest_cohorts

    upgrade(create_database_engine(url))
    config = load_settings(home=home, database_url=url)
    context = catalog_context("anonymised", config)
    spec = context.spec
    personas = load_personas(spec)
    started = time.perf_counter()
    reference = generate_cohort(spec, personas, "2025-01", n=20_000, seed=1)
    cohort = generate_cohort(spec, personas, MONTH, n=args.rows, seed=7)
    ingest_cohorts([reference, cohort], spec, context.engine)
    print(
        f"generated and ingested {args.rows:,} customers in {time.perf_counter() - started:.1f} s"
    )
    found = discover(context, ["2025-01"], ks=[3], actor="benchmark")
    promote(context, found.version, reason="benchmark", actor="benchmark")
    with create_engine(url, isolation_level="AUTOCOMMIT").connect() as connection:
        connection.execute(text(f"VACUUM ANALYZE {spec.table}"))

    rates: dict[str, float] = {}
    start, end = month_bounds(MONTH)
    result = assign_batch(
        context, [CustomerRange(start, end)], chunk_size=args.chunk_size, progress=None
    )
    assert result.assigned == args.rows, result
    rates["personamap assign"] = result.assigned / result.seconds
    print(f"personamap: {result.assigned:,} rows in {result.seconds:.2f} s")

    floor_seconds = floor(url, spec.table, start, end)
    rates["floor (COPY out + COPY in)"] = args.rows / floor_seconds
    print(f"floor: {args.rows:,} rows in {floor_seconds:.2f} s")

    reference_seconds = reference_way(url, context, start, end, args.slice)
    rates["reference (pandas + UPDATE/row)"] = args.slice / reference_seconds
    print(f"reference: {args.slice:,} rows in {reference_seconds:.2f} s")

    ours = rates["personamap assign"]
    print(f"\n{'path':<34} {'rows/s':>12}")
    for label, rate in rates.items():
        print(f"{label:<34} {rate:>12,.0f}")
    print(
        f"\npersonamap / reference per row: {ours / rates['reference (pandas + UPDATE/row)']:.0f}x "
        "(goal >= 50x)"
    )
    print(f"personamap / floor: {ours / rates['floor (COPY out + COPY in)']:.2f}x (goal >= 0.5x)")


def floor(url: str, table: str, start: object, end: object) -> float:
    """COPY the cohort out (bytes discarded) and a result table in, timed; nothing between."""
    import psycopg

    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn) as connection, connection.cursor() as cursor:
        rows = cursor.execute(
            "SELECT model_name, catalog_version, customer_id, persona_id, distance, confidence, "
            "fit, source, assigned_at FROM assignments"
        ).fetchall()
        frame = pd.DataFrame(
            rows,
            columns=[
                "model_name",
                "catalog_version",
                "customer_id",
                "persona_id",
                "distance",
                "confidence",
                "fit",
                "source",
                "assigned_at",
            ],
        )
        frame = frame.astype({"catalog_version": "int32", "persona_id": "int32"})
        frame["assigned_at"] = frame["assigned_at"].astype("datetime64[us, UTC]")
        result = pa.Table.from_pandas(frame, preserve_index=False)
        encoder = ArrowToPostgresBinaryEncoder(result.schema)
        payload = [encoder.write_header()]
        payload += [encoder.write_batch(b) for b in result.to_batches()]
        payload.append(encoder.finish())
        cursor.execute("CREATE TABLE floor_result (LIKE assignments INCLUDING ALL)")
        connection.commit()

        started = time.perf_counter()
        query = (
            f"COPY (SELECT * FROM {table} WHERE signup_at >= '{start}' AND signup_at < '{end}') "
            "TO STDOUT (FORMAT BINARY)"
        )
        with cursor.copy(query) as copy:
            for _ in copy:
                pass
        with cursor.copy("COPY floor_result FROM STDIN (FORMAT BINARY)") as copy:
            for block in payload:
                copy.write(block)
        connection.commit()
        return time.perf_counter() - started


def reference_way(url: str, context: object, start: object, end: object, n: int) -> float:
    """pandas read, assign, one string-built UPDATE per row, each committed (autocommit)."""
    from personamap.services.catalog import effective_catalog

    _, catalog = effective_catalog(context, None)  # type: ignore[arg-type]
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(
            text(
                f"CREATE TABLE reference_customers AS SELECT * FROM customers "
                f"WHERE signup_at >= '{start}' AND signup_at < '{end}' ORDER BY customer_id "
                f"LIMIT {n}"
            )
        )
        connection.execute(text("ALTER TABLE reference_customers ADD PRIMARY KEY (customer_id)"))
        connection.execute(text("ALTER TABLE reference_customers ADD COLUMN persona integer"))
    started = time.perf_counter()
    frame = pd.read_sql("SELECT * FROM reference_customers", engine)
    labels = catalog.assigner.predict(frame.drop(columns=["customer_id", "signup_at", "persona"]))
    with engine.connect() as connection:
        for customer_id, label in zip(frame["customer_id"], labels, strict=True):
            connection.execute(
                text(
                    f"UPDATE reference_customers SET persona = {int(label)} "
                    f"WHERE customer_id = '{customer_id}'"
                )
            )
    seconds = time.perf_counter() - started
    engine.dispose()
    return seconds


if __name__ == "__main__":
    main()
