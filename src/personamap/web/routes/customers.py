"""``GET /v1/customers/{customer_id}/persona``: a customer's latest recorded assignment."""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter

from personamap.errors import NotFoundError
from personamap.web.assignment_records import latest_assignment
from personamap.web.deps import Service
from personamap.web.schemas import Problem, RecordedAssignment

router = APIRouter(prefix="/v1", tags=["customers"])


@router.get(
    "/customers/{customer_id}/persona",
    response_model=RecordedAssignment,
    responses={404: {"model": Problem, "description": "No assignment of this customer."}},
    summary="A customer's latest recorded persona",
)
def customer_persona(customer_id: str, service: Service) -> RecordedAssignment:
    """The latest recorded assignment of a customer, by any catalog version.

    Assignments are recorded by batch and stream assignment, and by ``POST /v1/assign`` when
    ``PERSONAMAP_SERVE_RECORD_ASSIGNMENTS`` is on.
    """
    found = latest_assignment(
        service.engine, model_name=service.settings.model_name, customer_id=customer_id
    )
    if found is None:
        raise NotFoundError(
            f"no assignment of customer {customer_id!r} is recorded: assign the customer in "
            "batch (`personamap assign`), from the stream, or online with recording on"
        )
    return RecordedAssignment.model_validate(asdict(found))
