"""Import personas defined elsewhere (a vendor's centroids): no training, no re-clustering.

A centroid file is CSV or JSON. CSV: one row per persona with a ``name`` (or ``persona_name``)
column, optional ``description``, ``persona_id`` and ``share`` columns, and one column per feature
(numeric: the persona's mean in the feature's unit; categorical: its typical level, or
``feature=level`` columns with level probabilities). JSON: a list of objects (or ``{"personas":
[...]}``) with ``name``, ``description``, optional ``persona_id`` and ``share``, and ``centroid``:
an object of feature values.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from personamap.domain.assign import PersonaAssigner
from personamap.domain.catalog import Persona, PersonaCatalog
from personamap.domain.catalog_checks import import_checks
from personamap.domain.matching import Matching
from personamap.domain.profile import profile_personas
from personamap.domain.spec import FeatureSpec
from personamap.errors import AssignmentError, CatalogError
from personamap.services.catalog import CatalogContext, carry_identity, cohort_frame, register
from personamap.services.discovery import profile_record

META_COLUMNS = ("name", "persona_name", "description", "persona_id", "share")
MIN_IMPORT_SHARE = 0.01


@dataclass(frozen=True)
class Import:
    """What an import did."""

    version: int
    catalog: PersonaCatalog
    matching: Matching | None
    reference_customers: int


def read_centroids(path: Path, spec: FeatureSpec) -> pd.DataFrame:
    """Read a vendor centroid file into one row per persona, checked against the spec.

    Raises:
        CatalogError: naming the persona, the field and the value that is wrong.
    """
    if not path.is_file():
        raise CatalogError(f"centroid file {str(path)!r} does not exist")
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            frame = pd.read_csv(path)
        elif suffix == ".json":
            frame = _json_frame(json.loads(path.read_text(encoding="utf-8")), path)
        else:
            raise CatalogError(f"centroid file {str(path)!r}: use a .csv or .json file")
    except (OSError, ValueError) as exc:
        raise CatalogError(f"cannot read centroid file {str(path)!r}: {exc}") from exc
    if "persona_name" in frame.columns and "name" not in frame.columns:
        frame = frame.rename(columns={"persona_name": "name"})
    if "name" not in frame.columns or frame["name"].isna().any():
        raise CatalogError(f"{path.name}: every persona needs a name (column 'name')")
    if frame["name"].duplicated().any():
        repeated = sorted(set(frame.loc[frame["name"].duplicated(), "name"]))
        raise CatalogError(f"{path.name}: persona names repeat: {repeated}")
    if len(frame) < 2:
        raise CatalogError(
            f"{path.name}: a catalog needs at least two personas, found {len(frame)}"
        )
    for feature in spec.numeric:
        if feature.name not in frame.columns:
            continue
        values = pd.to_numeric(frame[feature.name], errors="coerce")
        for name, raw, value in zip(frame["name"], frame[feature.name], values, strict=True):
            if pd.isna(value):
                raise CatalogError(f"persona {name!r}: {feature.name} = {raw!r} is not a number")
            if not feature.min <= value <= feature.max:
                raise CatalogError(
                    f"persona {name!r}: {feature.name} = {value:g} is outside the valid range "
                    f"[{feature.min:g}, {feature.max:g}]"
                )
    return frame.reset_index(drop=True)


def _json_frame(data: Any, path: Path) -> pd.DataFrame:
    personas = data.get("personas") if isinstance(data, dict) else data
    if not isinstance(personas, list) or not all(isinstance(p, dict) for p in personas):
        raise CatalogError(f"{path.name}: expected a list of personas (or {{'personas': [...]}})")
    rows = []
    for position, persona in enumerate(personas, start=1):
        centroid = persona.get("centroid")
        if not isinstance(centroid, dict):
            raise CatalogError(f"{path.name}: persona {position} has no 'centroid' object")
        rows.append({**{k: v for k, v in persona.items() if k != "centroid"}, **centroid})
    return pd.DataFrame(rows)


def import_catalog(
    context: CatalogContext,
    path: Path,
    *,
    reference: Sequence[str] = (),
    actor: str,
    reason: str = "",
    min_share: float = MIN_IMPORT_SHARE,
) -> Import:
    """Register a catalog version from vendor centroids, scaled on a reference cohort if named."""
    spec = context.spec
    centroids = read_centroids(path, spec)
    frame = cohort_frame(context, reference) if reference else None
    ids = [int(i) for i in centroids["persona_id"]] if "persona_id" in centroids else None
    features = centroids.drop(columns=[c for c in META_COLUMNS if c in centroids.columns])
    try:
        assigner = PersonaAssigner.from_centroids(
            features,
            spec,
            reference=frame,
            persona_ids=ids,
            persona_names=[str(n) for n in centroids["name"]],
        )
    except (AssignmentError, ValueError) as exc:
        raise CatalogError(f"{path.name}: {exc}") from exc
    descriptions = (
        centroids["description"].fillna("").astype(str).tolist()
        if "description" in centroids
        else [""] * len(centroids)
    )
    if frame is not None:
        labels = assigner.predict(frame)
        profiles = profile_personas(spec, frame, labels, persona_ids=assigner.persona_ids_.tolist())
        shares = {p.persona_id: float(p.share) for p in profiles}
        records = {p.persona_id: profile_record(p) for p in profiles}
        checks = import_checks(shares, min_share=min_share)
    else:
        given = centroids["share"].astype(float).tolist() if "share" in centroids else None
        equal = 1.0 / len(centroids)
        shares = {
            int(i): (given[n] if given else equal) for n, i in enumerate(assigner.persona_ids_)
        }
        records = {int(i): {} for i in assigner.persona_ids_}
        checks = ()
    personas = tuple(
        Persona(
            persona_id=int(persona_id),
            name=str(name),
            description=description,
            share=shares[int(persona_id)],
            profile=records[int(persona_id)],
        )
        for persona_id, name, description in zip(
            assigner.persona_ids_, assigner.persona_names_, descriptions, strict=True
        )
    )
    catalog = PersonaCatalog(
        spec=spec,
        assigner=assigner,
        personas=personas,
        origin="import",
        checks=checks,
        lineage={
            "source": path.name,
            "reference_cohorts": list(reference),
            "scaling": "reference" if frame is not None else "spec",
        },
    )
    matching = None
    if ids is None:  # the vendor's names stand; ids follow the production personas they match
        catalog, matching = carry_identity(context, catalog, keep_names=False)
    with context.registry.run(f"{context.model_name}-import", f"import {path.name}"):
        context.registry.log_params(
            {
                "spec": spec.name,
                "source": path.name,
                "personas": len(personas),
                "reference_cohorts": ",".join(reference) or "none",
            }
        )
        context.registry.log_text(path.read_text(encoding="utf-8"), f"source/{path.name}")
        if matching is not None:
            context.registry.log_dict(matching.to_dict(), "persona_matching.json")
        version = register(
            context, catalog, actor=actor, reason=reason or f"imported from {path.name}"
        )
    return Import(
        version=version,
        catalog=catalog,
        matching=matching,
        reference_customers=0 if frame is None else len(frame),
    )
