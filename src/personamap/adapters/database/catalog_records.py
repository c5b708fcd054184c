"""personamap's records of catalog versions: their personas (names as renamed) and the audit trail.

Keyword-only functions over one session; the caller owns the transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from personamap.adapters.database.models import CatalogPersona, ModelEvent, utcnow
from personamap.domain.catalog import PersonaCatalog


def save_personas(
    session: Session, *, model_name: str, version: int, catalog: PersonaCatalog
) -> None:
    """Record the personas of a newly registered catalog version."""
    for persona in catalog.personas:
        session.merge(
            CatalogPersona(
                model_name=model_name,
                catalog_version=version,
                persona_id=persona.persona_id,
                name=persona.name,
                description=persona.description,
                share=persona.share,
                profile=dict(persona.profile),
                updated_at=utcnow(),
            )
        )


def persona_records(session: Session, *, model_name: str, version: int) -> list[CatalogPersona]:
    """The recorded personas of a version, by id."""
    return list(
        session.scalars(
            select(CatalogPersona)
            .where(CatalogPersona.model_name == model_name)
            .where(CatalogPersona.catalog_version == version)
            .order_by(CatalogPersona.persona_id)
        )
    )


def max_persona_id(session: Session, *, model_name: str) -> int | None:
    """The highest persona id ever recorded for a model."""
    return session.scalar(
        select(func.max(CatalogPersona.persona_id)).where(CatalogPersona.model_name == model_name)
    )


def rename_persona(
    session: Session, *, model_name: str, version: int, persona_id: int, name: str
) -> str | None:
    """Rename a recorded persona; return its previous name (None when not recorded)."""
    record = session.get(CatalogPersona, (model_name, version, persona_id))
    if record is None:
        return None
    previous = record.name
    record.name = name
    record.updated_at = utcnow()
    return previous


def record_event(
    session: Session,
    *,
    actor: str,
    action: str,
    model_name: str,
    from_version: int | None = None,
    to_version: int | None = None,
    reason: str = "",
    details: dict[str, Any] | None = None,
) -> ModelEvent:
    """Append an event to the audit trail."""
    event = ModelEvent(
        at=utcnow(),
        actor=actor,
        action=action,
        model_name=model_name,
        from_version=from_version,
        to_version=to_version,
        reason=reason,
        details=details or {},
    )
    session.add(event)
    return event


def events(session: Session, *, model_name: str, limit: int = 100) -> Sequence[ModelEvent]:
    """The newest events of a model's audit trail, newest first."""
    return session.scalars(
        select(ModelEvent)
        .where(ModelEvent.model_name == model_name)
        .order_by(ModelEvent.id.desc())
        .limit(limit)
    ).all()
