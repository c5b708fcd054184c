"""``personamap report``: the personas, their profiles, the map and monitoring in one HTML file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from personamap.cli.wiring import catalog_context, console, settings


def report(
    out: Annotated[
        Path, typer.Option("--out", help="The HTML file to write (self-contained, opens offline).")
    ] = Path("report.html"),
    refresh_counts: Annotated[
        bool,
        typer.Option(
            "--refresh-counts",
            help="Recount the customers per cohort and persona before writing.",
        ),
    ] = False,
) -> None:
    """Write the persona report of the production catalog into one self-contained HTML file.

    The same overview, persona profiles, map and monitoring views as the dashboard, for sharing
    by e-mail; example customers are left out.
    """
    from personamap.reports.static_report import write_static_report

    config = settings()
    context = catalog_context(None, config)
    path = write_static_report(
        context, out, timezone=config.cohort_timezone, refresh_counts=refresh_counts
    )
    size = path.stat().st_size / 1_000_000
    console.print(f"report: {path} ({size:.1f} MB)", soft_wrap=True)
    console.print(
        f"dashboard: http://{config.serve_host}:{config.serve_port}/ "
        "(start it with `personamap serve`)",
        soft_wrap=True,
    )
