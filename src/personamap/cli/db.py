"""``personamap db``: migrations of personamap's own tables."""

from __future__ import annotations

import typer

from personamap.adapters.database import current_revision, upgrade
from personamap.adapters.database.engine import create_database_engine, head_revision
from personamap.cli.wiring import console, settings
from personamap.config import mask_url

app = typer.Typer(
    help="Manage personamap's own tables (migrations).",
    no_args_is_help=True,
    rich_markup_mode="markdown",
)


@app.command("upgrade")
def upgrade_cmd(
    revision: str = typer.Argument("head", help="Target migration (default: the newest)."),
) -> None:
    """Apply migrations to the configured database."""
    config = settings()
    engine = create_database_engine(config.database_url)
    before = current_revision(engine)
    upgrade(engine, revision)
    after = current_revision(engine)
    console.print(
        f"database {mask_url(config.database_url)}: migration {before or 'none'} -> {after}"
    )


@app.command("current")
def current_cmd() -> None:
    """Print the database's migration and the newest one this personamap ships."""
    config = settings()
    engine = create_database_engine(config.database_url)
    current, head = current_revision(engine), head_revision(engine)
    state = "up to date" if current == head else "behind: run `personamap db upgrade`"
    console.print(
        f"database {mask_url(config.database_url)}: {current or 'none'} (newest {head}, {state})"
    )
