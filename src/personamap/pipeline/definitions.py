"""What ``dagster dev`` loads: the assets over monthly partitions, the job and its schedule.

Partitions are months in the cohort time zone, keyed ``YYYY-MM`` like cohorts, from
``pipeline_start`` up to the last complete month. The schedule runs the job early on the first
of every month for the month that just ended. The definitions are built on first load
(``@dagster.definitions``), never at import.
"""

from __future__ import annotations

from collections.abc import Iterator

import dagster as dg

from personamap.config import Settings, get_settings
from personamap.domain.cohort import month_after, parse_month
from personamap.pipeline.assets import cohort_assets
from personamap.pipeline.resources import RESOURCE_KEY, PipelineServices

JOB_NAME = "monthly_cohort"
MONTH_FORMAT = "%Y-%m"
SCHEDULE_HOUR = 6  # late files of the month that just ended still have the night to land


def monthly_partitions(
    first: str, *, last: str | None = None, timezone: str = "UTC"
) -> dg.MonthlyPartitionsDefinition:
    """Months from ``first`` to ``last`` (default: the last complete month), keyed ``YYYY-MM``."""
    parse_month(first)
    end = None
    if last is not None:
        parse_month(last)
        end = month_after(last)
    return dg.MonthlyPartitionsDefinition(
        start_date=first, end_date=end, fmt=MONTH_FORMAT, timezone=timezone
    )


def _services(init_context: dg.InitResourceContext) -> Iterator[PipelineServices]:
    services = PipelineServices.from_settings(get_settings())
    try:
        yield services
    finally:  # a long-lived daemon starts many runs: give each run's connections back
        services.context.engine.dispose()


def build_definitions(settings: Settings) -> dg.Definitions:
    """The assets, the monthly job over every cohort since ``pipeline_start``, its schedule."""
    partitions = monthly_partitions(settings.pipeline_start, timezone=settings.cohort_timezone)
    assets = cohort_assets(partitions)
    job = dg.define_asset_job(
        JOB_NAME,
        selection=dg.AssetSelection.assets(*assets),
        executor_def=dg.in_process_executor,  # one process per run: MLflow is imported once
        description="Ingest, assign and monitor one cohort; retrain a candidate on drift.",
    )
    schedule = dg.build_schedule_from_partitioned_job(
        job, day_of_month=1, hour_of_day=SCHEDULE_HOUR, minute_of_hour=0
    )
    services = dg.ResourceDefinition(
        resource_fn=_services, description="personamap settings, database, registry, notifier."
    )
    return dg.Definitions(
        assets=assets, jobs=[job], schedules=[schedule], resources={RESOURCE_KEY: services}
    )


@dg.definitions
def defs() -> dg.Definitions:
    """The definitions from the effective settings (``PERSONAMAP_*`` in the environment)."""
    return build_definitions(get_settings())
