"""The catalog a worker serves: built whole, then swapped in by replacing one reference.

A :class:`ServedCatalog` is immutable and holds everything a request needs (the assigner, the
record codec, the persona answers). A request takes the current one once and uses only it, so an
answer never mixes two catalog versions, even while a reload swaps a new one in.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from typing import Any, Literal, NamedTuple

import numpy as np
import pydantic_core

from personamap.domain.assign import MatrixAssignment, RowAssigner
from personamap.domain.catalog import PersonaCatalog
from personamap.errors import NotFoundError
from personamap.web.records import Record, RecordCodec, example_record

Source = Literal["registry", "cache"]


def assignment_item(
    customer_id: str | None,
    persona_id: int,
    persona_name: str,
    distance: float,
    confidence: float,
    good: bool,
) -> dict[str, Any]:
    """The answer for one customer (the fields of ``schemas.AssignmentItem``)."""
    return {
        "customer_id": customer_id,
        "persona_id": persona_id,
        "persona_name": persona_name,
        "distance": distance,
        "confidence": confidence,
        "fit": "good" if good else "poor",
    }


@dataclass(frozen=True)
class Assigned:
    """The assignment of a list of records by one catalog version."""

    version: int
    customer_ids: list[str | None]
    result: MatrixAssignment
    names: np.ndarray

    def counts(self) -> dict[int, int]:
        """Customers per persona id."""
        if len(self.result.persona_id) == 1:
            return {int(self.result.persona_id[0]): 1}
        ids, counts = np.unique(self.result.persona_id, return_counts=True)
        return dict(zip(ids.tolist(), counts.tolist(), strict=True))

    @property
    def poor(self) -> int:
        """How many customers fit no persona well."""
        return int(len(self.result.good) - np.count_nonzero(self.result.good))

    @cached_property
    def _columns(self) -> tuple[list[Any], ...]:
        # Plain lists: cheaper to read item by item than numpy scalars.
        r = self.result
        return (
            self.customer_ids,
            r.persona_id.tolist(),
            self.names.tolist(),
            r.distance.tolist(),
            r.confidence.tolist(),
            r.good.tolist(),
        )

    def item(self, position: int) -> dict[str, Any]:
        """The answer for one record (the fields of ``schemas.AssignmentItem``)."""
        return assignment_item(*(column[position] for column in self._columns))

    def items(self) -> list[dict[str, Any]]:
        """One answer per record (the fields of ``schemas.AssignmentItem``)."""
        return [assignment_item(*row) for row in zip(*self._columns, strict=True)]

    def single_json(self) -> bytes:
        """The answer to a single-customer request (``schemas.Assignment``)."""
        item = self.item(0)
        item["catalog_version"] = self.version
        return pydantic_core.to_json(item)

    def batch_json(self) -> bytes:
        """The answer to a batch request (``schemas.AssignmentBatch``)."""
        items = self.items()
        body = {"catalog_version": self.version, "count": len(items), "assignments": items}
        return pydantic_core.to_json(body)

    def labels_json(self) -> bytes:
        """The reference project's answer: ``{"labels": [persona ids]}``."""
        return pydantic_core.to_json({"labels": self.result.persona_id.tolist()})


class OneAssigned(NamedTuple):
    """The assignment of a single-customer request, rendered."""

    body: bytes
    """The JSON answer (``schemas.Assignment``)."""
    persona_id: int
    good: bool


@dataclass(frozen=True)
class ServedCatalog:
    """One catalog version, ready to answer requests."""

    version: int
    catalog: PersonaCatalog
    source: Source
    loaded_at: datetime
    codec: RecordCodec
    example: dict[str, Any]
    _names: np.ndarray
    _rows: RowAssigner

    @classmethod
    def build(
        cls, version: int, catalog: PersonaCatalog, *, source: Source, max_batch: int
    ) -> ServedCatalog:
        """Prepare ``catalog`` for serving (done off the request path, before the swap)."""
        return cls(
            version=version,
            catalog=catalog,
            source=source,
            loaded_at=datetime.now(UTC),
            codec=RecordCodec.for_assigner(catalog.assigner, max_batch=max_batch),
            example=example_record(catalog),
            _names=np.asarray(catalog.assigner.persona_names_, dtype=object),
            _rows=catalog.assigner.row_assigner(),
        )

    def renamed(self, names: Mapping[int, str]) -> ServedCatalog:
        """A copy with personas renamed (same version and source)."""
        return ServedCatalog.build(
            self.version,
            self.catalog.with_names(names),
            source=self.source,
            max_batch=self.codec.max_batch,
        )

    @property
    def persona_names(self) -> dict[int, str]:
        """Persona id -> current name."""
        return {p.persona_id: p.name for p in self.catalog.personas}

    def assign(self, records: Sequence[Record]) -> Assigned:
        """Assign validated records (see ``RecordCodec.parse``)."""
        result = self.catalog.assigner.assign_matrix(self.codec.encode(records))
        return Assigned(
            version=self.version,
            customer_ids=self.codec.customer_ids(records),
            result=result,
            names=self._names[result.persona_index],
        )

    def assign_one(self, record: Record) -> OneAssigned:
        """Assign one validated record and render the answer: plain Python, no arrays.

        The same answer as ``assign([record]).single_json()`` (distances to rounding), at a
        fraction of its cost: numpy's per-call overhead is most of the time for one customer.
        """
        row = self._rows.assign(self.codec.encode_one(record))
        customer_id = record.get(self.codec.id_field)
        answer = assignment_item(
            None if customer_id is None else str(customer_id),
            row.persona_id,
            self._names[row.persona_index],
            row.distance,
            row.confidence,
            row.good,
        )
        answer["catalog_version"] = self.version
        return OneAssigned(pydantic_core.to_json(answer), row.persona_id, row.good)

    def personas(self) -> list[dict[str, Any]]:
        """The personas (the fields of ``schemas.Persona``)."""
        return [
            {
                "persona_id": p.persona_id,
                "name": p.name,
                "description": p.description,
                "share": p.share,
                "profile": dict(p.profile),
            }
            for p in self.catalog.personas
        ]

    def persona(self, persona_id: int) -> dict[str, Any]:
        """One persona (the fields of ``schemas.PersonaDetail``).

        Raises:
            NotFoundError: no persona has this id in the served catalog.
        """
        for persona in self.personas():
            if persona["persona_id"] == persona_id:
                return {**persona, "catalog_version": self.version}
        known = ", ".join(str(i) for i in self.persona_names)
        raise NotFoundError(
            f"catalog version {self.version} has no persona {persona_id}; its personas are {known}"
        )
