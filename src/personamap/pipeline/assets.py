"""The pipeline's assets, one partition per cohort (month), each a thin call of a service.

``ingested_cohort`` -> ``assigned_cohort`` -> ``drift_check`` -> ``retrained_candidate`` ->
``alert``. The retrained candidate is only materialised when the cohort drifted
(``output_required=False``): on a cohort without drift it and the alert after it are skipped.
Alerts are sent by the services that own them (the drift alert by monitoring, the approval
request by retraining); the ``alert`` asset records how they were delivered.
"""

# No ``from __future__ import annotations`` here: Dagster reads the asset functions' annotations
# at definition time (the context type, input and output types) and cannot resolve strings.
from collections.abc import Iterator
from dataclasses import dataclass

import dagster as dg

from personamap.adapters.notifier import Delivery
from personamap.domain.cohort import CohortError
from personamap.pipeline.resources import RESOURCE_KEY, PipelineServices
from personamap.services.batch import assign_batch, cohort_ranges, refresh_counts
from personamap.services.cohorts import ingest_month, reference_cohort
from personamap.services.ingest import IngestResult
from personamap.services.monitor import Monitoring, monitor_cohort, policy_from
from personamap.services.retrain import Retraining, retrain_after_drift

GROUP = "personamap"
ASSET_NAMES = ("ingested_cohort", "assigned_cohort", "drift_check", "retrained_candidate", "alert")


@dataclass(frozen=True)
class CohortIngest:
    """The inbox files of a cohort, ingested."""

    cohort: str
    files: tuple[IngestResult, ...]

    @property
    def loaded(self) -> int:
        """New customers loaded."""
        return sum(f.rows_loaded for f in self.files)

    @property
    def already_present(self) -> int:
        """Valid customers that were loaded before."""
        return sum(f.rows_already_present for f in self.files)

    @property
    def rejected(self) -> int:
        """Rows rejected (reasons in each file's rejects file)."""
        return sum(f.rows_rejected for f in self.files)


@dataclass(frozen=True)
class CohortAssignment:
    """The customers of a cohort assigned under the production catalog."""

    cohort: str
    catalog_version: int
    assigned: int
    poor_fit: int
    seconds: float


@dataclass(frozen=True)
class DriftCheck:
    """A cohort compared with the reference; ``monitoring`` is None for the reference itself."""

    cohort: str
    reference: str
    monitoring: Monitoring | None

    @property
    def drifted(self) -> bool:
        """True when the monitoring policy flagged the cohort."""
        return self.monitoring is not None and self.monitoring.report.drifted

    @property
    def verdict(self) -> str:
        """``drift``, ``no drift`` or ``reference`` (the cohort is the reference)."""
        if self.monitoring is None:
            return "reference"
        return "drift" if self.drifted else "no drift"


@dataclass(frozen=True)
class CohortAlerts:
    """How the alerts about a drifted cohort were delivered."""

    cohort: str
    drift: Delivery | None
    approval: Delivery | None


def _services(context: dg.AssetExecutionContext) -> PipelineServices:
    services: PipelineServices = getattr(context.resources, RESOURCE_KEY)
    return services


def _delivery(delivery: Delivery | None) -> str:
    if delivery is None:
        return "none"
    attempts = f"{delivery.attempts} attempt{'s' if delivery.attempts != 1 else ''}"
    return f"{delivery.status} ({attempts})" + (f": {delivery.error}" if delivery.error else "")


def cohort_assets(partitions: dg.PartitionsDefinition[str]) -> list[dg.AssetsDefinition]:
    """The pipeline's assets over ``partitions``, whose keys are cohorts (``YYYY-MM``)."""
    needs = {RESOURCE_KEY}

    @dg.asset(partitions_def=partitions, required_resource_keys=needs, group_name=GROUP)
    def ingested_cohort(context: dg.AssetExecutionContext) -> dg.Output[CohortIngest]:
        """New customers of the month, from the inbox files named ``*-YYYY-MM.csv|parquet``."""
        services = _services(context)
        month = context.partition_key
        results = ingest_month(services.context, services.inbox, month)
        ingest = CohortIngest(cohort=month, files=tuple(results))
        if not results:
            context.log.info(f"no file of cohort {month} in the inbox {services.inbox}")
        rejects = [str(r.rejects_path) for r in results if r.rejects_path is not None]
        return dg.Output(
            ingest,
            metadata={
                "files": [r.source.name for r in results],
                "loaded": ingest.loaded,
                "already present": ingest.already_present,
                "rejected": ingest.rejected,
                "rejects files": rejects,
            },
        )

    @dg.asset(
        partitions_def=partitions,
        required_resource_keys=needs,
        group_name=GROUP,
        deps=[ingested_cohort],
    )
    def assigned_cohort(context: dg.AssetExecutionContext) -> dg.Output[CohortAssignment]:
        """The month's customers assigned in batch under the production catalog."""
        services = _services(context)
        month = context.partition_key
        batch = assign_batch(
            services.context,
            cohort_ranges([month], services.context.cohort_timezone),
            chunk_size=services.settings.batch_chunk_size,
        )
        if batch.assigned:
            refresh_counts(services.context, batch.version)
        poor = int(batch.mix["poor"].sum()) if len(batch.mix) else 0
        assignment = CohortAssignment(
            cohort=month,
            catalog_version=batch.version,
            assigned=batch.assigned,
            poor_fit=poor,
            seconds=batch.seconds,
        )
        return dg.Output(
            assignment,
            metadata={
                "catalog version": batch.version,
                "assigned": batch.assigned,
                "poor fit": poor,
                "seconds": round(batch.seconds, 3),
            },
        )

    @dg.asset(
        partitions_def=partitions,
        required_resource_keys=needs,
        group_name=GROUP,
        deps=[assigned_cohort],
    )
    def drift_check(context: dg.AssetExecutionContext) -> dg.Output[DriftCheck]:
        """The month compared with the reference cohort: stored, reported, alerted on drift."""
        services = _services(context)
        month = context.partition_key
        reference = reference_cohort(services.context, services.settings.pipeline_reference)
        if reference is None:
            raise CohortError(
                f"no customers in table {services.context.spec.table!r}: put cohort files "
                f"(NAME-{month}.csv) into the inbox {services.inbox} or ingest them"
            )
        if reference == month:
            check = DriftCheck(cohort=month, reference=reference, monitoring=None)
            return dg.Output(check, metadata={"verdict": check.verdict, "reference": reference})
        monitoring = monitor_cohort(
            services.context,
            reference=reference,
            current=month,
            policy=policy_from(services.settings),
            report_dir=services.report_dir,
            notifier=services.notifier,
        )
        check = DriftCheck(cohort=month, reference=reference, monitoring=monitoring)
        return dg.Output(
            check,
            metadata={
                "verdict": check.verdict,
                "reference": reference,
                "reasons": "\n".join(monitoring.report.reasons) or "none",
                "report": dg.MetadataValue.path(str(monitoring.report_path)),
                "monitoring run": monitoring.run_id,
                "catalog version": monitoring.catalog_version,
                "drift alert": _delivery(monitoring.delivery),
            },
        )

    @dg.asset(
        partitions_def=partitions,
        required_resource_keys=needs,
        group_name=GROUP,
        output_required=False,
    )
    def retrained_candidate(
        context: dg.AssetExecutionContext, drift_check: DriftCheck
    ) -> Iterator[dg.Output[Retraining]]:
        """A candidate catalog retrained after drift, compared with production (drift only)."""
        if drift_check.monitoring is None or not drift_check.drifted:
            context.log.info(f"cohort {drift_check.cohort}: {drift_check.verdict}, no retraining")
            return
        services = _services(context)
        settings = services.settings
        retraining = retrain_after_drift(
            services.context,
            drift_check.monitoring,
            window=settings.retrain_window,
            actor=settings.acting_user,
            auto_promote=settings.auto_promote,
            margin=settings.auto_promote_margin,
            notifier=services.notifier,
        )
        champion = retraining.comparison["champion"]
        challenger = retraining.comparison["challenger"]
        yield dg.Output(
            retraining,
            metadata={
                "candidate version": retraining.candidate_version,
                "champion version": retraining.champion_version,
                "promoted": retraining.promoted,
                "poor fit (champion)": champion["poor_fit_rate"],
                "poor fit (challenger)": challenger["poor_fit_rate"],
                "approval request": _delivery(retraining.delivery),
            },
        )

    @dg.asset(partitions_def=partitions, group_name=GROUP)
    def alert(
        context: dg.AssetExecutionContext, drift_check: DriftCheck, retrained_candidate: Retraining
    ) -> dg.Output[CohortAlerts]:
        """The alerts people got about the drifted month, and how they were delivered."""
        drift = drift_check.monitoring.delivery if drift_check.monitoring else None
        alerts = CohortAlerts(
            cohort=drift_check.cohort, drift=drift, approval=retrained_candidate.delivery
        )
        for what, delivery in (("drift alert", drift), ("approval request", alerts.approval)):
            if delivery is not None and delivery.status == "failed":
                context.log.warning(f"{what} of cohort {alerts.cohort} not delivered")
        return dg.Output(
            alerts,
            metadata={
                "drift alert": _delivery(alerts.drift),
                "approval request": _delivery(alerts.approval),
            },
        )

    return [ingested_cohort, assigned_cohort, drift_check, retrained_candidate, alert]
