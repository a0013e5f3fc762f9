"""Shared fixtures. Engine tests never need Qt; app tests live in tests/app."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent

# Never reach a model hub from tests.
os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(autouse=True)
def _isolated_user_data(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test gets its own user data directory so imports and autosaves never touch $HOME."""
    path = tmp_path_factory.mktemp("userdata")
    monkeypatch.setenv("UNIHAND_DATA_DIR", str(path))
    from engine.hand.registry import get_hand_model_data

    get_hand_model_data.cache_clear()
    return path


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data, or skip with the reason when this checkout has none beside it."""
    from engine.paths import shared_data_dir

    path = shared_data_dir()
    if path is None:
        pytest.skip(
            "../shared/data is not present beside this checkout (only developer and CI machines have it)"
        )
    return path
