"""A short built-in hand performance (no files needed) for the app's demo and for tests."""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

from engine.hand.joint_limits import AnatomicalFrames, anatomical_to_pose
from engine.hand.model_file import HandModelData
from engine.hand.poses import named_pose_angles

DEMO_SEQUENCE = ("flat", "fist", "flat", "point", "pinch", "spread", "flat")


def _smoothstep(t: np.ndarray) -> np.ndarray:
    return t * t * (3.0 - 2.0 * t)


def demo_pose_track(data: HandModelData, num_frames: int = 180) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(hand_pose (T,45), global_orient (T,3), transl (T,3)) of the demo, palm towards a camera at
    the origin looking along +z, about 0.45 m away. Poses blend in anatomical angles."""
    frames = AnatomicalFrames.from_hand(data)
    keys = np.stack([named_pose_angles(name) for name in DEMO_SEQUENCE])  # (K,15,3)
    s = np.linspace(0.0, len(keys) - 1, num_frames)
    k0 = np.minimum(np.floor(s).astype(int), len(keys) - 2)
    w = _smoothstep(s - k0)[:, None, None]
    angles = (1 - w) * keys[k0] + w * keys[k0 + 1]
    hand_pose = anatomical_to_pose(angles, frames)
    t = np.linspace(0.0, 2.0 * np.pi, num_frames)
    # Fingers up (-y in OpenCV camera space), palm facing the camera, with a gentle sway.
    # Model frame (fingers -x, palm -y) -> camera: fingers -y, palm towards the camera (-z).
    base = Rotation.from_matrix(np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]))
    sway = Rotation.from_euler("yz", np.stack([15 * np.sin(t), 8 * np.sin(2 * t)], axis=1), degrees=True)
    global_orient = (sway * base).as_rotvec()
    wrist = data.rest_joints()[0]
    target = np.stack([0.02 * np.sin(t), 0.08 + 0.01 * np.cos(t), np.full_like(t, 0.45)], axis=1)
    # MANO rotates about the rest wrist, so the wrist lands at rest_wrist + transl.
    transl = target - wrist
    return hand_pose, global_orient, transl
