"""The Jinja environment of the dashboard's pages (and of the static report, which reuses them)."""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path

from jinja2 import BaseLoader, ChoiceLoader, Environment, PackageLoader, select_autoescape

ASSETS = {
    "dashboard.css": ("personamap.dashboard", "static/dashboard.css"),
    "charts.js": ("personamap.dashboard", "static/charts.js"),
    "plotly.min.js": ("plotly", "package_data/plotly.min.js"),
}
"""The files the pages load, by name: the dashboard's own and plotly.js from the plotly package."""


def environment(*more: BaseLoader) -> Environment:
    """Templates of the dashboard, after those of any ``more`` loaders (which may extend them)."""
    return Environment(
        loader=ChoiceLoader([*more, PackageLoader("personamap.dashboard", "templates")]),
        autoescape=select_autoescape(["html", "j2"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )


@cache
def pages() -> Environment:
    """The dashboard's template environment (built once)."""
    return environment()


def asset_path(name: str) -> Path | None:
    """Where an asset lives on disk, or None for an unknown name."""
    found = ASSETS.get(name)
    if found is None:
        return None
    package, relative = found
    return Path(str(resources.files(package).joinpath(relative)))


def asset_text(name: str) -> str:
    """An asset's content (for inlining into the static report).

    Raises:
        KeyError: an unknown asset name.
    """
    path = asset_path(name)
    if path is None:
        raise KeyError(name)
    return path.read_text(encoding="utf-8")
