"""Loaders for the public layouts of the paper's datasets (DexYCB, HOT3D-Clips).

Each yields ``(name, split, HandMotion, CameraTrack | None)``. Neither dataset is available on
these machines: the layouts assumed are written in each module's docstring and in docs/data.md,
and the tests build tiny fixtures in those layouts. MANO poses stored as PCA coefficients need the
hand model's PCA basis (the user's imported MANO); see `pca_to_axis_angle`.
"""

from __future__ import annotations

import numpy as np

from engine.errors import UniHandError
from engine.hand.model_file import HandModelData


class DatasetLayoutError(UniHandError):
    """A dataset folder or file does not have the expected layout (the message says where)."""


def hand_model_data(model: str | HandModelData, side: str) -> HandModelData:
    """Resolve a hand model name (or arrays) for `side`."""
    if isinstance(model, HandModelData):
        if model.side != side:
            from engine.hand.mirror import mirror_hand_model

            return mirror_hand_model(model)
        return model
    from engine.hand.registry import get_hand_model_data

    return get_hand_model_data(model, side)


def pca_to_axis_angle(coeffs: np.ndarray, model: HandModelData, add_mean: bool = True) -> np.ndarray:
    """(T,K) MANO PCA coefficients -> (T,45) axis-angle (``coeffs @ components[:K] (+ hands_mean)``).

    `add_mean` is smplx's ``flat_hand_mean=False``: the stored pose is relative to MANO's mean hand.
    Only a real MANO model (imported by the user) has the PCA basis the datasets were made with; the
    shipped hands have an identity basis, which would silently give wrong poses, so they are refused.
    """
    coeffs = np.asarray(coeffs, dtype=np.float64)
    comps = np.asarray(model.hands_components, dtype=np.float64)
    if coeffs.shape[-1] > comps.shape[0]:
        raise DatasetLayoutError(
            f"{coeffs.shape[-1]} PCA coefficients but the hand model has {comps.shape[0]}"
        )
    if np.allclose(comps, np.eye(comps.shape[0], comps.shape[1])) and not np.any(model.hands_mean):
        raise DatasetLayoutError(
            f"hand model {model.name!r} has no MANO PCA basis; these poses are MANO PCA coefficients: "
            "import your MANO_RIGHT.pkl/MANO_LEFT.pkl (`python main.py import-mano`) and load with "
            "hand_model='mano'"
        )
    pose = coeffs @ comps[: coeffs.shape[-1]]
    return pose + model.hands_mean if add_mean else pose


def valid_runs(valid: np.ndarray, min_length: int = 1) -> list[tuple[int, int]]:
    """[start, stop) runs of consecutive true frames at least `min_length` long."""
    edges = np.flatnonzero(np.diff(np.r_[0, np.asarray(valid, dtype=np.int8), 0]))
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2], strict=True) if b - a >= min_length]


__all__ = ["DatasetLayoutError", "hand_model_data", "pca_to_axis_angle", "valid_runs"]
