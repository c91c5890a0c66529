"""Media helpers shared by ingest and relay: opening RTSP, probing a source, failure reasons, view signatures."""
