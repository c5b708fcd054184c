"""Assign a customer table with Apache Spark, using the same catalog as everywhere else.

The catalog travels to the executors as its JSON form in a broadcast variable, and each
partition is assigned by ``mapInPandas`` with the very same vectorised assigner the batch and
stream paths use, so Spark gives exactly the personas personamap gives in-process. This was
chosen over ``mlflow.pyfunc.spark_udf``: executors need neither MLflow nor access to the model
registry or its artifact store (only personamap installed, as for any Python UDF), the catalog
is a few kilobytes, and no per-batch schema enforcement sits in the hot path.

PySpark is an optional extra: ``pip install 'personamap[spark]'`` (Java 17 must be present).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from personamap.domain.catalog import PersonaCatalog
from personamap.domain.spec import FeatureSpec, NumericFeature
from personamap.errors import SparkError

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from personamap.services.catalog import CatalogContext

OUTPUT_SCHEMA = (
    "{id} string, persona_id int, persona_name string, distance double, confidence double, "
    "fit string, catalog_version int"
)


@dataclass(frozen=True)
class SparkResult:
    """What a Spark assignment wrote."""

    rows: int
    version: int
    output: str


def assign_with_spark(
    context: CatalogContext,
    *,
    input_: str,
    output: str,
    master: str = "local[*]",
    version_or_alias: int | str | None = None,
) -> SparkResult:
    """Assign every customer at ``input_`` and write the assignments to ``output`` (Parquet).

    Args:
        context: Registry and database (for the catalog and its personas' current names).
        input_: A Parquet or CSV file or folder, or a ``jdbc:`` URL of a database holding the
            spec's customer table (the JDBC driver must be on Spark's class path).
        output: The Parquet folder to write (replaced if it exists).
        master: The Spark master URL (``local[2]``, ``spark://host:7077``, ``yarn``, ...).
        version_or_alias: Catalog version or alias (default: production).

    Raises:
        SparkError: when PySpark is missing, Spark cannot start, or the job fails.
    """
    from personamap.services.catalog import effective_catalog

    version, catalog = effective_catalog(context, version_or_alias)
    spark = _session(master)
    try:
        customers = _read(spark, input_, catalog.spec, context.spec.table)
        payload = spark.sparkContext.broadcast(json.dumps(catalog.to_dict()))
        id_column = catalog.spec.id_column

        def assign_partition(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
            yield from assign_batches(batches, payload.value, version)

        assigned = customers.select(id_column, *catalog.spec.feature_names).mapInPandas(
            assign_partition, OUTPUT_SCHEMA.format(id=id_column)
        )
        assigned.write.mode("overwrite").parquet(output)
        rows = spark.read.parquet(output).count()
    except Exception as exc:
        if isinstance(exc, SparkError):
            raise
        raise SparkError(f"the Spark job failed: {_first_line(exc)}") from exc
    finally:
        spark.stop()
    return SparkResult(rows=int(rows), version=version, output=output)


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    for line in text.splitlines():
        if "Error" in line or "error" in line:
            return line.strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _session(master: str) -> SparkSession:
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:
        raise SparkError(
            "PySpark is not installed: pip install 'personamap[spark]' (needs Java 17)"
        ) from exc
    builder = SparkSession.builder.master(master).appName("personamap-assign")
    if master.startswith("local"):
        # The driver and its Python workers stay on this machine and this interpreter; without
        # a local IP Spark looks its host name up, which stalls on a machine without DNS.
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        builder = builder.config("spark.pyspark.python", sys.executable).config(
            "spark.driver.host", "127.0.0.1"
        )
    builder = builder.config("spark.sql.session.timeZone", "UTC").config(
        "spark.ui.enabled", "false"
    )
    try:
        return builder.getOrCreate()
    except Exception as exc:  # Java missing, no free port, ...
        raise SparkError(f"Spark could not start with master {master!r}: {exc}") from exc


def _read(spark: SparkSession, input_: str, spec: FeatureSpec, table: str) -> DataFrame:
    if input_.startswith("jdbc:"):
        return spark.read.format("jdbc").option("url", input_).option("dbtable", table).load()
    if input_.rstrip("/").endswith(".csv"):
        frame = spark.read.option("header", "true").csv(input_)
        for feature in spec.features:
            if isinstance(feature, NumericFeature):
                frame = frame.withColumn(feature.name, frame[feature.name].cast("double"))
        return frame
    return spark.read.parquet(input_)


@lru_cache(maxsize=4)
def _catalog(payload: str) -> PersonaCatalog:
    """The catalog from its JSON form, read once per Python worker."""
    return PersonaCatalog.from_dict(json.loads(payload))


def assign_batches(
    batches: Iterator[pd.DataFrame], payload: str, version: int
) -> Iterator[pd.DataFrame]:
    """Assign Arrow batches of customers (id and features) with the catalog in ``payload``."""
    catalog = _catalog(payload)
    spec = catalog.spec
    assigner = catalog.assigner
    names = np.asarray(assigner.persona_names_, dtype=object)
    for batch in batches:
        result = assigner.assign_matrix(
            assigner.scaler_.transform(batch.loc[:, list(spec.feature_names)])
        )
        columns: dict[str, Any] = {
            spec.id_column: batch[spec.id_column].astype(str).to_numpy(),
            "persona_id": result.persona_id.astype(np.int32),
            "persona_name": names[result.persona_index],
            "distance": result.distance,
            "confidence": result.confidence,
            "fit": np.where(result.good, "good", "poor").astype(object),
            "catalog_version": np.full(len(batch), version, dtype=np.int32),
        }
        yield pd.DataFrame(columns)
