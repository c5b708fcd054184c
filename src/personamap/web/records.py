"""Customer records as the web API takes them, derived from the catalog's feature spec.

A numeric feature is a finite JSON number within its declared range (a whole number for an
integer feature); a categorical feature is one of its levels; unknown fields are refused; the
spec's id column (``customer_id``) is optional. Pydantic validates the raw JSON bytes in one pass
(Rust), and validated records go straight into the scaled matrix the assigner works in: no
DataFrame per request.
"""

from __future__ import annotations

import json
import math
import shlex
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from itertools import chain
from operator import itemgetter
from typing import Annotated, Any, Literal, NotRequired

import numpy as np
from pydantic import (
    AfterValidator,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    WithJsonSchema,
    with_config,
)
from typing_extensions import TypedDict

from personamap.domain.assign import PersonaAssigner
from personamap.domain.catalog import PersonaCatalog
from personamap.domain.preprocessing import level_column
from personamap.domain.spec import CategoricalFeature, FeatureSpec, NumericFeature
from personamap.errors import InvalidRecordsError, MalformedRequestError, RequestTooLargeError

RECORD_SCHEMA = "CustomerRecord"
POSITIONAL_SCHEMA = "PositionalCustomerRecord"
MAX_LISTED_PROBLEMS = 100
Record = dict[str, Any]


def _whole(value: float) -> float:
    if value != int(value):
        raise ValueError(f"{value!r} is not a whole number")
    return value


def _not_a_boolean(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not an id: give text or a whole number")
    return value


def _describe(feature: NumericFeature | CategoricalFeature) -> str:
    unit = f" Unit: {feature.unit}." if feature.unit else ""
    return f"{feature.description}{unit}".strip()


def _numeric_type(feature: NumericFeature) -> Any:
    bounds = Field(
        ge=feature.min,
        le=feature.max,
        strict=True,  # a number, not a string or a boolean
        allow_inf_nan=False,
        description=_describe(feature),
    )
    if not feature.integer:
        return Annotated[float, bounds]
    integer_schema = {
        "type": "integer",
        "minimum": feature.min,
        "maximum": feature.max,
        "description": _describe(feature),
    }
    return Annotated[float, bounds, AfterValidator(_whole), WithJsonSchema(integer_schema)]


def _categorical_type(feature: CategoricalFeature) -> Any:
    return Annotated[Literal[feature.levels], Field(description=_describe(feature))]


def _feature_types(spec: FeatureSpec) -> dict[str, Any]:
    return {
        f.name: _numeric_type(f) if isinstance(f, NumericFeature) else _categorical_type(f)
        for f in spec.features
    }


_CONFIG = ConfigDict(extra="forbid")


def _record_type(spec: FeatureSpec) -> Any:
    text = Annotated[str, StringConstraints(strict=True, min_length=1, max_length=200)]
    number = Annotated[int, BeforeValidator(_not_a_boolean)]  # 12 and 12.0, not true
    customer_id = NotRequired[
        Annotated[text | number, Field(description="The customer's id (text or integer).")]
    ]
    fields = {spec.id_column: customer_id, **_feature_types(spec)}
    return with_config(_CONFIG)(TypedDict(RECORD_SCHEMA, fields))  # type: ignore[operator]


def _positional_type(spec: FeatureSpec) -> Any:
    fields = {str(i): t for i, t in enumerate(_feature_types(spec).values())}
    return with_config(_CONFIG)(TypedDict(POSITIONAL_SCHEMA, fields))  # type: ignore[operator]


def _keyed_by_position(record: Any) -> bool:
    return (
        isinstance(record, dict)
        and bool(record)
        and all(isinstance(k, str) and k.isdigit() for k in record)
    )


def _shown(value: Any) -> Any:
    """The offending value as JSON can carry it (NaN and infinities as their JSON words)."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    return value


def _problems(
    exc: ValidationError, *, rename: Callable[[tuple[Any, ...]], tuple[Any, ...]] | None = None
) -> InvalidRecordsError:
    errors = exc.errors(include_url=False, include_context=False)
    listed = []
    for error in errors[:MAX_LISTED_PROBLEMS]:
        loc = tuple(error["loc"])
        listed.append(
            {
                "loc": ["body", *(rename(loc) if rename else loc)],
                "msg": error["msg"],
                "type": error["type"],
                "input": _shown(error.get("input")),
            }
        )
    first = listed[0]
    where = ".".join(str(part) for part in list(first["loc"])[1:]) or "body"
    return InvalidRecordsError(
        f"{len(errors)} problem(s) in the customer records, first {where}: {first['msg']}",
        listed,
        len(errors),
    )


def _raise_for(exc: ValidationError, max_batch: int) -> None:
    """Turn a pydantic failure into a 400 (bad JSON), 413 (batch too long) or 422."""
    errors = exc.errors(include_url=False)
    if any(e["type"] == "json_invalid" for e in errors):
        raise MalformedRequestError(
            f"the request body is not valid JSON: {errors[0]['msg']}"
        ) from None
    for error in errors:
        if error["type"] == "too_long" and error["loc"] == ():
            given = error.get("ctx", {}).get("actual_length", "more")
            raise RequestTooLargeError(
                f"a request holds at most {max_batch:,} customers, got {given}: "
                "split the batch, or use `personamap assign` for large tables"
            ) from None


@dataclass(frozen=True)
class RecordCodec:
    """Validation and encoding of customer records for one catalog.

    Attributes:
        spec: The catalog's feature spec.
        id_field: The optional id field (the spec's id column).
        record: Adapter of one record (keyed by feature name).
        batch: Adapter of a list of records (1 to ``max_batch``).
        positional: Adapter of one record keyed by position ``"0"``, ``"1"``, ...
    """

    spec: FeatureSpec
    id_field: str
    max_batch: int
    record: TypeAdapter[Record]
    batch: TypeAdapter[list[Record]]
    positional: TypeAdapter[Record]
    _numeric: Callable[[Record], Any] | None
    _numeric_columns: np.ndarray
    _center: np.ndarray
    _scale: np.ndarray
    _categorical: tuple[tuple[str, Mapping[str, int], np.ndarray], ...]
    _weight: float
    _width: int
    _numeric_only: bool
    _row_numeric: tuple[tuple[str, int, float, float], ...]
    _row_categorical: tuple[tuple[str, Mapping[str, int]], ...]

    @classmethod
    def for_assigner(cls, assigner: PersonaAssigner, *, max_batch: int) -> RecordCodec:
        """The codec of a fitted assigner (its scaler defines the encoding)."""
        scaler = assigner.scaler_
        spec: FeatureSpec = scaler.spec
        columns = {name: j for j, name in enumerate(scaler.feature_names_out_)}
        numeric_names = [f.name for f in spec.numeric]
        getter: Callable[[Record], Any] | None
        if not numeric_names:
            getter = None
        elif len(numeric_names) == 1:
            name = numeric_names[0]
            getter = lambda record: (record[name],)  # noqa: E731 - itemgetter of one gives a scalar
        else:
            getter = itemgetter(*numeric_names)
        categorical = tuple(
            (
                f.name,
                {level: i for i, level in enumerate(f.levels)},
                np.array([columns[level_column(f.name, level)] for level in f.levels]),
            )
            for f in spec.categorical
        )
        center = np.asarray(scaler.center_, dtype=np.float64)
        scale = np.asarray(scaler.scale_, dtype=np.float64)
        record_type = _record_type(spec)
        batch_type: Any = Annotated[
            list[record_type],  # type: ignore[valid-type]
            Field(min_length=1, max_length=max_batch),
        ]
        return cls(
            spec=spec,
            id_field=spec.id_column,
            max_batch=max_batch,
            record=TypeAdapter(record_type),
            batch=TypeAdapter(batch_type),
            positional=TypeAdapter(_positional_type(spec)),
            _numeric=getter,
            _numeric_columns=np.array([columns[n] for n in numeric_names], dtype=np.intp),
            _center=center,
            _scale=scale,
            _categorical=categorical,
            _weight=float(scaler.categorical_weight),
            _width=len(scaler.feature_names_out_),
            _numeric_only=[columns[n] for n in numeric_names] == list(range(len(columns))),
            _row_numeric=tuple(
                (name, columns[name], float(center[i]), float(scale[i]))
                for i, name in enumerate(numeric_names)
            ),
            _row_categorical=tuple(
                (f.name, {level: columns[level_column(f.name, level)] for level in f.levels})
                for f in spec.categorical
            ),
        )

    # -- parsing ---------------------------------------------------------------------------

    def parse(self, body: bytes) -> tuple[list[Record], bool]:
        """Validate a JSON body holding one record or a list; return the records and whether a list.

        Raises:
            MalformedRequestError: the body is not JSON.
            RequestTooLargeError: the list is longer than ``max_batch``.
            InvalidRecordsError: a record breaks the spec (each problem named, with its value).
        """
        many = body.lstrip()[:1] == b"["
        try:
            if many:
                return self.batch.validate_json(body), True
            return [self.record.validate_json(body)], False
        except ValidationError as exc:
            _raise_for(exc, self.max_batch)
            raise _problems(exc) from None

    def parse_reference(self, records: Any) -> list[Record]:
        """Validate the reference project's records: keyed by feature name or by position.

        A record whose keys are all digits (``"0"``, ``"1"``, ...) is read by position in the
        spec's feature order; its problems are reported under the keys it was sent with.

        Raises:
            RequestTooLargeError: more than ``max_batch`` records.
            InvalidRecordsError: not a list of records, or a record breaks the spec.
        """
        names = self.spec.feature_names
        positional: set[int] = set()
        if isinstance(records, list):
            positional = {i for i, r in enumerate(records) if _keyed_by_position(r)}
            records = [
                {names[int(k)] if int(k) < len(names) else k: v for k, v in r.items()}
                if i in positional
                else r
                for i, r in enumerate(records)
            ]

        def sent_keys(loc: tuple[Any, ...]) -> tuple[Any, ...]:
            if len(loc) >= 2 and loc[0] in positional and loc[1] in names:
                return (loc[0], str(names.index(loc[1])), *loc[2:])
            return loc

        try:
            return self.batch.validate_python(records)
        except ValidationError as exc:
            _raise_for(exc, self.max_batch)
            raise _problems(exc, rename=sent_keys) from None

    # -- encoding --------------------------------------------------------------------------

    def encode(self, records: Sequence[Record]) -> np.ndarray:
        """Validated records as rows of the scaled space (columns: the scaler's encoded names)."""
        n = len(records)
        scaled: np.ndarray | None = None
        if self._numeric is not None:
            p = len(self._numeric_columns)
            values = np.fromiter(
                chain.from_iterable(map(self._numeric, records)), dtype=np.float64, count=n * p
            ).reshape(n, p)
            scaled = np.subtract(values, self._center) / self._scale
            if self._numeric_only:  # already the encoded matrix, columns in order
                return scaled
        out = np.zeros((n, self._width), dtype=np.float64)
        if scaled is not None:
            out[:, self._numeric_columns] = scaled
        rows = np.arange(n)
        for name, codes, columns in self._categorical:
            found = np.fromiter((codes[record[name]] for record in records), dtype=np.intp, count=n)
            out[rows, columns[found]] = self._weight
        return out

    def encode_one(self, record: Record) -> list[float]:
        """One validated record as a row of the scaled space, in plain Python (see ``encode``).

        The same arithmetic as ``encode``, element by element: the same floats.
        """
        row = [0.0] * self._width
        for name, column, center, scale in self._row_numeric:
            row[column] = (record[name] - center) / scale
        for name, columns in self._row_categorical:
            row[columns[record[name]]] = self._weight
        return row

    def customer_ids(self, records: Sequence[Record]) -> list[str | None]:
        """The id of each record (None where not given)."""
        field = self.id_field
        return [None if (i := record.get(field)) is None else str(i) for record in records]


def example_record(catalog: PersonaCatalog, position: int = 0) -> dict[str, Any]:
    """A valid record near a persona's centroid (rounded), for documentation and the demo."""
    assigner = catalog.assigner
    centroid = assigner.scaler_.inverse_transform(assigner.centroids_[position : position + 1])
    record: dict[str, Any] = {}
    for feature in catalog.spec.features:
        value = centroid[feature.name].iloc[0]
        if isinstance(feature, NumericFeature):
            number = min(max(float(value), feature.min), feature.max)
            record[feature.name] = round(number) if feature.integer else round(number, 2)
        else:
            record[feature.name] = str(value)
    return record


def curl_example(catalog: PersonaCatalog, base_url: str, *, api_key: bool) -> str:
    """A ``curl`` command assigning one example customer with ``POST /v1/assign``."""
    body = json.dumps({"customer_id": "demo-1", **example_record(catalog)})
    key = ' -H "X-API-Key: $PERSONAMAP_API_KEY"' if api_key else ""
    return (
        f"curl -s -X POST {base_url}/v1/assign -H 'Content-Type: application/json'{key} "
        f"-d {shlex.quote(body)}"
    )
