"""Recordings as evidence: fMP4 segments, a signed hash chain per camera, retention and holds, verification."""
