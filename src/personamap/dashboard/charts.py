"""Plotly figures as plain dicts (``data`` and ``layout``), drawn in the page by plotly.js.

Built by hand rather than with ``plotly.graph_objects``: the page only needs the JSON, and the
Python object model would cost more than the rest of a request. Every number is finite or
``None`` (JSON has no NaN). A persona keeps its colour on every chart: it follows the stable id.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

PALETTE = ("#3465a4", "#f57900", "#4e9a06", "#cc0000", "#75507b", "#c4a000", "#06989a", "#555753")
POPULATION_COLOUR = "#babdb6"
DRIFT_COLOUR = "#cc0000"
STABLE_COLOUR = "#4e9a06"
Figure = dict[str, Any]


def colour(persona_id: int) -> str:
    """The colour of a persona, the same on every chart and page."""
    return PALETTE[(persona_id - 1) % len(PALETTE)]


def finite(values: Iterable[float | None]) -> list[float | None]:
    """Values with NaN and infinities as ``None`` (a gap in the chart)."""
    return [None if v is None or not math.isfinite(v) else float(v) for v in values]


def _layout(**extra: Any) -> dict[str, Any]:
    layout: dict[str, Any] = {
        "margin": {"l": 50, "r": 20, "t": 30, "b": 40},
        "font": {"family": "system-ui, sans-serif", "size": 12},
        "paper_bgcolor": "rgba(0,0,0,0)",
        "plot_bgcolor": "rgba(0,0,0,0)",
        "hovermode": "closest",
    }
    layout.update(extra)
    return layout


def share_trend(cohorts: Sequence[str], shares: Sequence[float], persona_id: int) -> Figure:
    """A small line of a persona's share of customers per cohort (for its card)."""
    return {
        "data": [
            {
                "type": "scatter",
                "mode": "lines+markers",
                "x": list(cohorts),
                "y": finite(shares),
                "line": {"color": colour(persona_id), "width": 2},
                "marker": {"size": 5},
                "hovertemplate": "%{x}: %{y:.1%}<extra></extra>",
            }
        ],
        "layout": _layout(
            margin={"l": 40, "r": 8, "t": 6, "b": 24},
            showlegend=False,
            xaxis={"type": "category", "tickfont": {"size": 10}},
            yaxis={"tickformat": ".0%", "rangemode": "tozero", "tickfont": {"size": 10}},
        ),
    }


def persona_mix(
    cohorts: Sequence[str],
    shares: Mapping[int, Sequence[float]],
    names: Mapping[int, str],
    *,
    drifted: Iterable[str] = (),
) -> Figure:
    """Stacked shares of the personas per cohort; drifted cohorts are marked."""
    data = [
        {
            "type": "bar",
            "name": f"{persona_id} {names.get(persona_id, '')}",
            "x": list(cohorts),
            "y": finite(values),
            "marker": {"color": colour(persona_id)},
            "hovertemplate": "%{x}: %{y:.1%}<extra>" + names.get(persona_id, "") + "</extra>",
        }
        for persona_id, values in shares.items()
    ]
    annotations = [
        {"x": c, "y": 1.04, "text": "drift", "showarrow": False, "font": {"color": DRIFT_COLOUR}}
        for c in drifted
        if c in cohorts
    ]
    return {
        "data": data,
        "layout": _layout(
            barmode="stack",
            xaxis={"type": "category"},
            yaxis={"tickformat": ".0%", "range": [0, 1.08], "title": {"text": "share"}},
            legend={"orientation": "h", "y": -0.12, "yanchor": "top", "traceorder": "normal"},
            annotations=annotations,
        ),
    }


def range_profile(rows: Sequence[Mapping[str, Any]], persona_id: int) -> Figure:
    """Per numeric feature, the persona's typical range against the population's.

    Each row has ``feature``, ``unit`` and, in population standard deviations from the
    population mean, ``population_low``/``population_high``, ``low``/``high``, ``median``;
    the values in units are in the hover text (``text_*``).
    """
    features = [r["feature"] for r in rows]
    population = {
        "type": "bar",
        "orientation": "h",
        "name": "population (middle 80%)",
        "y": features,
        "base": finite(r["population_low"] for r in rows),
        "x": finite(r["population_high"] - r["population_low"] for r in rows),
        "marker": {"color": POPULATION_COLOUR},
        "width": 0.7,
        "hovertext": [r["text_population"] for r in rows],
        "hoverinfo": "text",
    }
    persona = {
        "type": "bar",
        "orientation": "h",
        "name": "persona (middle 80%)",
        "y": features,
        "base": finite(r["low"] for r in rows),
        "x": finite(r["high"] - r["low"] for r in rows),
        "marker": {"color": colour(persona_id), "opacity": 0.85},
        "width": 0.35,
        "hovertext": [r["text_persona"] for r in rows],
        "hoverinfo": "text",
    }
    medians = {
        "type": "scatter",
        "mode": "markers",
        "name": "persona median",
        "y": features,
        "x": finite(r["median"] for r in rows),
        "marker": {"color": "#2e3436", "symbol": "line-ns-open", "size": 16, "line": {"width": 3}},
        "hovertext": [r["text_median"] for r in rows],
        "hoverinfo": "text",
    }
    return {
        "data": [population, persona, medians],
        "layout": _layout(
            barmode="overlay",
            margin={"l": 170, "r": 20, "t": 10, "b": 40},
            xaxis={
                "title": {"text": "standard deviations from the population mean"},
                "zeroline": True,
                "zerolinecolor": "#888a85",
            },
            yaxis={"autorange": "reversed"},
            legend={"orientation": "h", "y": -0.2},
        ),
    }


def level_shares(rows: Sequence[Mapping[str, Any]], persona_id: int) -> Figure:
    """Shares of categorical levels in the persona against the population.

    Each row has ``label`` (``feature: level``), ``share`` and ``population``.
    """
    labels = [r["label"] for r in rows]
    return {
        "data": [
            {
                "type": "bar",
                "name": "population",
                "x": labels,
                "y": finite(r["population"] for r in rows),
                "marker": {"color": POPULATION_COLOUR},
                "hovertemplate": "%{x}: %{y:.0%}<extra>population</extra>",
            },
            {
                "type": "bar",
                "name": "persona",
                "x": labels,
                "y": finite(r["share"] for r in rows),
                "marker": {"color": colour(persona_id)},
                "hovertemplate": "%{x}: %{y:.0%}<extra>persona</extra>",
            },
        ],
        "layout": _layout(
            barmode="group",
            yaxis={"tickformat": ".0%", "rangemode": "tozero"},
            legend={"orientation": "h", "x": 0, "y": 1.02, "yanchor": "bottom"},
            margin={"l": 50, "r": 20, "t": 30, "b": 90},
        ),
    }


def persona_map(
    points: Mapping[int, tuple[Sequence[float], Sequence[float], Sequence[str]]],
    centroids: Sequence[tuple[int, str, float, float]],
    names: Mapping[int, str],
    axis_titles: tuple[str, str],
) -> Figure:
    """Customers as dots coloured by persona, centroids as large labelled markers.

    ``points`` maps a persona id to the x and y of its customers and their hover text.
    """
    data: list[dict[str, Any]] = [
        {
            "type": "scattergl" if len(xs) > 1000 else "scatter",
            "mode": "markers",
            "name": f"{persona_id} {names.get(persona_id, '')}",
            "x": finite(xs),
            "y": finite(ys),
            "text": list(texts),
            "hovertemplate": "%{text}<extra></extra>",
            "marker": {"color": colour(persona_id), "size": 5, "opacity": 0.55},
        }
        for persona_id, (xs, ys, texts) in points.items()
    ]
    data.append(
        {
            "type": "scatter",
            "mode": "markers+text",
            "name": "centroids",
            "x": finite(c[2] for c in centroids),
            "y": finite(c[3] for c in centroids),
            "text": [str(c[0]) for c in centroids],
            "hovertext": [f"centroid of {c[0]} {c[1]}" for c in centroids],
            "hoverinfo": "text",
            "textfont": {"color": "#ffffff", "size": 11},
            "marker": {
                "color": [colour(c[0]) for c in centroids],
                "size": 22,
                "symbol": "diamond",
                "line": {"color": "#2e3436", "width": 2},
            },
        }
    )
    return {
        "data": data,
        "layout": _layout(
            xaxis={"title": {"text": axis_titles[0]}, "zeroline": False},
            yaxis={"title": {"text": axis_titles[1]}, "zeroline": False},
            legend={"orientation": "h", "y": -0.15},
        ),
    }


def verdicts(
    cohorts: Sequence[str],
    drifted_share: Sequence[float],
    drifted: Sequence[bool],
    texts: Sequence[str],
) -> Figure:
    """The drift verdict per cohort over time: share of drifted features, red when drifted."""
    return {
        "data": [
            {
                "type": "bar",
                "x": list(cohorts),
                "y": finite(drifted_share),
                "text": ["drift" if d else "no drift" for d in drifted],
                "textposition": "outside",
                "hovertext": list(texts),
                "hoverinfo": "text",
                "marker": {"color": [DRIFT_COLOUR if d else STABLE_COLOUR for d in drifted]},
            }
        ],
        "layout": _layout(
            showlegend=False,
            xaxis={"type": "category", "title": {"text": "cohort"}},
            yaxis={
                "tickformat": ".0%",
                "range": [0, 1.15],
                "title": {"text": "features drifted"},
            },
        ),
    }


def drift_heatmap(
    features: Sequence[str], cohorts: Sequence[str], ratio: Sequence[Sequence[float | None]]
) -> Figure:
    """Effect size over its threshold per feature (rows) and cohort (columns); >= 1 counts."""
    return {
        "data": [
            {
                "type": "heatmap",
                "x": list(cohorts),
                "y": list(features),
                "z": [finite(row) for row in ratio],
                "zmin": 0,
                "zmax": 2,
                "colorscale": [[0, "#f7f7f7"], [0.5, "#fcaf3e"], [1, "#a40000"]],
                "colorbar": {"title": {"text": "effect / threshold"}},
                "hovertemplate": "%{y} in %{x}: %{z:.2f} x threshold<extra></extra>",
            }
        ],
        "layout": _layout(
            margin={"l": 170, "r": 20, "t": 10, "b": 40},
            xaxis={"type": "category"},
            yaxis={"autorange": "reversed"},
        ),
    }


def share_comparison(
    persona_ids: Sequence[int],
    names: Sequence[str],
    production: Sequence[float | None],
    candidate: Sequence[float | None],
    versions: tuple[int, int],
) -> Figure:
    """Persona shares in production against the candidate, persona by persona (by stable id)."""
    ids = [str(i) for i in persona_ids]
    return {
        "data": [
            {
                "type": "bar",
                "name": f"production (v{versions[0]})",
                "x": ids,
                "y": finite(production),
                "customdata": list(names),
                "marker": {"color": PALETTE[0]},
                "hovertemplate": "%{x} %{customdata}: %{y:.1%}<extra>production</extra>",
            },
            {
                "type": "bar",
                "name": f"candidate (v{versions[1]})",
                "x": ids,
                "y": finite(candidate),
                "customdata": list(names),
                "marker": {"color": PALETTE[1]},
                "hovertemplate": "%{x} %{customdata}: %{y:.1%}<extra>candidate</extra>",
            },
        ],
        "layout": _layout(
            barmode="group",
            xaxis={"type": "category", "title": {"text": "persona id"}},
            yaxis={"tickformat": ".0%", "rangemode": "tozero", "title": {"text": "share"}},
            legend={"orientation": "h", "x": 0, "y": 1.02, "yanchor": "bottom"},
            margin={"l": 50, "r": 20, "t": 30, "b": 50},
        ),
    }


def z_profile(labels: Sequence[str], z: Sequence[float], persona_id: int) -> Figure:
    """How far the persona sits from the population on each feature (z-scores)."""
    return {
        "data": [
            {
                "type": "bar",
                "orientation": "h",
                "y": list(labels),
                "x": finite(z),
                "marker": {
                    "color": [colour(persona_id) if v >= 0 else POPULATION_COLOUR for v in z]
                },
                "hovertemplate": "%{y}: z %{x:+.2f}<extra></extra>",
            }
        ],
        "layout": _layout(
            showlegend=False,
            margin={"l": 210, "r": 20, "t": 10, "b": 40},
            xaxis={
                "title": {"text": "z-score against the population"},
                "zeroline": True,
                "zerolinecolor": "#888a85",
            },
            yaxis={"autorange": "reversed", "tickfont": {"size": 11}},
        ),
    }
