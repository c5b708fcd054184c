"""Catalog lifecycle shared by import and discovery: identity, registration, promotion, renames.

The registry (MLflow) holds each catalog version; personamap's database holds the personas'
current names and the audit trail. The effective catalog is the registered one with the names
people gave its personas since.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from personamap.adapters.database import catalog_records as records
from personamap.adapters.database.customers import read_customers
from personamap.adapters.database.models import ModelEvent
from personamap.domain.catalog import CANDIDATE, PRODUCTION, PersonaCatalog
from personamap.domain.cohort import CohortError, month_bounds
from personamap.domain.matching import Matching, match_catalogs
from personamap.domain.spec import FeatureSpec
from personamap.errors import CatalogError, PersonamapError, RegistryError

if TYPE_CHECKING:  # MLflow is heavy to import; only the wiring that builds a Registry needs it
    from personamap.adapters.registry import Registry


@dataclass(frozen=True)
class CatalogContext:
    """What catalog operations work with: the database, the registry, the spec."""

    engine: Engine
    registry: Registry
    spec: FeatureSpec
    cohort_timezone: str = "UTC"

    @property
    def model_name(self) -> str:
        """The registered model holding the catalog versions."""
        return self.registry.model_name


@dataclass(frozen=True)
class Promotion:
    """What a promotion did."""

    from_version: int | None
    to_version: int
    forced: bool


def open_registry(factory: Callable[[], Registry]) -> Registry:
    """Build a registry client; MLflow opens its store here, so any failure means "not now".

    Raises:
        RegistryError: when the registry cannot be opened (other personamap errors pass through).
    """
    try:
        return factory()
    except PersonamapError:
        raise
    except Exception as exc:  # MLflow raises whatever its store raises
        raise RegistryError(f"cannot open the model registry: {exc}") from exc


def cohort_frame(context: CatalogContext, months: Sequence[str]) -> pd.DataFrame:
    """The customers of the given cohorts (months), from the database."""
    frames = []
    for month in months:
        start, end = month_bounds(month, context.cohort_timezone)
        frame = read_customers(context.engine, context.spec, start, end)
        if frame.empty:
            raise CohortError(
                f"cohort {month} has no customers in table {context.spec.table!r}: "
                "ingest it first (`personamap ingest`)"
            )
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def effective_catalog(
    context: CatalogContext, version_or_alias: int | str | None = None
) -> tuple[int, PersonaCatalog]:
    """A registered catalog version (default: production) with its personas' current names."""
    version, catalog = context.registry.load(version_or_alias)
    with Session(context.engine) as session:
        recorded = records.persona_records(session, model_name=context.model_name, version=version)
    names = {r.persona_id: r.name for r in recorded if r.name != catalog.persona(r.persona_id).name}
    return version, catalog.with_names(names) if names else catalog


def production_catalog(context: CatalogContext) -> tuple[int, PersonaCatalog] | None:
    """The production catalog, or None before the first promotion."""
    if context.registry.version_for(PRODUCTION) is None:
        return None
    return effective_catalog(context, PRODUCTION)


def carry_identity(
    context: CatalogContext, catalog: PersonaCatalog, *, keep_names: bool = True
) -> tuple[PersonaCatalog, Matching | None]:
    """Give the personas of a new catalog the ids (and names) of the production personas.

    Personas are matched to production by Hungarian matching of centroids in production's scaled
    space, within a distance limit. Matched personas keep their id, and with ``keep_names`` their
    current name and description; new personas get fresh ids; vanished ones are reported in the
    returned matching.
    """
    production = production_catalog(context)
    if production is None:
        return catalog, None
    version, current = production
    with Session(context.engine) as session:
        recorded = records.max_persona_id(session, model_name=context.model_name)
    # Ids are never reused, not even those of personas that vanished in an earlier version.
    next_id = max([p.persona_id for p in current.personas] + [recorded or 0]) + 1
    matching = match_catalogs(catalog.assigner, current.assigner, next_id=next_id)
    names, descriptions = [], []
    for position, persona in enumerate(catalog.personas):
        old_id = matching.mapping.get(position)
        if keep_names and old_id is not None:
            old = current.persona(old_id)
            names.append(old.name)
            descriptions.append(old.description)
        else:
            names.append(persona.name)
            descriptions.append(persona.description)
    carried = catalog.with_identity(matching.ids, names, descriptions)
    return carried.with_lineage(matched_to_version=version, matching=matching.to_dict()), matching


def register(
    context: CatalogContext,
    catalog: PersonaCatalog,
    *,
    actor: str,
    reason: str,
    alias: str | None = CANDIDATE,
) -> int:
    """Log and register ``catalog`` in the active run, point ``alias`` at it, and record it."""
    tags = {
        "personamap.origin": catalog.origin,
        "personamap.spec": catalog.spec.name,
        "personamap.checks": "passed" if catalog.checks_passed else "failed",
        "personamap.personas": str(len(catalog.personas)),
    }
    version = context.registry.log_and_register(catalog, tags=tags)
    if alias is not None:
        context.registry.set_alias(alias, version)
    with Session(context.engine) as session, session.begin():
        records.save_personas(
            session, model_name=context.model_name, version=version, catalog=catalog
        )
        records.record_event(
            session,
            actor=actor,
            action="register",
            model_name=context.model_name,
            to_version=version,
            reason=reason,
            details={
                "origin": catalog.origin,
                "alias": alias,
                "checks": [vars(c) for c in catalog.checks],
                "lineage": dict(catalog.lineage),
            },
        )
    return version


def promote(
    context: CatalogContext,
    version_or_alias: int | str | None,
    *,
    reason: str,
    actor: str,
    force: bool = False,
) -> Promotion:
    """Move ``production`` to a version (default: the candidate), with an audit record.

    Raises:
        CatalogError: without a reason, or when the version's checks failed and not ``force``.
    """
    if not reason.strip():
        raise CatalogError("a promotion needs a reason (--reason), for the audit trail")
    target = version_or_alias if version_or_alias is not None else CANDIDATE
    version, catalog = context.registry.load(target)
    current = context.registry.version_for(PRODUCTION)
    failed = catalog.failed_checks
    if failed and not force:
        listed = "; ".join(c.message for c in failed)
        raise CatalogError(
            f"catalog version {version} failed its checks ({listed}); "
            "promote with --force to override, the override is recorded"
        )
    context.registry.set_alias(PRODUCTION, version)
    if context.registry.version_for(CANDIDATE) == version:
        context.registry.delete_alias(CANDIDATE)
    with Session(context.engine) as session, session.begin():
        records.record_event(
            session,
            actor=actor,
            action="promote",
            model_name=context.model_name,
            from_version=current,
            to_version=version,
            reason=reason.strip(),
            details={"forced": bool(failed) and force, "failed_checks": [c.name for c in failed]},
        )
    return Promotion(from_version=current, to_version=version, forced=bool(failed) and force)


def rename(
    context: CatalogContext,
    persona_id: int,
    name: str,
    *,
    actor: str,
    version_or_alias: int | str | None = None,
    reason: str = "",
) -> tuple[int, str]:
    """Rename a persona of a version (default: production); return the version and old name.

    The id never changes. Later catalogs that match this persona inherit the new name.
    """
    name = name.strip()
    if not name:
        raise CatalogError("a persona name cannot be empty")
    version, catalog = effective_catalog(context, version_or_alias)
    old = catalog.persona(persona_id).name
    with Session(context.engine) as session, session.begin():
        if not records.persona_records(session, model_name=context.model_name, version=version):
            records.save_personas(
                session, model_name=context.model_name, version=version, catalog=catalog
            )
        records.rename_persona(
            session,
            model_name=context.model_name,
            version=version,
            persona_id=persona_id,
            name=name,
        )
        records.record_event(
            session,
            actor=actor,
            action="rename",
            model_name=context.model_name,
            to_version=version,
            reason=reason,
            details={"persona_id": persona_id, "from": old, "to": name},
        )
    context.registry.set_tag(version, f"persona.{persona_id}.name", name)
    return version, old


def history(context: CatalogContext, *, limit: int = 100) -> list[ModelEvent]:
    """The audit trail, newest first."""
    with Session(context.engine) as session:
        found = list(records.events(session, model_name=context.model_name, limit=limit))
        session.expunge_all()
    return found
