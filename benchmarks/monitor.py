"""Monitoring benchmark: a 1,000,000-customer cohort against a 1,000,000-customer reference.

Times personamap's whole drift check on in-memory frames (assigning both cohorts, then feature,
persona-mix and fit-quality drift) and Evidently's DataDriftPreset on the same frames, in the
same run. Evidently needs pandas < 3, so it runs in its own virtualenv (``.venv-evidently``,
created on first use from PyPI) on the frames written to Parquet. Usage:

    .venv/bin/python benchmarks/monitor.py [--rows 1000000] [--skip-evidently]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pandas as pd

from personamap.domain.assign import PersonaAssigner
from personamap.domain.drift import drift_report
from personamap.domain.spec import load_spec
from personamap.domain.synthetic import DriftScenario, generate_cohort, load_personas

EVIDENTLY_VENV = Path(__file__).resolve().parent.parent / ".venv-evidently"
EVIDENTLY_REQUIREMENTS = ["evidently>=0.7.23,<0.8", "pandas<3", "pyarrow"]
EVIDENTLY_SCRIPT = textwrap.dedent(
    """
    import sys, time
    import pandas as pd
    from evidently import Report
    from evidently.presets import DataDriftPreset
    reference = pd.read_parquet(sys.argv[1])
    current = pd.read_parquet(sys.argv[2])
    started = time.perf_counter()
    result = Report([DataDriftPreset()]).run(current_data=current, reference_data=reference)
    summary = result.dict()
    print(f"{time.perf_counter() - started:.3f}")
    """
)


def evidently_python() -> Path:
    python = EVIDENTLY_VENV / "bin" / "python"
    if not python.exists():
        print("creating .venv-evidently (first run only) ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(EVIDENTLY_VENV)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", *EVIDENTLY_REQUIREMENTS], check=True
        )
    return python


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--skip-evidently", action="store_true")
    args = parser.parse_args()

    spec = load_spec("anonymised")
    personas = load_personas(spec)
    features = list(spec.feature_names)
    started = time.perf_counter()
    reference = generate_cohort(spec, personas, "2025-01", n=args.rows, seed=1).frame[features]
    current = generate_cohort(
        spec, personas, "2025-03", n=args.rows, seed=1, drift=DriftScenario("shift")
    ).frame[features]
    print(f"generated 2 x {args.rows:,} customers in {time.perf_counter() - started:.1f} s")
    centroids = pd.DataFrame([{f: v.mean for f, v in p.numeric.items()} for p in personas.personas])
    assigner = PersonaAssigner.from_centroids(centroids, spec, reference=reference)

    started = time.perf_counter()
    reference_assigned = assigner.assign(reference)
    current_assigned = assigner.assign(current)
    assigned = time.perf_counter() - started
    report = drift_report(
        spec,
        reference,
        current,
        reference_assignments=reference_assigned,
        current_assignments=current_assigned,
        persona_ids=assigner.persona_ids_.tolist(),
    )
    ours = time.perf_counter() - started
    print(
        f"personamap: {ours:.2f} s (assigning both cohorts {assigned:.2f} s), "
        f"verdict drift={report.drifted}, drifted features {len(report.drifted_features)}/10"
    )

    evidently = None
    if not args.skip_evidently:
        python = evidently_python()
        with tempfile.TemporaryDirectory() as folder:
            ref_path, cur_path = (
                Path(folder) / "reference.parquet",
                Path(folder) / "current.parquet",
            )
            reference.to_parquet(ref_path)
            current.to_parquet(cur_path)
            script = Path(folder) / "evidently_drift.py"
            script.write_text(EVIDENTLY_SCRIPT)
            out = subprocess.run(
                [str(python), str(script), str(ref_path), str(cur_path)],
                check=True,
                capture_output=True,
                text=True,
            )
        evidently = float(out.stdout.strip().splitlines()[-1])
        print(f"Evidently DataDriftPreset: {evidently:.2f} s (report run only, frames in memory)")

    print(f"\n{'check':<44} {'seconds':>8} {'x Evidently':>12}")
    print(
        f"{'personamap (assign + features, mix, fit)':<44} {ours:>8.2f} "
        f"{(evidently / ours if evidently else float('nan')):>11.1f}x"
    )
    if evidently:
        print(f"{'Evidently DataDriftPreset (features only)':<44} {evidently:>8.2f} {1.0:>11.1f}x")
    print(
        f"\ngoal <= 10 s: {'met' if ours <= 10 else 'NOT met'}"
        + (f"; faster than Evidently: {'yes' if ours < evidently else 'NO'}" if evidently else "")
    )


if __name__ == "__main__":
    main()
