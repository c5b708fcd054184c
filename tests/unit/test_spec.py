"""Feature specs: the shipped ones load, user files are checked, errors name the problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from personamap.domain.spec import (
    CategoricalFeature,
    NumericFeature,
    load_spec,
    parse_spec,
)
from personamap.errors import SpecError

pytestmark = pytest.mark.unit

MINIMAL = """
name = "mine"
table = "my_customers"
[[features]]
name = "spend"
kind = "numeric"
min = 0
max = 10
"""


def test_anonymised_spec_has_ten_numeric_features_x1_to_x10() -> None:
    spec = load_spec("anonymised")
    assert spec.feature_names == tuple(f"x{i}" for i in range(1, 11))
    assert all(isinstance(f, NumericFeature) for f in spec.features)
    assert spec.columns[:2] == (spec.id_column, spec.timestamp_column)


def test_survey_spec_mixes_numeric_and_categorical_features() -> None:
    spec = load_spec("survey")
    assert {f.name for f in spec.categorical} == {"preferred_channel", "region"}
    assert spec.feature("preferred_channel") == CategoricalFeature(
        name="preferred_channel",
        levels=("online", "store", "marketplace"),
        description=spec.feature("preferred_channel").description,
    )
    age = spec.feature("age")
    assert isinstance(age, NumericFeature)
    assert (age.min, age.max, age.integer, age.unit) == (18, 99, True, "years")
    assert all(f.description for f in spec.features)


def test_a_users_spec_file_is_loaded_by_path(tmp_path: Path) -> None:
    path = tmp_path / "mine.toml"
    path.write_text(MINIMAL)
    spec = load_spec(path)
    assert spec.name == "mine"
    assert spec.table == "my_customers"
    assert spec.id_column == "customer_id"


def test_unknown_spec_name_lists_the_shipped_ones() -> None:
    with pytest.raises(SpecError, match=r"'nope'.*anonymised, survey"):
        load_spec("nope")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("max = 10", "max = -1"), "min 0.0 must be below max -1.0"),
        (('kind = "numeric"', 'kind = "ordinal"'), "features.0"),
        (('name = "spend"', 'name = "customer_id"'), "column names repeat"),
        (('table = "my_customers"', 'table = "drop table;"'), "table"),
        (("min = 0", "min = 0\ncolour = 'red'"), "colour"),
    ],
)
def test_malformed_spec_is_refused_naming_the_field(change: tuple[str, str], message: str) -> None:
    with pytest.raises(SpecError, match=message):
        parse_spec(MINIMAL.replace(*change), source="test")


def test_spec_that_is_not_toml_is_refused() -> None:
    with pytest.raises(SpecError, match="not valid TOML"):
        parse_spec("name = ", source="broken.toml")
