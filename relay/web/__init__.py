"""Pages and pictures for browsers: HTML pages, keyframe tiles, the vendored HLS player."""
