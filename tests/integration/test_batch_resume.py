"""A batch run killed half-way (SIGKILL, a real process) is completed by running it again."""

from __future__ import annotations

import signal
import subprocess
import time

import pytest
from sqlalchemy import Engine, text

from assign_support import World, build_world, personamap_command, run_personamap, subprocess_env

pytestmark = pytest.mark.integration


def _count(engine: Engine) -> tuple[int, int]:
    with engine.connect() as connection:
        rows, customers = connection.execute(
            text("SELECT count(*), count(DISTINCT customer_id) FROM assignments")
        ).one()
    return int(rows), int(customers)


def test_a_killed_run_is_completed_by_the_same_command_with_one_row_per_customer(
    monkeypatch: pytest.MonkeyPatch, engine: Engine, use_database: str
) -> None:
    world: World = build_world(monkeypatch, customers=200)
    command = ("assign", "--unassigned", "--chunk-size", "5")
    env = subprocess_env()
    process = subprocess.Popen(
        personamap_command(*command),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while _count(engine)[0] < 100:
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            assert time.monotonic() < deadline, "the batch run wrote nothing"
            time.sleep(0.005)
        process.send_signal(signal.SIGKILL)
        assert process.wait(timeout=30) == -signal.SIGKILL
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    rows, customers = _count(engine)
    assert 100 <= rows < world.customers, "the run was not killed half-way"
    assert rows == customers

    rerun = run_personamap(*command, env=env)
    assert rerun.returncode == 0, rerun.stderr
    assert f"{world.customers - rows:,} customers assigned" in rerun.stdout
    assert _count(engine) == (world.customers, world.customers)
