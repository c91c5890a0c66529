"""The stream bus: encoded media from ingest to every output (in-process or Redis Streams)."""
