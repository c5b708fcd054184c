"""The database adapter: engine, personamap's own tables, migrations and the customer table."""

from personamap.adapters.database import monitoring_models as _monitoring_models  # registers tables
from personamap.adapters.database.engine import connect, current_revision, upgrade

__all__ = ["connect", "current_revision", "upgrade"]
