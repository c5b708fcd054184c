"""The web API's response schemas (request schemas derive from the feature spec: see ``records``).

API schemas are their own classes, separate from the domain types and the database tables.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Fit = Literal["good", "poor"]


class _Schema(BaseModel):
    model_config = ConfigDict(frozen=True)


class AssignmentItem(_Schema):
    """One customer's persona within a batch."""

    customer_id: str | None = Field(description="The customer's id, when the request gave one.")
    persona_id: int = Field(description="Stable id of the nearest persona.")
    persona_name: str = Field(description="The persona's current name.")
    distance: float = Field(ge=0, description="Distance to the persona's centroid (scaled space).")
    confidence: float = Field(
        ge=0, le=1, description="1 - d1/d2: the margin over the second-nearest persona."
    )
    fit: Fit = Field(description="poor: farther than the persona's fit threshold.")


class Assignment(AssignmentItem):
    """One customer's persona, with the catalog version that assigned it."""

    catalog_version: int = Field(description="The catalog version that assigned the customer.")


class AssignmentBatch(_Schema):
    """The personas of a batch of customers, in request order, all from one catalog version."""

    catalog_version: int = Field(description="The catalog version that assigned every customer.")
    count: int = Field(ge=0, description="Number of customers assigned.")
    assignments: list[AssignmentItem]


class Labels(_Schema):
    """The reference project's answer: one persona id per record, in request order."""

    labels: list[int]


class Persona(_Schema):
    """A persona of the served catalog."""

    persona_id: int
    name: str
    description: str
    share: float = Field(description="Share of the reference customers in this persona.")
    profile: dict[str, Any] = Field(description="How the persona differs from all customers.")


class PersonaList(_Schema):
    """The personas of the served catalog."""

    catalog_version: int
    personas: list[Persona]


class PersonaDetail(Persona):
    """One persona, with the catalog version it belongs to."""

    catalog_version: int


class RecordedAssignment(_Schema):
    """A customer's latest recorded assignment."""

    customer_id: str
    catalog_version: int
    persona_id: int
    persona_name: str | None = Field(description="The persona's name (None if not recorded).")
    distance: float
    confidence: float
    fit: Fit
    assigned_at: datetime


class Health(_Schema):
    """The process is alive."""

    status: Literal["alive"] = "alive"


class ServedCatalogStatus(_Schema):
    """Which catalog a worker serves."""

    version: int
    source: Literal["registry", "cache"] = Field(
        description="registry: loaded from the model registry; cache: from the local disk cache."
    )
    loaded_at: datetime
    personas: int


class Readiness(_Schema):
    """Whether this worker can assign customers, and why not."""

    ready: bool
    catalog: ServedCatalogStatus | None
    database: bool = Field(description="Whether the database answered.")
    registry: bool = Field(description="Whether the model registry answered at the last check.")
    details: list[str] = Field(description="What is wrong or degraded, in words.")


class Problem(_Schema):
    """An error, in words."""

    detail: str


class FieldProblem(_Schema):
    """One problem of a request: where (``loc``), what, and the value given."""

    loc: list[str | int]
    msg: str
    type: str
    input: Any = None


class Invalid(_Schema):
    """The request breaks its schema; ``detail`` names each field and value (first 100)."""

    detail: list[FieldProblem]
    error_count: int = Field(description="Number of problems, including those not listed.")
