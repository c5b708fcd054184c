"""Validate customer records against a feature spec, row by row.

A bad row never stops the good ones: validation splits a frame into the clean, typed rows and the
rejected ones, each with every reason it was rejected for, naming the column and the value.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from personamap.domain.spec import CategoricalFeature, FeatureSpec, NumericFeature
from personamap.errors import SchemaError

REASON_COLUMN = "reason"
ROW_COLUMN = "row"
_OFFSET = r"(?:[zZ]|[+-]\d{2}(?::?\d{2})?)$"


@dataclass(frozen=True)
class Validated:
    """The outcome of validating a frame: clean rows and rejected rows with reasons.

    ``valid`` has the spec's columns, typed (id as text, timestamp in UTC, numeric as float,
    categorical as text) and keeps the input's positions as index. ``rejects`` has the input's
    values as text, the 1-based ``row`` within the input and the ``reason``.
    """

    valid: pd.DataFrame
    rejects: pd.DataFrame

    @property
    def n_valid(self) -> int:
        """Number of clean rows."""
        return len(self.valid)

    @property
    def n_rejected(self) -> int:
        """Number of rejected rows."""
        return len(self.rejects)


class _Reasons:
    """Collects reasons per row position, building text only for rows that fail."""

    def __init__(self) -> None:
        self.by_row: defaultdict[int, list[str]] = defaultdict(list)

    def add(self, mask: np.ndarray, message: Any) -> None:
        """Add ``message(position)`` for every position where ``mask`` holds."""
        for position in np.flatnonzero(mask):
            self.by_row[int(position)].append(message(int(position)))

    def mask(self, n: int) -> np.ndarray:
        bad = np.zeros(n, dtype=bool)
        bad[list(self.by_row)] = True
        return bad


def _as_text(values: pd.Series) -> pd.Series:
    """Values as stripped text, with missing values (None, NaN, '') as NA."""
    text = values.astype("string").str.strip()
    return text.mask(text == "")


def _show(value: Any) -> str:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return f"{value:g}"
    return repr(value)


def _check_numeric(feature: NumericFeature, raw: pd.Series, reasons: _Reasons) -> pd.Series:
    name = feature.name
    if pd.api.types.is_numeric_dtype(raw) and not pd.api.types.is_bool_dtype(raw):
        values = raw.astype("float64")
        missing = values.isna().to_numpy()
        wrong_type = np.zeros(len(raw), dtype=bool)
        text = None
    else:
        text = _as_text(raw)
        missing = text.isna().to_numpy()
        values = pd.to_numeric(text, errors="coerce").astype("float64")
        wrong_type = values.isna().to_numpy() & ~missing
    array = values.to_numpy()
    with np.errstate(invalid="ignore"):
        present = ~missing & ~wrong_type
        infinite = present & ~np.isfinite(array)
        finite = present & ~infinite
        out_of_range = finite & ((array < feature.min) | (array > feature.max))
        fractional = finite & feature.integer & (np.floor(array) != array)

    reasons.add(missing, lambda i: f"{name}: missing value")
    if text is not None:
        reasons.add(wrong_type, lambda i: f"{name}: {_show(text.iat[i])} is not a number")
    reasons.add(infinite, lambda i: f"{name}: {_show(array[i])} is not a finite number")
    reasons.add(
        out_of_range,
        lambda i: f"{name}: {_show(array[i])} is out of range [{feature.min:g}, {feature.max:g}]",
    )
    reasons.add(fractional, lambda i: f"{name}: {_show(array[i])} is not a whole number")
    return values


def _check_categorical(feature: CategoricalFeature, raw: pd.Series, reasons: _Reasons) -> pd.Series:
    name = feature.name
    text = _as_text(raw)
    missing = text.isna().to_numpy()
    unknown = ~missing & ~text.isin(feature.levels).to_numpy()
    levels = ", ".join(feature.levels)
    reasons.add(missing, lambda i: f"{name}: missing value")
    reasons.add(unknown, lambda i: f"{name}: {_show(text.iat[i])} is not one of {levels}")
    return text


def _check_id(name: str, raw: pd.Series, reasons: _Reasons) -> pd.Series:
    if pd.api.types.is_float_dtype(raw):  # 12.0 from a numeric column reads back as "12"
        raw = raw.astype("Int64")
    text = _as_text(raw)
    missing = text.isna().to_numpy()
    repeated = (text.duplicated(keep="first").to_numpy()) & ~missing
    reasons.add(missing, lambda i: f"{name}: missing id")
    if repeated.any():
        firsts = text.isin(text[repeated]).to_numpy() & ~repeated
        values = text.to_numpy(dtype=object)
        first_row = {values[p]: int(p) + 1 for p in np.flatnonzero(firsts)}
        reasons.add(
            repeated,
            lambda i: (
                f"{name}: duplicate id {_show(text.iat[i])} (first on row {first_row[text.iat[i]]})"
            ),
        )
    return text


def _check_timestamp(spec: FeatureSpec, raw: pd.Series, reasons: _Reasons) -> pd.Series:
    name = spec.timestamp_column
    stamps: pd.Series
    if isinstance(raw.dtype, pd.DatetimeTZDtype):
        stamps = raw.dt.tz_convert("UTC")
        invalid = stamps.isna().to_numpy()
        text = None
    elif pd.api.types.is_datetime64_dtype(raw):
        stamps = raw.dt.tz_localize(spec.naive_timezone, ambiguous="NaT", nonexistent="NaT")
        stamps = stamps.dt.tz_convert("UTC")
        invalid = stamps.isna().to_numpy()
        text = None
    else:
        text = _as_text(raw)
        aware = text.str.contains(_OFFSET, regex=True).fillna(False).to_numpy(dtype=bool)
        stamps = pd.Series(pd.NaT, index=raw.index, dtype="datetime64[ns, UTC]")
        if aware.any():
            stamps[aware] = pd.to_datetime(
                text[aware], utc=True, errors="coerce", format="ISO8601"
            ).astype("datetime64[ns, UTC]")
        naive = ~aware & text.notna().to_numpy()
        if naive.any():
            local = pd.to_datetime(text[naive], errors="coerce", format="ISO8601")
            stamps[naive] = (
                local.dt.tz_localize(spec.naive_timezone, ambiguous="NaT", nonexistent="NaT")
                .dt.tz_convert("UTC")
                .astype("datetime64[ns, UTC]")
            )
        invalid = stamps.isna().to_numpy()
    missing = raw.isna().to_numpy() if text is None else text.isna().to_numpy()
    reasons.add(missing, lambda i: f"{name}: missing timestamp")
    if text is not None:
        reasons.add(
            invalid & ~missing,
            lambda i: f"{name}: {_show(text.iat[i])} is not an ISO 8601 timestamp",
        )
    else:
        reasons.add(
            invalid & ~missing, lambda i: f"{name}: time does not exist in {spec.naive_timezone}"
        )
    return stamps


def check_columns(
    spec: FeatureSpec,
    columns: Sequence[str],
    *,
    require_id: bool = True,
    require_timestamp: bool = True,
) -> None:
    """Refuse a table whose columns do not match the spec, naming what is missing or unknown."""
    required = [
        *([spec.id_column] if require_id else []),
        *([spec.timestamp_column] if require_timestamp else []),
        *spec.feature_names,
    ]
    missing = [c for c in required if c not in columns]
    unknown = [c for c in columns if c not in spec.columns]
    problems = []
    if missing:
        problems.append(f"missing column(s) {missing}")
    if unknown:
        problems.append(f"unknown column(s) {unknown}")
    if problems:
        raise SchemaError(
            f"columns do not match feature spec {spec.name!r}: {'; '.join(problems)} "
            f"(expected {list(spec.columns)})"
        )


def validate_frame(
    spec: FeatureSpec,
    frame: pd.DataFrame,
    *,
    require_id: bool = True,
    require_timestamp: bool = True,
) -> Validated:
    """Split ``frame`` into valid typed rows and rejected rows with reasons.

    Raises:
        SchemaError: when a required column is missing or an unknown column is present.
    """
    check_columns(
        spec, list(frame.columns), require_id=require_id, require_timestamp=require_timestamp
    )
    return _validate(spec, frame.reset_index(drop=True), _Reasons())


def validate_records(
    spec: FeatureSpec,
    records: Sequence[Mapping[str, Any]],
    *,
    require_id: bool = False,
    require_timestamp: bool = False,
) -> Validated:
    """Validate loose records (e.g. JSON objects); an unknown or missing field is a row reason."""
    required = [
        *([spec.id_column] if require_id else []),
        *([spec.timestamp_column] if require_timestamp else []),
        *spec.feature_names,
    ]
    optional = [c for c in spec.columns if c not in required and any(c in r for r in records)]
    columns = [c for c in spec.columns if c in required or c in optional]
    reasons = _Reasons()
    known = set(spec.columns)
    for position, record in enumerate(records):
        for key in record:
            if key not in known:
                reasons.by_row[position].append(f"{key}: unknown field")
    frame = pd.DataFrame.from_records(
        [{c: r.get(c) for c in columns} for r in records], columns=columns
    )
    return _validate(spec, frame, reasons)


def _validate(spec: FeatureSpec, frame: pd.DataFrame, reasons: _Reasons) -> Validated:
    clean: dict[str, pd.Series] = {}
    if spec.id_column in frame:
        clean[spec.id_column] = _check_id(spec.id_column, frame[spec.id_column], reasons)
    if spec.timestamp_column in frame:
        clean[spec.timestamp_column] = _check_timestamp(spec, frame[spec.timestamp_column], reasons)
    for feature in spec.features:
        raw = frame[feature.name]
        if isinstance(feature, NumericFeature):
            clean[feature.name] = _check_numeric(feature, raw, reasons)
        else:
            clean[feature.name] = _check_categorical(feature, raw, reasons)

    bad = reasons.mask(len(frame))
    valid = pd.DataFrame(clean, index=frame.index)[~bad]
    for column in [spec.id_column, *(f.name for f in spec.categorical)]:
        if column in valid:
            valid[column] = valid[column].astype(object)
    positions = np.flatnonzero(bad)
    rejects = frame[bad].astype("string").astype(object)
    rejects.insert(0, ROW_COLUMN, positions + 1)
    rejects[REASON_COLUMN] = ["; ".join(reasons.by_row[int(i)]) for i in positions]
    return Validated(valid=valid, rejects=rejects)
