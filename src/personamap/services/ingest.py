"""Ingest customer files into the customer source table.

Invalid rows are not loaded: they go to a rejects file next to the input, one reason per row.
Valid rows load in one transaction with the ingest-batch record, so a failure leaves nothing
half-written; customers whose id is already present are skipped, which makes re-ingesting
a file a no-op.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import Engine, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from personamap.adapters.database.customers import ensure_customer_table, insert_new_customers
from personamap.adapters.database.models import IngestBatch, utcnow
from personamap.domain.spec import FeatureSpec
from personamap.domain.validation import validate_frame
from personamap.errors import DatabaseError, IngestError, PersonamapError

READABLE_SUFFIXES = (".csv", ".parquet")
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class IngestResult:
    """What one ingest did."""

    batch_id: int
    source: Path
    rows_total: int
    rows_loaded: int
    rows_already_present: int
    rows_rejected: int
    rejects_path: Path | None
    seconds: float
    earlier_batch_id: int | None

    @property
    def rows_per_second(self) -> float:
        """Rows read per second of wall time."""
        return self.rows_total / self.seconds if self.seconds > 0 else float("inf")


def read_customer_file(path: Path) -> pd.DataFrame:
    """Read a CSV (all columns as text, so validation sees what was written) or a Parquet file."""
    if not path.is_file():
        raise IngestError(f"input file {str(path)!r} does not exist")
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            frame: pd.DataFrame = pd.read_csv(
                path, dtype=str, keep_default_na=False, na_values=[""]
            )
            return frame
        if suffix == ".parquet":
            parquet: pd.DataFrame = pq.read_table(path).to_pandas()
            return parquet
    except (OSError, ValueError, pa.ArrowException) as exc:
        raise IngestError(f"cannot read {str(path)!r}: {exc}") from exc
    readable = ", ".join(READABLE_SUFFIXES)
    raise IngestError(
        f"input file {str(path)!r} has suffix {suffix!r}; personamap reads {readable}"
    )


def rejects_path_for(path: Path) -> Path:
    """Where the rejected rows of ``path`` are written: beside it, as ``NAME.rejects.csv``."""
    return path.with_name(f"{path.name.rsplit('.', 1)[0]}.rejects.csv")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def ingest_file(path: Path, *, spec: FeatureSpec, engine: Engine) -> IngestResult:
    """Validate the file at ``path`` against ``spec`` and append its new, valid customers.

    Rejected rows are written to :func:`rejects_path_for` ``(path)``.

    Raises:
        IngestError: the file cannot be read, its columns do not match the spec, or the
            database write failed (nothing was written then).
    """
    started = time.perf_counter()
    frame = read_customer_file(path)
    return ingest_frame(
        frame,
        source=path,
        fingerprint=_sha256(path),
        spec=spec,
        engine=engine,
        rejects_path=rejects_path_for(path),
        started=started,
    )


def frame_fingerprint(frame: pd.DataFrame) -> str:
    """A content hash of a frame, standing in for a file's sha256 when no file exists."""
    hashed = pd.util.hash_pandas_object(frame, index=False).to_numpy()
    return hashlib.sha256(hashed.tobytes()).hexdigest()


def ingest_frame(
    frame: pd.DataFrame,
    *,
    source: Path,
    fingerprint: str,
    spec: FeatureSpec,
    engine: Engine,
    rejects_path: Path | None,
    started: float | None = None,
) -> IngestResult:
    """Validate ``frame`` and append its new, valid customers in one transaction.

    Args:
        frame: Customer records as read from ``source``.
        source: Where the records came from (recorded in the ingest batch).
        fingerprint: Content hash of the records, to recognise a repeated ingest.
        spec: The feature spec the records must follow.
        engine: The database.
        rejects_path: Where rejected rows are written, if anywhere.
        started: ``time.perf_counter()`` when reading began, to include it in the timing.

    Raises:
        IngestError: the columns do not match the spec, or the database write failed
            (nothing was written then).
    """
    started = time.perf_counter() if started is None else started
    started_at = utcnow()
    try:
        validated = validate_frame(spec, frame)
    except PersonamapError as exc:
        raise IngestError(f"{source}: {exc}") from exc

    written_rejects = None
    if rejects_path is not None:
        if validated.n_rejected:
            validated.rejects.to_csv(rejects_path, index=False)
            written_rejects = rejects_path
        else:
            rejects_path.unlink(missing_ok=True)  # a stale file would describe an older input

    try:
        with Session(engine) as session, session.begin():
            earlier = session.scalar(
                select(IngestBatch.id)
                .where(IngestBatch.file_sha256 == fingerprint, IngestBatch.status == "loaded")
                .order_by(IngestBatch.id)
                .limit(1)
            )
            connection = session.connection()
            ensure_customer_table(connection, spec)
            loaded = insert_new_customers(connection, spec, validated.valid)
            batch = IngestBatch(
                source=str(source.resolve()),
                file_sha256=fingerprint,
                spec_name=spec.name,
                table_name=spec.table,
                status="loaded",
                rows_total=len(frame),
                rows_loaded=loaded,
                rows_already_present=validated.n_valid - loaded,
                rows_rejected=validated.n_rejected,
                rejects_path=str(written_rejects.resolve()) if written_rejects else None,
                started_at=started_at,
                finished_at=utcnow(),
            )
            session.add(batch)
            session.flush()
            batch_id = batch.id
    except (SQLAlchemyError, DatabaseError) as exc:
        _record_failure(engine, source, fingerprint, spec, len(frame), started_at, exc)
        raise IngestError(
            f"{source}: the database refused the load, nothing was written: {exc}"
        ) from exc

    return IngestResult(
        batch_id=batch_id,
        source=source,
        rows_total=len(frame),
        rows_loaded=loaded,
        rows_already_present=validated.n_valid - loaded,
        rows_rejected=validated.n_rejected,
        rejects_path=written_rejects,
        seconds=time.perf_counter() - started,
        earlier_batch_id=earlier,
    )


def _record_failure(
    engine: Engine,
    path: Path,
    sha256: str,
    spec: FeatureSpec,
    rows_total: int,
    started_at: datetime,
    error: Exception,
) -> None:
    """Keep a trace of a failed load in its own transaction; never mask the original error."""
    try:
        with Session(engine) as session, session.begin():
            session.add(
                IngestBatch(
                    source=str(path.resolve()),
                    file_sha256=sha256,
                    spec_name=spec.name,
                    table_name=spec.table,
                    status="failed",
                    rows_total=rows_total,
                    rows_loaded=0,
                    rows_already_present=0,
                    rows_rejected=0,
                    error=str(error)[:2000],
                    started_at=started_at,
                    finished_at=utcnow(),
                )
            )
    except SQLAlchemyError as exc:  # the database is gone; the caller raises the original error
        logger.warning("could not record the failed ingest of %s: %s", path, exc)
