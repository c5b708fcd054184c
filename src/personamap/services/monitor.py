"""Monitor a cohort: drift of features, persona mix and fit quality against the reference.

Results are stored (a monitoring run and its metrics), written as a self-contained HTML report,
and, on drift, sent as an alert. The catalog assigns both cohorts in-process, so monitoring does
not depend on a batch assignment having run.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

import pandas as pd
from sqlalchemy.orm import Session

from personamap.adapters.database.customers import count_by_cohort
from personamap.adapters.database.models import utcnow
from personamap.adapters.database.monitoring_models import MonitoringMetric, MonitoringRun
from personamap.adapters.notifier import Alert, Delivery, WebhookNotifier
from personamap.config import Settings
from personamap.domain.catalog import PRODUCTION, PersonaCatalog
from personamap.domain.cohort import CohortError, parse_month
from personamap.domain.drift import DriftPolicy, DriftReport, drift_report
from personamap.reports.monitoring import render_drift_report, write_html
from personamap.services.catalog import CatalogContext, cohort_frame, effective_catalog

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Monitoring:
    """What one monitoring run found and did."""

    run_id: int
    report: DriftReport
    report_path: Path
    catalog_version: int
    delivery: Delivery | None


def policy_from(settings: Settings) -> DriftPolicy:
    """The drift policy configured in the settings."""
    return DriftPolicy(
        alpha=settings.drift_alpha,
        min_wasserstein=settings.drift_min_wasserstein,
        min_psi=settings.drift_min_psi,
        min_poor_fit_increase=settings.drift_min_poor_fit_increase,
        min_drifted_share=settings.drift_min_drifted_share,
    )


def notifier_from(settings: Settings) -> WebhookNotifier:
    """The webhook notifier configured in the settings (logs only without a webhook)."""
    url = settings.alert_webhook_url.get_secret_value() if settings.alert_webhook_url else None
    return WebhookNotifier(
        url,
        settings.alert_format,
        telegram_chat_id=settings.alert_telegram_chat_id,
        attempts=settings.alert_attempts,
    )


def cohorts(context: CatalogContext) -> list[str]:
    """The cohorts (months) that have customers, oldest first."""
    counts = count_by_cohort(context.engine, context.spec, context.cohort_timezone)
    return [str(c) for c in counts["cohort"]]


def resolve_current(context: CatalogContext, current: str) -> str:
    """``latest`` as the newest cohort with customers; a month as itself."""
    if current != "latest":
        parse_month(current)
        return current
    found = cohorts(context)
    if not found:
        raise CohortError(f"no customers in table {context.spec.table!r}: nothing to monitor")
    return found[-1]


def persona_mix(
    context: CatalogContext,
    catalog: PersonaCatalog,
    months: list[str],
    assigned: Mapping[str, pd.Series] | None = None,
) -> pd.DataFrame:
    """Persona shares per cohort under one catalog (rows: months, columns: persona ids).

    ``assigned`` gives the persona ids of months already assigned, which are not read again.
    """
    ids = [p.persona_id for p in catalog.personas]
    known = assigned or {}
    rows = {}
    for month in months:
        persona_ids = known.get(month)
        if persona_ids is None:
            persona_ids = catalog.assign(cohort_frame(context, [month]))["persona_id"]
        rows[month] = persona_ids.value_counts(normalize=True).reindex(ids, fill_value=0.0)
    return pd.DataFrame.from_dict(rows, orient="index", columns=ids)


def monitor_cohort(
    context: CatalogContext,
    *,
    reference: str,
    current: str,
    policy: DriftPolicy,
    report_dir: Path,
    notifier: WebhookNotifier | None = None,
    catalog_version: int | str | None = PRODUCTION,
) -> Monitoring:
    """Compare cohort ``current`` with ``reference`` under a catalog; store, report, alert."""
    started = utcnow()
    current = resolve_current(context, current)
    version, catalog = effective_catalog(context, catalog_version)
    reference_frame = cohort_frame(context, [reference])
    current_frame = cohort_frame(context, [current])
    reference_assigned = catalog.assign(reference_frame)
    current_assigned = catalog.assign(current_frame)
    report = drift_report(
        context.spec,
        reference_frame,
        current_frame,
        reference_assignments=reference_assigned,
        current_assignments=current_assigned,
        persona_ids=[p.persona_id for p in catalog.personas],
        policy=policy,
        labels=(reference, current),
    )
    months = [
        m for m in cohorts(context) if min(reference, current) <= m <= max(reference, current)
    ]
    names = {p.persona_id: p.name for p in catalog.personas}
    html = render_drift_report(
        report,
        spec=context.spec,
        reference=reference_frame,
        current=current_frame,
        mix=persona_mix(
            context,
            catalog,
            months,
            assigned={
                reference: reference_assigned["persona_id"],
                current: current_assigned["persona_id"],
            },
        ),
        names=names,
        model_name=context.model_name,
        catalog_version=version,
    )
    path = write_html(html, report_dir / f"drift-{current}-vs-{reference}-v{version}.html")

    delivery = None
    if report.drifted and notifier is not None:
        delivery = notifier.send(drift_alert(report, version, path, names))
    run_id = _store(context, report, version, path, started, delivery)
    return Monitoring(
        run_id=run_id, report=report, report_path=path, catalog_version=version, delivery=delivery
    )


def drift_alert(report: DriftReport, version: int, path: Path, names: dict[int, str]) -> Alert:
    """The alert people get when a cohort drifted."""
    moved = sorted(
        names,
        key=lambda i: abs(report.current_mix.get(i, 0) - report.reference_mix.get(i, 0)),
        reverse=True,
    )[:2]
    mix = ", ".join(
        f"{names[i]} {report.reference_mix.get(i, 0):.0%} -> {report.current_mix.get(i, 0):.0%}"
        for i in moved
    )
    return Alert(
        title=f"personamap: cohort {report.current} drifted from {report.reference}",
        text="; ".join(report.reasons),
        details={
            "catalog version": str(version),
            "customers": f"{report.n_current:,} (reference {report.n_reference:,})",
            "poor fit": f"{report.reference_poor_fit:.1%} -> {report.current_poor_fit:.1%}",
            "persona mix": mix,
        },
        link=path.resolve().as_uri(),
    )


def _store(
    context: CatalogContext,
    report: DriftReport,
    version: int,
    path: Path,
    started: datetime,
    delivery: Delivery | None,
) -> int:
    with Session(context.engine) as session, session.begin():
        run = MonitoringRun(
            model_name=context.model_name,
            catalog_version=version,
            spec_name=context.spec.name,
            reference_cohort=report.reference,
            current_cohort=report.current,
            n_reference=report.n_reference,
            n_current=report.n_current,
            drifted=report.drifted,
            reasons=list(report.reasons),
            summary={
                "policy": asdict(report.policy),
                "reference_mix": {str(k): v for k, v in report.reference_mix.items()},
                "current_mix": {str(k): v for k, v in report.current_mix.items()},
                "reference_poor_fit": report.reference_poor_fit,
                "current_poor_fit": report.current_poor_fit,
                "drifted_features": list(report.drifted_features),
            },
            report_path=str(path.resolve()),
            alert=delivery.status if delivery else "none",
            started_at=started,
            finished_at=utcnow(),
        )
        session.add(run)
        session.flush()
        for metric in report.metrics:
            session.add(
                MonitoringMetric(
                    run_id=run.id,
                    kind=metric.kind,
                    name=metric.name,
                    test=metric.test,
                    statistic=metric.statistic,
                    p_value=metric.p_value,
                    effect_name=metric.effect_name,
                    effect=metric.effect,
                    threshold=metric.threshold,
                    psi=metric.psi,
                    drifted=metric.drifted,
                )
            )
        return run.id
