"""The local disk cache of the last catalog a service loaded, to start from if the registry is down.

One JSON file per registered model under the home folder, written atomically (a temporary file
renamed over the old one), so several workers writing at once leave one whole file.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from personamap.domain.catalog import PersonaCatalog
from personamap.errors import CatalogError

logger = logging.getLogger(__name__)
FORMAT = 1


@dataclass(frozen=True)
class CachedCatalog:
    """A catalog read back from the cache."""

    version: int
    catalog: PersonaCatalog
    saved_at: datetime


class CatalogCache:
    """The cached production catalog of one registered model.

    Args:
        folder: Where cache files live (the service uses ``<home>/cache``).
        model_name: The registered model whose production catalog is cached.
    """

    def __init__(self, folder: Path, model_name: str) -> None:
        self.path = folder / f"{model_name}.production.json"
        self.model_name = model_name

    def save(self, version: int, catalog: PersonaCatalog) -> None:
        """Replace the cached catalog with ``catalog`` (a failure is logged, not raised)."""
        document = {
            "format": FORMAT,
            "model_name": self.model_name,
            "version": version,
            "saved_at": datetime.now(UTC).isoformat(),
            "catalog": catalog.to_dict(),
        }
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(
                dir=self.path.parent, prefix=self.path.name, suffix=".tmp"
            )
            with os.fdopen(handle, "w", encoding="utf-8") as file:
                json.dump(document, file)
            os.replace(temporary, self.path)
        except OSError as exc:
            # The cache only helps a later start; serving goes on without it.
            logger.warning("cannot write the catalog cache %s: %s", self.path, exc)

    def load(self) -> CachedCatalog | None:
        """The cached catalog, or None when there is none (or it is unreadable, which is logged)."""
        try:
            document = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            logger.warning("ignoring the unreadable catalog cache %s: %s", self.path, exc)
            return None
        try:
            if document.get("format") != FORMAT or document.get("model_name") != self.model_name:
                raise CatalogError(f"not a format-{FORMAT} cache of model {self.model_name!r}")
            return CachedCatalog(
                version=int(document["version"]),
                catalog=PersonaCatalog.from_dict(document["catalog"]),
                saved_at=datetime.fromisoformat(document["saved_at"]),
            )
        except (CatalogError, KeyError, TypeError, ValueError, AttributeError) as exc:
            logger.warning("ignoring the unreadable catalog cache %s: %s", self.path, exc)
            return None
