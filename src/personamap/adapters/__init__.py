"""Adapters: one per external system (database, model registry, broker, notifier)."""
