"""Pantau: shared core used by both `ingest` and `relay` (config, regions, cameras, registry)."""

__version__ = "0.1.0"

from pantau.runtime import asyncio_compat

asyncio_compat.install()  # before anything awaits Redis: see the module's docstring
