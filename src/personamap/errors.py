"""The personamap error family.

Every error a user can cause or fix is a :class:`PersonamapError`; the CLI and the web app
each map these to an exit code or an HTTP status in exactly one place.
"""

from __future__ import annotations


class PersonamapError(Exception):
    """Base of all errors personamap raises on purpose."""

    exit_code = 2


class ConfigError(PersonamapError):
    """The configuration is missing, invalid or insecure."""


class SpecError(PersonamapError):
    """A feature spec file cannot be found or is malformed."""


class SchemaError(PersonamapError):
    """A table or file does not have the columns the feature spec declares."""


class DatabaseError(PersonamapError):
    """The database cannot be reached or is not at the expected migration."""


class IngestError(PersonamapError):
    """A file cannot be ingested as a whole (unreadable, wrong columns, ...)."""


class AssignmentError(PersonamapError, ValueError):
    """Customer records cannot be encoded or assigned: a feature is missing, unknown or invalid."""


class DiscoveryError(PersonamapError, ValueError):
    """Persona discovery cannot run or cannot choose a number of personas."""


class RegistryError(PersonamapError):
    """The model registry (MLflow) cannot be reached or refused an operation."""


class CatalogError(PersonamapError):
    """A persona catalog is malformed, missing, or an operation on it is not allowed."""
