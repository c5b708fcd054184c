"""Assign the customers of the source table in batch: chunked, set-based, idempotent, resumable.

Only customers without an assignment under the catalog version are read, in chunks of a fixed
size, each chunk assigned with the vectorised assigner and committed on its own. So memory is
bounded by the chunk size whatever the size of the table, a re-run reads nothing and changes
nothing, and a run killed half-way is completed by running the same command again. The source
table is only read.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from personamap.adapters.database.assignments import (
    COHORT_COLUMN,
    CustomerRange,
    count_unassigned,
    read_unassigned,
    write_assignments,
)
from personamap.adapters.database.models import utcnow
from personamap.adapters.database.persona_counts import refresh_persona_counts
from personamap.domain.catalog import PersonaCatalog
from personamap.domain.cohort import month_bounds
from personamap.errors import CatalogError, PersonamapError
from personamap.services.catalog import CatalogContext, effective_catalog

T = TypeVar("T")
Progress = Callable[[int, int], None]
"""Called after each chunk with (customers done, customers to do)."""


@dataclass(frozen=True)
class BatchResult:
    """What one batch assignment did."""

    version: int
    catalog: PersonaCatalog
    selected: int
    """Customers without an assignment under the version when the run started."""
    assigned: int
    """Assignments written by this run (fewer than ``selected`` if another run wrote some)."""
    seconds: float
    mix: pd.DataFrame
    """Per cohort and persona id: ``customers`` assigned and how many of them fit ``poor``."""

    @property
    def rows_per_second(self) -> float:
        """Customers assigned and written per second of wall time."""
        return self.assigned / self.seconds if self.seconds > 0 else 0.0


def cohort_ranges(months: Sequence[str], timezone: str) -> list[CustomerRange]:
    """The signup ranges of cohorts (months in ``timezone``)."""
    return [CustomerRange(*month_bounds(month, timezone)) for month in months]


def since_range(text: str, timezone: str) -> CustomerRange:
    """Customers who signed up at or after a date or ISO 8601 time (naive: in ``timezone``)."""
    try:
        moment = datetime.fromisoformat(text.strip())  # a date alone reads as its midnight
    except ValueError as exc:
        raise PersonamapError(
            f"--since {text!r} is not a date or time; write it as 2025-03-01 or "
            "2025-03-01T08:00:00+01:00"
        ) from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(timezone))
    return CustomerRange(start=moment)


def _check_spec(context: CatalogContext, catalog: PersonaCatalog, version: int) -> None:
    if tuple(catalog.spec.feature_names) != tuple(context.spec.feature_names):
        raise CatalogError(
            f"catalog version {version} was made for feature spec {catalog.spec.name!r} "
            f"({list(catalog.spec.feature_names)}), the customer table follows "
            f"{context.spec.name!r}: choose the matching --spec or catalog version"
        )


def assign_chunk(catalog: PersonaCatalog, chunk: pa.Table, id_column: str) -> pa.Table:
    """Assign the customers of a chunk; the rows to write (see ``write_assignments``)."""
    assigner = catalog.assigner
    features = chunk.select(list(catalog.spec.feature_names)).to_pandas()
    result = assigner.assign_matrix(assigner.scaler_.transform(features))
    return pa.table(
        {
            "customer_id": chunk.column(id_column),
            "persona_id": pa.array(result.persona_id.astype(np.int32)),
            "distance": pa.array(result.distance),
            "confidence": pa.array(result.confidence),
            "fit": pc.if_else(pa.array(result.good), "good", "poor"),
        }
    )


def assign_batch(
    context: CatalogContext,
    ranges: Sequence[CustomerRange],
    *,
    version_or_alias: int | str | None = None,
    chunk_size: int = 100_000,
    progress: Progress | None = None,
) -> BatchResult:
    """Assign the customers in ``ranges`` that have no assignment under the catalog version.

    Three stages overlap: a thread reads the next chunk while this one is assigned, and another
    writes the previous one (in order, each chunk committed on its own). At most one chunk
    waits between two stages, so memory stays bounded by a few chunks.

    Args:
        context: Database, registry and spec of the customer table.
        ranges: Signup ranges to assign (``CustomerRange()`` for every customer).
        version_or_alias: Catalog version or alias (default: production).
        chunk_size: Customers read, assigned and committed together.
        progress: Called after each committed chunk with (done, to do).

    Raises:
        CatalogError: when the catalog was made for another feature spec.
        AssignmentError: when a customer has a value the catalog cannot encode (chunks committed
            before stay; fix the row and run again).
    """
    if chunk_size < 1:
        raise PersonamapError(f"the chunk size must be at least 1, got {chunk_size}")
    started = time.perf_counter()
    version, catalog = effective_catalog(context, version_or_alias)
    _check_spec(context, catalog, version)
    spec, engine, model = context.spec, context.engine, context.model_name
    total = sum(
        count_unassigned(engine, spec=spec, model_name=model, version=version, customers=r)
        for r in ranges
    )
    if progress is not None:
        progress(0, total)
    done = 0

    def write(rows: pa.Table) -> int:
        nonlocal done
        with engine.begin() as connection:
            written = write_assignments(
                connection,
                model_name=model,
                version=version,
                rows=rows,
                source="batch",
                assigned_at=utcnow(),
            )
        done += rows.num_rows
        if progress is not None:
            progress(done, max(total, done))
        return written

    tallies: list[pd.DataFrame] = []
    with WriteBehind(write) as writer:
        for customers in ranges:
            chunks = read_unassigned(
                engine,
                spec=spec,
                model_name=model,
                version=version,
                customers=customers,
                chunk_size=chunk_size,
                timezone=context.cohort_timezone,
            )
            for chunk in prefetched(chunks):
                rows = assign_chunk(catalog, chunk, spec.id_column)
                writer.put(rows)
                tallies.append(_tally(chunk.column(COHORT_COLUMN), rows))
    return BatchResult(
        version=version,
        catalog=catalog,
        selected=total,
        assigned=writer.written,
        seconds=time.perf_counter() - started,
        mix=_combine(tallies),
    )


def _tally(cohorts: pa.ChunkedArray, rows: pa.Table) -> pd.DataFrame:
    encoded = pc.dictionary_encode(cohorts).combine_chunks()
    months = encoded.dictionary.to_pylist()
    codes = encoded.indices.to_numpy()
    ids, persona = np.unique(rows.column("persona_id").to_numpy(), return_inverse=True)
    key = codes * len(ids) + persona
    size = len(months) * len(ids)
    customers = np.bincount(key, minlength=size)
    poor = pc.equal(rows.column("fit"), "poor").to_numpy()
    poor_counts = np.bincount(key, weights=poor, minlength=size).astype(np.int64)
    index = pd.MultiIndex.from_product([months, ids], names=["cohort", "persona_id"])
    return pd.DataFrame({"customers": customers, "poor": poor_counts}, index=index)


def _combine(tallies: list[pd.DataFrame]) -> pd.DataFrame:
    if not tallies:
        index = pd.MultiIndex.from_arrays([[], []], names=["cohort", "persona_id"])
        return pd.DataFrame({"customers": [], "poor": []}, index=index, dtype="int64")
    combined = pd.concat(tallies).groupby(level=["cohort", "persona_id"]).sum()
    return combined[combined["customers"] > 0].astype("int64")


def prefetched(chunks: Iterator[T], depth: int = 1) -> Iterator[T]:
    """Iterate ``chunks`` produced ahead by a thread, so reading overlaps the work on each chunk.

    The database produces the next rows while this process assigns and writes. At most
    ``depth`` chunks wait beside the one being worked on, so memory stays bounded.
    """
    handoff: queue.Queue[tuple[str, object]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for chunk in chunks:
                while not stop.is_set():
                    try:
                        handoff.put(("chunk", chunk), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            handoff.put(("done", None))
        except BaseException as exc:  # handed to the consumer, which raises it
            handoff.put(("error", exc))
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()

    worker = threading.Thread(target=produce, name="personamap-reader", daemon=True)
    worker.start()
    try:
        while True:
            kind, item = handoff.get()
            if kind == "done":
                return
            if kind == "error":
                raise item  # type: ignore[misc]
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        while worker.is_alive():  # unblock a producer waiting to hand over
            with contextlib.suppress(queue.Empty):
                handoff.get(timeout=0.1)
        worker.join()


class WriteBehind:
    """Hand chunks to a thread that writes them in order, so writing overlaps the next chunk.

    Used as a context manager: leaving it waits for the chunks handed over to be written. An
    error in the writer is raised by the next :meth:`put` or on leaving.
    """

    def __init__(self, write: Callable[[pa.Table], int], depth: int = 1) -> None:
        self.write = write
        self.written = 0
        self._queue: queue.Queue[pa.Table | None] = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="personamap-writer", daemon=True)

    def __enter__(self) -> WriteBehind:
        self._thread.start()
        return self

    def _run(self) -> None:
        while (rows := self._queue.get()) is not None:
            if self._error is not None:
                continue  # drain: the producer learns of the error on its next put
            try:
                self.written += self.write(rows)
            except BaseException as exc:  # raised in the producer's thread
                self._error = exc

    def put(self, rows: pa.Table) -> None:
        """Queue a chunk for writing (waits while the writer is a chunk behind)."""
        self._raise()
        self._queue.put(rows)

    def _raise(self) -> None:
        if self._error is not None:
            raise self._error

    def __exit__(self, kind: object, error: object, traceback: object) -> None:
        self._queue.put(None)
        self._thread.join()
        if kind is None:
            self._raise()


def refresh_counts(context: CatalogContext, version: int) -> int:
    """Recount customers per cohort and persona of ``version`` for the dashboard; return rows.

    A separate step after :func:`assign_batch`: one set-based GROUP BY, so the dashboard reads
    aggregates instead of scanning assignments on every page.
    """
    return refresh_persona_counts(
        context.engine,
        spec=context.spec,
        model_name=context.model_name,
        version=version,
        timezone=context.cohort_timezone,
    )
