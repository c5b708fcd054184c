"""``personamap config``: show the effective settings."""

from __future__ import annotations

from rich.table import Table

from personamap.cli.wiring import console, settings


def show() -> None:
    """Print the effective settings (secrets masked) and where each can be changed."""
    table = Table(title="personamap settings", show_lines=False)
    table.add_column("setting")
    table.add_column("value")
    table.add_column("environment variable", style="dim")
    for name, value in settings().describe().items():
        variable = f"PERSONAMAP_{name.upper()}"
        if name in {"database_url", "mlflow_tracking_uri"}:
            variable += f" or {name.upper()}"
        table.add_row(name, value, variable)
    console.print(table)
