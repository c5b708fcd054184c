"""Assignments: reading the customers still to assign, writing assignments, reading them back.

Keyword-only functions; the caller owns each write's transaction. Writes are idempotent: rows are
keyed by (model, catalog version, customer) and inserted with ``ON CONFLICT DO NOTHING``, so a
re-run, a resumed run or a redelivered message adds nothing. On PostgreSQL large writes go
through binary COPY (Arrow-encoded by pgpq) into a staging table and one set-based insert, small
ones through one ``INSERT .. SELECT FROM unnest(arrays)``; large reads stream out of
``COPY (query) TO STDOUT`` as CSV, parsed by Arrow in fixed-size chunks, so memory stays bounded
whatever the size of the table. SQLite reads through its lazy cursor and writes with executemany.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pandas as pd
import psycopg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
from pgpq import ArrowToPostgresBinaryEncoder
from psycopg import sql
from sqlalchemy import Connection, Engine, inspect, select, text
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from personamap.adapters.database.models import Assignment
from personamap.domain.cohort import cohort_of
from personamap.domain.spec import FeatureSpec, NumericFeature
from personamap.errors import DatabaseError, SchemaError

ROW_SCHEMA = pa.schema(
    [
        ("customer_id", pa.string()),
        ("persona_id", pa.int32()),
        ("distance", pa.float64()),
        ("confidence", pa.float64()),
        ("fit", pa.string()),
    ]
)
"""The assignments to write: one row per customer, ``fit`` is ``good`` or ``poor``."""
CURRENT_COLUMNS = (
    "customer_id",
    "persona_id",
    "persona_name",
    "fit",
    "distance",
    "confidence",
    "catalog_version",
    "assigned_at",
)
"""The columns of the current assignments (the ``customer_persona`` view)."""
COHORT_COLUMN = "cohort"
_STAGE = "_personamap_assignment_stage"
_COPY_MIN_ROWS = 2_000  # below this a staging table costs more than it saves


@dataclass(frozen=True)
class CustomerRange:
    """Which customers of the source table: signup in [start, end) (None: unbounded)."""

    start: datetime | None = None
    end: datetime | None = None


# -- reading customers to assign ------------------------------------------------------------


def _range_conditions(spec: FeatureSpec, customers: CustomerRange) -> list[str]:
    stamp = f'c."{spec.timestamp_column}"'
    return [
        *([f"{stamp} >= :start"] if customers.start is not None else []),
        *([f"{stamp} < :end"] if customers.end is not None else []),
    ]


def _range_params(connection: Connection, customers: CustomerRange) -> dict[str, datetime]:
    params = {}
    for name in ("start", "end"):
        moment: datetime | None = getattr(customers, name)
        if moment is not None:
            if connection.dialect.name == "sqlite":  # stored as naive UTC text
                moment = moment.astimezone(UTC).replace(tzinfo=None)
            params[name] = moment
    return params


def _unassigned_query(spec: FeatureSpec, customers: CustomerRange, selected: str) -> str:
    not_assigned = (
        "NOT EXISTS (SELECT 1 FROM assignments AS a WHERE a.model_name = :model_name "
        f'AND a.catalog_version = :version AND a.customer_id = c."{spec.id_column}")'
    )
    conditions = " AND ".join([not_assigned, *_range_conditions(spec, customers)])
    return f'SELECT {selected} FROM "{spec.table}" AS c WHERE {conditions}'


def _unassigned_params(
    connection: Connection, model_name: str, version: int, customers: CustomerRange
) -> dict[str, Any]:
    return {"model_name": model_name, "version": version, **_range_params(connection, customers)}


def _check_customer_table(connection: Connection, spec: FeatureSpec) -> None:
    if not inspect(connection).has_table(spec.table):
        raise SchemaError(
            f"customer table {spec.table!r} does not exist: ingest customers first "
            "(`personamap ingest` or `personamap generate --ingest`)"
        )


def count_unassigned(
    engine: Engine,
    *,
    spec: FeatureSpec,
    model_name: str,
    version: int,
    customers: CustomerRange,
) -> int:
    """How many customers in the range have no assignment under the catalog version."""
    with engine.connect() as connection:
        _check_customer_table(connection, spec)
        query = _unassigned_query(spec, customers, "count(*)")
        params = _unassigned_params(connection, model_name, version, customers)
        return int(connection.execute(text(query), params).scalar_one())


def read_unassigned(
    engine: Engine,
    *,
    spec: FeatureSpec,
    model_name: str,
    version: int,
    customers: CustomerRange,
    chunk_size: int,
    timezone: str = "UTC",
) -> Iterator[pa.Table]:
    """The customers in the range without an assignment under the version, in chunks.

    Each chunk has ``chunk_size`` rows (the last one fewer): the id column, ``cohort`` (the
    signup month in ``timezone``) and the features (numeric as float64, categorical as text).
    One query and one snapshot serve the whole read, so customers written meanwhile are neither
    skipped nor read twice.
    """
    with engine.connect() as connection:
        _check_customer_table(connection, spec)
        if connection.dialect.name == "postgresql":
            yield from _read_unassigned_copy(
                connection, spec, model_name, version, customers, chunk_size, timezone
            )
        else:
            yield from _read_unassigned_cursor(
                connection, spec, model_name, version, customers, chunk_size, timezone
            )


def _feature_types(spec: FeatureSpec) -> dict[str, pa.DataType]:
    return {
        f.name: pa.float64() if isinstance(f, NumericFeature) else pa.string()
        for f in spec.features
    }


def _read_unassigned_copy(
    connection: Connection,
    spec: FeatureSpec,
    model_name: str,
    version: int,
    customers: CustomerRange,
    chunk_size: int,
    timezone: str,
) -> Iterator[pa.Table]:
    features = ", ".join(f'c."{name}"' for name in spec.feature_names)
    month = f"to_char(c.\"{spec.timestamp_column}\" AT TIME ZONE :timezone, 'YYYY-MM')"
    query = _unassigned_query(spec, customers, f'c."{spec.id_column}", {month}, {features}')
    params = {
        **_unassigned_params(connection, model_name, version, customers),
        "timezone": timezone,
    }
    types = {spec.id_column: pa.string(), COHORT_COLUMN: pa.string(), **_feature_types(spec)}
    yield from copy_out(connection, query, params, types, chunk_size)


def _read_unassigned_cursor(
    connection: Connection,
    spec: FeatureSpec,
    model_name: str,
    version: int,
    customers: CustomerRange,
    chunk_size: int,
    timezone: str,
) -> Iterator[pa.Table]:
    columns = [spec.id_column, spec.timestamp_column, *spec.feature_names]
    query = _unassigned_query(spec, customers, ", ".join(f'c."{n}"' for n in columns))
    params = _unassigned_params(connection, model_name, version, customers)
    schema = pa.schema(
        [(spec.id_column, pa.string()), (COHORT_COLUMN, pa.string()), *_feature_types(spec).items()]
    )
    result = connection.execution_options(yield_per=chunk_size).execute(text(query), params)
    for rows in result.partitions(chunk_size):
        frame = pd.DataFrame(rows, columns=columns)
        stamps = pd.to_datetime(frame.pop(spec.timestamp_column), utc=True)
        frame.insert(1, COHORT_COLUMN, cohort_of(stamps, timezone).astype(object))
        yield pa.Table.from_pandas(frame, schema=schema, preserve_index=False)


# -- COPY out, in chunks --------------------------------------------------------------------


def copy_out(
    connection: Connection,
    query: str,
    params: Mapping[str, Any],
    types: Mapping[str, pa.DataType],
    chunk_size: int,
) -> Iterator[pa.Table]:
    """Stream a PostgreSQL query's rows out through ``COPY .. TO STDOUT`` in Arrow chunks.

    ``query`` uses SQLAlchemy ``:name`` parameters, bound as literals (COPY takes none);
    ``types`` names the columns in order with their Arrow types.
    """
    raw = connection.connection.driver_connection
    if raw is None:  # pragma: no cover - only on a closed connection
        raise RuntimeError("the database connection is closed")
    bound = text(query).bindparams(**params)
    compiled = bound.compile(dialect=connection.dialect, compile_kwargs={"literal_binds": True})
    options = {
        "read": pa_csv.ReadOptions(column_names=list(types), use_threads=True),
        "convert": pa_csv.ConvertOptions(
            column_types=dict(types), strings_can_be_null=False, quoted_strings_can_be_null=False
        ),
    }
    try:
        with raw.cursor() as cursor:
            cursor.execute("SET TIME ZONE 'UTC'")  # timestamps out as +00
            copy_sql = sql.SQL("COPY ({}) TO STDOUT (FORMAT CSV)").format(sql.SQL(str(compiled)))
            with cursor.copy(copy_sql) as copy:
                # PostgreSQL sends one message per row: a chunk is chunk_size messages.
                lines: list[bytes] = []
                for line in copy:
                    lines.append(bytes(line))
                    if len(lines) == chunk_size:
                        yield _parse_csv(b"".join(lines), options)
                        lines = []
                if lines:
                    yield _parse_csv(b"".join(lines), options)
    except psycopg.Error as exc:  # raw COPY bypasses SQLAlchemy's error wrapping
        raise DatabaseError(f"reading from the database failed: {exc}") from exc


def _parse_csv(block: bytes, options: Mapping[str, Any]) -> pa.Table:
    return pa_csv.read_csv(
        io.BytesIO(block), read_options=options["read"], convert_options=options["convert"]
    )


# -- writing assignments --------------------------------------------------------------------


def write_assignments(
    connection: Connection,
    *,
    model_name: str,
    version: int,
    rows: pa.Table,
    source: str,
    assigned_at: datetime,
) -> int:
    """Insert assignments not yet recorded; return how many were new.

    Args:
        connection: A connection inside the caller's transaction.
        model_name: The registered model of the catalog.
        version: The catalog version that assigned them.
        rows: Assignments as :data:`ROW_SCHEMA` (other integer and string types are cast),
            one row per customer (ids unique).
        source: What assigned them: ``batch`` or ``stream``.
        assigned_at: When (aware).
    """
    if rows.num_rows == 0:
        return 0
    rows = rows.select(ROW_SCHEMA.names).cast(ROW_SCHEMA)
    try:
        if connection.dialect.name == "postgresql":
            if len(rows) >= _COPY_MIN_ROWS:
                return _copy_insert(connection, model_name, version, rows, source, assigned_at)
            return _unnest_insert(connection, model_name, version, rows, source, assigned_at)
    except psycopg.Error as exc:  # raw psycopg bypasses SQLAlchemy's error wrapping
        raise DatabaseError(f"writing assignments failed: {exc}") from exc
    statement = sqlite_insert(Assignment).on_conflict_do_nothing()
    records = [
        {
            "model_name": model_name,
            "catalog_version": version,
            "customer_id": customer_id,
            "persona_id": persona_id,
            "distance": distance,
            "confidence": confidence,
            "fit": fit,
            "source": source,
            "assigned_at": assigned_at,
        }
        for customer_id, persona_id, distance, confidence, fit in zip(
            *(rows.column(c).to_pylist() for c in ROW_SCHEMA.names), strict=True
        )
    ]
    return int(connection.execute(statement, records).rowcount)


_INSERT = (
    "INSERT INTO assignments (model_name, catalog_version, customer_id, persona_id, distance, "
    "confidence, fit, source, assigned_at) "
)


def _raw(connection: Connection) -> psycopg.Connection[Any]:
    raw = connection.connection.driver_connection
    if raw is None:  # pragma: no cover - only on a closed connection
        raise RuntimeError("the database connection is closed")
    return raw  # type: ignore[no-any-return]


def _unnest_insert(
    connection: Connection,
    model_name: str,
    version: int,
    rows: pa.Table,
    source: str,
    assigned_at: datetime,
) -> int:
    statement = (
        _INSERT + "SELECT %s, %s, u.customer_id, u.persona_id, u.distance, u.confidence, u.fit, "
        "%s, %s FROM unnest(%s::text[], %s::int4[], %s::float8[], %s::float8[], %s::text[]) "
        "AS u(customer_id, persona_id, distance, confidence, fit) ON CONFLICT DO NOTHING"
    )
    with _raw(connection).cursor() as cursor:
        cursor.execute(
            statement,
            (
                model_name,
                version,
                source,
                assigned_at,
                *(rows.column(c).to_pylist() for c in ROW_SCHEMA.names),
            ),
        )
        return int(cursor.rowcount)


def _copy_insert(
    connection: Connection,
    model_name: str,
    version: int,
    rows: pa.Table,
    source: str,
    assigned_at: datetime,
) -> int:
    good = pc.equal(rows.column("fit"), "good")
    staged = rows.drop_columns(["fit"]).append_column("good", good)
    encoder = ArrowToPostgresBinaryEncoder(staged.schema)
    definitions = ", ".join(
        f"{name} {column.data_type.ddl()}"
        for name, column in zip(staged.column_names, encoder.schema().columns, strict=True)
    )
    raw = _raw(connection)
    with raw.cursor() as cursor:
        cursor.execute(f"CREATE TEMP TABLE {_STAGE} ({definitions}) ON COMMIT DROP")
        with cursor.copy(f"COPY {_STAGE} FROM STDIN (FORMAT BINARY)") as copy:
            copy.write(encoder.write_header())
            for batch in staged.to_batches():
                copy.write(encoder.write_batch(batch))
            copy.write(encoder.finish())
        cursor.execute("SET LOCAL jit = off")  # compiling costs more than it saves here
        insert = (
            _INSERT + "SELECT %s, %s, s.customer_id, s.persona_id, s.distance, s.confidence, "
            f"CASE WHEN s.good THEN 'good' ELSE 'poor' END, %s, %s FROM {_STAGE} AS s"
        )
        params = (model_name, version, source, assigned_at)
        # Readers skip customers already assigned, so a conflict means another run wrote some of
        # them meanwhile. The plain insert is tried first: ON CONFLICT's speculative insertion
        # doubles the cost of the common case. A conflict rolls it back, and the second insert
        # skips what exists.
        try:
            with raw.transaction():  # a savepoint
                cursor.execute(insert, params)
        except psycopg.errors.UniqueViolation:
            cursor.execute(insert + " ON CONFLICT DO NOTHING", params)
        inserted = cursor.rowcount
        cursor.execute(f"DROP TABLE {_STAGE}")
    return int(inserted)


# -- reading assignments back ---------------------------------------------------------------


def stored_assignments(
    connection: Connection, *, model_name: str, version: int, customer_ids: Sequence[str]
) -> dict[str, dict[str, Any]]:
    """The recorded assignments of some customers under a version, by customer id."""
    query = select(
        Assignment.customer_id,
        Assignment.persona_id,
        Assignment.distance,
        Assignment.confidence,
        Assignment.fit,
        Assignment.assigned_at,
    ).where(
        Assignment.model_name == model_name,
        Assignment.catalog_version == version,
        Assignment.customer_id.in_(list(set(customer_ids))),
    )
    return {row.customer_id: row._asdict() for row in connection.execute(query)}


def count_assignments(engine: Engine, *, model_name: str, version: int | None = None) -> int:
    """How many assignments are recorded for the model (and version)."""
    query = "SELECT count(*) FROM assignments WHERE model_name = :model_name"
    params: dict[str, Any] = {"model_name": model_name}
    if version is not None:
        query += " AND catalog_version = :version"
        params["version"] = version
    with engine.connect() as connection:
        return int(connection.execute(text(query), params).scalar_one())


def production_version(engine: Engine, *, model_name: str) -> int | None:
    """The catalog version the database holds as production (see the ``customer_persona`` view).

    It is the ``to_version`` of the model's latest ``promote`` event.
    """
    query = (
        "SELECT to_version FROM model_events WHERE model_name = :model_name "
        "AND action = 'promote' ORDER BY id DESC LIMIT 1"
    )
    with engine.connect() as connection:
        found = connection.execute(text(query), {"model_name": model_name}).scalar()
    return None if found is None else int(found)


def current_schema() -> pa.Schema:
    """The Arrow schema of the current assignments, as :func:`read_current` yields them."""
    return pa.schema(
        [
            ("customer_id", pa.string()),
            ("persona_id", pa.int64()),
            ("persona_name", pa.string()),
            ("fit", pa.string()),
            ("distance", pa.float64()),
            ("confidence", pa.float64()),
            ("catalog_version", pa.int64()),
            ("assigned_at", pa.timestamp("us", tz="UTC")),
        ]
    )


def read_current(
    engine: Engine,
    *,
    spec: FeatureSpec,
    model_name: str,
    customers: CustomerRange | None,
    chunk_size: int,
) -> Iterator[pa.Table]:
    """The current assignments (``customer_persona``), in chunks of :data:`CURRENT_COLUMNS`.

    With ``customers``, only those of customers in the source table who signed up in the range.
    """
    selected = ", ".join(f"v.{c}" for c in CURRENT_COLUMNS)
    query = f"SELECT {selected} FROM customer_persona AS v"
    params: dict[str, Any] = {"model_name": model_name}
    conditions = ["v.model_name = :model_name"]
    with engine.connect() as connection:
        if customers is not None:
            _check_customer_table(connection, spec)
            query += f' JOIN "{spec.table}" AS c ON c."{spec.id_column}" = v.customer_id'
            params.update(_range_params(connection, customers))
            conditions += _range_conditions(spec, customers)
        query += f" WHERE {' AND '.join(conditions)} ORDER BY v.customer_id"
        schema = current_schema()
        if connection.dialect.name == "postgresql":
            types = dict(zip(schema.names, schema.types, strict=True))
            yield from copy_out(connection, query, params, types, chunk_size)
            return
        result = connection.execution_options(yield_per=chunk_size).execute(text(query), params)
        for rows in result.partitions(chunk_size):
            frame = pd.DataFrame(rows, columns=list(CURRENT_COLUMNS))
            frame["assigned_at"] = pd.to_datetime(frame["assigned_at"], utc=True)
            yield pa.Table.from_pandas(frame, schema=schema, preserve_index=False)
