"""Ingest benchmark: 1,000,000 generated customers into PostgreSQL.

Measures, in one run against the same server, personamap's ingest path (read file, validate,
binary COPY into a staging table, one INSERT .. ON CONFLICT) from Parquet and from CSV, and the
reference project's path, pandas ``DataFrame.to_sql`` of the already-typed frame. Prints rows/s
and the ratio. Usage:

    .venv/bin/python benchmarks/ingest.py [--rows 1000000] [--postgres-url URL]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from personamap.adapters.database import connect
from personamap.domain.spec import load_spec
from personamap.domain.synthetic import generate_cohort, load_personas
from personamap.domain.validation import validate_frame
from personamap.services.ingest import ingest_file

DEFAULT_URL = os.environ.get(
    "PERSONAMAP_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--postgres-url", default=DEFAULT_URL)
    args = parser.parse_args()

    spec = load_spec("anonymised")
    started = time.perf_counter()
    cohort = generate_cohort(spec, load_personas(spec), "2025-01", n=args.rows, seed=7)
    print(f"generated {args.rows:,} customers in {time.perf_counter() - started:.1f} s")

    admin = create_engine(args.postgres_url, isolation_level="AUTOCOMMIT")
    name = f"personamap_bench_{uuid.uuid4().hex[:8]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(args.postgres_url).set(database=name).render_as_string(hide_password=False)
    results: dict[str, float] = {}
    try:
        with tempfile.TemporaryDirectory() as folder:
            parquet = Path(folder) / "customers.parquet"
            csv = Path(folder) / "customers.csv"
            cohort.frame.to_parquet(parquet, index=False)
            cohort.frame.to_csv(csv, index=False)
            for label, path in (
                ("personamap ingest, Parquet", parquet),
                ("personamap ingest, CSV", csv),
            ):
                engine = connect(url, auto_upgrade=True)
                with engine.begin() as connection:
                    connection.execute(text(f"DROP TABLE IF EXISTS {spec.table}"))
                result = ingest_file(path, spec=spec, engine=engine)
                assert result.rows_loaded == args.rows, result
                results[label] = result.rows_total / result.seconds
                engine.dispose()

            # The reference project's way: pandas to_sql of the typed frame (no validation).
            typed = validate_frame(spec, cohort.frame).valid
            engine = create_engine(url)
            started = time.perf_counter()
            typed.to_sql("reference_customers", engine, if_exists="replace", index=False)
            results["pandas to_sql (reference)"] = args.rows / (time.perf_counter() - started)
            engine.dispose()
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    baseline = results["pandas to_sql (reference)"]
    print(f"\n{'path':<30} {'rows/s':>12} {'x to_sql':>9}")
    for label, rate in results.items():
        print(f"{label:<30} {rate:>12,.0f} {rate / baseline:>8.1f}x")


if __name__ == "__main__":
    main()
