"""The hls.js the node serves to public pages itself (never a CDN): pinned in
viewer/vendor/package.json, installed by `npm ci --prefix viewer/vendor` (scripts/setup.sh, the
Dockerfile). Pages learn from GET /api/player whether it is there; without it they play WHEP
(or native HLS, e.g. iPhone Safari) and say why.
"""

from __future__ import annotations

import json

from pantau.runtime.paths import VIEWER_DIR

PACKAGE_DIR = VIEWER_DIR / "vendor" / "node_modules" / "hls.js"
SCRIPT_URL = "/viewer/vendor/node_modules/hls.js/dist/hls.min.js"
MISSING = "hls.js belum terpasang di node ini (npm ci --prefix viewer/vendor)"


def installed() -> dict | None:
    """{version, url} of the installed hls.js, or None when it is not installed."""
    try:
        version = json.loads((PACKAGE_DIR / "package.json").read_text())["version"]
    except (OSError, ValueError, KeyError):
        return None
    if not (PACKAGE_DIR / "dist" / "hls.min.js").is_file():
        return None
    return {"version": version, "url": SCRIPT_URL}
