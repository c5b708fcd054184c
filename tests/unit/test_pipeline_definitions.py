"""The pipeline's shape: monthly partitions keyed like cohorts, the schedule, the inbox's files."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pytest

from personamap.config import load_settings
from personamap.errors import ConfigError
from personamap.pipeline.definitions import JOB_NAME, build_definitions, monthly_partitions
from personamap.services.cohorts import inbox_files, inbox_months, month_of_file

pytestmark = pytest.mark.unit


def test_partitions_are_the_cohort_months() -> None:
    partitions = monthly_partitions("2024-11", last="2025-02", timezone="Europe/Berlin")
    assert partitions.get_partition_keys() == ["2024-11", "2024-12", "2025-01", "2025-02"]
    assert partitions.timezone == "Europe/Berlin"


def test_the_assets_run_in_order_and_retraining_follows_the_drift_check() -> None:
    graph = build_definitions(load_settings()).resolve_asset_graph()
    parents = {
        key.to_user_string(): sorted(p.to_user_string() for p in graph.get(key).parent_keys)
        for key in graph.get_all_asset_keys()
    }
    assert parents == {
        "ingested_cohort": [],
        "assigned_cohort": ["ingested_cohort"],
        "drift_check": ["assigned_cohort"],
        "retrained_candidate": ["drift_check"],
        "alert": ["drift_check", "retrained_candidate"],
    }


def test_the_monthly_schedule_runs_the_month_that_just_ended_in_the_cohort_time_zone() -> None:
    settings = load_settings(cohort_timezone="Europe/Berlin", pipeline_start="2025-01")
    definitions = build_definitions(settings)
    job = definitions.resolve_job_def(JOB_NAME)
    assert job.partitions_def is not None
    assert job.partitions_def.get_partition_keys()[:2] == ["2025-01", "2025-02"]
    schedule = definitions.resolve_schedule_def(f"{JOB_NAME}_schedule")
    assert (schedule.cron_schedule, schedule.execution_timezone) == ("0 6 1 * *", "Europe/Berlin")
    tick = dg.build_schedule_context(scheduled_execution_time=datetime(2025, 4, 1, 6, tzinfo=UTC))
    assert [r.partition_key for r in schedule.evaluate_tick(tick).run_requests or []] == ["2025-03"]


def test_the_inbox_offers_the_files_named_after_a_month(tmp_path: Path) -> None:
    for name in (
        "anonymised-2025-03.csv",
        "shop-eu-2025-03.PARQUET",
        "anonymised-2025-04.parquet",
        "anonymised-2025-03.rejects.csv",  # written by ingest: not a cohort file
        "anonymised-2025-13.csv",
        "notes.txt",
    ):
        (tmp_path / name).write_text("")
    assert month_of_file(Path("x/survey-2025-04.csv")) == "2025-04"
    assert [p.name for p in inbox_files(tmp_path, "2025-03")] == [
        "anonymised-2025-03.csv",
        "shop-eu-2025-03.PARQUET",
    ]
    assert inbox_months(tmp_path) == ["2025-03", "2025-04"]
    assert inbox_files(tmp_path / "missing") == []


def test_a_pipeline_month_must_be_written_as_a_month() -> None:
    with pytest.raises(ConfigError, match="YYYY-MM"):
        load_settings(pipeline_reference="March")
