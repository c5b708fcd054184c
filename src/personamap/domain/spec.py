"""Feature specs: what a customer record is, declared once.

A spec names the customer source table, its id and timestamp columns, and every feature with its
kind (numeric or categorical), unit, valid range or levels and description. Validation,
preprocessing, the API schema and monitoring all derive from it. Specs are TOML files; two ship with
the package (``anonymised`` and ``survey``) and a user may point to their own file.
"""

from __future__ import annotations

import math
import tomllib
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from personamap.errors import SpecError

SHIPPED_SPECS = ("anonymised", "survey")
_IDENTIFIER = r"^[A-Za-z_][A-Za-z0-9_]*$"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class NumericFeature(_Frozen):
    """A numeric feature with an inclusive valid range."""

    name: Annotated[str, Field(pattern=_IDENTIFIER)]
    kind: Literal["numeric"] = "numeric"
    unit: str = ""
    min: float
    max: float
    integer: bool = False
    scale: float | None = Field(
        None, gt=0, description="Typical spread, used to scale when no reference cohort is given."
    )
    description: str = ""

    @model_validator(mode="after")
    def _range_is_ordered(self) -> NumericFeature:
        if not (math.isfinite(self.min) and math.isfinite(self.max)) or self.min >= self.max:
            raise ValueError(f"feature {self.name!r}: min {self.min} must be below max {self.max}")
        return self

    @property
    def typical_scale(self) -> float:
        """The declared scale, else a sixth of the valid range (a uniform-ish guess)."""
        return self.scale if self.scale is not None else (self.max - self.min) / 6.0


class CategoricalFeature(_Frozen):
    """A categorical feature with a closed set of levels."""

    name: Annotated[str, Field(pattern=_IDENTIFIER)]
    kind: Literal["categorical"] = "categorical"
    unit: str = ""
    levels: Annotated[tuple[str, ...], Field(min_length=2)]
    description: str = ""

    @model_validator(mode="after")
    def _levels_are_unique(self) -> CategoricalFeature:
        if len(set(self.levels)) != len(self.levels):
            raise ValueError(f"feature {self.name!r}: levels repeat: {list(self.levels)}")
        return self


Feature = Annotated[NumericFeature | CategoricalFeature, Field(discriminator="kind")]


class FeatureSpec(_Frozen):
    """The declared shape of a customer record."""

    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]+$")]
    description: str = ""
    table: Annotated[str, Field(pattern=_IDENTIFIER)]
    id_column: Annotated[str, Field(pattern=_IDENTIFIER)] = "customer_id"
    timestamp_column: Annotated[str, Field(pattern=_IDENTIFIER)] = "signup_at"
    naive_timezone: str = Field(
        "UTC", description="Time zone assumed for timestamps written without an offset."
    )
    features: Annotated[tuple[Feature, ...], Field(min_length=1)]

    @model_validator(mode="after")
    def _names_are_unique(self) -> FeatureSpec:
        names = [self.id_column, self.timestamp_column, *(f.name for f in self.features)]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"column names repeat: {repeated}")
        return self

    @cached_property
    def feature_names(self) -> tuple[str, ...]:
        """Names of all features, in declared order."""
        return tuple(f.name for f in self.features)

    @cached_property
    def numeric(self) -> tuple[NumericFeature, ...]:
        """The numeric features, in declared order."""
        return tuple(f for f in self.features if isinstance(f, NumericFeature))

    @cached_property
    def categorical(self) -> tuple[CategoricalFeature, ...]:
        """The categorical features, in declared order."""
        return tuple(f for f in self.features if isinstance(f, CategoricalFeature))

    @property
    def columns(self) -> tuple[str, ...]:
        """All columns of the source table: id, timestamp, then features."""
        return (self.id_column, self.timestamp_column, *self.feature_names)

    def feature(self, name: str) -> NumericFeature | CategoricalFeature:
        """The feature called ``name``."""
        for feature in self.features:
            if feature.name == name:
                return feature
        raise KeyError(
            f"spec {self.name!r} has no feature {name!r}; it has {list(self.feature_names)}"
        )


def parse_spec(text: str, *, source: str = "<text>") -> FeatureSpec:
    """Parse a spec from TOML text."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"feature spec {source} is not valid TOML: {exc}") from exc
    try:
        return FeatureSpec.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'spec'}: {err['msg']}"
            for err in exc.errors()
        )
        raise SpecError(f"feature spec {source} is invalid: {problems}") from exc


def load_spec(name_or_path: str | Path) -> FeatureSpec:
    """Load a shipped spec by name (``anonymised``, ``survey``) or a user's spec file by path."""
    if isinstance(name_or_path, str) and name_or_path in SHIPPED_SPECS:
        text = resources.files("personamap.specs").joinpath(f"{name_or_path}.toml").read_text()
        return parse_spec(text, source=f"'{name_or_path}'")
    path = Path(name_or_path)
    if not path.is_file():
        raise SpecError(
            f"feature spec {str(name_or_path)!r} is neither a shipped spec "
            f"({', '.join(SHIPPED_SPECS)}) nor an existing file"
        )
    return parse_spec(path.read_text(encoding="utf-8"), source=f"'{path}'")
