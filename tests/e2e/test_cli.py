"""The command line as a user runs it: help everywhere, generate, ingest, demo, config, db."""

from __future__ import annotations

import filecmp
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from personamap.cli import app

pytestmark = pytest.mark.e2e
runner = CliRunner()


def _run(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "personamap", *args],
        cwd=cwd,
        env={**os.environ, "COLUMNS": "120", **(env or {})},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _commands(group: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = []
    for name, command in group.commands.items():
        found.append((*prefix, name))
        if hasattr(command, "commands"):
            found += _commands(command, (*prefix, name))
    return found


def test_help_lists_the_commands(tmp_path: Path) -> None:
    result = _run("--help", cwd=tmp_path)
    assert result.returncode == 0
    for command in ("generate", "ingest", "db", "config", "demo"):
        assert command in result.stdout


def test_every_command_has_help_text() -> None:
    root = typer.main.get_command(app)
    commands = _commands(root)
    assert len(commands) >= 7
    for path in commands:
        result = runner.invoke(app, [*path, "--help"])
        assert result.exit_code == 0, (path, result.output)
        command: Any = root
        for name in path:
            command = command.commands[name]
        assert (command.help or "").strip(), f"`personamap {' '.join(path)}` has no help text"


def test_generate_with_the_same_seed_writes_identical_files(tmp_path: Path) -> None:
    for out in ("a", "b"):
        result = _run("generate", "--customers", "200", "--out", out, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
    files = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert files == [f"anonymised-2025-0{m}.csv" for m in range(1, 6)]
    match, mismatch, errors = filecmp.cmpfiles(tmp_path / "a", tmp_path / "b", files, shallow=False)
    assert (match, mismatch, errors) == (files, [], [])
    other = _run("generate", "--customers", "200", "--seed", "7", "--out", "c", cwd=tmp_path)
    assert other.returncode == 0
    assert not filecmp.cmp(tmp_path / "a" / files[0], tmp_path / "c" / files[0], shallow=False)


def test_ingest_reports_rejects_and_a_second_run_loads_nothing(
    tmp_path: Path, use_database: str
) -> None:
    generated = _run(
        "generate",
        "--spec",
        "survey",
        "--customers",
        "50",
        "--to",
        "2025-01",
        "--out",
        "in",
        cwd=tmp_path,
    )
    assert generated.returncode == 0, generated.stderr
    path = tmp_path / "in" / "survey-2025-01.csv"
    lines = path.read_text().splitlines()
    lines[3] = lines[3].replace("online", "carrier-pigeon").replace("store", "carrier-pigeon")
    path.write_text("\n".join(lines) + "\n")
    env = {"DATABASE_URL": use_database}

    if use_database.startswith("postgresql"):
        refused = _run("ingest", str(path), "--spec", "survey", cwd=tmp_path, env=env)
        assert refused.returncode == 2
        assert "run `personamap db upgrade`" in refused.stderr
        assert _run("db", "upgrade", cwd=tmp_path, env=env).returncode == 0

    first = _run("ingest", "in", "--spec", "survey", cwd=tmp_path, env=env)
    assert first.returncode == 0, first.stderr
    assert "1 rows rejected" in first.stdout
    assert "carrier-pigeon" in (tmp_path / "in" / "survey-2025-01.rejects.csv").read_text()
    second = _run("ingest", str(path), "--spec", "survey", cwd=tmp_path, env=env)
    assert second.returncode == 0
    assert "nothing new" in second.stdout


def test_a_user_error_exits_2_with_a_message_and_no_traceback(tmp_path: Path) -> None:
    result = _run("ingest", "missing.csv", "--spec", "nope", cwd=tmp_path)
    assert result.returncode == 2
    assert "error: feature spec 'nope'" in result.stderr
    assert "Traceback" not in result.stderr


def test_demo_runs_end_to_end_and_prints_customers_per_month(tmp_path: Path) -> None:
    result = _run("demo", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    for month in ("2025-01", "2025-02", "2025-03", "2025-04", "2025-05"):
        assert f"{month} │       500" in result.stdout
    assert (tmp_path / ".personamap" / "personamap.db").is_file()
    again = _run("demo", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "2,500" in again.stdout  # the total, not 5,000: nothing was loaded twice


def test_config_masks_the_database_password(tmp_path: Path) -> None:
    result = _run("config", cwd=tmp_path, env={"DATABASE_URL": "postgresql://u:hunter2@db/pm"})
    assert result.returncode == 0
    assert "hunter2" not in result.stdout
    assert "postgresql://u:***@db/pm" in result.stdout
