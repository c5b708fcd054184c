"""personamap: customer persona catalogs, assignment and drift monitoring."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("personamap")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"

__all__ = ["__version__"]
