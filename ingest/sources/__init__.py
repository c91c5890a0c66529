"""Where cameras come from: RTSP pull, WHIP push, WHEP pull, the demo cameras; backoff and failure reasons."""
