"""Persona profiles: how each persona differs from the whole population, and a suggested name.

For each persona: its size and share, per numeric feature the mean and its z-score against the
population, ``(persona mean - population mean) / population std``, and per categorical level the
share and its standardized difference, ``(persona share - population share) / sqrt(p (1 - p))``
with ``p`` the population share (the z of a 0/1 indicator, so both kinds are comparable). The
traits with the largest absolute z (numeric) or largest positive z (over-represented levels, one
per categorical feature) are the top distinguishing features; the suggested name lists them, e.g.
"High household income, high sustainability attitude, preferred channel: online". Everything is
deterministic: ties go to the feature declared first in the spec.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from personamap.domain.preprocessing import SpecScaler, level_column
from personamap.domain.spec import FeatureSpec
from personamap.errors import AssignmentError

TOP_N = 3
MIN_ABS_Z = 0.5
AVERAGE_NAME = "Close to the average customer"


@dataclass(frozen=True)
class Trait:
    """One way a persona stands out from the population.

    Attributes:
        feature: The feature's name.
        level: The over-represented level (categorical features), else ``None``.
        value: The persona's mean (numeric, in the feature's unit) or level share.
        population: The population's mean or level share.
        z: The z-score or standardized share difference.
        label: Short wording for names, e.g. ``high household income``.
    """

    feature: str
    level: str | None
    value: float
    population: float
    z: float
    label: str


@dataclass(frozen=True)
class PersonaProfile:
    """A persona described against the whole population.

    Attributes:
        persona_id: The persona's id.
        size: Number of customers in the persona.
        share: Share of all customers.
        means: Numeric feature -> persona mean (feature units).
        level_shares: Categorical feature -> level -> share within the persona.
        z_scores: Numeric feature or ``feature=level`` -> z (see the module docstring).
        top_traits: The most distinguishing traits, strongest first.
        suggested_name: A descriptive name built from the top traits.
        description: One sentence per top trait with values and units.
    """

    persona_id: int
    size: int
    share: float
    means: dict[str, float]
    level_shares: dict[str, dict[str, float]]
    z_scores: dict[str, float]
    top_traits: tuple[Trait, ...]
    suggested_name: str
    description: str


def profile_personas(
    spec: FeatureSpec,
    frame: pd.DataFrame,
    persona_labels: np.ndarray | Sequence[int],
    *,
    persona_ids: Sequence[int] | None = None,
    top_n: int = TOP_N,
    min_abs_z: float = MIN_ABS_Z,
) -> tuple[PersonaProfile, ...]:
    """Profile each persona of ``frame`` against all of ``frame``.

    Args:
        spec: The feature spec.
        frame: Customers (clean, typed) with every feature of the spec.
        persona_labels: The persona id of each row of ``frame``.
        persona_ids: Personas to profile, in output order (default: the labels' distinct ids in
            increasing order); a persona without customers gets NaN values, no traits and a
            warning.
        top_n: Most traits in a name.
        min_abs_z: Smallest absolute z that counts as a trait.

    Raises:
        AssignmentError: when a feature is missing or invalid, or labels do not fit the frame.
    """
    labels = np.asarray(persona_labels)
    if labels.shape != (len(frame),):
        raise AssignmentError(
            f"need one persona label per customer: {labels.size} labels for {len(frame)} rows"
        )
    if len(frame) == 0:
        raise AssignmentError("cannot profile personas of an empty frame")
    scaler = SpecScaler(spec, categorical_weight=1.0).fit(frame)
    encoded = scaler.transform(frame)
    ids = sorted({int(i) for i in labels.tolist()}) if persona_ids is None else list(persona_ids)
    population = encoded.mean(axis=0)
    profiles = []
    for persona_id in ids:
        members = encoded[labels == persona_id]
        size = len(members)
        if size == 0:
            warnings.warn(f"persona {persona_id} has no customers to profile", stacklevel=2)
        with np.errstate(invalid="ignore"):
            centre = members.mean(axis=0) if size else np.full(encoded.shape[1], np.nan)
        profiles.append(
            _profile(
                spec,
                scaler,
                int(persona_id),
                size,
                len(frame),
                centre,
                population,
                top_n,
                min_abs_z,
            )
        )
    return _distinct_names(profiles)


def profiles_frame(profiles: Sequence[PersonaProfile]) -> pd.DataFrame:
    """The profiles as a table, one row per persona (for display and as a run artifact).

    Columns: ``persona_id``, ``suggested_name``, ``size``, ``share``, ``top_traits``, then per
    numeric feature its mean and ``<feature>_z``, per categorical level its share and z.
    """
    rows = []
    for profile in profiles:
        row: dict[str, object] = {
            "persona_id": profile.persona_id,
            "suggested_name": profile.suggested_name,
            "size": profile.size,
            "share": profile.share,
            "top_traits": "; ".join(t.label for t in profile.top_traits),
        }
        for name, mean in profile.means.items():
            row[name] = mean
            row[f"{name}_z"] = profile.z_scores[name]
        for name, shares in profile.level_shares.items():
            for level, share in shares.items():
                column = level_column(name, level)
                row[column] = share
                row[f"{column}_z"] = profile.z_scores[column]
        rows.append(row)
    return pd.DataFrame(rows)


def _label(name: str) -> str:
    return name.replace("_", " ")


def _profile(
    spec: FeatureSpec,
    scaler: SpecScaler,
    persona_id: int,
    size: int,
    total: int,
    centre: np.ndarray,
    population: np.ndarray,
    top_n: int,
    min_abs_z: float,
) -> PersonaProfile:
    means: dict[str, float] = {}
    z_scores: dict[str, float] = {}
    level_shares: dict[str, dict[str, float]] = {}
    candidates: list[tuple[float, int, int, Trait]] = []
    for j, feature in enumerate(spec.numeric):
        z = float(centre[j])
        mean = z * float(scaler.scale_[j]) + float(scaler.center_[j])
        means[feature.name] = mean
        z_scores[feature.name] = z
        if abs(z) >= min_abs_z:
            word = "high" if z > 0 else "low"
            trait = Trait(
                feature.name,
                None,
                mean,
                float(scaler.center_[j]),
                z,
                f"{word} {_label(feature.name)}",
            )
            candidates.append((-abs(z), j, 0, trait))
    offset = len(spec.numeric)
    for position, cat in enumerate(spec.categorical, start=len(spec.numeric)):
        shares: dict[str, float] = {}
        best: tuple[float, int, int, Trait] | None = None
        for i, level in enumerate(cat.levels):
            share = float(centre[offset + i])
            p = float(population[offset + i])
            spread = np.sqrt(p * (1.0 - p))
            z = (share - p) / spread if spread > 0 else 0.0
            shares[level] = share
            z_scores[level_column(cat.name, level)] = z
            if z >= min_abs_z and (best is None or z > -best[0]):
                trait = Trait(cat.name, level, share, p, z, f"{_label(cat.name)}: {level}")
                best = (-z, position, i, trait)
        level_shares[cat.name] = shares
        if best is not None:
            candidates.append(best)
        offset += len(cat.levels)
    top = tuple(c[3] for c in sorted(candidates, key=lambda c: c[:3])[:top_n])
    return PersonaProfile(
        persona_id=persona_id,
        size=size,
        share=size / total,
        means=means,
        level_shares=level_shares,
        z_scores=z_scores,
        top_traits=top,
        suggested_name=_name(top),
        description=" ".join(_sentence(spec, t) for t in top),
    )


def _name(traits: Sequence[Trait]) -> str:
    if not traits:
        return AVERAGE_NAME
    text = ", ".join(t.label for t in traits)
    return text[0].upper() + text[1:]


def _sentence(spec: FeatureSpec, trait: Trait) -> str:
    label = _label(trait.feature)
    if trait.level is None:
        unit = spec.feature(trait.feature).unit
        # "150 kEUR/year" reads well, "1.93 0-10 score" does not: a unit with digits is bracketed.
        shown = f" ({unit})" if any(c.isdigit() for c in unit) else f" {unit}" if unit else ""
        return (
            f"{label}: {trait.value:.3g}{shown} vs {trait.population:.3g} in the population "
            f"(z {trait.z:+.2f})."
        )
    return (
        f"{label}: {trait.value:.0%} {trait.level} vs {trait.population:.0%} in the population "
        f"(z {trait.z:+.2f})."
    )


def _distinct_names(profiles: list[PersonaProfile]) -> tuple[PersonaProfile, ...]:
    """Suffix the persona id to names that two personas would share, so names stay distinct."""
    names = [p.suggested_name for p in profiles]
    out = []
    for profile in profiles:
        if names.count(profile.suggested_name) > 1:
            name = f"{profile.suggested_name} (persona {profile.persona_id})"
            profile = replace(profile, suggested_name=name)
        out.append(profile)
    return tuple(out)
