"""Run the pipeline in-process, one cohort after the other, on an ephemeral Dagster instance.

Cohorts run in order, each as its own run, because a cohort can change what the next one is
compared with: a promoted candidate moves the reference to the month it was trained on.
Errors of personamap's services surface as they are (the CLI maps them to exit codes).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import dagster as dg

from personamap.domain.cohort import parse_month
from personamap.pipeline.assets import (
    CohortAlerts,
    CohortAssignment,
    CohortIngest,
    DriftCheck,
    cohort_assets,
)
from personamap.pipeline.definitions import monthly_partitions
from personamap.pipeline.resources import RESOURCE_KEY, PipelineServices
from personamap.services.retrain import Retraining


@dataclass(frozen=True)
class CohortRun:
    """What the pipeline did for one cohort; ``retraining`` and ``alerts`` only after drift."""

    cohort: str
    run_id: str
    ingest: CohortIngest
    assignment: CohortAssignment
    drift: DriftCheck
    retraining: Retraining | None
    alerts: CohortAlerts | None


def _run_config() -> dict[str, Any]:
    # Failures are raised to the caller, which reports them once; below WARNING the user asked
    # for detail, so Dagster's own events are shown too.
    level = logging.getLogger().getEffectiveLevel()
    dagster_level = "CRITICAL" if level >= logging.WARNING else logging.getLevelName(level)
    return {"loggers": {"console": {"config": {"log_level": dagster_level}}}}


def _output(result: dg.ExecuteInProcessResult, name: str) -> Any:
    """The value an asset produced in the run, or None when it was skipped."""
    if not result.asset_materializations_for_node(name):
        return None
    return result.output_for_node(name)


def run_cohorts(
    services: PipelineServices,
    months: Iterable[str],
    *,
    on_cohort: Callable[[CohortRun], None] | None = None,
) -> list[CohortRun]:
    """Materialise every asset of each month, oldest first; ``on_cohort`` sees each result."""
    ordered = sorted(set(months))
    for month in ordered:
        parse_month(month)
    if not ordered:
        return []
    partitions = monthly_partitions(
        ordered[0], last=ordered[-1], timezone=services.context.cohort_timezone
    )
    assets = cohort_assets(partitions)
    runs = []
    with dg.DagsterInstance.ephemeral() as instance:
        for month in ordered:
            result = dg.materialize(
                assets,
                partition_key=month,
                instance=instance,
                resources={RESOURCE_KEY: services},
                run_config=_run_config(),
                tags={"personamap/cohort": month},
            )
            done = CohortRun(
                cohort=month,
                run_id=result.run_id,
                ingest=result.output_for_node("ingested_cohort"),
                assignment=result.output_for_node("assigned_cohort"),
                drift=result.output_for_node("drift_check"),
                retraining=_output(result, "retrained_candidate"),
                alerts=_output(result, "alert"),
            )
            runs.append(done)
            if on_cohort is not None:
                on_cohort(done)
    return runs
