"""The drift report as one self-contained HTML file."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
from jinja2 import Environment, PackageLoader, select_autoescape

from personamap.domain.drift import DriftReport
from personamap.domain.spec import CategoricalFeature, FeatureSpec
from personamap.reports import plots

MAX_FEATURE_PLOTS = 8


def _environment() -> Environment:
    return Environment(
        loader=PackageLoader("personamap.reports", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
    )


def render_drift_report(
    report: DriftReport,
    *,
    spec: FeatureSpec,
    reference: pd.DataFrame,
    current: pd.DataFrame,
    mix: pd.DataFrame,
    names: Mapping[int, str],
    model_name: str,
    catalog_version: int,
) -> str:
    """HTML of a drift report: verdict, persona mix over cohorts, metrics, distributions."""
    labels = (report.reference, report.current)
    shown = list(report.drifted_features) or [f.name for f in spec.features]
    feature_plots = []
    for name in shown[:MAX_FEATURE_PLOTS]:
        feature = spec.feature(name)
        if isinstance(feature, CategoricalFeature):
            uri = plots.compare_levels(name, feature.levels, reference[name], current[name], labels)
        else:
            uri = plots.compare_numeric(
                name, feature.unit, reference[name].to_numpy(), current[name].to_numpy(), labels
            )
        feature_plots.append((name, uri))
    template = _environment().get_template("monitoring.html.j2")
    return template.render(
        report=report,
        names=dict(names),
        mix_plot=plots.persona_mix(
            mix, names, highlight=[report.current] if report.drifted else []
        ),
        feature_plots=feature_plots,
        model_name=model_name,
        catalog_version=catalog_version,
        spec_name=spec.name,
        written=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    )


def write_html(html: str, path: Path) -> Path:
    """Write a report atomically (no half-written file is ever visible)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(path.suffix + ".partial")
    partial.write_text(html, encoding="utf-8")
    partial.replace(path)
    return path
