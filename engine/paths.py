"""Where things live: shipped assets, the user's data directory, the shared research data."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

REPO_ROOT = Path(__file__).resolve().parent.parent
ASSETS_DIR = REPO_ROOT / "assets"
HANDS_ASSETS_DIR = ASSETS_DIR / "hands"


def user_data_dir() -> Path:
    """Per-user data (imported MANO models, autosaves). `UNIHAND_DATA_DIR` overrides it (tests)."""
    override = os.environ.get("UNIHAND_DATA_DIR")
    path = Path(override) if override else Path(platformdirs.user_data_dir("unihand-studio", "UniHand"))
    return path


def shared_data_dir() -> Path | None:
    """../shared/data beside the checkout when present (developer and CI machines), else None."""
    override = os.environ.get("UNIHAND_SHARED_DATA")
    candidate = Path(override) if override else REPO_ROOT.parent / "shared" / "data"
    return candidate if candidate.is_dir() else None
