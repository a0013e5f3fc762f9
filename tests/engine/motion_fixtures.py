"""Random but valid HandMotion records for the motion-layer tests (values, not realistic motion)."""

from __future__ import annotations

import numpy as np

from engine.motion import HandMotion


def random_motion(
    num_frames: int = 6, fps: float = 30.0, seed: int = 0, samples: int = 0, handedness: str = "right"
) -> HandMotion:
    rng = np.random.default_rng(seed)
    extra = {}
    if samples:
        extra = {
            "joints_samples": rng.normal(size=(samples, num_frames, 21, 3)),
            "joints_std": rng.uniform(0, 0.01, size=(num_frames, 21)),
        }
    return HandMotion(
        fps=fps,
        handedness=handedness,
        hand_model="default",
        global_orient=rng.normal(size=(num_frames, 3)) * 0.5,
        hand_pose=rng.normal(size=(num_frames, 45)) * 0.3,
        transl=rng.normal(size=(num_frames, 3)) * 0.1 + [0, 0, 0.6],
        betas=rng.normal(size=10),
        joints=rng.normal(size=(num_frames, 21, 3)) * 0.05,
        **extra,
    )
