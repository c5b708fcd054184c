"""The database adapter: engine, personamap's own tables, migrations and the customer table."""

from personamap.adapters.database import (  # noqa: F401 - register their tables
    dashboard_models,
    monitoring_models,
)
from personamap.adapters.database.engine import connect, current_revision, upgrade

__all__ = ["connect", "current_revision", "upgrade"]
