"""Export the current assignments (with persona names) to a CSV or Parquet file for activation."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
from sqlalchemy import Engine

from personamap.adapters.database.assignments import (
    CustomerRange,
    current_schema,
    production_version,
    read_current,
)
from personamap.domain.spec import FeatureSpec
from personamap.errors import CatalogError, PersonamapError

FORMATS = ("csv", "parquet")


@dataclass(frozen=True)
class ExportResult:
    """What an export wrote."""

    path: Path
    rows: int
    version: int


def export_assignments(
    engine: Engine,
    *,
    spec: FeatureSpec,
    model_name: str,
    path: Path,
    file_format: str,
    ranges: Sequence[CustomerRange] | None = None,
    chunk_size: int = 100_000,
) -> ExportResult:
    """Write each customer's assignment under the production catalog, streamed in chunks.

    Args:
        engine: The database.
        spec: The customer table's spec (for the cohort filter).
        model_name: The registered model of the catalog.
        path: The file to write (replaced when it exists).
        file_format: ``csv`` or ``parquet``.
        ranges: Only customers who signed up in these ranges (default: every assigned customer).
        chunk_size: Rows read and written at once.

    Raises:
        CatalogError: when no catalog was ever promoted.
    """
    if file_format not in FORMATS:
        raise PersonamapError(f"--format {file_format!r}: use one of {', '.join(FORMATS)}")
    version = production_version(engine, model_name=model_name)
    if version is None:
        raise CatalogError(
            f"no catalog of {model_name!r} was promoted yet, so there are no current assignments: "
            "promote one (`personamap catalog promote`) and run `personamap assign`"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")  # a failed export leaves no half file
    rows = 0
    writer: pa_csv.CSVWriter | pq.ParquetWriter | None = None
    try:
        for customers in ranges if ranges is not None else [None]:
            chunks = read_current(
                engine,
                spec=spec,
                model_name=model_name,
                customers=customers,
                chunk_size=chunk_size,
            )
            for table in chunks:
                if writer is None:
                    writer = _writer(partial, table.schema, file_format)
                writer.write_table(table)
                rows += table.num_rows
        if writer is None:  # nothing assigned: still a file with the header
            writer = _writer(partial, current_schema(), file_format)
        writer.close()
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)
    return ExportResult(path=path, rows=rows, version=version)


def _writer(path: Path, schema: pa.Schema, file_format: str) -> pa_csv.CSVWriter | pq.ParquetWriter:
    if file_format == "csv":
        return pa_csv.CSVWriter(str(path), schema)
    return pq.ParquetWriter(str(path), schema)
