"""What each page shows, built from catalogs and query results; shared with the static report.

Pure functions of what was read (no database, no registry): the routes and the report read the
data, these shape it for the templates, and ``charts`` draws it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from personamap.adapters.database.persona_counts import PersonaCounts
from personamap.dashboard import charts
from personamap.dashboard.charts import Figure
from personamap.dashboard.sample import CustomerSample
from personamap.domain.catalog import Check, Persona, PersonaCatalog
from personamap.domain.preprocessing import LEVEL_SEPARATOR
from personamap.domain.spec import CategoricalFeature, FeatureSpec, NumericFeature
from personamap.domain.validation import validate_records

RANGE_QUANTILES = (0.1, 0.5, 0.9)
SHOWN_ID_CHARACTERS = 3
MAX_MASK = 6


# -- formatting -----------------------------------------------------------------------------


def mask_id(customer_id: object) -> str:
    """A customer id with all but its last few characters hidden (pseudonymous, recognisable)."""
    text = str(customer_id)
    shown = min(SHOWN_ID_CHARACTERS, len(text) // 3)
    return "•" * min(MAX_MASK, len(text) - shown) + (text[-shown:] if shown else "")


def number(value: float | None, feature: NumericFeature | None = None) -> str:
    """A value for people: whole numbers for integer features, else three significant digits."""
    if value is None or not math.isfinite(value):
        return "–"
    if feature is not None and feature.integer:
        return f"{value:,.0f}"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def with_unit(text: str, unit: str) -> str:
    """``text`` followed by its unit, bracketed when it has digits ("3.4 (1-5 scale)")."""
    if not unit:
        return text
    return f"{text} ({unit})" if any(c.isdigit() for c in unit) else f"{text} {unit}"


# -- overview -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Trait:
    """A way a persona stands out: its label, z-score and the values behind it."""

    label: str
    z: float
    detail: str


@dataclass(frozen=True)
class PersonaCard:
    """One persona as the overview shows it."""

    persona_id: int
    name: str
    description: str
    colour: str
    share: float
    share_basis: str
    customers: int | None
    poor_fit: float | None
    traits: tuple[Trait, ...]
    trend: Figure | None


@dataclass(frozen=True)
class Overview:
    """The personas of the production catalog with their current shares and trends."""

    version: int
    spec_name: str
    cards: tuple[PersonaCard, ...]
    customers: int
    cohorts: tuple[str, ...]
    refreshed_at: datetime | None


def _traits(spec: FeatureSpec, persona: Persona) -> tuple[Trait, ...]:
    found = []
    for trait in persona.profile.get("top_traits", []):
        z = float(trait.get("z", 0.0))
        value, population = trait.get("value"), trait.get("population")
        if trait.get("level") is None:
            # Averages, so never rounded to whole numbers, even for an integer feature.
            unit = spec.feature(trait["feature"]).unit
            detail = with_unit(f"{number(value)} vs {number(population)}", unit)
        else:
            detail = f"{value:.0%} vs {population:.0%} of all customers"
        found.append(Trait(label=str(trait.get("label", trait["feature"])), z=z, detail=detail))
    return tuple(found)


def _shares(counts: PersonaCounts) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per persona: customers and poor fits; per cohort and persona: share of the cohort."""
    frame = counts.frame
    totals = frame.groupby("persona_id")[["customers", "poor_fit"]].sum()
    pivot = frame.pivot_table(
        index="cohort", columns="persona_id", values="customers", aggfunc="sum", fill_value=0
    )
    shares = pivot.div(pivot.sum(axis=1), axis=0)
    return totals, shares


def overview(version: int, catalog: PersonaCatalog, counts: PersonaCounts) -> Overview:
    """Cards of every persona, with their counted shares and trends.

    Before any assignment is counted, the shares are those the catalog was built with.
    """
    total = int(counts.frame["customers"].sum()) if not counts.empty else 0
    totals, shares = _shares(counts) if total else (pd.DataFrame(), pd.DataFrame())
    cohorts = tuple(str(c) for c in shares.index)
    by_persona: dict[int, int] = {}
    poor_by_persona: dict[int, int] = {}
    if total:
        ids = [int(i) for i in totals.index]
        by_persona = dict(zip(ids, totals["customers"].astype(int).tolist(), strict=True))
        poor_by_persona = dict(zip(ids, totals["poor_fit"].astype(int).tolist(), strict=True))
    cards = []
    for persona in catalog.personas:
        pid = persona.persona_id
        customers = by_persona.get(pid, 0)
        poor = poor_by_persona.get(pid, 0)
        trend = None
        if total and pid in shares.columns and len(cohorts) > 0:
            trend = charts.share_trend(cohorts, shares[pid].astype(float).tolist(), pid)
        cards.append(
            PersonaCard(
                persona_id=pid,
                name=persona.name,
                description=persona.description,
                colour=charts.colour(pid),
                share=customers / total if total else float(persona.share),
                share_basis=f"of {total:,} assigned customers"
                if total
                else "of the customers the catalog was built on",
                customers=customers if total else None,
                poor_fit=poor / customers if customers else None,
                traits=_traits(catalog.spec, persona),
                trend=trend,
            )
        )
    return Overview(
        version=version,
        spec_name=catalog.spec.name,
        cards=tuple(cards),
        customers=total,
        cohorts=cohorts,
        refreshed_at=counts.refreshed_at,
    )


# -- persona detail -------------------------------------------------------------------------


@dataclass(frozen=True)
class RangeRow:
    """A numeric feature's typical range in the persona and in the population, in units."""

    feature: str
    unit: str
    persona: str
    persona_median: str
    population: str
    population_median: str


@dataclass(frozen=True)
class Example:
    """A customer close to the persona's centroid, shown pseudonymously."""

    masked_id: str
    distance: float
    confidence: float
    fit: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class PersonaPage:
    """One persona: its profile against the population, typical ranges, example customers."""

    version: int
    card: PersonaCard
    threshold: float
    profile_chart: Figure | None
    range_chart: Figure | None
    level_chart: Figure | None
    ranges: tuple[RangeRow, ...]
    sampled_members: int
    sample_size: int
    examples: tuple[Example, ...]
    feature_names: tuple[str, ...]


def _profile_chart(spec: FeatureSpec, persona: Persona) -> Figure | None:
    z_scores: Mapping[str, float] = persona.profile.get("z_scores", {})
    if not z_scores:
        return None
    labels, values = [], []
    for feature in spec.features:
        if isinstance(feature, NumericFeature):
            keys = [(feature.name, feature.name)]
        else:
            keys = [
                (f"{feature.name}{LEVEL_SEPARATOR}{level}", f"{feature.name}: {level}")
                for level in feature.levels
            ]
        for key, label in keys:
            if key in z_scores:
                labels.append(label.replace("_", " "))
                values.append(float(z_scores[key]))
    return charts.z_profile(labels, values, persona.persona_id) if labels else None


def _quantiles(values: pd.Series) -> np.ndarray:
    if values.empty:
        return np.full(len(RANGE_QUANTILES), np.nan)
    return np.asarray(
        np.quantile(values.to_numpy(dtype=np.float64), RANGE_QUANTILES), dtype=np.float64
    )


def _ranges(
    spec: FeatureSpec, sample: CustomerSample, persona_id: int
) -> tuple[tuple[RangeRow, ...], Figure | None]:
    members = sample.members(persona_id)
    rows, chart_rows = [], []
    for feature in spec.numeric:
        population = sample.frame[feature.name].astype(float)
        mean = float(population.mean())
        spread = float(population.std(ddof=0)) or 1.0
        own = _quantiles(members[feature.name])
        everyone = _quantiles(population)
        shown = [number(float(v), feature) for v in (*own, *everyone)]
        rows.append(
            RangeRow(
                feature=feature.name,
                unit=feature.unit,
                persona=f"{shown[0]} – {shown[2]}",
                persona_median=shown[1],
                population=f"{shown[3]} – {shown[5]}",
                population_median=shown[4],
            )
        )
        standard = [(float(v) - mean) / spread for v in (*own, *everyone)]
        unit = with_unit("", feature.unit)
        chart_rows.append(
            {
                "feature": feature.name.replace("_", " "),
                "unit": feature.unit,
                "low": standard[0],
                "median": standard[1],
                "high": standard[2],
                "population_low": standard[3],
                "population_high": standard[5],
                "text_persona": f"persona: {shown[0]} – {shown[2]}{unit}",
                "text_median": f"persona median: {shown[1]}{unit}",
                "text_population": f"population: {shown[3]} – {shown[5]}{unit}",
            }
        )
    chart = charts.range_profile(chart_rows, persona_id) if chart_rows and len(members) else None
    return tuple(rows), chart


def _level_chart(spec: FeatureSpec, sample: CustomerSample, persona_id: int) -> Figure | None:
    members = sample.members(persona_id)
    if members.empty or not spec.categorical:
        return None
    rows = []
    for feature in spec.categorical:
        own = members[feature.name].value_counts(normalize=True)
        everyone = sample.frame[feature.name].value_counts(normalize=True)
        for level in feature.levels:
            rows.append(
                {
                    "label": f"{feature.name.replace('_', ' ')}: {level}",
                    "share": float(own.get(level, 0.0)),
                    "population": float(everyone.get(level, 0.0)),
                }
            )
    return charts.level_shares(rows, persona_id)


def _examples(spec: FeatureSpec, closest: pd.DataFrame) -> tuple[Example, ...]:
    examples = []
    for record in closest.to_dict("records"):
        values = []
        for feature in spec.features:
            value = record[feature.name]
            if isinstance(feature, NumericFeature):
                values.append(number(float(value), feature))
            else:
                values.append(str(value))
        examples.append(
            Example(
                masked_id=mask_id(record[spec.id_column]),
                distance=float(record["distance"]),
                confidence=float(record["confidence"]),
                fit=str(record["fit"]),
                values=tuple(values),
            )
        )
    return tuple(examples)


def persona_page(
    version: int,
    catalog: PersonaCatalog,
    persona_id: int,
    *,
    counts: PersonaCounts,
    sample: CustomerSample,
    closest: pd.DataFrame,
) -> PersonaPage:
    """The page of one persona (``catalog.persona`` raises for an unknown id)."""
    persona = catalog.persona(persona_id)
    card = next(c for c in overview(version, catalog, counts).cards if c.persona_id == persona_id)
    position = [p.persona_id for p in catalog.personas].index(persona_id)
    ranges, range_chart = _ranges(catalog.spec, sample, persona_id) if len(sample) else ((), None)
    return PersonaPage(
        version=version,
        card=card,
        threshold=float(catalog.assigner.thresholds_[position]),
        profile_chart=_profile_chart(catalog.spec, persona),
        range_chart=range_chart,
        level_chart=_level_chart(catalog.spec, sample, persona_id) if len(sample) else None,
        ranges=ranges,
        sampled_members=int((sample.persona_id == persona_id).sum()),
        sample_size=len(sample),
        examples=_examples(catalog.spec, closest),
        feature_names=catalog.spec.feature_names,
    )


# -- map ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MapPage:
    """Sampled customers and the centroids on the first two principal components."""

    version: int
    figure: Figure | None
    sample_size: int
    explained: tuple[float, float]


def map_page(version: int, catalog: PersonaCatalog, sample: CustomerSample) -> MapPage:
    """The 2-D map of a customer sample, coloured by persona, with the centroids."""
    names = {p.persona_id: p.name for p in catalog.personas}
    projection = sample.projection
    if not len(sample):
        return MapPage(version=version, figure=None, sample_size=0, explained=(0.0, 0.0))
    points = {}
    for persona in catalog.personas:
        chosen = sample.persona_id == persona.persona_id
        if not chosen.any():
            continue
        xy = projection.customers[chosen]
        fits = np.where(sample.good[chosen], "good fit", "poor fit")
        texts = [f"{persona.name} · {fit}" for fit in fits]
        points[persona.persona_id] = (xy[:, 0].tolist(), xy[:, 1].tolist(), texts)
    centroids = [
        (p.persona_id, p.name, float(xy[0]), float(xy[1]))
        for p, xy in zip(catalog.personas, projection.centroids, strict=True)
    ]
    first, second = projection.explained
    figure = charts.persona_map(
        points,
        centroids,
        names,
        (f"component 1 ({first:.0%} of the variance)", f"component 2 ({second:.0%})"),
    )
    return MapPage(
        version=version, figure=figure, sample_size=len(sample), explained=projection.explained
    )


# -- monitoring -----------------------------------------------------------------------------


@dataclass(frozen=True)
class RunRow:
    """One monitoring run as listed."""

    run_id: int
    current: str
    reference: str
    drifted: bool
    reasons: tuple[str, ...]
    drifted_features: tuple[str, ...]
    poor_fit_reference: float | None
    poor_fit_current: float | None
    catalog_version: int
    candidate_version: int | None
    retraining: str | None
    report_name: str | None
    report_path: str | None
    started_at: datetime


@dataclass(frozen=True)
class MonitoringPage:
    """Drift verdicts over time, the drifted features, the persona mix, the reports."""

    runs: tuple[RunRow, ...]
    verdict_chart: Figure | None
    heatmap: Figure | None
    mix_chart: Figure | None
    mix_basis: str


def _rate(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _report_name(path: str | None, reports_dir: Path | None) -> str | None:
    """The report's file name, if it lies in the folder the dashboard serves reports from."""
    if not path or reports_dir is None:
        return None
    report = Path(path)
    try:
        inside = report.resolve().parent == reports_dir.resolve()
    except OSError:
        return None
    return report.name if inside and report.suffix == ".html" else None


def _retraining(summary: Mapping[str, Any]) -> str | None:
    retraining = summary.get("retraining")
    if not isinstance(retraining, Mapping):
        return None
    comparison = retraining.get("comparison", {})
    champion = _rate(comparison.get("champion", {}).get("poor_fit_rate"))
    challenger = _rate(comparison.get("challenger", {}).get("poor_fit_rate"))
    if champion is None or challenger is None:
        return None
    verdict = "promoted" if retraining.get("promoted") else "awaiting approval"
    return f"poor fit {champion:.1%} (production) → {challenger:.1%} (candidate), {verdict}"


def run_rows(runs: Iterable[Any], reports_dir: Path | None) -> tuple[RunRow, ...]:
    """Monitoring runs (``MonitoringRun`` rows) as listed, in the given order."""
    rows = []
    for run in runs:
        summary = run.summary or {}
        rows.append(
            RunRow(
                run_id=int(run.id),
                current=run.current_cohort,
                reference=run.reference_cohort,
                drifted=bool(run.drifted),
                reasons=tuple(run.reasons or ()),
                drifted_features=tuple(summary.get("drifted_features", ())),
                poor_fit_reference=_rate(summary.get("reference_poor_fit")),
                poor_fit_current=_rate(summary.get("current_poor_fit")),
                catalog_version=int(run.catalog_version),
                candidate_version=run.candidate_version,
                retraining=_retraining(summary),
                report_name=_report_name(run.report_path, reports_dir),
                report_path=run.report_path,
                started_at=run.started_at,
            )
        )
    return tuple(rows)


def _latest_per_cohort(runs: Sequence[Any]) -> list[Any]:
    latest: dict[str, Any] = {}
    for run in runs:  # newest first
        latest.setdefault(run.current_cohort, run)
    return [latest[c] for c in sorted(latest)]


def _heatmap(
    latest: Sequence[Any], metrics: pd.DataFrame, spec: FeatureSpec | None
) -> Figure | None:
    if metrics.empty or not latest:
        return None
    cohort_of = {int(r.id): r.current_cohort for r in latest}
    chosen = metrics[metrics["run_id"].isin(list(cohort_of))].copy()
    if chosen.empty:
        return None
    chosen["cohort"] = chosen["run_id"].map(cohort_of)
    threshold = chosen["threshold"].astype(float).where(chosen["threshold"] > 0)
    chosen["ratio"] = chosen["effect"].astype(float) / threshold
    table = chosen.pivot_table(index="name", columns="cohort", values="ratio", aggfunc="max")
    order = [f for f in (spec.feature_names if spec else ()) if f in table.index]
    order += [f for f in table.index if f not in order]
    table = table.reindex(order)
    ratios = [[None if pd.isna(v) else float(v) for v in row] for row in table.to_numpy()]
    return charts.drift_heatmap(
        [str(f).replace("_", " ") for f in table.index], [str(c) for c in table.columns], ratios
    )


def monitoring_page(
    runs: Sequence[Any],
    metrics: pd.DataFrame,
    *,
    counts: PersonaCounts | None,
    catalog: PersonaCatalog | None,
    reports_dir: Path | None,
) -> MonitoringPage:
    """The monitoring page from the runs (newest first), their feature metrics and the counts."""
    latest = _latest_per_cohort(runs)
    declared = len(catalog.spec.features) if catalog else 0
    verdict_chart = None
    if latest:
        drift_shares = []
        for run in latest:
            features = _features(run, metrics) or declared
            drifted_features = len((run.summary or {}).get("drifted_features", ()))
            drift_shares.append(drifted_features / features if features else 0.0)
        verdict_chart = charts.verdicts(
            [r.current_cohort for r in latest],
            drift_shares,
            [bool(r.drifted) for r in latest],
            ["; ".join(r.reasons or ()) or "no drift" for r in latest],
        )
    drifted = [r.current_cohort for r in latest if r.drifted]
    names = {p.persona_id: p.name for p in catalog.personas} if catalog else {}
    mix_chart, basis = None, ""
    if counts is not None and not counts.empty:
        _, shares = _shares(counts)
        mix_chart = charts.persona_mix(
            [str(c) for c in shares.index],
            {int(p): shares[p].astype(float).tolist() for p in shares.columns},
            names,
            drifted=drifted,
        )
        basis = "assigned customers per cohort (production catalog)"
    elif latest:
        mixes: dict[str, Mapping[str, float]] = {}
        for run in latest:
            summary = run.summary or {}
            mixes.setdefault(run.reference_cohort, summary.get("reference_mix", {}))
            mixes[run.current_cohort] = summary.get("current_mix", {})
        cohorts = sorted(mixes)
        ids = sorted({int(i) for mix in mixes.values() for i in mix})
        mix_chart = charts.persona_mix(
            cohorts,
            {i: [float(mixes[c].get(str(i), 0.0)) for c in cohorts] for i in ids},
            names,
            drifted=drifted,
        )
        basis = "the monitored cohorts, as each monitoring run assigned them"
    return MonitoringPage(
        runs=run_rows(runs, reports_dir),
        verdict_chart=verdict_chart,
        heatmap=_heatmap(latest, metrics, catalog.spec if catalog else None),
        mix_chart=mix_chart,
        mix_basis=basis,
    )


def _features(run: Any, metrics: pd.DataFrame) -> int:
    if metrics.empty:
        return 0
    return int((metrics["run_id"] == run.id).sum())


# -- model history --------------------------------------------------------------------------


@dataclass(frozen=True)
class VersionRow:
    """A registered catalog version."""

    version: int
    aliases: tuple[str, ...]
    created_at: datetime
    origin: str
    spec: str
    checks: str
    personas: str


@dataclass(frozen=True)
class ComparedPersona:
    """A persona in production, in the candidate, or in both (matched by stable id)."""

    persona_id: int
    production_name: str | None
    production_share: float | None
    candidate_name: str | None
    candidate_share: float | None
    status: str


@dataclass(frozen=True)
class Comparison:
    """The candidate against production: personas, shares, checks."""

    production_version: int
    candidate_version: int
    personas: tuple[ComparedPersona, ...]
    chart: Figure
    checks: tuple[Check, ...]
    retraining: str | None

    @property
    def checks_passed(self) -> bool:
        """Whether every check of the candidate passed."""
        return all(check.passed for check in self.checks)


@dataclass(frozen=True)
class EventRow:
    """One entry of the audit trail."""

    at: datetime
    actor: str
    action: str
    versions: str
    reason: str
    details: str


def version_rows(versions: Iterable[Any]) -> tuple[VersionRow, ...]:
    """Registered versions (``CatalogVersion``) as listed."""
    return tuple(
        VersionRow(
            version=v.version,
            aliases=tuple(v.aliases),
            created_at=v.created_at,
            origin=v.tags.get("personamap.origin", ""),
            spec=v.tags.get("personamap.spec", ""),
            checks=v.tags.get("personamap.checks", ""),
            personas=v.tags.get("personamap.personas", ""),
        )
        for v in versions
    )


def comparison(
    production: tuple[int, PersonaCatalog],
    candidate: tuple[int, PersonaCatalog],
    *,
    retraining: str | None = None,
) -> Comparison:
    """Production and candidate side by side; matched personas share their stable id."""
    (p_version, p_catalog), (c_version, c_catalog) = production, candidate
    old = {p.persona_id: p for p in p_catalog.personas}
    new = {p.persona_id: p for p in c_catalog.personas}
    rows = []
    for pid in sorted(set(old) | set(new)):
        before, after = old.get(pid), new.get(pid)
        status = "kept" if before and after else "new" if after else "vanished"
        rows.append(
            ComparedPersona(
                persona_id=pid,
                production_name=before.name if before else None,
                production_share=float(before.share) if before else None,
                candidate_name=after.name if after else None,
                candidate_share=float(after.share) if after else None,
                status=status,
            )
        )
    chart = charts.share_comparison(
        [r.persona_id for r in rows],
        [r.candidate_name or r.production_name or "" for r in rows],
        [r.production_share for r in rows],
        [r.candidate_share for r in rows],
        (p_version, c_version),
    )
    return Comparison(
        production_version=p_version,
        candidate_version=c_version,
        personas=tuple(rows),
        chart=chart,
        checks=c_catalog.checks,
        retraining=retraining,
    )


def _details(action: str, details: Mapping[str, Any]) -> str:
    if action == "rename":
        persona, old, new = (details.get(k) for k in ("persona_id", "from", "to"))
        return f"persona {persona}: {old!r} → {new!r}"
    if action == "promote":
        return "forced past failed checks" if details.get("forced") else ""
    if action == "register":
        return ", ".join(f"{key} {details[key]}" for key in ("origin", "alias") if details.get(key))
    return ""


def event_rows(events: Iterable[Any]) -> tuple[EventRow, ...]:
    """Audit trail entries (``ModelEvent`` rows) as listed."""
    rows = []
    for event in events:
        if event.from_version is not None and event.to_version is not None:
            versions = f"v{event.from_version} → v{event.to_version}"
        elif event.to_version is not None:
            versions = f"v{event.to_version}"
        else:
            versions = ""
        rows.append(
            EventRow(
                at=event.at,
                actor=event.actor,
                action=event.action,
                versions=versions,
                reason=event.reason or "",
                details=_details(event.action, event.details or {}),
            )
        )
    return tuple(rows)


# -- assign a customer ----------------------------------------------------------------------


@dataclass(frozen=True)
class FormField:
    """An input of the assign form, derived from a feature of the spec."""

    name: str
    label: str
    kind: str
    unit: str
    description: str
    minimum: float | None
    maximum: float | None
    step: str
    levels: tuple[str, ...]
    value: str
    error: str | None


@dataclass(frozen=True)
class AssignResult:
    """The assignment of the customer entered in the form."""

    persona_id: int
    name: str
    colour: str
    distance: float
    threshold: float
    confidence: float
    fit: str


def form_fields(
    spec: FeatureSpec, values: Mapping[str, str], errors: Mapping[str, str]
) -> tuple[FormField, ...]:
    """One input per feature, with the values entered and any error naming the field."""
    fields = []
    for feature in spec.features:
        numeric = isinstance(feature, NumericFeature)
        fields.append(
            FormField(
                name=feature.name,
                label=feature.name.replace("_", " "),
                kind="numeric" if numeric else "categorical",
                unit=feature.unit,
                description=feature.description,
                minimum=feature.min if isinstance(feature, NumericFeature) else None,
                maximum=feature.max if isinstance(feature, NumericFeature) else None,
                step="1" if isinstance(feature, NumericFeature) and feature.integer else "any",
                levels=feature.levels if isinstance(feature, CategoricalFeature) else (),
                value=values.get(feature.name, ""),
                error=errors.get(feature.name),
            )
        )
    return tuple(fields)


def typical_values(catalog: PersonaCatalog, persona_id: int) -> dict[str, str]:
    """The form values of a typical customer of a persona (its centroid, rounded)."""
    centroid = catalog.assigner.centroids_in_units().loc[persona_id].to_dict()
    values = {}
    for feature in catalog.spec.features:
        if isinstance(feature, NumericFeature):
            value = min(max(float(centroid[feature.name]), feature.min), feature.max)
            values[feature.name] = f"{value:.0f}" if feature.integer else f"{value:.1f}"
        else:
            shares = {
                level: float(centroid[f"{feature.name}{LEVEL_SEPARATOR}{level}"])
                for level in feature.levels
            }
            values[feature.name] = max(shares, key=lambda level: shares[level])
    return values


def assign_entered(
    catalog: PersonaCatalog, values: Mapping[str, str]
) -> tuple[AssignResult | None, dict[str, str]]:
    """Validate the entered values against the spec and assign them.

    Returns:
        The assignment, or None and the problems by field (each naming the value).
    """
    record = {name: values.get(name, "") for name in catalog.spec.feature_names}
    checked = validate_records(catalog.spec, [record])
    if checked.n_rejected:
        errors: dict[str, str] = {}
        for reason in str(checked.rejects.iloc[0]["reason"]).split("; "):
            field, _, message = reason.partition(": ")
            errors.setdefault(field, f"{field.replace('_', ' ')}: {message}")
        return None, errors
    assigned = catalog.assign(checked.valid.loc[:, list(catalog.spec.feature_names)]).iloc[0]
    persona_id = int(assigned["persona_id"])
    position = [p.persona_id for p in catalog.personas].index(persona_id)
    return (
        AssignResult(
            persona_id=persona_id,
            name=str(assigned["persona_name"]),
            colour=charts.colour(persona_id),
            distance=float(assigned["distance"]),
            threshold=float(catalog.assigner.thresholds_[position]),
            confidence=float(assigned["confidence"]),
            fit=str(assigned["fit"]),
        ),
        {},
    )
