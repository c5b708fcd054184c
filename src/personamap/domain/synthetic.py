"""Synthetic monthly cohorts of customers drawn from known personas.

A *persona definition* (TOML, one per feature spec) declares the personas a customer base is made
of: per persona a share and, per feature, a mean and spread (numeric) or level probabilities
(categorical). Sampling it gives customers whose true persona is known, so that discovery,
assignment and drift monitoring can be checked against the truth.

Cohorts are monthly. Each month is drawn from its own random stream, derived from one seed and the
month, so a month's sample never depends on which other months are generated. A
:class:`DriftScenario` changes the personas of chosen months: a persona moves (``shift``), all
personas widen (``spread``), a new segment appears (``emerging``) or the shares change (``mix``).
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from itertools import count, pairwise
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Literal, get_args

import numpy as np
import numpy.typing as npt
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from personamap.domain.cohort import month_bounds, months_between, parse_month
from personamap.domain.spec import SHIPPED_SPECS, FeatureSpec
from personamap.errors import SpecError

__all__ = [
    "DEFAULT_MAGNITUDE",
    "DEMO_DRIFT",
    "DEMO_MONTHS",
    "DEMO_N_PER_MONTH",
    "DEMO_SEED",
    "DRIFT_KINDS",
    "TIME_ZONES",
    "Cohort",
    "DriftScenario",
    "NumericProfile",
    "Persona",
    "PersonaDefinition",
    "check_personas",
    "generate_cohort",
    "generate_cohorts",
    "load_personas",
    "months_between",
    "parse_drift",
    "parse_personas",
    "sample_customers",
]

SHARE_TOLERANCE = 1e-6
TIME_ZONES = (
    "America/Los_Angeles",
    "America/New_York",
    "UTC",
    "Europe/London",
    "Europe/Berlin",
    "Asia/Kolkata",
    "Asia/Tokyo",
    "Australia/Sydney",
)
"""Home time zones of synthetic customers; Kolkata's +05:30 exercises a non-whole-hour offset."""

DriftKind = Literal["none", "shift", "spread", "emerging", "mix"]
DRIFT_KINDS: tuple[DriftKind, ...] = get_args(DriftKind)
DEFAULT_MAGNITUDE: Mapping[DriftKind, float] = MappingProxyType(
    {"shift": 3.0, "spread": 2.5, "emerging": 0.2, "mix": 0.6}
)
_EMERGING_REACH = 1.5  # how many spreads beyond the outermost persona a new segment may sit
_EMERGING_FAVOURITE = 0.6  # probability the new segment gives its favourite (the rarest) level

DEMO_MONTHS = ("2025-01", "2025-02", "2025-03", "2025-04", "2025-05")
DEMO_N_PER_MONTH = 500
DEMO_SEED = 42

_Int = npt.NDArray[np.int64]


# -- persona definitions ----------------------------------------------------------------------


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class NumericProfile(_Frozen):
    """One persona's values of one numeric feature: Normal(mean, spread), clipped to the range."""

    mean: Annotated[float, Field(allow_inf_nan=False)]
    spread: Annotated[float, Field(ge=0, allow_inf_nan=False)]


_Probability = Annotated[float, Field(ge=0, le=1)]


class Persona(_Frozen):
    """A persona of a synthetic population: its share and how its features are distributed.

    ``categorical`` maps each categorical feature to level probabilities; a level left out has
    probability 0.
    """

    name: Annotated[str, Field(min_length=1)]
    description: str = ""
    share: Annotated[float, Field(gt=0, le=1)]
    numeric: dict[str, NumericProfile] = Field(default_factory=dict)
    categorical: dict[str, dict[str, _Probability]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _probabilities_sum_to_one(self) -> Persona:
        for feature, probabilities in self.categorical.items():
            total = sum(probabilities.values())
            if abs(total - 1.0) > SHARE_TOLERANCE:
                raise ValueError(
                    f"persona {self.name!r}: probabilities of {feature!r} sum to {total:g}, "
                    f"not 1: {probabilities}"
                )
        return self


class PersonaDefinition(_Frozen):
    """The personas of a synthetic population for one feature spec; shares sum to 1."""

    spec: str | None = Field(None, description="Name of the feature spec this definition is for.")
    description: str = ""
    personas: Annotated[tuple[Persona, ...], Field(min_length=1)]

    @model_validator(mode="after")
    def _shares_sum_to_one(self) -> PersonaDefinition:
        names = [p.name for p in self.personas]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"persona names repeat: {repeated}")
        total = sum(p.share for p in self.personas)
        if abs(total - 1.0) > SHARE_TOLERANCE:
            shares = ", ".join(f"{p.name!r} {p.share:g}" for p in self.personas)
            raise ValueError(f"persona shares sum to {total:g}, not 1: {shares}")
        return self

    @property
    def names(self) -> tuple[str, ...]:
        """Persona names; a persona's index in the tuple is its true label in a cohort."""
        return tuple(p.name for p in self.personas)


def _pydantic_problems(exc: ValidationError) -> str:
    problems = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "definition"
        message = err["msg"].removeprefix("Value error, ")
        value = err.get("input")
        shown = "" if isinstance(value, dict | list) else f" (got {value!r})"
        problems.append(f"{where}: {message}{shown}")
    return "; ".join(problems)


def check_personas(
    spec: FeatureSpec, definition: PersonaDefinition, *, source: str = "<definition>"
) -> None:
    """Check that ``definition`` describes every feature of ``spec``, and nothing else.

    Raises:
        SpecError: naming each persona, feature and value that does not fit the spec.
    """
    problems = []
    if definition.spec is not None and definition.spec != spec.name:
        problems.append(f"it is for spec {definition.spec!r}")
    numeric = {f.name: f for f in spec.numeric}
    categorical = {f.name: f for f in spec.categorical}
    for index, persona in enumerate(definition.personas):
        where = f"personas.{index} ({persona.name})"
        for name in spec.feature_names:
            if name not in persona.numeric and name not in persona.categorical:
                section = "numeric" if name in numeric else "categorical"
                problems.append(
                    f"{where}: feature {name!r} is missing; add it under [personas.{section}]"
                )
        for name, profile in persona.numeric.items():
            if name in categorical:
                problems.append(f"{where}: {name!r} is categorical; give level probabilities")
            elif name not in numeric:
                problems.append(f"{where}.numeric: unknown feature {name!r}")
            elif not numeric[name].min <= profile.mean <= numeric[name].max:
                feature = numeric[name]
                problems.append(
                    f"{where}.numeric.{name}: mean {profile.mean:g} is outside the valid range "
                    f"[{feature.min:g}, {feature.max:g}]"
                )
        for name, probabilities in persona.categorical.items():
            if name in numeric:
                problems.append(f"{where}: {name!r} is numeric; give a mean and spread")
            elif name not in categorical:
                problems.append(f"{where}.categorical: unknown feature {name!r}")
            else:
                unknown = [
                    level for level in probabilities if level not in categorical[name].levels
                ]
                if unknown:
                    problems.append(
                        f"{where}.categorical.{name}: unknown level(s) {unknown}; "
                        f"levels are {list(categorical[name].levels)}"
                    )
    if problems:
        raise SpecError(
            f"persona definition {source} does not fit feature spec {spec.name!r}: "
            + "; ".join(problems)
        )


def parse_personas(text: str, spec: FeatureSpec, *, source: str = "<text>") -> PersonaDefinition:
    """Parse a persona definition from TOML text and check it against ``spec``.

    Raises:
        SpecError: when the text is not TOML, is malformed or does not fit the spec.
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"persona definition {source} is not valid TOML: {exc}") from exc
    try:
        definition = PersonaDefinition.model_validate(data)
    except ValidationError as exc:
        raise SpecError(
            f"persona definition {source} is invalid: {_pydantic_problems(exc)}"
        ) from exc
    check_personas(spec, definition, source=source)
    return definition


def load_personas(spec: FeatureSpec, name_or_path: str | Path | None = None) -> PersonaDefinition:
    """Load the shipped persona definition of ``spec`` (by default), another shipped one or a file.

    Raises:
        SpecError: when there is no such definition or it does not fit the spec.
    """
    name = spec.name if name_or_path is None else name_or_path
    if isinstance(name, str) and name in SHIPPED_SPECS:
        resource = resources.files("personamap.specs").joinpath(f"{name}.personas.toml")
        return parse_personas(resource.read_text(encoding="utf-8"), spec, source=f"'{name}'")
    if name_or_path is None:
        raise SpecError(
            f"no persona definition ships for feature spec {spec.name!r} (only for "
            f"{', '.join(SHIPPED_SPECS)}); pass the path of a persona definition file"
        )
    path = Path(name)
    if not path.is_file():
        raise SpecError(
            f"persona definition {str(name)!r} is neither a shipped definition "
            f"({', '.join(SHIPPED_SPECS)}) nor an existing file"
        )
    return parse_personas(path.read_text(encoding="utf-8"), spec, source=f"'{path}'")


# -- drift scenarios ----------------------------------------------------------------------------


@dataclass(frozen=True)
class DriftScenario:
    """A change of the personas for a month, to test that monitoring notices it.

    Kinds, and what ``persona`` and ``magnitude`` mean for each (magnitude defaults in brackets):

    - ``none``: nothing changes.
    - ``shift``: persona ``persona`` (the largest) moves by ``magnitude`` (3.0) of its spread in
      every other numeric feature (the 1st, 3rd, ...), towards the side of the valid range with
      more room.
    - ``spread``: the spreads of persona ``persona`` (all) are multiplied by ``magnitude`` (2.5).
    - ``emerging``: a new segment with share ``magnitude`` (0.2) appears, away from every persona;
      the other shares shrink in proportion.
    - ``mix``: the largest persona hands ``magnitude`` (0.6) of its share to ``persona`` (the
      smallest other one).
    """

    kind: DriftKind = "none"
    persona: int | None = None
    magnitude: float | None = None

    def __post_init__(self) -> None:
        if self.kind not in DRIFT_KINDS:
            raise SpecError(
                f"unknown drift kind {self.kind!r}; allowed kinds: {', '.join(DRIFT_KINDS)}"
            )
        if self.kind in ("none", "emerging") and self.persona is not None:
            raise SpecError(f"drift {self.kind!r} takes no persona (got persona={self.persona})")
        if self.persona is not None and self.persona < 0:
            raise SpecError(f"drift {self.kind!r}: persona must be 0 or more, got {self.persona}")
        if self.kind == "none":
            if self.magnitude is not None:
                raise SpecError(f"drift 'none' takes no magnitude (got {self.magnitude:g})")
            return
        if self.magnitude is None:
            object.__setattr__(self, "magnitude", DEFAULT_MAGNITUDE[self.kind])
            return
        below_one = self.kind in ("emerging", "mix")
        if (
            not math.isfinite(self.magnitude)
            or self.magnitude <= 0
            or (below_one and self.magnitude >= 1)
        ):
            allowed = "between 0 and 1 (exclusive)" if below_one else "a number above 0"
            raise SpecError(
                f"drift {self.kind!r}: magnitude must be {allowed}, got {self.magnitude:g}"
            )

    def __str__(self) -> str:
        params = [f"persona={self.persona}"] if self.persona is not None else []
        if self.magnitude is not None:
            params.append(f"magnitude={self.magnitude:g}")
        return self.kind + (":" + ",".join(params) if params else "")

    def apply(self, spec: FeatureSpec, definition: PersonaDefinition) -> PersonaDefinition:
        """The personas of a month under this scenario.

        Raises:
            SpecError: when ``persona`` does not exist in ``definition``.
        """
        if self.kind == "none" or self.magnitude is None:
            return definition
        personas = definition.personas
        if self.persona is not None and self.persona >= len(personas):
            raise SpecError(
                f"drift {str(self)!r}: persona {self.persona} does not exist; the definition has "
                f"{len(personas)} personas (0..{len(personas) - 1})"
            )
        if self.kind == "shift":
            largest = int(np.argmax([p.share for p in personas]))
            index = largest if self.persona is None else self.persona
            changed = _shift(spec, personas, index, self.magnitude)
        elif self.kind == "spread":
            changed = _widen(personas, self.persona, self.magnitude)
        elif self.kind == "emerging":
            changed = _emerge(spec, personas, self.magnitude)
        else:
            changed = _remix(personas, self.persona, self.magnitude)
        return PersonaDefinition(
            spec=definition.spec, description=definition.description, personas=changed
        )


def parse_drift(text: str) -> DriftScenario:
    """Parse a drift scenario written as ``kind`` or ``kind:param=value,...``.

    Example: ``shift``, ``shift:persona=1,magnitude=3``, ``mix:magnitude=0.5``.

    Raises:
        SpecError: naming the kind or parameter that is wrong, and what is allowed.
    """
    kind, _, params = text.strip().partition(":")
    kind = kind.strip().lower()
    if kind not in DRIFT_KINDS:
        raise SpecError(
            f"unknown drift kind {kind!r} in {text!r}; allowed kinds: {', '.join(DRIFT_KINDS)}"
        )
    persona: int | None = None
    magnitude: float | None = None
    for param in filter(None, (p.strip() for p in params.split(","))):
        key, equals, value = (part.strip() for part in param.partition("="))
        if not equals or key not in ("persona", "magnitude"):
            raise SpecError(
                f"drift {text!r}: {param!r} is not a parameter; write persona=<index> "
                "and/or magnitude=<number>"
            )
        try:
            if key == "persona":
                persona = int(value)
            else:
                magnitude = float(value)
        except ValueError:
            expected = "a whole number" if key == "persona" else "a number"
            raise SpecError(f"drift {text!r}: {key} must be {expected}, got {value!r}") from None
    return DriftScenario(kind, persona=persona, magnitude=magnitude)


def _replace(personas: tuple[Persona, ...], index: int, persona: Persona) -> tuple[Persona, ...]:
    return (*personas[:index], persona, *personas[index + 1 :])


def _shift(
    spec: FeatureSpec, personas: tuple[Persona, ...], index: int, magnitude: float
) -> tuple[Persona, ...]:
    persona = personas[index]
    numeric = dict(persona.numeric)
    for feature in spec.numeric[::2]:
        profile = numeric[feature.name]
        up = feature.max - profile.mean >= profile.mean - feature.min
        mean = profile.mean + (1 if up else -1) * magnitude * profile.spread
        numeric[feature.name] = NumericProfile(
            mean=min(max(mean, feature.min), feature.max), spread=profile.spread
        )
    return _replace(personas, index, persona.model_copy(update={"numeric": numeric}))


def _widen(personas: tuple[Persona, ...], index: int | None, factor: float) -> tuple[Persona, ...]:
    def widened(persona: Persona) -> Persona:
        numeric = {
            name: NumericProfile(mean=p.mean, spread=p.spread * factor)
            for name, p in persona.numeric.items()
        }
        return persona.model_copy(update={"numeric": numeric})

    if index is None:
        return tuple(widened(p) for p in personas)
    return _replace(personas, index, widened(personas[index]))


def _emerge(spec: FeatureSpec, personas: tuple[Persona, ...], share: float) -> tuple[Persona, ...]:
    numeric = {}
    for feature in spec.numeric:
        means = sorted(p.numeric[feature.name].mean for p in personas)
        spread = float(np.mean([p.numeric[feature.name].spread for p in personas]))
        # Candidates: the middle of each gap between persona means, and a little beyond the
        # outermost ones; take the one farthest from every persona.
        candidates = [(a + b) / 2 for a, b in pairwise(means)]
        candidates += [
            max(means[0] - _EMERGING_REACH * spread, feature.min),
            min(means[-1] + _EMERGING_REACH * spread, feature.max),
        ]
        mean = max(candidates, key=lambda c: min(abs(c - m) for m in means))
        numeric[feature.name] = NumericProfile(mean=mean, spread=spread)
    categorical = {}
    for cat in spec.categorical:
        mixed = [
            sum(p.share * p.categorical[cat.name].get(lv, 0.0) for p in personas)
            for lv in cat.levels
        ]
        rarest = cat.levels[int(np.argmin(mixed))]
        rest = (1.0 - _EMERGING_FAVOURITE) / (len(cat.levels) - 1)
        categorical[cat.name] = {
            lv: _EMERGING_FAVOURITE if lv == rarest else rest for lv in cat.levels
        }
    taken = {p.name for p in personas}
    name = next(n for i in count(1) if (n := f"Emerging segment {i}") not in taken)
    emerging = Persona(
        name=name,
        description="A segment that none of the personas describes (synthetic emerging drift).",
        share=share,
        numeric=numeric,
        categorical=categorical,
    )
    scaled = tuple(p.model_copy(update={"share": p.share * (1.0 - share)}) for p in personas)
    return (*scaled, emerging)


def _remix(
    personas: tuple[Persona, ...], index: int | None, fraction: float
) -> tuple[Persona, ...]:
    if len(personas) < 2:
        raise SpecError("drift 'mix' needs at least two personas to move share between")
    shares = [p.share for p in personas]
    largest = int(np.argmax(shares))
    others = [i for i in range(len(personas)) if i != largest]
    grower = min(others, key=lambda i: shares[i]) if index is None else index
    if grower == largest:
        raise SpecError(
            f"drift 'mix': persona {grower} ({personas[grower].name}) is already the largest; "
            "choose a smaller persona to grow"
        )
    moved = fraction * shares[largest]
    shares[largest] -= moved
    shares[grower] += moved
    return tuple(p.model_copy(update={"share": s}) for p, s in zip(personas, shares, strict=True))


DEMO_DRIFT: Mapping[str, DriftScenario] = MappingProxyType({"2025-03": DriftScenario("shift")})


# -- sampling -----------------------------------------------------------------------------------


def sample_customers(
    spec: FeatureSpec, definition: PersonaDefinition, n: int, rng: np.random.Generator
) -> tuple[pd.DataFrame, _Int]:
    """Draw ``n`` customers' features and their true persona index.

    Numeric values are Normal(mean, spread) clipped to the valid range, rounded for integer
    features; categorical levels are drawn with the persona's probabilities.

    Returns:
        The features in the spec's order, and per row the index of the persona it was drawn from.
    """
    personas = definition.personas
    shares = np.array([p.share for p in personas])
    labels = rng.choice(len(personas), size=n, p=shares / shares.sum()).astype(np.int64)

    means = np.array([[p.numeric[f.name].mean for f in spec.numeric] for p in personas])
    spreads = np.array([[p.numeric[f.name].spread for f in spec.numeric] for p in personas])
    noise = rng.standard_normal((n, len(spec.numeric)))
    uniforms = rng.random((n, len(spec.categorical)))

    columns: dict[str, pd.Series] = {}
    for j, feature in enumerate(spec.numeric):
        values = np.clip(
            means[labels, j] + spreads[labels, j] * noise[:, j], feature.min, feature.max
        )
        if feature.integer:
            rounded = np.clip(np.rint(values), math.ceil(feature.min), math.floor(feature.max))
            columns[feature.name] = pd.Series(rounded.astype(np.int64))
        else:
            columns[feature.name] = pd.Series(values)
    for j, cat in enumerate(spec.categorical):
        probabilities = np.array(
            [[p.categorical[cat.name].get(level, 0.0) for level in cat.levels] for p in personas]
        )
        cumulative = np.cumsum(probabilities, axis=1)
        cumulative /= cumulative[:, -1:]
        codes = np.minimum(
            (uniforms[:, j, None] >= cumulative[labels]).sum(axis=1), len(cat.levels) - 1
        )
        columns[cat.name] = pd.Series(pd.Series(cat.levels, dtype="str").array.take(codes))
    return pd.DataFrame({name: columns[name] for name in spec.feature_names}), labels


@cache
def _clock_texts() -> pd.Series:
    """``T00:00:00`` .. ``T23:59:59``, one per second of a day."""
    seconds = np.arange(86_400)
    return pd.Series(
        [f"T{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}" for s in seconds], dtype="str"
    )


def _offset_text(seconds: int) -> str:
    sign = "-" if seconds < 0 else "+"
    minutes = abs(seconds) // 60
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def _local_iso(utc: npt.NDArray[np.datetime64], zones: _Int) -> pd.Series:
    """ISO 8601 text of UTC instants in each row's home zone, with the zone's UTC offset."""
    offsets = np.zeros(len(utc), dtype=np.int64)
    for code, zone in enumerate(TIME_ZONES):
        rows = zones == code
        if rows.any():
            instants = pd.DatetimeIndex(utc[rows]).tz_localize("UTC")
            wall = instants.tz_convert(zone).tz_localize(None).to_numpy().astype("datetime64[s]")
            offsets[rows] = (wall - utc[rows]).astype(np.int64)
    # Rendered through small lookup tables (a month spans few dates, a day 86,400 clock times,
    # the zones a handful of offsets) because formatting a million datetimes one by one is slow.
    local = utc.astype(np.int64) + offsets
    days, clock = np.divmod(local, 86_400)
    first, last = int(days.min()), int(days.max())
    dates = pd.Series(
        np.datetime_as_string(np.arange(first, last + 1).astype("datetime64[D]")), dtype="str"
    )
    distinct, offset_codes = np.unique(offsets, return_inverse=True)
    offset_texts = pd.Series([_offset_text(int(s)) for s in distinct], dtype="str")
    text = (
        dates.array.take(days - first)
        + _clock_texts().array.take(clock)
        + offset_texts.array.take(offset_codes)
    )
    return pd.Series(text, dtype="str")


def _signups(month: str, n: int, rng: np.random.Generator) -> pd.Series:
    """Signups spread uniformly over the UTC month, in order, as local ISO text of a home zone."""
    start, end = month_bounds(month)
    seconds = np.sort(rng.integers(0, int((end - start).total_seconds()), size=n))
    utc = np.datetime64(start.replace(tzinfo=None), "s") + seconds.astype("timedelta64[s]")
    zones = rng.integers(0, len(TIME_ZONES), size=n).astype(np.int64)
    return _local_iso(utc, zones)


# -- cohorts ------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)  # frames do not compare to a single truth value
class Cohort:
    """One month of synthetic customers with the truth they were drawn from.

    Attributes:
        month: The month, ``YYYY-MM``; every signup falls in it (UTC).
        frame: The customer records: the spec's columns in order, as a source table holds them.
        persona: Per row of ``frame``, the index of the true persona in ``personas``.
        personas: The personas the month was drawn from, after drift.
        drift: The drift scenario applied to the month (kind ``none`` when none was).
    """

    month: str
    frame: pd.DataFrame
    persona: _Int
    personas: PersonaDefinition
    drift: DriftScenario

    @property
    def persona_names(self) -> pd.Series:
        """The true persona name of each row."""
        return pd.Series(np.asarray(self.personas.names, dtype=object)[self.persona], dtype="str")


def _month_rng(seed: int, month: str) -> np.random.Generator:
    if seed < 0:
        raise SpecError(f"seed must be 0 or more, got {seed}")
    year, number = parse_month(month)
    return np.random.default_rng(np.random.SeedSequence([seed, year, number]))


def generate_cohort(
    spec: FeatureSpec,
    personas: PersonaDefinition,
    month: str,
    *,
    n: int = DEMO_N_PER_MONTH,
    seed: int = DEMO_SEED,
    drift: DriftScenario | None = None,
) -> Cohort:
    """Draw one month of ``n`` customers from ``personas``, changed by ``drift`` if given.

    The month's random stream comes from ``seed`` and the month alone. Ids are
    ``C<YYYYMM>-<number>`` in signup order; signups are uniform over the month in UTC and written
    as local time with the UTC offset of each customer's home zone.

    Raises:
        SpecError: when the personas do not fit the spec, ``n`` or ``seed`` is negative, or the
            drift names a persona that does not exist.
        CohortError: when ``month`` is not written as ``YYYY-MM``.
    """
    if n < 1:
        raise SpecError(f"a cohort needs at least one customer, got n={n}")
    check_personas(spec, personas)
    rng = _month_rng(seed, month)
    scenario = drift if drift is not None else DriftScenario()
    drifted = scenario.apply(spec, personas)
    features, labels = sample_customers(spec, drifted, n, rng)
    stamps = _signups(month, n, rng)
    year, number = parse_month(month)
    numbers = pd.Series(np.arange(1, n + 1), dtype="str").str.zfill(max(6, len(str(n))))
    frame = pd.concat(
        [
            pd.DataFrame(
                {
                    spec.id_column: f"C{year:04d}{number:02d}-" + numbers,
                    spec.timestamp_column: stamps,
                }
            ),
            features,
        ],
        axis=1,
    )
    return Cohort(month=month, frame=frame, persona=labels, personas=drifted, drift=scenario)


def generate_cohorts(
    spec: FeatureSpec,
    personas: PersonaDefinition,
    months: Sequence[str] = DEMO_MONTHS,
    *,
    n_per_month: int = DEMO_N_PER_MONTH,
    seed: int = DEMO_SEED,
    drift: Mapping[str, DriftScenario] | None = None,
) -> list[Cohort]:
    """Draw a cohort for each month; ``drift`` maps a month to the scenario it undergoes.

    Months without an entry in ``drift`` are undrifted. Pass :data:`DEMO_DRIFT` for the demo.

    Raises:
        SpecError: when a month repeats, ``drift`` names a month not generated, or see
            :func:`generate_cohort`.
    """
    repeated = sorted({m for m in months if list(months).count(m) > 1})
    if repeated:
        raise SpecError(f"months repeat: {repeated}; each month is one cohort")
    drift = drift or {}
    stray = sorted(set(drift) - set(months))
    if stray:
        raise SpecError(
            f"drift is given for month(s) {stray} that are not generated ({list(months)})"
        )
    return [
        generate_cohort(spec, personas, month, n=n_per_month, seed=seed, drift=drift.get(month))
        for month in months
    ]
