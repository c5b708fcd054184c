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


class BrokerError(PersonamapError):
    """The message broker (Redis) cannot be reached or refused an operation."""


class SparkError(PersonamapError):
    """Apache Spark is not installed, cannot start, or failed a job."""


class NotFoundError(PersonamapError):
    """A persona or customer asked for does not exist (or has no recorded assignment)."""


class AuthenticationError(PersonamapError):
    """A request carries no API key, or one that is not configured."""


class ServiceUnavailableError(PersonamapError):
    """The service cannot answer yet: no catalog is loaded, or a system it needs is unreachable."""


class MalformedRequestError(PersonamapError):
    """A request body is not valid JSON."""


class RequestTooLargeError(PersonamapError):
    """A request body or a batch of customers exceeds the configured limit."""


class InvalidRecordsError(AssignmentError):
    """Customer records break the feature spec; ``details`` lists each problem with its value."""

    def __init__(self, message: str, details: list[dict[str, object]], count: int) -> None:
        super().__init__(message)
        self.details = details
        self.count = count
