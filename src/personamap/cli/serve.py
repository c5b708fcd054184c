"""``personamap serve`` (the web service) and ``personamap api-key`` (keys for it)."""

from __future__ import annotations

import logging
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from personamap.cli.wiring import catalog_context, console, database, settings
from personamap.config import Settings
from personamap.errors import CatalogError, DatabaseError

logger = logging.getLogger(__name__)


def _metrics_folder() -> tuple[Path, bool]:
    """A clean folder for the workers' shared metrics, and whether it was made here.

    Values left by an earlier run would add up with this run's, so the folder starts empty.
    """
    given = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not given:
        return Path(tempfile.mkdtemp(prefix="personamap-metrics-")), True
    folder = Path(given)
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("*.db"):
        stale.unlink()
    return folder, False


def serve(
    host: Annotated[
        str | None, typer.Option(help="Address to listen on (default: PERSONAMAP_SERVE_HOST).")
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(min=0, max=65535, help="Port (default: PERSONAMAP_SERVE_PORT, else 8000)."),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(min=1, help="Worker processes (default: one per CPU core)."),
    ] = None,
    reload_interval: Annotated[
        float | None,
        typer.Option(
            min=0.1,
            help="Seconds between checks of the production alias "
            "(default: PERSONAMAP_SERVE_RELOAD_INTERVAL_SECONDS, else 30).",
        ),
    ] = None,
    access_log: Annotated[bool, typer.Option(help="Log every request.")] = False,
    show_example: Annotated[
        bool,
        typer.Option(
            "--show-example",
            help="Print how to start the service and an example request, then exit.",
        ),
    ] = False,
) -> None:
    """Start the web service: persona assignment over HTTP, following the production catalog.

    Gunicorn with uvicorn workers; every worker loads the catalog the `production` alias points
    at and swaps in a newly promoted one without a restart. API docs at /docs; health at /healthz
    and /readyz; Prometheus metrics at /metrics.
    """
    from personamap.web.auth import require_keys_in_production

    config = settings()
    overrides = {
        "serve_host": host,
        "serve_port": port,
        "serve_workers": workers,
        "serve_reload_interval_seconds": reload_interval,
    }
    config = config.model_copy(update={k: v for k, v in overrides.items() if v is not None})
    if show_example:
        _show_example(config)
        return
    require_keys_in_production(config)
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    # A registry that does not answer should fail a check in seconds, not after minutes of retries.
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    try:  # the embedded database upgrades itself once here, not in every worker at once
        database(config).dispose()
    except DatabaseError as exc:
        logger.warning("the database is not ready (see /readyz): %s", exc)
    if logging.getLogger().getEffectiveLevel() > logging.INFO:
        logging.getLogger("personamap.web").setLevel(logging.INFO)  # loads and swaps are news

    folder, made = _metrics_folder()
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(folder)  # before prometheus_client is imported
    from personamap.web.server import ServerOptions, run

    options = ServerOptions(
        host=config.serve_host,
        port=config.serve_port,
        workers=config.serve_workers or os.cpu_count() or 1,
        access_log=access_log,
    )
    console.print(
        f"personamap: serving catalog {config.model_name!r} on http://{options.host}:"
        f"{options.port} with {options.workers} worker(s); API docs at /docs",
        soft_wrap=True,
    )
    sys.stdout.flush()
    try:
        run(config, options)
    finally:
        if made:
            shutil.rmtree(folder, ignore_errors=True)


def _show_example(config: Settings) -> None:
    from personamap.services.catalog import production_catalog
    from personamap.web.records import curl_example

    found = production_catalog(catalog_context(None, config))
    if found is None:
        raise CatalogError(
            "no catalog is promoted to production yet: import or discover one, then "
            "`personamap catalog promote`"
        )
    version, catalog = found
    host = "127.0.0.1" if config.serve_host in {"0.0.0.0", "::"} else config.serve_host
    url = f"http://{host}:{config.serve_port}"
    console.rule("serve the personas")
    console.print(
        f"start the web service:  personamap serve   ({url}, API docs at {url}/docs)",
        soft_wrap=True,
    )
    console.print(
        f"then assign a customer (catalog version {version} is production):", soft_wrap=True
    )
    example = curl_example(catalog, url, api_key=bool(config.api_keys))
    console.print(example, soft_wrap=True, markup=False, highlight=False)
    if config.api_keys:
        console.print("(set PERSONAMAP_API_KEY to a key whose hash is configured)")


def api_key(
    key: Annotated[
        str | None,
        typer.Argument(help="A key to hash, or '-' to read it from standard input; default: new."),
    ] = None,
) -> None:
    """Make an API key for the web service (or hash a given one) and print its hash.

    Give the key to the client; put only the hash in the configuration, e.g.
    PERSONAMAP_API_KEYS='["sha256:..."]'. Several keys may be configured.
    """
    from personamap.web.auth import hash_api_key, new_api_key

    if key == "-":
        key = sys.stdin.readline().strip()
    made = key is None
    key = key or new_api_key()
    hashed = hash_api_key(key)
    if made:
        console.print(
            f"API key (give it to the client; personamap does not keep it): {key}", soft_wrap=True
        )
    console.print(f"hash (put it in the configuration): {hashed}", soft_wrap=True)
    console.print(f"e.g. PERSONAMAP_API_KEYS='[\"{hashed}\"]'", soft_wrap=True, markup=False)
