"""Matplotlib figures for reports, returned as base64 PNG data URIs (self-contained HTML).

Figures are built with the object-oriented API (no pyplot), so no global backend or state.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

REFERENCE_COLOUR = "#3465a4"
CURRENT_COLOUR = "#f57900"
PALETTE = ("#3465a4", "#f57900", "#4e9a06", "#cc0000", "#75507b", "#c4a000", "#06989a", "#555753")


def data_uri(figure: Figure) -> str:
    """The figure as a PNG data URI."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=96, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def compare_numeric(
    name: str, unit: str, reference: np.ndarray, current: np.ndarray, labels: tuple[str, str]
) -> str:
    """Overlaid density histograms of a numeric feature in two cohorts."""
    figure = Figure(figsize=(5.2, 3.0))
    axis = figure.subplots()
    both = np.concatenate([reference, current])
    bins = np.histogram_bin_edges(both, bins=40).tolist()
    axis.hist(
        reference, bins=bins, density=True, alpha=0.55, color=REFERENCE_COLOUR, label=labels[0]
    )
    axis.hist(current, bins=bins, density=True, alpha=0.55, color=CURRENT_COLOUR, label=labels[1])
    axis.set_title(name)
    axis.set_xlabel(unit or name)
    axis.legend(frameon=False)
    return data_uri(figure)


def compare_levels(
    name: str,
    levels: Sequence[str],
    reference: pd.Series,
    current: pd.Series,
    labels: tuple[str, str],
) -> str:
    """Side-by-side level shares of a categorical feature in two cohorts."""
    ref = reference.value_counts(normalize=True).reindex(list(levels), fill_value=0.0)
    cur = current.value_counts(normalize=True).reindex(list(levels), fill_value=0.0)
    figure = Figure(figsize=(5.2, 3.0))
    axis = figure.subplots()
    x = np.arange(len(levels))
    axis.bar(x - 0.2, ref.to_numpy(), width=0.4, color=REFERENCE_COLOUR, label=labels[0])
    axis.bar(x + 0.2, cur.to_numpy(), width=0.4, color=CURRENT_COLOUR, label=labels[1])
    axis.set_xticks(x, levels)
    axis.set_title(name)
    axis.set_ylabel("share")
    axis.legend(frameon=False)
    return data_uri(figure)


def persona_mix(mix: pd.DataFrame, names: Mapping[int, str], highlight: Sequence[str] = ()) -> str:
    """Stacked shares of personas per cohort (rows: cohorts, columns: persona ids)."""
    figure = Figure(figsize=(7.5, 3.4))
    axis = figure.subplots()
    bottom = np.zeros(len(mix))
    for i, persona_id in enumerate(mix.columns):
        values = mix[persona_id].to_numpy()
        axis.bar(
            mix.index.astype(str),
            values,
            bottom=bottom,
            color=PALETTE[i % len(PALETTE)],
            label=f"{persona_id} {names.get(int(persona_id), '')}",
        )
        bottom += values
    for position, cohort in enumerate(mix.index.astype(str)):
        if cohort in highlight:
            axis.annotate("drift", (position, 1.01), ha="center", color="#cc0000", fontsize=9)
    axis.set_ylim(0, 1.08)
    axis.set_ylabel("share of customers")
    axis.set_title("Persona mix per cohort")
    axis.legend(frameon=False, fontsize=8, bbox_to_anchor=(1.01, 1), loc="upper left")
    return data_uri(figure)
