"""The catalog commands as a user runs them, one after the other, on the embedded default."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e


def personamap(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "personamap", *args],
        cwd=cwd,
        env={
            **os.environ,
            "COLUMNS": "200",
            "PERSONAMAP_HOME": str(cwd / ".personamap"),
            "PERSONAMAP_ACTOR": "e2e-tester",
        },
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_train_promote_rename_show_and_history(tmp_path: Path) -> None:
    assert personamap("generate", "--ingest", cwd=tmp_path).returncode == 0

    trained = personamap("catalog", "train", "--cohort", "2025-01", cwd=tmp_path)
    assert trained.returncode == 0, trained.stderr
    assert "registered as version 1 (candidate)" in trained.stdout

    refused = personamap("catalog", "promote", cwd=tmp_path)
    assert refused.returncode == 2
    assert "needs a reason" in refused.stderr

    promoted = personamap("catalog", "promote", "--reason", "first personas", cwd=tmp_path)
    assert promoted.returncode == 0, promoted.stderr
    assert "production: nothing -> version 1" in promoted.stdout

    renamed = personamap("catalog", "rename", "2", "Sustainable Steve", cwd=tmp_path)
    assert renamed.returncode == 0, renamed.stderr
    shown = personamap("catalog", "show", cwd=tmp_path)
    assert "Sustainable Steve" in shown.stdout
    assert "production" in shown.stdout

    listed = personamap("catalog", "list", cwd=tmp_path)
    assert "production" in listed.stdout

    history = personamap("catalog", "history", cwd=tmp_path)
    lines = [line for line in history.stdout.splitlines() if "e2e-tester" in line]
    assert [a for line in lines for a in ("rename", "promote", "register") if a in line] == [
        "rename",
        "promote",
        "register",
    ]

    missing = personamap("catalog", "train", "--cohort", "2024-01", cwd=tmp_path)
    assert missing.returncode == 2
    assert "cohort 2024-01 has no customers" in missing.stderr
