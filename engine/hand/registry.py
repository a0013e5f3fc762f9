"""Find hand models by name: 'default' (shipped), 'procedural' (generated), 'mano' (imported).

Left hands of 'default' and 'procedural' are exact mirror images of the right; an imported
MANO uses the user's own MANO_LEFT when imported, else the mirror of MANO_RIGHT.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from engine.errors import HandModelError
from engine.hand.mano_import import imported_mano_path
from engine.hand.mirror import mirror_hand_model
from engine.hand.model_file import HandModelData, load_hand_model
from engine.hand.procedural import build_procedural_hand
from engine.paths import HANDS_ASSETS_DIR

DEFAULT_HAND_PATH = HANDS_ASSETS_DIR / "default_right.npz"
HAND_MODEL_NAMES = ("default", "procedural", "mano")


def _right_hand(name: str) -> HandModelData:
    if name == "default":
        if not DEFAULT_HAND_PATH.is_file():
            raise HandModelError(
                f"the default hand {DEFAULT_HAND_PATH} is missing; reinstall, or rebuild it with "
                "`python scripts/build_default_hand.py`"
            )
        return load_hand_model(DEFAULT_HAND_PATH)
    if name == "procedural":
        return build_procedural_hand()
    if name == "mano":
        path = imported_mano_path("right")
        if not path.is_file():
            raise HandModelError(
                "no MANO model imported yet; download MANO_RIGHT.pkl from https://mano.is.tue.mpg.de "
                "(free for research) and run `python main.py import-mano MANO_RIGHT.pkl`"
            )
        return load_hand_model(path)
    path = Path(name)
    if path.suffix == ".npz" and path.is_file():
        data = load_hand_model(path)
        return data if data.side == "right" else mirror_hand_model(data)
    raise HandModelError(f"unknown hand model {name!r}; use one of {HAND_MODEL_NAMES} or a .npz path")


@lru_cache(maxsize=16)
def get_hand_model_data(name: str = "default", side: str = "right") -> HandModelData:
    """Hand-model arrays for `name` and `side` ('right' or 'left'), cached per process."""
    if side not in ("right", "left"):
        raise HandModelError(f"side must be 'right' or 'left', got {side!r}")
    if name == "mano" and side == "left" and imported_mano_path("left").is_file():
        return load_hand_model(imported_mano_path("left"))
    right = _right_hand(name)
    return right if side == "right" else mirror_hand_model(right)
