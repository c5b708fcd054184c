"""Write synthetic cohorts to files, or straight into the customer table."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from sqlalchemy import Engine

from personamap.domain.spec import FeatureSpec
from personamap.domain.synthetic import Cohort
from personamap.errors import PersonamapError
from personamap.services.ingest import IngestResult, frame_fingerprint, ingest_frame

FileFormat = Literal["csv", "parquet"]
FORMATS: tuple[FileFormat, ...] = ("csv", "parquet")


def cohort_path(folder: Path, spec: FeatureSpec, month: str, file_format: FileFormat) -> Path:
    """Where a month's cohort file goes: ``FOLDER/SPEC-YYYY-MM.FORMAT``."""
    return folder / f"{spec.name}-{month}.{file_format}"


def write_cohorts(
    cohorts: Sequence[Cohort], spec: FeatureSpec, folder: Path, file_format: FileFormat = "csv"
) -> list[Path]:
    """Write one file per cohort; timestamps stay ISO 8601 text with each customer's offset."""
    if file_format not in FORMATS:
        raise PersonamapError(
            f"unknown file format {file_format!r}; use one of {', '.join(FORMATS)}"
        )
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for cohort in cohorts:
        path = cohort_path(folder, spec, cohort.month, file_format)
        if file_format == "csv":
            cohort.frame.to_csv(path, index=False)
        else:
            cohort.frame.to_parquet(path, index=False)
        paths.append(path)
    return paths


def ingest_cohorts(
    cohorts: Sequence[Cohort], spec: FeatureSpec, engine: Engine
) -> list[IngestResult]:
    """Ingest each cohort straight into the customer table, through the same validation."""
    return [
        ingest_frame(
            cohort.frame,
            source=Path(f"generated/{spec.name}-{cohort.month}"),
            fingerprint=frame_fingerprint(cohort.frame),
            spec=spec,
            engine=engine,
            rejects_path=None,
        )
        for cohort in cohorts
    ]
