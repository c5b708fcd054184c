"""Assign customers arriving on a Redis Stream, in a consumer group.

Each batch of messages is validated against the catalog's feature spec, assigned, recorded in
the database (one transaction, idempotent), and only then settled: the assignments published to
the output stream, the rejected messages added to the dead-letter stream with their reasons, and
every message acknowledged, all in one Redis transaction. So:

- at-least-once: a consumer that dies before settling leaves its messages pending; they are
  re-claimed by any consumer of the group after the claim idle time and processed again;
- no duplicates in the database: the write is keyed by (model, catalog version, customer), so
  a redelivered message adds nothing, and its output carries the assignment as stored;
- a bad message never blocks the stream: it is dead-lettered and acknowledged.

A message is a customer record: either its fields are the record's fields, or a single ``data``
field holds the record as a JSON object. ``customer_id`` is required; the timestamp is optional.
The consumer re-checks the ``production`` alias every ``catalog_refresh_seconds`` and switches
to a newly promoted catalog between two batches.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from sqlalchemy.exc import SQLAlchemyError

from personamap.adapters.broker import Broker, Message, Outgoing
from personamap.adapters.database.assignments import stored_assignments, write_assignments
from personamap.adapters.database.models import utcnow
from personamap.domain.catalog import PersonaCatalog
from personamap.domain.validation import validate_records
from personamap.errors import CatalogError, DatabaseError
from personamap.services.catalog import CatalogContext, effective_catalog

PRODUCTION = "production"
Accepted = tuple[Message, str, dict[str, Any]]
"""A valid message, its customer id and its record."""
DATA_FIELD = "data"
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class StreamSettings:
    """Streams, group and pacing of a consumer."""

    input: str
    output: str
    dead_letter: str
    group: str
    consumer: str
    batch_size: int = 500
    block_ms: int = 1000
    claim_idle_seconds: float = 30.0
    catalog_refresh_seconds: float = 10.0


@dataclass
class StreamStats:
    """What a consumer did so far."""

    messages: int = 0
    assigned: int = 0
    """Assignments recorded (new rows; a redelivered message adds none)."""
    published: int = 0
    dead_lettered: int = 0
    claimed: int = 0
    batches: int = 0
    versions: list[int] = field(default_factory=list)
    """The catalog versions used, in order."""


class CatalogFollower:
    """The production catalog, re-checked every ``refresh_seconds``."""

    def __init__(
        self,
        context: CatalogContext,
        refresh_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.context = context
        self.refresh_seconds = refresh_seconds
        self.clock = clock
        self.version: int | None = None
        self.catalog: PersonaCatalog | None = None
        self._checked = -float("inf")

    def current(self) -> tuple[int, PersonaCatalog]:
        """The production version and catalog (loading a newly promoted one when due)."""
        now = self.clock()
        if self.catalog is None or now - self._checked >= self.refresh_seconds:
            self._checked = now
            version = self.context.registry.version_for(PRODUCTION)
            if version is None:
                raise CatalogError(
                    "no catalog is in production: promote one before consuming "
                    "(`personamap catalog promote`)"
                )
            if version != self.version:
                _, catalog = effective_catalog(self.context, version)
                if self.version is not None:
                    logger.info("production catalog %s -> %s", self.version, version)
                self.version, self.catalog = version, catalog
        if self.version is None or self.catalog is None:  # pragma: no cover - set above
            raise CatalogError("no production catalog loaded")
        return self.version, self.catalog


def parse_message(message: Message) -> dict[str, Any] | str:
    """The customer record of a message, or why there is none."""
    if set(message.fields) == {DATA_FIELD}:
        try:
            record = json.loads(message.fields[DATA_FIELD])
        except json.JSONDecodeError as exc:
            return f"{DATA_FIELD}: not valid JSON ({exc.msg} at character {exc.pos})"
        if not isinstance(record, dict):
            return f"{DATA_FIELD}: expected a JSON object, got {type(record).__name__}"
        return record
    return dict(message.fields)


class Consumer:
    """One consumer of the group; :meth:`run` until ``stop`` is set.

    Args:
        context: Database, registry and spec.
        broker: The Redis connection.
        settings: Streams, group, consumer name and pacing.
    """

    def __init__(self, context: CatalogContext, broker: Broker, settings: StreamSettings) -> None:
        self.context = context
        self.broker = broker
        self.settings = settings
        self.follower = CatalogFollower(context, settings.catalog_refresh_seconds)
        self.stats = StreamStats()

    def run(self, stop: threading.Event) -> StreamStats:
        """Consume until ``stop`` is set; the batch in hand is finished first (drained)."""
        s = self.settings
        self.broker.ensure_group(s.input, s.group)
        # A consumer restarted under its old name first takes back what it had in hand.
        messages = self.broker.read_own_pending(s.input, s.group, s.consumer, count=s.batch_size)
        claim_every = min(s.claim_idle_seconds / 2, 5.0)
        next_claim = time.monotonic()
        while not stop.is_set():
            if not messages and time.monotonic() >= next_claim:
                next_claim = time.monotonic() + claim_every
                messages = self.broker.claim_idle(
                    s.input,
                    s.group,
                    s.consumer,
                    min_idle_ms=int(s.claim_idle_seconds * 1000),
                    count=s.batch_size,
                )
                self.stats.claimed += len(messages)
            if not messages:
                messages = self.broker.read_new(
                    s.input, s.group, s.consumer, count=s.batch_size, block_ms=s.block_ms
                )
            if messages:
                self.handle(messages)
            messages = []
        return self.stats

    def handle(self, messages: Sequence[Message]) -> None:
        """Validate, assign, record and settle one batch of messages."""
        s = self.settings
        version, catalog = self.follower.current()
        if not self.stats.versions or self.stats.versions[-1] != version:
            self.stats.versions.append(version)
        accepted, rejected, features = self._validate(catalog, messages)
        outgoing = [
            Outgoing(
                s.dead_letter,
                {
                    "message_id": message.id,
                    "reason": reason,
                    "fields": json.dumps(dict(message.fields)),
                    "consumer": s.consumer,
                    "rejected_at": utcnow().isoformat(),
                },
            )
            for message, reason in rejected
        ]
        if accepted:
            try:
                stored = self._record(version, catalog, accepted, features)
            except (DatabaseError, SQLAlchemyError) as exc:
                # Not acknowledged: the messages stay pending and are re-claimed after the idle
                # time, by this consumer or another.
                logger.error("recording %d assignments failed, will retry: %s", len(accepted), exc)
                time.sleep(1.0)
                return
            outgoing += [
                Outgoing(s.output, {**stored[customer_id], "message_id": message.id})
                for message, customer_id, _ in accepted
            ]
            self.stats.published += len(accepted)
        self.broker.settle(s.input, s.group, [m.id for m in messages], outgoing)
        self.stats.messages += len(messages)
        self.stats.dead_lettered += len(rejected)
        self.stats.batches += 1

    def _validate(
        self, catalog: PersonaCatalog, messages: Sequence[Message]
    ) -> tuple[list[Accepted], list[tuple[Message, str]], pd.DataFrame]:
        """Split messages into accepted (with id and record) and rejected (with the reason).

        Also returns the typed features of the accepted ones, in order.
        """
        spec = catalog.spec
        rejected: list[tuple[Message, str]] = []
        candidates: list[Accepted] = []
        numeric = [f.name for f in spec.numeric]
        for message in messages:
            record = parse_message(message)
            if isinstance(record, str):
                rejected.append((message, record))
                continue
            _numbers_as_floats(record, numeric)
            customer_id = record.pop(spec.id_column, None)
            if customer_id is None or not str(customer_id).strip():
                rejected.append((message, f"{spec.id_column}: missing id"))
                continue
            candidates.append((message, str(customer_id).strip(), record))
        # Ids are checked above, not by validation: a customer sent twice in one batch is a
        # redelivery like any other, not an error.
        if not candidates:
            return [], rejected, pd.DataFrame(columns=list(spec.feature_names))
        validated = validate_records(spec, [record for _, _, record in candidates])
        reasons = dict(zip(validated.rejects["row"] - 1, validated.rejects["reason"], strict=True))
        accepted = []
        for position, candidate in enumerate(candidates):
            if position in reasons:
                rejected.append((candidate[0], str(reasons[position])))
            else:
                accepted.append(candidate)
        return accepted, rejected, validated.valid.loc[:, list(spec.feature_names)]

    def _record(
        self,
        version: int,
        catalog: PersonaCatalog,
        accepted: Sequence[Accepted],
        features: pd.DataFrame,
    ) -> dict[str, dict[str, str]]:
        """Write the assignments; return the stored one of each customer, as output fields."""
        assigner = catalog.assigner
        result = assigner.assign_matrix(assigner.scaler_.transform(features))
        ids = [customer_id for _, customer_id, _ in accepted]
        rows = pa.table(
            {
                "customer_id": pa.array(ids, pa.string()),
                "persona_id": pa.array(result.persona_id.astype(np.int32)),
                "distance": pa.array(result.distance),
                "confidence": pa.array(result.confidence),
                "fit": pa.array(np.where(result.good, "good", "poor").tolist(), pa.string()),
            }
        )
        assigned_at = utcnow()
        model = self.context.model_name
        with self.context.engine.begin() as connection:
            inserted = write_assignments(
                connection,
                model_name=model,
                version=version,
                rows=rows,
                source="stream",
                assigned_at=assigned_at,
            )
            existing: Mapping[str, Mapping[str, Any]] = {}
            if inserted < len(ids):  # some were assigned before: report what is stored
                existing = stored_assignments(
                    connection, model_name=model, version=version, customer_ids=ids
                )
        self.stats.assigned += inserted
        names = {p.persona_id: p.name for p in catalog.personas}
        out: dict[str, dict[str, str]] = {}
        for row in rows.to_pylist():
            stored = {**row, "assigned_at": assigned_at, **existing.get(row["customer_id"], {})}
            out.setdefault(row["customer_id"], _output_fields(stored, names, version))
        return out


def _output_fields(
    row: Mapping[str, Any], names: Mapping[int, str], version: int
) -> dict[str, str]:
    at: datetime = row["assigned_at"]
    return {
        "customer_id": str(row["customer_id"]),
        "persona_id": str(int(row["persona_id"])),
        "persona_name": names.get(int(row["persona_id"]), ""),
        "fit": str(row["fit"]),
        "distance": repr(float(row["distance"])),
        "confidence": repr(float(row["confidence"])),
        "catalog_version": str(version),
        "assigned_at": at.isoformat(),
    }


def _numbers_as_floats(record: dict[str, Any], numeric: Sequence[str]) -> None:
    """Read numeric fields sent as text (Redis fields are text) as floats, where they are numbers.

    Validation then takes its fast path for columns of numbers; a value that is not a number is
    left as it is, for validation to reject with its reason.
    """
    for name in numeric:
        value = record.get(name)
        if isinstance(value, str):
            try:
                record[name] = float(value)
            except ValueError:
                continue
