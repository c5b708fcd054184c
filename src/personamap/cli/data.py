"""``personamap generate``, ``ingest`` and ``demo``: customer data in."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from personamap.adapters.database.customers import count_by_cohort
from personamap.cli.wiring import SpecOption, console, database, resolve_paths, settings, spec_for
from personamap.services.ingest import IngestResult, ingest_file


def _ingest_table(results: list[IngestResult]) -> Table:
    table = Table(title="ingest")
    for column in ("file", "rows", "loaded", "already present", "rejected", "rows/s"):
        table.add_column(column, justify="left" if column == "file" else "right")
    for r in results:
        table.add_row(
            r.source.name,
            f"{r.rows_total:,}",
            f"{r.rows_loaded:,}",
            f"{r.rows_already_present:,}",
            f"{r.rows_rejected:,}",
            f"{r.rows_per_second:,.0f}",
        )
    return table


def ingest(
    files: Annotated[
        list[Path], typer.Argument(help="CSV or Parquet files, or folders holding them.")
    ],
    spec: SpecOption = None,
) -> None:
    """Load customer files into the customer table, rejecting invalid rows with reasons.

    Invalid rows go to NAME.rejects.csv beside each input. Customers already present (same id)
    are skipped, so ingesting a file twice loads nothing new.
    """
    config = settings()
    feature_spec = spec_for(spec, config)
    engine = database(config)
    results = [ingest_file(path, spec=feature_spec, engine=engine) for path in resolve_paths(files)]
    console.print(_ingest_table(results))
    for r in results:
        if r.rows_rejected:
            console.print(
                f"{r.source.name}: {r.rows_rejected:,} rows rejected, reasons in {r.rejects_path}"
            )
        if r.rows_loaded == 0 and r.rows_already_present:
            earlier = (
                f" (ingested before as batch {r.earlier_batch_id})" if r.earlier_batch_id else ""
            )
            console.print(
                f"{r.source.name}: nothing new, every valid customer was already present{earlier}"
            )


def cohort_summary(title: str = "customers per cohort") -> Table:
    """The customer table's row counts per cohort, as a table."""
    config = settings()
    feature_spec = spec_for(None, config)
    counts = count_by_cohort(database(config), feature_spec, config.cohort_timezone)
    table = Table(title=f"{title} ({feature_spec.table}, months in {config.cohort_timezone})")
    table.add_column("cohort")
    table.add_column("customers", justify="right")
    for cohort, customers in counts.itertuples(index=False):
        table.add_row(str(cohort), f"{customers:,}")
    table.add_row("total", f"{int(counts['customers'].sum()):,}", style="bold")
    return table
