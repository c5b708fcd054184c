"""The cohorts the pipeline works on: the inbox's monthly files, the months known, the reference.

New customers arrive as one file per month in an inbox folder, named ``ANYTHING-YYYY-MM.csv`` or
``.parquet`` (as ``personamap generate`` writes them). Ingesting is idempotent, so the files may
stay in the inbox after they were loaded.
"""

from __future__ import annotations

import re
from pathlib import Path

from personamap.domain.catalog import PRODUCTION
from personamap.domain.cohort import CohortError, parse_month
from personamap.services.catalog import CatalogContext
from personamap.services.ingest import IngestResult, ingest_file
from personamap.services.monitor import cohorts

_COHORT_FILE = re.compile(r"-(\d{4}-\d{2})\.(csv|parquet)$", re.IGNORECASE)


def month_of_file(path: Path) -> str | None:
    """The cohort a file holds, from its name (``...-YYYY-MM.csv``), or None."""
    match = _COHORT_FILE.search(path.name)
    if match is None:
        return None
    try:
        parse_month(match.group(1))
    except CohortError:  # e.g. month 13: not a cohort file after all
        return None
    return match.group(1)


def inbox_files(inbox: Path, month: str | None = None) -> list[Path]:
    """The cohort files in the inbox (of one month, if given), sorted by name."""
    if not inbox.is_dir():
        return []
    return sorted(
        path
        for path in inbox.iterdir()
        if path.is_file()
        and (found := month_of_file(path)) is not None
        and (month is None or found == month)
    )


def inbox_months(inbox: Path) -> list[str]:
    """The months that have a file in the inbox, oldest first."""
    return sorted({m for path in inbox_files(inbox) if (m := month_of_file(path)) is not None})


def known_months(context: CatalogContext, inbox: Path) -> list[str]:
    """Every month with a file in the inbox or customers in the database, oldest first."""
    return sorted(set(inbox_months(inbox)) | set(cohorts(context)))


def ingest_month(context: CatalogContext, inbox: Path, month: str) -> list[IngestResult]:
    """Ingest the inbox files of a month (none there: nothing to do)."""
    parse_month(month)
    return [
        ingest_file(path, spec=context.spec, engine=context.engine)
        for path in inbox_files(inbox, month)
    ]


def reference_cohort(context: CatalogContext, configured: str | None = None) -> str | None:
    """The cohort new cohorts are compared with.

    The configured one if any; else the month the production catalog was trained on (its
    lineage names the cohorts; of several, the newest, as the closest to what production
    describes); else the first cohort in the database; None when there is no customer at all.
    """
    if configured is not None:
        parse_month(configured)
        return configured
    if context.registry.version_for(PRODUCTION) is not None:
        _, catalog = context.registry.load(PRODUCTION)
        trained_on = [str(m) for m in catalog.lineage.get("cohorts", []) or []]
        if trained_on:
            return max(trained_on)
    found = cohorts(context)
    return found[0] if found else None
