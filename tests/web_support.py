"""Test support for the web service: a promoted catalog in a home of its own, shared by a module."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from personamap.config import Settings, get_settings, load_settings
from support import Lifecycle, build_lifecycle

CLEARED = ("DATABASE_URL", "MLFLOW_TRACKING_URI", "PROMETHEUS_MULTIPROC_DIR")


@contextmanager
def embedded_home(home: Path) -> Iterator[None]:
    """Point personamap at an embedded home of its own for the duration of the block."""
    with pytest.MonkeyPatch.context() as patch:
        for name in list(os.environ):
            if name.startswith("PERSONAMAP_") and name != "PERSONAMAP_TEST_POSTGRES_URL":
                patch.delenv(name)
        for name in CLEARED:
            patch.delenv(name, raising=False)
        patch.setenv("PERSONAMAP_HOME", str(home))
        patch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
        get_settings.cache_clear()
        try:
            yield
        finally:
            get_settings.cache_clear()


def promoted_catalog(home: Path, spec_name: str = "anonymised") -> tuple[Lifecycle, Settings]:
    """Demo cohorts and a promoted catalog under ``home``, with settings pointing there."""
    with embedded_home(home):
        lifecycle = build_lifecycle(spec_name)
        settings = load_settings()
    return lifecycle, settings


def free_port() -> int:
    """A TCP port free on the loopback interface right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
