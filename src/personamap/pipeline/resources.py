"""What the pipeline's assets work with: settings, the catalog context, inbox, reports, notifier."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from personamap.adapters.notifier import WebhookNotifier
from personamap.config import Settings, get_settings
from personamap.services.catalog import CatalogContext
from personamap.services.monitor import notifier_from

RESOURCE_KEY = "personamap"
"""The key under which assets find :class:`PipelineServices` among Dagster's resources."""


@dataclass(frozen=True)
class PipelineServices:
    """The wiring one pipeline run needs, built once and shared by its assets."""

    settings: Settings
    context: CatalogContext
    inbox: Path
    report_dir: Path
    notifier: WebhookNotifier

    @classmethod
    def from_settings(
        cls,
        settings: Settings | None = None,
        *,
        spec: str | None = None,
        inbox: Path | None = None,
        context: CatalogContext | None = None,
    ) -> PipelineServices:
        """Wire the services from the settings; ``inbox`` and ``context`` override them."""
        from personamap.cli.wiring import catalog_context

        settings = settings or get_settings()
        return cls(
            settings=settings,
            context=context or catalog_context(spec, settings),
            inbox=inbox or settings.pipeline_inbox,
            report_dir=settings.home / "reports",
            notifier=notifier_from(settings),
        )
