"""``GET /v1/personas`` and ``GET /v1/personas/{persona_id}``: the served catalog."""

from __future__ import annotations

from fastapi import APIRouter

from personamap.web.deps import Served
from personamap.web.schemas import PersonaDetail, PersonaList, Problem

router = APIRouter(prefix="/v1", tags=["personas"])


@router.get("/personas", response_model=PersonaList, summary="The personas of the served catalog")
async def list_personas(served: Served) -> PersonaList:
    """Every persona of the production catalog: id, name, description, share and profile."""
    return PersonaList.model_validate(
        {"catalog_version": served.version, "personas": served.personas()}
    )


@router.get(
    "/personas/{persona_id}",
    response_model=PersonaDetail,
    responses={404: {"model": Problem, "description": "No persona has this id."}},
    summary="One persona of the served catalog",
)
async def get_persona(persona_id: int, served: Served) -> PersonaDetail:
    """One persona of the production catalog, by its stable id."""
    return PersonaDetail.model_validate(served.persona(persona_id))
