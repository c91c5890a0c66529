"""WHEP: viewer peer connections fed from the bus, instant start, picture-loss requests, counts."""
