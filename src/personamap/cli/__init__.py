"""The ``personamap`` command line: one thin command per workflow stage.

Errors are mapped to exit codes here, in one place: a :class:`PersonamapError` prints its message
and exits with its ``exit_code`` (2 unless the error says otherwise); nothing prints a traceback
for a user mistake.
"""

from __future__ import annotations

import logging
import sys
from typing import Annotated

import typer

from personamap import __version__
from personamap.cli import assign, catalog, config_cmd, data, db, monitor, pipeline, report, serve
from personamap.errors import PersonamapError

app = typer.Typer(
    name="personamap",
    help="Customer persona catalogs, assignment and drift monitoring.",
    no_args_is_help=True,
    rich_markup_mode="markdown",
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command("generate")(data.generate)
app.command("ingest")(data.ingest)
app.command("demo")(data.demo)
app.command("assign")(assign.assign)
app.command("export")(assign.export)
app.command("stream")(assign.stream)
app.command("config")(config_cmd.show)
app.command("monitor")(monitor.monitor)
app.command("report")(report.report)
app.command("serve")(serve.serve)
app.command("api-key")(serve.api_key)
app.add_typer(db.app, name="db")
app.add_typer(catalog.app, name="catalog")
app.add_typer(pipeline.app, name="pipeline")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"personamap {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    log_level: Annotated[
        str, typer.Option(help="Logging level: DEBUG, INFO, WARNING or ERROR.")
    ] = "WARNING",
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """Customer persona catalogs, assignment and drift monitoring."""
    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


def main() -> None:
    """Run the CLI, turning personamap errors into a message and an exit code."""
    try:
        app()  # standalone: usage errors, --help and exit codes are handled by Typer
    except PersonamapError as exc:
        typer.secho(f"error: {exc}", err=True, fg=typer.colors.RED)
        sys.exit(exc.exit_code)
