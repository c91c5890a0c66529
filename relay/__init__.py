"""Relay: every HTTP output of a node (API, and later WHEP, tiles, events). Reads the registry
and the stream bus; never imports `ingest`."""
