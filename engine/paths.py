"""Where things live: shipped assets, the user's data directory, the shared research data."""

from __future__ import annotations

import importlib.util
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


def model_file(env_var: str, package: str, relative: str, what: str = "file") -> Path | None:
    """A model file shipped inside an installed package, or the one `env_var` names instead.

    The package is located without importing it. Returns None when neither exists; raises
    FileNotFoundError (naming the variable) when `env_var` is set to something that is not a file.
    """
    override = os.environ.get(env_var)
    if override:
        path = Path(override)
        if not path.is_file():
            raise FileNotFoundError(f"{env_var}={override}: no such {what}")
        return path
    spec = importlib.util.find_spec(package)
    for location in list(spec.submodule_search_locations or []) if spec else []:
        path = Path(location) / relative
        if path.is_file():
            return path
    return None
