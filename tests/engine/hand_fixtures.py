"""Builders of small hand-model fixtures for tests (no downloads)."""

from __future__ import annotations

import numpy as np

from engine.hand.model_file import HandModelData
from engine.hand.procedural import build_procedural_hand


def hand_with_pose_correctives(seed: int = 0) -> HandModelData:
    """The procedural hand with random pose-corrective directions, to exercise MANO's posedirs path."""
    base = build_procedural_hand()
    rng = np.random.default_rng(seed)
    posedirs = 1e-3 * rng.standard_normal(base.posedirs.shape)
    return base.with_changes(name="procedural+posedirs", posedirs=posedirs)


def random_pose(batch: int, seed: int = 0, scale: float = 0.5) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Random (hand_pose (B,45), global_orient (B,3), transl (B,3))."""
    rng = np.random.default_rng(seed)
    return (
        scale * rng.standard_normal((batch, 45)),
        rng.standard_normal((batch, 3)),
        0.2 * rng.standard_normal((batch, 3)),
    )
