"""Self-contained HTML reports (plots embedded, nothing fetched from the network)."""
