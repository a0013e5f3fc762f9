"""Joint orders of the hand: the one module that owns them.

Two orders exist. MANO's 16 kinematic joints (internal to hand models and their pose
parameters) and the 21 MediaPipe/OpenPose keypoints ("MP21") that every keypoint file and
every condition uses. See DESIGN.md section 2.
"""

from __future__ import annotations

import numpy as np

NUM_MANO_JOINTS = 16
NUM_FINGER_JOINTS = 15
NUM_KEYPOINTS = 21
POSE_DIM = 3 * NUM_FINGER_JOINTS  # 45 axis-angle values, never PCA
NUM_BETAS = 10

MANO_JOINT_NAMES: tuple[str, ...] = (
    "wrist",
    "index1", "index2", "index3",
    "middle1", "middle2", "middle3",
    "pinky1", "pinky2", "pinky3",
    "ring1", "ring2", "ring3",
    "thumb1", "thumb2", "thumb3",
)  # fmt: skip

# Parent of each MANO joint (-1 for the root).
MANO_PARENTS: tuple[int, ...] = (-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 0, 10, 11, 0, 13, 14)

FINGERS: tuple[str, ...] = ("thumb", "index", "middle", "ring", "pinky")

# Fingertips appended after the 16 MANO joints, in this finger order (indices 16..20).
TIP_FINGER_ORDER: tuple[str, ...] = FINGERS

MP21_NAMES: tuple[str, ...] = (
    "wrist",
    "thumb_cmc", "thumb_mcp", "thumb_ip", "thumb_tip",
    "index_mcp", "index_pip", "index_dip", "index_tip",
    "middle_mcp", "middle_pip", "middle_dip", "middle_tip",
    "ring_mcp", "ring_pip", "ring_dip", "ring_tip",
    "pinky_mcp", "pinky_pip", "pinky_dip", "pinky_tip",
)  # fmt: skip

# MP21 index -> index into (16 MANO joints + 5 tips in TIP_FINGER_ORDER).
MANO_TO_MP21: tuple[int, ...] = (0, 13, 14, 15, 16, 1, 2, 3, 17, 4, 5, 6, 18, 10, 11, 12, 19, 7, 8, 9, 20)

# Parent of each MP21 keypoint, for bones and drawing.
MP21_PARENTS: tuple[int, ...] = (-1, 0, 1, 2, 3, 0, 5, 6, 7, 0, 9, 10, 11, 0, 13, 14, 15, 0, 17, 18, 19)

# The 15 finger joints of MANO (1..15) grouped per finger, proximal to distal.
MANO_FINGER_JOINTS: dict[str, tuple[int, int, int]] = {
    "index": (1, 2, 3),
    "middle": (4, 5, 6),
    "pinky": (7, 8, 9),
    "ring": (10, 11, 12),
    "thumb": (13, 14, 15),
}

# Real MANO fingertip vertex ids (smplx / HaMeR convention), TIP_FINGER_ORDER.
MANO_TIP_VERTEX_IDS: tuple[int, ...] = (744, 320, 443, 554, 671)


def mano_joints_and_tips_to_mp21(joints16: np.ndarray, tips5: np.ndarray) -> np.ndarray:
    """(...,16,3) MANO joints + (...,5,3) tips -> (...,21,3) MP21 keypoints (numpy or torch)."""
    if isinstance(joints16, np.ndarray):
        stacked = np.concatenate([joints16, tips5], axis=-2)
    else:
        import torch

        stacked = torch.cat([joints16, tips5], dim=-2)
    return stacked[..., list(MANO_TO_MP21), :]
