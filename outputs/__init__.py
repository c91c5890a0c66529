"""Outputs with exactly one writer per camera on a site: run beside ingest by the camera's lease owner, reading the stream bus."""
