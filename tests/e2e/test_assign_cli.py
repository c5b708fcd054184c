"""``personamap assign``, ``export`` and ``stream`` as a user runs them."""

from __future__ import annotations

import signal
import subprocess
import time
import uuid
from pathlib import Path

import pandas as pd
import pytest
import redis
from typer.testing import CliRunner

from assign_support import build_world, personamap_command, run_personamap, subprocess_env
from personamap.adapters.database.persona_counts import read_persona_counts
from personamap.cli import app
from personamap.config import get_settings
from personamap.errors import PersonamapError

pytestmark = pytest.mark.e2e
runner = CliRunner()


def test_assign_prints_the_persona_mix_and_export_writes_named_personas(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    world = build_world(monkeypatch, customers=100)
    env = subprocess_env()

    first = run_personamap("assign", "--cohort", "2025-03", "--cohort", "2025-04", env=env)
    assert first.returncode == 0, first.stderr
    assert f"assigned with catalog version {world.version}" in first.stdout
    for text in ("2025-03", "2025-04", "poor fit", "total", "200 customers assigned", "rows/s"):
        assert text in first.stdout
    assert "dashboard counts refreshed" in first.stdout
    counts = read_persona_counts(
        world.context.engine, model_name=world.context.model_name, version=world.version
    )
    assert counts.frame.groupby("cohort")["customers"].sum().to_dict() == {
        "2025-03": 100,
        "2025-04": 100,
    }

    # The same session's settings, in-process (a subprocess start costs seconds).
    again = runner.invoke(app, ["assign", "--cohort", "2025-03"])
    assert again.exit_code == 0, again.output
    assert "every selected customer was already assigned" in " ".join(again.output.split())

    out = tmp_path / "march.parquet"
    exported = runner.invoke(
        app, ["export", "--format", "parquet", "--cohort", "2025-03", "--out", str(out)]
    )
    assert exported.exit_code == 0, exported.output
    assert "100 assignments" in " ".join(exported.output.split())
    frame = pd.read_parquet(out)
    names = {p.name for p in world.context.registry.load(world.version)[1].personas}
    assert len(frame) == 100
    assert set(frame["persona_name"]) <= names


def test_a_refused_request_exits_with_code_2_and_a_message() -> None:
    result = run_personamap("assign", env=subprocess_env())
    assert result.returncode == 2
    assert "choose which customers to assign: --cohort, --since or --unassigned" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--cohort", "2025-03", "--unassigned"), "choose which customers to assign"),
        (("--cohort", "March"), "is not a month written as YYYY-MM"),
        (("--since", "yesterday"), "--since 'yesterday' is not a date"),
        (("--unassigned", "--output", "x"), "--input and --output are for --engine spark"),
        (("--engine", "gpu"), "--engine 'gpu': use db or spark"),
        (("--engine", "spark", "--unassigned"), "--engine spark assigns everything at --input"),
        (("--engine", "spark", "--input", "x.parquet"), "needs --input (customers) and --output"),
    ],
)
def test_assign_refuses_unclear_requests(args: tuple[str, ...], message: str) -> None:
    result = runner.invoke(app, ["assign", *args])
    assert isinstance(result.exception, PersonamapError)
    assert message in str(result.exception)


def test_export_before_any_promotion_says_what_to_do(tmp_path: Path) -> None:
    result = runner.invoke(app, ["export", "--out", str(tmp_path / "a.csv")])
    assert isinstance(result.exception, PersonamapError)
    assert "promote one" in str(result.exception)


def test_stream_consumes_until_sigterm_and_says_what_it_did(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    build_world(monkeypatch, customers=20)
    prefix = f"personamap-test:{uuid.uuid4().hex[:10]}"
    client = redis.Redis.from_url(get_settings().redis_url, decode_responses=True)
    client.xadd(f"{prefix}:in", {"customer_id": "A1", **{f"x{i}": "0.5" for i in range(1, 11)}})
    client.xadd(f"{prefix}:in", {"customer_id": "A2", "x1": "oops"})
    options = ["--input", f"{prefix}:in", "--output", f"{prefix}:out"]
    options += ["--dead-letter", f"{prefix}:dead", "--group", prefix]
    process = subprocess.Popen(
        personamap_command("stream", *options),
        env=subprocess_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while client.xlen(f"{prefix}:out") + client.xlen(f"{prefix}:dead") < 2:
            assert process.poll() is None, process.communicate()[1]
            assert time.monotonic() < deadline
            time.sleep(0.05)
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
        client.delete(f"{prefix}:in", f"{prefix}:out", f"{prefix}:dead")
    assert process.returncode == 0, err
    assert "2 messages, 1 assignments recorded, 1 published, 1 dead-lettered" in out
