"""Run the web app under gunicorn with uvicorn workers (the ``uvicorn-worker`` package).

Each worker builds its own app from the settings after the fork and loads the catalog itself.
Metrics are shared through ``PROMETHEUS_MULTIPROC_DIR``, which must be set before this module
(and so ``prometheus_client``) is imported: ``personamap serve`` does that.
"""

from __future__ import annotations

import gc
import logging
from dataclasses import dataclass
from typing import Any

from gunicorn.app.base import BaseApplication

from personamap.config import Settings

WORKER_CLASS = "uvicorn_worker.UvicornWorker"


@dataclass(frozen=True)
class ServerOptions:
    """How gunicorn runs the app."""

    host: str
    port: int
    workers: int
    access_log: bool = False
    timeout_seconds: int = 60
    log_level: str = "info"


def _child_exit(server: Any, worker: Any) -> None:
    from personamap.web.metrics import mark_process_dead

    mark_process_dead(worker.pid)


def _post_worker_init(worker: Any) -> None:
    # Everything loaded so far (libraries, the app) lives as long as the worker: keep it out of
    # the collector's way, so a full collection never pauses a request for long.
    gc.freeze()


class ServiceApplication(BaseApplication):  # type: ignore[misc]
    """A gunicorn application serving ``create_app(settings)`` in every worker."""

    def __init__(self, settings: Settings, options: ServerOptions) -> None:
        self.settings = settings
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        """Gunicorn settings from the options (no config file, no command line)."""
        host = f"[{self.options.host}]" if ":" in self.options.host else self.options.host
        for key, value in {
            "bind": [f"{host}:{self.options.port}"],
            "workers": self.options.workers,
            "worker_class": WORKER_CLASS,
            "timeout": self.options.timeout_seconds,
            "graceful_timeout": 10,
            "keepalive": 5,
            "accesslog": "-" if self.options.access_log else None,
            "errorlog": "-",
            "loglevel": self.options.log_level,
            "proc_name": "personamap",
            "child_exit": _child_exit,
            "post_worker_init": _post_worker_init,
            "control_socket_disable": True,  # gunicorn >= 26: no control socket in $HOME
        }.items():
            if key in self.cfg.settings:
                self.cfg.set(key, value)

    def load(self) -> Any:
        """The app of one worker (called after the fork)."""
        from personamap.web.app import create_app

        return create_app(self.settings)


def run(settings: Settings, options: ServerOptions) -> None:
    """Serve until gunicorn is told to stop (SIGTERM, SIGINT)."""
    logging.getLogger(__name__).info(
        "serving on %s:%d with %d workers", options.host, options.port, options.workers
    )
    ServiceApplication(settings, options).run()
