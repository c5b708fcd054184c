"""Model-from-code entry point: MLflow runs this file to build the catalog model at load time.

Logging the model as code instead of a cloudpickle keeps the registered catalog free of pickled
Python objects; the catalog itself is the JSON artifact.
"""

from mlflow.models import set_model

from personamap.adapters.registry.pyfunc import PersonaCatalogModel

set_model(PersonaCatalogModel())
