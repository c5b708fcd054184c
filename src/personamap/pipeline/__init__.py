"""The monthly pipeline on Dagster: ingest, assign, monitor, retrain on drift, alert.

Software-defined assets partitioned by month (a partition is a cohort) call the same services
as the CLI commands; nothing is decided only in the orchestrator. ``run`` executes cohorts
in-process for the CLI and the tests; ``definitions`` is what ``dagster dev`` loads (the UI and
the monthly schedule). Importing this package does not import Dagster: its modules do.
"""
