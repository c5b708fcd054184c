"""The persona catalog: personas with stable ids and names, the assigner, and its checks.

A catalog is what a registered catalog version holds. It travels as plain JSON (see
:meth:`PersonaCatalog.to_dict`), so that it stays readable and independent of pickles.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import pandas as pd

from personamap.domain.assign import PersonaAssigner
from personamap.domain.spec import FeatureSpec
from personamap.errors import CatalogError

FORMAT = 1
PRODUCTION = "production"
CANDIDATE = "candidate"
ALIASES = (PRODUCTION, CANDIDATE)
Origin = Literal["import", "discovery"]


@dataclass(frozen=True)
class Persona:
    """One persona: a stable id, a name people use, and what distinguishes it."""

    persona_id: int
    name: str
    description: str
    share: float
    profile: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Check:
    """One quality check of a catalog, with the measured value and the limit it is held to."""

    name: str
    passed: bool
    value: float
    limit: float
    message: str


@dataclass(frozen=True)
class PersonaCatalog:
    """A versionable set of personas and the assigner that maps customers to them."""

    spec: FeatureSpec
    assigner: PersonaAssigner
    personas: tuple[Persona, ...]
    origin: Origin
    checks: tuple[Check, ...] = ()
    lineage: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        ids = [p.persona_id for p in self.personas]
        if ids != [int(i) for i in self.assigner.persona_ids_]:
            raise CatalogError(
                f"persona ids {ids} do not match the assigner's {list(self.assigner.persona_ids_)}"
            )

    @property
    def checks_passed(self) -> bool:
        """Whether every check passed (a catalog without checks passes)."""
        return all(check.passed for check in self.checks)

    @property
    def failed_checks(self) -> tuple[Check, ...]:
        """The checks that failed."""
        return tuple(check for check in self.checks if not check.passed)

    def persona(self, persona_id: int) -> Persona:
        """The persona with ``persona_id``."""
        for persona in self.personas:
            if persona.persona_id == persona_id:
                return persona
        known = ", ".join(str(p.persona_id) for p in self.personas)
        raise CatalogError(f"no persona with id {persona_id} in this catalog; ids are {known}")

    def assign(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Assign each customer (row) to a persona; see :class:`PersonaAssigner`."""
        return self.assigner.assign(frame)

    def with_names(self, names: Mapping[int, str]) -> PersonaCatalog:
        """A copy with some personas renamed; ids never change."""
        for persona_id, name in names.items():
            self.persona(persona_id)
            if not name.strip():
                raise CatalogError(f"persona {persona_id}: a name cannot be empty")
        personas = tuple(
            replace(p, name=names.get(p.persona_id, p.name).strip()) for p in self.personas
        )
        assigner = self.assigner.with_identity(
            [p.persona_id for p in personas], [p.name for p in personas]
        )
        return replace(self, personas=personas, assigner=assigner)

    def with_identity(
        self, persona_ids: Sequence[int], names: Sequence[str], descriptions: Sequence[str]
    ) -> PersonaCatalog:
        """A copy with ids, names and descriptions replaced in persona order (after matching)."""
        personas = tuple(
            replace(p, persona_id=int(i), name=n, description=d)
            for p, i, n, d in zip(self.personas, persona_ids, names, descriptions, strict=True)
        )
        assigner = self.assigner.with_identity(list(persona_ids), list(names))
        return replace(self, personas=personas, assigner=assigner)

    def with_lineage(self, **entries: Any) -> PersonaCatalog:
        """A copy with more lineage entries (cohort, matching, parent version, ...)."""
        return replace(self, lineage={**self.lineage, **entries})

    # -- serialisation ----------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable form; :meth:`from_dict` reads it back exactly."""
        return {
            "format": FORMAT,
            "spec": self.spec.model_dump(mode="json"),
            "origin": self.origin,
            "personas": [
                {
                    "persona_id": p.persona_id,
                    "name": p.name,
                    "description": p.description,
                    "share": p.share,
                    "profile": dict(p.profile),
                }
                for p in self.personas
            ],
            "assigner": self.assigner.to_dict(),
            "checks": [vars(c) for c in self.checks],
            "lineage": dict(self.lineage),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PersonaCatalog:
        """Read a catalog written by :meth:`to_dict`."""
        if data.get("format") != FORMAT:
            raise CatalogError(
                f"catalog format {data.get('format')!r} is not supported (expected {FORMAT}); "
                "upgrade personamap"
            )
        try:
            spec = FeatureSpec.model_validate(data["spec"])
            return cls(
                spec=spec,
                assigner=PersonaAssigner.from_dict(data["assigner"], spec),
                personas=tuple(Persona(**p) for p in data["personas"]),
                origin=data["origin"],
                checks=tuple(Check(**c) for c in data["checks"]),
                lineage=data.get("lineage", {}),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise CatalogError(f"malformed catalog: {exc}") from exc
