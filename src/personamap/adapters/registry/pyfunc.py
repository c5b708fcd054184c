"""The persona catalog as an MLflow pyfunc model.

Any MLflow client can load a registered catalog (``mlflow.pyfunc.load_model``), serve it
(``mlflow models serve``) or score with it on Spark (``mlflow.pyfunc.spark_udf``) and gets the
same columns personamap gives: ``persona_id``, ``persona_name``, ``distance``, ``confidence``,
``fit``. The catalog itself travels as a JSON artifact, not a pickle, so it stays readable and
independent of Python versions.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
from mlflow.models import ModelSignature
from mlflow.pyfunc.model import PythonModel
from mlflow.types import ColSpec, Schema

from personamap.domain.catalog import PersonaCatalog
from personamap.domain.spec import NumericFeature

CATALOG_ARTIFACT = "catalog"
CATALOG_FILE = "catalog.json"


class PersonaCatalogModel(PythonModel):
    """Pyfunc wrapper: loads the catalog JSON artifact and assigns customers."""

    def load_context(self, context: Any) -> None:
        """Read the catalog artifact."""
        path = Path(context.artifacts[CATALOG_ARTIFACT])
        self.catalog = PersonaCatalog.from_dict(json.loads(path.read_text(encoding="utf-8")))

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, str] | None = None
    ) -> pd.DataFrame:
        """Assign each row of ``model_input`` to its persona."""
        return self.catalog.assign(model_input)


def signature_for(catalog: PersonaCatalog) -> ModelSignature:
    """The model signature derived from the catalog's feature spec."""
    inputs = Schema(
        [
            ColSpec("double" if isinstance(f, NumericFeature) else "string", f.name)
            for f in catalog.spec.features
        ]
    )
    outputs = Schema(
        [
            ColSpec("long", "persona_id"),
            ColSpec("string", "persona_name"),
            ColSpec("double", "distance"),
            ColSpec("double", "confidence"),
            ColSpec("string", "fit"),
        ]
    )
    return ModelSignature(inputs=inputs, outputs=outputs)


def input_example(catalog: PersonaCatalog) -> pd.DataFrame:
    """The personas' centroids in feature units: customers every MLflow user can try."""
    assigner = catalog.assigner
    centroids = assigner.scaler_.inverse_transform(assigner.centroids_)
    return centroids.loc[:, list(catalog.spec.feature_names)].reset_index(drop=True)
