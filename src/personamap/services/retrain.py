"""After drift: retrain a candidate, compare it with the champion, and ask people to decide.

Promotion stays a human decision unless ``auto_promote`` is configured and the challenger beats
the champion on the drifted cohort by the margin; either way it goes through the audited
promote path.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from sklearn.metrics import silhouette_score
from sqlalchemy.orm import Session

from personamap.adapters.database.monitoring_models import MonitoringRun
from personamap.adapters.notifier import Alert, Delivery, WebhookNotifier
from personamap.domain.catalog import PRODUCTION, PersonaCatalog
from personamap.services.catalog import CatalogContext, cohort_frame, effective_catalog, promote
from personamap.services.discovery import discover
from personamap.services.monitor import Monitoring

Window = Literal["current", "reference+current"]
SILHOUETTE_SAMPLE = 5_000
AUTO_ACTOR = "personamap-auto"


@dataclass(frozen=True)
class Retraining:
    """What the retraining after a drift did."""

    candidate_version: int
    champion_version: int
    comparison: dict[str, dict[str, float]]
    promoted: bool
    delivery: Delivery | None


def evaluate(catalog: PersonaCatalog, frame: Any, *, random_state: int = 0) -> dict[str, float]:
    """How well a catalog describes a cohort: poor-fit rate, mean confidence, silhouette."""
    assigned = catalog.assign(frame)
    X = catalog.assigner.scaler_.transform(frame)
    labels = assigned["persona_id"].to_numpy()
    silhouette = float("nan")
    if len(np.unique(labels)) > 1:
        size = min(SILHOUETTE_SAMPLE, len(X))
        silhouette = float(silhouette_score(X, labels, sample_size=size, random_state=random_state))
    return {
        "poor_fit_rate": float((assigned["fit"] == "poor").mean()),
        "mean_confidence": float(assigned["confidence"].mean()),
        "silhouette": silhouette,
        "personas": float(len(catalog.personas)),
    }


def retrain_after_drift(
    context: CatalogContext,
    monitoring: Monitoring,
    *,
    window: Window,
    actor: str,
    auto_promote: bool,
    margin: float,
    notifier: WebhookNotifier | None,
) -> Retraining:
    """Train a candidate on the window, compare with the champion on the drifted cohort."""
    report = monitoring.report
    months = [report.current] if window == "current" else [report.reference, report.current]
    found = discover(
        context, months, actor=actor, reason=f"retrained after drift in cohort {report.current}"
    )
    champion_version, champion = effective_catalog(context, PRODUCTION)
    current = cohort_frame(context, [report.current])
    comparison = {
        "champion": evaluate(champion, current),
        "challenger": evaluate(found.catalog, current),
    }
    same = champion.assign(current)["persona_id"] == found.catalog.assign(current)["persona_id"]
    comparison["challenger"]["same_persona_as_champion"] = float(same.mean())

    wins = (
        comparison["challenger"]["poor_fit_rate"] + margin
        <= comparison["champion"]["poor_fit_rate"]
    )
    promoted = False
    if auto_promote and wins and found.catalog.checks_passed:
        promote(
            context,
            found.version,
            reason=(
                f"auto-promoted after drift in {report.current}: poor fit "
                f"{comparison['champion']['poor_fit_rate']:.1%} -> "
                f"{comparison['challenger']['poor_fit_rate']:.1%} (margin {margin:.1%})"
            ),
            actor=AUTO_ACTOR,
        )
        promoted = True

    with Session(context.engine) as session, session.begin():
        run = session.get(MonitoringRun, monitoring.run_id)
        if run is not None:
            run.candidate_version = found.version
            run.summary = {
                **run.summary,
                "retraining": {"comparison": comparison, "promoted": promoted},
            }

    delivery = None
    if notifier is not None:
        delivery = notifier.send(
            _alert(
                report.current, found.version, champion_version, comparison, promoted, monitoring
            )
        )
    return Retraining(
        candidate_version=found.version,
        champion_version=champion_version,
        comparison=comparison,
        promoted=promoted,
        delivery=delivery,
    )


def _alert(
    cohort: str,
    candidate: int,
    champion: int,
    comparison: dict[str, dict[str, float]],
    promoted: bool,
    monitoring: Monitoring,
) -> Alert:
    champion_fit = comparison["champion"]["poor_fit_rate"]
    challenger_fit = comparison["challenger"]["poor_fit_rate"]
    if promoted:
        title = f"personamap: candidate version {candidate} was promoted automatically"
        text = f"It describes cohort {cohort} better than version {champion} did."
    else:
        title = f"personamap: candidate version {candidate} awaits your approval"
        text = (
            f"Retrained after drift in cohort {cohort}. Review it, then run "
            f"`personamap catalog promote {candidate} --reason ...`."
        )
    return Alert(
        title=title,
        text=text,
        details={
            "poor fit on the cohort": (
                f"champion {champion_fit:.1%}, challenger {challenger_fit:.1%}"
            ),
            "personas": f"champion {comparison['champion']['personas']:.0f}, "
            f"challenger {comparison['challenger']['personas']:.0f}",
        },
        link=monitoring.report_path.resolve().as_uri(),
    )
