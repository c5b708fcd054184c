"""Services: the use cases (ingest, train, assign, monitor), wiring domain code to adapters."""
