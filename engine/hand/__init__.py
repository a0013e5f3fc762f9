"""Hand models: MANO-format loading, the embedded default hand, FK/LBS, keypoints, mirroring."""

from engine.hand.model import HandModel, HandOutput
from engine.hand.model_file import HandModelData, load_hand_model, save_hand_model
from engine.hand.registry import HAND_MODEL_NAMES, get_hand_model_data


def create_hand_model(name: str = "default", side: str = "right", dtype=None) -> HandModel:
    """A ready-to-run `HandModel` (float32 unless dtype is given)."""
    import torch

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
