"""Cohorts are months, cut in a chosen time zone and stored as UTC bounds."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import pytest

from personamap.domain.cohort import CohortError, cohort_of, month_bounds, months_between

pytestmark = pytest.mark.unit


def test_month_bounds_in_utc() -> None:
    assert month_bounds("2025-12") == (
        datetime(2025, 12, 1, tzinfo=UTC),
        datetime(2026, 1, 1, tzinfo=UTC),
    )


def test_month_bounds_in_another_time_zone_are_shifted_to_utc() -> None:
    start, end = month_bounds("2025-03", "America/New_York")
    assert start == datetime(2025, 3, 1, 5, tzinfo=UTC)  # EST, UTC-5
    assert end == datetime(2025, 4, 1, 4, tzinfo=UTC)  # EDT after the March switch


def test_cohort_of_depends_on_the_time_zone() -> None:
    stamps = pd.Series(pd.to_datetime(["2025-03-01T02:00:00Z", "2025-03-15T12:00:00Z"], utc=True))
    assert cohort_of(stamps).tolist() == ["2025-03", "2025-03"]
    assert cohort_of(stamps, "America/New_York").tolist() == ["2025-02", "2025-03"]


def test_months_between_spans_a_year_end() -> None:
    assert months_between("2024-11", "2025-02") == ["2024-11", "2024-12", "2025-01", "2025-02"]


@pytest.mark.parametrize("text", ["2025-13", "2025-1", "March", ""])
def test_badly_written_month_is_refused_with_its_value(text: str) -> None:
    with pytest.raises(CohortError, match=repr(text).replace("[", r"\[")):
        month_bounds(text)


def test_reversed_month_range_is_refused() -> None:
    with pytest.raises(CohortError, match="empty"):
        months_between("2025-05", "2025-01")
