"""Ingest: one source per camera -> normalized packets on the stream bus. Never imports `relay`."""
