"""The persona report: the dashboard's views in one self-contained HTML file, for sharing.

Overview, each persona's profile, the map and monitoring, drawn by plotly.js inlined into the
file together with the styles, so it opens offline (e-mail attachment, file share). Example
customers are left out: the file travels beyond the people who may see customer records.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
from jinja2 import PackageLoader

from personamap import __version__
from personamap.adapters.database.persona_counts import (
    read_persona_counts,
    refresh_persona_counts,
)
from personamap.dashboard import queries, views
from personamap.dashboard.catalogs import CatalogSource
from personamap.dashboard.sample import SAMPLE_SIZE, take_sample
from personamap.dashboard.templating import asset_text, environment
from personamap.errors import CatalogError
from personamap.reports.monitoring import write_html
from personamap.services.catalog import CatalogContext


def render_static_report(
    context: CatalogContext,
    *,
    timezone: str,
    refresh_counts: bool = False,
    sample_size: int = SAMPLE_SIZE,
) -> str:
    """The report of the production catalog as one HTML document.

    Args:
        context: Database and registry.
        timezone: The cohort time zone (for a refresh of the counts).
        refresh_counts: Recount the customers per cohort and persona first.
        sample_size: Customers sampled for the map and the typical ranges.

    Raises:
        CatalogError: no catalog is in production.
    """
    catalogs = CatalogSource(
        engine=context.engine, registry=lambda: context.registry, model_name=context.model_name
    )
    found = catalogs.production()
    if found is None:
        raise CatalogError(
            f"{catalogs.absent()}: there is nothing to report; discover or import personas "
            "and promote them (`personamap catalog promote`)"
        )
    version, catalog = found
    engine = context.engine
    if refresh_counts:
        refresh_persona_counts(
            engine,
            spec=catalog.spec,
            model_name=context.model_name,
            version=version,
            timezone=timezone,
        )
    counts = read_persona_counts(engine, model_name=context.model_name, version=version)
    sample = take_sample(engine, catalog, size=sample_size)
    nobody = pd.DataFrame(columns=[catalog.spec.id_column, "distance", "confidence", "fit"])
    personas = [
        views.persona_page(
            version, catalog, p.persona_id, counts=counts, sample=sample, closest=nobody
        )
        for p in catalog.personas
    ]
    runs = queries.monitoring_runs(engine, model_name=context.model_name)
    latest_ids = list({r.current_cohort: r.id for r in reversed(runs)}.values())
    monitoring = views.monitoring_page(
        runs,
        queries.feature_metrics(engine, run_ids=latest_ids),
        counts=counts,
        catalog=catalog,
        reports_dir=None,
    )
    template = environment(PackageLoader("personamap.reports", "templates")).get_template(
        "static_report.html.j2"
    )
    return template.render(
        overview=views.overview(version, catalog, counts),
        personas=personas,
        map=views.map_page(version, catalog, sample),
        monitoring=monitoring,
        has_runs=bool(runs),
        model_name=context.model_name,
        written=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        app_version=__version__,
        styles=asset_text("dashboard.css"),
        scripts=[_inline(asset_text(name)) for name in ("plotly.min.js", "charts.js")],
    )


def _inline(script: str) -> str:
    """A script safe to place inside a ``<script>`` element."""
    return script.replace("</script", "<\\/script")


def write_static_report(
    context: CatalogContext, out: Path, *, timezone: str, refresh_counts: bool = False
) -> Path:
    """Write the report to ``out`` (atomically); see :func:`render_static_report`."""
    html = render_static_report(context, timezone=timezone, refresh_counts=refresh_counts)
    return write_html(html, out)
