"""Named hand poses in anatomical terms, turned into MANO axis-angle for a given hand model."""

from __future__ import annotations

import numpy as np

from engine.hand.joint_limits import AnatomicalFrames, anatomical_to_pose
from engine.hand.skeleton import MANO_FINGER_JOINTS, NUM_FINGER_JOINTS

# Degrees of (flexion, abduction, twist) per finger, proximal to distal.
_Curl = tuple[tuple[float, float, float], tuple[float, float, float], tuple[float, float, float]]
_STRAIGHT: _Curl = ((0, 0, 0), (0, 0, 0), (0, 0, 0))
_CURLED: _Curl = ((85, 0, 0), (100, 0, 0), (65, 0, 0))

POSES_DEG: dict[str, dict[str, _Curl]] = {
    "flat": {},
    "fist": {
        "index": _CURLED,
        "middle": _CURLED,
        "ring": _CURLED,
        "pinky": _CURLED,
        "thumb": ((20, -30, 0), (50, 0, 0), (45, 0, 0)),
    },
    "point": {
        "index": _STRAIGHT,
        "middle": _CURLED,
        "ring": _CURLED,
        "pinky": _CURLED,
        "thumb": ((20, -30, 0), (50, 0, 0), (45, 0, 0)),
    },
    "pinch": {
        "index": ((40, 0, 0), (45, 0, 0), (25, 0, 0)),
        "middle": ((20, 0, 0), (25, 0, 0), (10, 0, 0)),
        "ring": ((15, 0, 0), (20, 0, 0), (10, 0, 0)),
        "pinky": ((10, 0, 0), (15, 0, 0), (10, 0, 0)),
        "thumb": ((35, -25, 0), (20, 0, 0), (15, 0, 0)),
    },
    "spread": {
        "index": ((0, 15, 0), (0, 0, 0), (0, 0, 0)),
        "ring": ((0, -12, 0), (0, 0, 0), (0, 0, 0)),
        "pinky": ((0, -22, 0), (0, 0, 0), (0, 0, 0)),
        "thumb": ((-20, 35, 0), (0, 0, 0), (0, 0, 0)),
    },
}


def named_pose_angles(name: str) -> np.ndarray:
    """(15, 3) anatomical angles in radians for a named pose."""
    if name not in POSES_DEG:
        raise KeyError(f"unknown pose {name!r}; known: {sorted(POSES_DEG)}")
    angles = np.zeros((NUM_FINGER_JOINTS, 3))
    for finger, curl in POSES_DEG[name].items():
        for joint, values in zip(MANO_FINGER_JOINTS[finger], curl, strict=True):
            angles[joint - 1] = np.radians(values)
    return angles


def named_pose(name: str, frames: AnatomicalFrames, side: str = "right") -> np.ndarray:
    """(45,) axis-angle for a named pose ('flat', 'fist', 'point', 'pinch', 'spread')."""
    return anatomical_to_pose(named_pose_angles(name), frames, side)
