"""Hand models: MANO-format loading, the embedded default hand, FK/LBS, keypoints, mirroring.

Names are resolved on first use so that importing a light submodule (e.g. `engine.hand.skeleton`
from the GUI) does not import torch: that costs over a second at application start-up.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

    from engine.hand.model import HandModel, HandOutput
    from engine.hand.model_file import HandModelData, load_hand_model, save_hand_model
    from engine.hand.registry import HAND_MODEL_NAMES, get_hand_model_data

_LAZY = {
    "HandModel": "engine.hand.model",
    "HandOutput": "engine.hand.model",
    "HandModelData": "engine.hand.model_file",
    "load_hand_model": "engine.hand.model_file",
    "save_hand_model": "engine.hand.model_file",
    "HAND_MODEL_NAMES": "engine.hand.registry",
    "get_hand_model_data": "engine.hand.registry",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def create_hand_model(
    name: str = "default", side: str = "right", dtype: torch.dtype | None = None
) -> HandModel:
    """A ready-to-run `HandModel` (float32 unless dtype is given)."""
    import torch

    from engine.hand.model import HandModel
    from engine.hand.registry import get_hand_model_data

    return HandModel(get_hand_model_data(name, side), dtype=dtype or torch.float32)


__all__ = [
    "HAND_MODEL_NAMES",
    "HandModel",
    "HandModelData",
    "HandOutput",
    "create_hand_model",
    "get_hand_model_data",
    "load_hand_model",
    "save_hand_model",
]
