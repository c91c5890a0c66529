"""Where Pantau's committed data files live (the repo's configs/ and viewer/ folders)."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
CONFIGS_DIR = Path(os.environ.get("PANTAU_CONFIGS_DIR", REPO_ROOT / "configs"))
VIEWER_DIR = Path(os.environ.get("PANTAU_VIEWER_DIR", REPO_ROOT / "viewer"))
