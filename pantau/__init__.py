"""Pantau: shared core used by both `ingest` and `relay` (config, regions, cameras, registry)."""

__version__ = "0.1.0"
