"""Cohorts: customers grouped by the month they arrived in, cut in a chosen time zone."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pandas as pd

from personamap.errors import PersonamapError

_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


class CohortError(PersonamapError):
    """A cohort (month) is written wrongly or is empty."""


def parse_month(text: str) -> tuple[int, int]:
    """Parse ``YYYY-MM`` into (year, month)."""
    match = _MONTH.match(text.strip())
    if not match:
        raise CohortError(f"cohort {text!r} is not a month written as YYYY-MM (e.g. 2025-03)")
    return int(match.group(1)), int(match.group(2))


def month_bounds(month: str, timezone: str = "UTC") -> tuple[datetime, datetime]:
    """The [start, end) of a month in ``timezone``, as UTC instants."""
    year, number = parse_month(month)
    zone = ZoneInfo(timezone)
    start = datetime(year, number, 1, tzinfo=zone)
    end = datetime(year + number // 12, number % 12 + 1, 1, tzinfo=zone)
    utc = ZoneInfo("UTC")
    return start.astimezone(utc), end.astimezone(utc)


def months_between(first: str, last: str) -> list[str]:
    """All months from ``first`` to ``last`` inclusive, as ``YYYY-MM``."""
    year, month = parse_month(first)
    end = parse_month(last)
    if (year, month) > end:
        raise CohortError(f"month range {first}..{last} is empty: {first} comes after {last}")
    months = []
    while (year, month) <= end:
        months.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


def cohort_of(timestamps: pd.Series, timezone: str = "UTC") -> pd.Series:
    """The cohort (``YYYY-MM`` in ``timezone``) of each UTC timestamp."""
    stamps = pd.to_datetime(timestamps, utc=True)
    return stamps.dt.tz_convert(timezone).dt.strftime("%Y-%m")


def month_after(month: str) -> str:
    """The month that follows ``month``."""
    start, _ = month_bounds(month)
    return (start + timedelta(days=32)).strftime("%Y-%m")
