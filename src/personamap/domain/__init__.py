"""Pure domain code: no database, MLflow, HTTP or broker imports here."""
