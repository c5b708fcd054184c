"""Discover personas in cohorts: a tracked sweep over k, the choice of k, a registered candidate."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from personamap.domain.assign import PersonaAssigner
from personamap.domain.catalog import Persona, PersonaCatalog
from personamap.domain.catalog_checks import discovery_checks
from personamap.domain.discover import (
    METRICS,
    MIN_SHARE,
    SweepResult,
    choose_k,
    sweep,
)
from personamap.domain.matching import Matching
from personamap.domain.preprocessing import SpecScaler
from personamap.domain.profile import PersonaProfile, profile_personas, profiles_frame
from personamap.services.catalog import (
    CatalogContext,
    carry_identity,
    cohort_frame,
    register,
)

DEFAULT_KS = tuple(range(2, 11))


@dataclass(frozen=True)
class Discovery:
    """What a discovery did."""

    version: int
    catalog: PersonaCatalog
    sweep: SweepResult
    chosen_k: int
    matching: Matching | None
    run_id: str
    customers: int


def jsonable(value: Any) -> Any:
    """``value`` with NaN and infinities replaced by None and tuples by lists (strict JSON)."""
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, np.integer):
        return int(value)
    return value


def profile_record(profile: PersonaProfile) -> dict[str, Any]:
    """A persona profile as stored with the catalog."""
    record: dict[str, Any] = jsonable(asdict(profile))
    return record


def personas_from_profiles(profiles: Sequence[PersonaProfile]) -> tuple[Persona, ...]:
    """Personas named and described by their profiles (until a person names them)."""
    return tuple(
        Persona(
            persona_id=p.persona_id,
            name=p.suggested_name,
            description=p.description,
            share=float(p.share),
            profile=profile_record(p),
        )
        for p in profiles
    )


def discover(
    context: CatalogContext,
    months: Sequence[str],
    *,
    ks: Sequence[int] = DEFAULT_KS,
    random_state: int = 0,
    min_share: float = MIN_SHARE,
    actor: str,
    reason: str = "",
) -> Discovery:
    """Sweep k on the cohorts, choose k, carry identities over, register a candidate version."""
    spec, registry = context.spec, context.registry
    frame = cohort_frame(context, months)
    scaler = SpecScaler(spec).fit(frame)
    X = scaler.transform(frame)
    label = "+".join(months)
    with registry.run(f"{context.model_name}-discovery", f"discover {label}") as parent:
        registry.log_params(
            {
                "spec": spec.name,
                "cohorts": label,
                "customers": len(frame),
                "ks": ",".join(map(str, ks)),
                "random_state": random_state,
                "min_share": min_share,
                "categorical_weight": scaler.categorical_weight,
            }
        )
        result = sweep(X, ks, random_state=random_state)
        for k_result in result:
            with registry.run(f"{context.model_name}-discovery", f"k={k_result.k}", nested=True):
                registry.log_params({"k": k_result.k})
                registry.log_metrics(k_result.metrics())
        # The choice is made among the runs of this sweep only, never across the experiment.
        chosen_k = choose_k(result, min_share=min_share) if len(result) > 1 else result.ks[0]
        chosen = result.for_k(chosen_k)
        assigner = PersonaAssigner.from_clustering(
            scaler, chosen.centroids, X=X, labels=chosen.labels
        )
        ids = assigner.persona_ids_
        profiles = profile_personas(spec, frame, ids[chosen.labels], persona_ids=ids.tolist())
        personas = personas_from_profiles(profiles)
        assigner = assigner.with_identity(ids.tolist(), [p.name for p in personas])
        catalog = PersonaCatalog(
            spec=spec,
            assigner=assigner,
            personas=personas,
            origin="discovery",
            checks=discovery_checks(chosen, min_share=min_share),
            lineage={
                "cohorts": list(months),
                "customers": len(frame),
                "k": chosen_k,
                "run_id": parent.info.run_id,
            },
        )
        catalog, matching = carry_identity(context, catalog)
        registry.log_metrics({"chosen_k": chosen_k, **chosen.metrics()})
        registry.log_figure(metrics_figure(result, chosen_k), "metrics_vs_k.png")
        registry.log_text(result.metrics_frame().to_csv(), "metrics_vs_k.csv")
        table = profiles_frame(profiles).assign(name=[p.name for p in catalog.personas])
        registry.log_text(table.to_csv(index=False), "persona_profiles.csv")
        if matching is not None:
            registry.log_dict(matching.to_dict(), "persona_matching.json")
        version = register(
            context,
            catalog,
            actor=actor,
            reason=reason or f"discovered {chosen_k} personas in {label}",
        )
    return Discovery(
        version=version,
        catalog=catalog,
        sweep=result,
        chosen_k=chosen_k,
        matching=matching,
        run_id=parent.info.run_id,
        customers=len(frame),
    )


def metrics_figure(result: SweepResult, chosen_k: int) -> Any:
    """One panel per metric against k, the chosen k marked."""
    table = result.metrics_frame()
    figure = Figure(figsize=(12, 6.5), layout="constrained")
    axes = figure.subplots(2, 3)
    for axis, metric in zip(axes.flat, METRICS, strict=False):
        axis.plot(table.index, table[metric], marker="o", color="#3465a4")
        axis.axvline(chosen_k, color="#cc0000", linestyle="--", linewidth=1)
        axis.set_title(metric.replace("_", " "))
        axis.set_xlabel("k")
        axis.set_xticks(list(table.index))
    figure.suptitle(f"Persona discovery: metrics against k (chosen k = {chosen_k})")
    return figure
