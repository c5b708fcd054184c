"""Spark (local[2]) assigns a Parquet file of customers exactly as the in-process assigner does."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from assign_support import build_world, run_personamap, subprocess_env
from personamap.domain.synthetic import generate_cohort, load_personas
from personamap.services.catalog import effective_catalog

pytest.importorskip("pyspark")
pytestmark = pytest.mark.integration


def test_spark_assigns_a_parquet_file_with_exactly_the_in_process_personas(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    world = build_world(monkeypatch, customers=20)
    spec = world.context.spec
    customers = generate_cohort(spec, load_personas(spec), "2025-07", n=5_000, seed=11).frame
    source = tmp_path / "customers.parquet"
    customers.to_parquet(source, index=False)
    output = tmp_path / "assigned"

    result = run_personamap(
        "assign",
        "--engine",
        "spark",
        "--input",
        str(source),
        "--output",
        str(output),
        "--master",
        "local[2]",
        env=subprocess_env(SPARK_LOCAL_IP="127.0.0.1"),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "5,000 customers assigned" in result.stdout

    assigned = pd.read_parquet(output).set_index("customer_id").sort_index()
    _, catalog = effective_catalog(world.context, world.version)
    expected = catalog.assign(customers.set_index("customer_id").drop(columns=["signup_at"]))
    expected = expected.sort_index()
    assert list(assigned.index) == list(expected.index)
    assert (assigned["persona_id"] == expected["persona_id"]).all()
    assert (assigned["persona_name"] == expected["persona_name"]).all()
    assert (assigned["fit"] == expected["fit"]).all()
    assert assigned["distance"].to_numpy() == pytest.approx(expected["distance"].to_numpy())
    assert set(assigned["catalog_version"]) == {world.version}
