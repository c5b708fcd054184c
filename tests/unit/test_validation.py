"""Validation splits good rows from bad ones and says, per row, what is wrong and where."""

from __future__ import annotations

import pandas as pd
import pytest

from personamap.domain.spec import FeatureSpec, load_spec
from personamap.domain.validation import validate_frame, validate_records
from personamap.errors import SchemaError

pytestmark = pytest.mark.unit


@pytest.fixture
def survey() -> FeatureSpec:
    return load_spec("survey")


def _row(**changes: object) -> dict[str, object]:
    row: dict[str, object] = {
        "customer_id": "C1",
        "signup_at": "2025-01-03T10:00:00-05:00",
        "age": "34",
        "household_income": "61.5",
        "household_size": "3",
        "sustainability_attitude": "4",
        "digital_affinity": "7.2",
        "price_sensitivity": "3.1",
        "purchases_per_month": "5",
        "avg_basket_value": "42.0",
        "preferred_channel": "online",
        "region": "north",
    }
    row.update(changes)
    return row


def test_valid_rows_come_back_typed_with_timestamps_in_utc(survey: FeatureSpec) -> None:
    result = validate_frame(survey, pd.DataFrame([_row(), _row(customer_id="C2")]))
    assert result.n_rejected == 0
    assert result.valid["age"].dtype == "float64"
    assert result.valid["signup_at"].iloc[0] == pd.Timestamp("2025-01-03T15:00:00Z")
    assert result.valid["customer_id"].tolist() == ["C1", "C2"]


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"age": "abc"}, "age: 'abc' is not a number"),
        ({"age": "150"}, "age: 150 is out of range [18, 99]"),
        ({"age": "34.5"}, "age: 34.5 is not a whole number"),
        ({"age": ""}, "age: missing value"),
        ({"digital_affinity": "inf"}, "digital_affinity: inf is not a finite number"),
        ({"preferred_channel": "fax"}, "preferred_channel: 'fax' is not one of online, store"),
        ({"customer_id": None}, "customer_id: missing id"),
        ({"signup_at": "yesterday"}, "signup_at: 'yesterday' is not an ISO 8601 timestamp"),
    ],
)
def test_each_kind_of_bad_value_is_rejected_with_its_reason(
    survey: FeatureSpec, changes: dict[str, object], reason: str
) -> None:
    frame = pd.DataFrame([_row(customer_id="ok"), _row(**changes)])
    result = validate_frame(survey, frame)
    assert result.valid["customer_id"].tolist() == ["ok"]
    assert result.rejects["row"].tolist() == [2]
    assert reason in result.rejects["reason"].iloc[0]


def test_a_row_with_several_problems_lists_them_all(survey: FeatureSpec) -> None:
    result = validate_frame(survey, pd.DataFrame([_row(age="x", region="mars")]))
    assert result.rejects["reason"].iloc[0] == (
        "age: 'x' is not a number; region: 'mars' is not one of north, south, east, west"
    )


def test_a_repeated_id_keeps_the_first_row_and_names_it(survey: FeatureSpec) -> None:
    frame = pd.DataFrame([_row(customer_id="A"), _row(customer_id="B"), _row(customer_id="A")])
    result = validate_frame(survey, frame)
    assert result.valid["customer_id"].tolist() == ["A", "B"]
    assert result.rejects["reason"].tolist() == ["customer_id: duplicate id 'A' (first on row 1)"]


def test_rejects_keep_the_values_as_written(survey: FeatureSpec) -> None:
    result = validate_frame(survey, pd.DataFrame([_row(age="abc")]))
    assert result.rejects.loc[:, "age"].tolist() == ["abc"]
    assert list(result.rejects.columns) == ["row", *survey.columns, "reason"]


def test_naive_timestamps_are_read_in_the_specs_time_zone() -> None:
    spec = load_spec("anonymised").model_copy(update={"naive_timezone": "Europe/Berlin"})
    frame = pd.DataFrame(
        [
            {
                "customer_id": "a",
                "signup_at": "2025-07-01 12:00",
                **{f"x{i}": 0 for i in range(1, 11)},
            }
        ]
    )
    assert validate_frame(spec, frame).valid["signup_at"].iloc[0] == pd.Timestamp(
        "2025-07-01T10:00:00Z"
    )


def test_typed_frames_from_parquet_are_validated_too() -> None:
    spec = load_spec("anonymised")
    frame = pd.DataFrame(
        {
            "customer_id": [1, 2],
            "signup_at": pd.to_datetime(["2025-01-01T00:00:00Z"] * 2, utc=True),
            **{f"x{i}": [0.5, 1000.0 if i == 3 else 0.0] for i in range(1, 11)},
        }
    )
    result = validate_frame(spec, frame)
    assert result.valid["customer_id"].tolist() == ["1"]
    assert result.rejects["reason"].tolist() == ["x3: 1000 is out of range [-100, 100]"]


def test_a_frame_with_missing_or_unknown_columns_is_refused_naming_them(
    survey: FeatureSpec,
) -> None:
    frame = pd.DataFrame([_row()]).drop(columns=["age"]).assign(colour="red")
    with pytest.raises(
        SchemaError, match=r"missing column\(s\) \['age'\].*unknown column\(s\) \['colour'\]"
    ):
        validate_frame(survey, frame)


def test_records_with_unknown_or_missing_fields_get_row_reasons(survey: FeatureSpec) -> None:
    good = {k: v for k, v in _row().items() if k not in ("customer_id", "signup_at")}
    missing = {k: v for k, v in good.items() if k != "region"}
    result = validate_records(survey, [good, {**good, "colour": "red"}, missing])
    assert len(result.valid) == 1
    assert result.rejects["reason"].tolist() == ["colour: unknown field", "region: missing value"]
