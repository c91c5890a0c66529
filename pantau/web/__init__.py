"""HTTP and WebRTC plumbing shared by ingest and relay: JSON errors, limits, bodies, SDP over HTTP, ICE settings."""
