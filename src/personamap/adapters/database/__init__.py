"""The database adapter: engine, personamap's own tables, migrations and the customer table."""

from personamap.adapters.database import dashboard_models  # noqa: F401 - registers its tables
from personamap.adapters.database import monitoring_models  # noqa: F401 - registers its tables
from personamap.adapters.database.engine import connect, current_revision, upgrade

__all__ = ["connect", "current_revision", "upgrade"]
