"""Anatomical joint frames and joint limits for the 15 finger joints.

MANO's pose parameters are rotations in world-aligned rest frames, which says nothing about
which way a finger bends. Here each finger joint gets an anatomical frame from the hand model's
rest skeleton: twist along the bone, flexion about the axis that curls the bone towards the palm,
abduction about the remaining axis (positive towards the thumb side). A local rotation is
decomposed into (flexion, abduction, twist) as intrinsic X-Y-Z Euler angles in that frame.

Limits are adult active ranges of motion, rounded outwards, in degrees (sources: the AAOS /
Hume et al. 1990 finger ranges; thumb CMC ranges after Cooney et al. 1981). They are for
plausibility (data generation, lints, fitting priors), not clinical use. They are defined on the
right hand; left-hand poses are mirrored in and out (engine/hand/mirror.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy.spatial.transform import Rotation

from engine.hand.mirror import mirror_axis_angle
from engine.hand.model_file import HandModelData
from engine.hand.skeleton import MANO_FINGER_JOINTS, NUM_FINGER_JOINTS, POSE_DIM

# (flexion, abduction, twist) ranges in degrees, per joint level.
_MCP = ((-30.0, 95.0), (-25.0, 25.0), (-15.0, 15.0))
_PIP = ((-5.0, 115.0), (-8.0, 8.0), (-10.0, 10.0))
_DIP = ((-20.0, 90.0), (-8.0, 8.0), (-10.0, 10.0))
_THUMB_CMC = ((-35.0, 60.0), (-40.0, 50.0), (-40.0, 40.0))
_THUMB_MCP = ((-15.0, 75.0), (-15.0, 15.0), (-20.0, 20.0))
_THUMB_IP = ((-25.0, 90.0), (-10.0, 10.0), (-15.0, 15.0))

ANGLE_NAMES = ("flexion", "abduction", "twist")


def _limits_table() -> np.ndarray:
    table = np.zeros((NUM_FINGER_JOINTS, 3, 2))
    for finger, (j1, j2, j3) in MANO_FINGER_JOINTS.items():
        levels = (_THUMB_CMC, _THUMB_MCP, _THUMB_IP) if finger == "thumb" else (_MCP, _PIP, _DIP)
        for joint, level in zip((j1, j2, j3), levels, strict=True):
            table[joint - 1] = level
    return table


# (15, 3, 2): per finger joint (MANO order 1..15), per angle, [min, max] in degrees.
JOINT_LIMITS_DEG: np.ndarray = _limits_table()
JOINT_LIMITS_RAD: np.ndarray = np.radians(JOINT_LIMITS_DEG)


@dataclass(frozen=True)
class AnatomicalFrames:
    """Per finger joint, columns (flexion axis, abduction axis, twist axis) in the model frame."""

    bases: np.ndarray  # (15, 3, 3)

    @classmethod
    def from_hand(cls, data: HandModelData) -> AnatomicalFrames:
        """Frames of a right hand model's rest pose (a left model is mirrored first by callers)."""
        joints = data.rest_joints()
        tips = data.v_template[data.tip_vertex_ids]  # thumb, index, middle, ring, pinky
        tip_of = dict(zip(("thumb", "index", "middle", "ring", "pinky"), tips, strict=True))
        index1, pinky1 = joints[1], joints[7]
        palm = np.cross(index1 - joints[0], pinky1 - joints[0])
        palm /= np.linalg.norm(palm)
        if data.side == "left":
            palm = -palm
        across = pinky1 - index1
        across /= np.linalg.norm(across)
        bases = np.zeros((NUM_FINGER_JOINTS, 3, 3))
        for finger, chain in MANO_FINGER_JOINTS.items():
            # The thumb curls across the palm towards the little finger, not straight down.
            towards = (
                palm if finger != "thumb" else (0.5 * palm + across) / np.linalg.norm(0.5 * palm + across)
            )
            for k, joint in enumerate(chain):
                child = joints[chain[k + 1]] if k < 2 else tip_of[finger]
                twist = child - joints[joint]
                twist /= np.linalg.norm(twist)
                flex = np.cross(twist, towards)
                flex /= np.linalg.norm(flex)
                abd = np.cross(twist, flex)  # rotating about it moves the bone towards +flex side
                bases[joint - 1] = np.stack([flex, abd, twist], axis=1)
        return cls(bases=bases)


def pose_to_anatomical(hand_pose: np.ndarray, frames: AnatomicalFrames, side: str = "right") -> np.ndarray:
    """(..., 45) axis-angle -> (..., 15, 3) (flexion, abduction, twist) in radians."""
    pose = np.asarray(hand_pose, dtype=np.float64)
    if side == "left":
        pose = mirror_axis_angle(pose)
    lead = pose.shape[:-1]
    mats = Rotation.from_rotvec(pose.reshape(-1, 3)).as_matrix().reshape(-1, NUM_FINGER_JOINTS, 3, 3)
    local = np.einsum("jma,njmb,jbc->njac", frames.bases, mats, frames.bases)
    angles = Rotation.from_matrix(local.reshape(-1, 3, 3)).as_euler("XYZ")
    return angles.reshape(*lead, NUM_FINGER_JOINTS, 3)


def anatomical_to_pose(angles: np.ndarray, frames: AnatomicalFrames, side: str = "right") -> np.ndarray:
    """(..., 15, 3) (flexion, abduction, twist) radians -> (..., 45) axis-angle."""
    angles = np.asarray(angles, dtype=np.float64)
    lead = angles.shape[:-2]
    local = Rotation.from_euler("XYZ", angles.reshape(-1, 3)).as_matrix().reshape(-1, NUM_FINGER_JOINTS, 3, 3)
    mats = np.einsum("jam,njmk,jbk->njab", frames.bases, local, frames.bases)
    pose = Rotation.from_matrix(mats.reshape(-1, 3, 3)).as_rotvec().reshape(*lead, POSE_DIM)
    return mirror_axis_angle(pose) if side == "left" else pose


def limit_violation(hand_pose: np.ndarray, frames: AnatomicalFrames, side: str = "right") -> np.ndarray:
    """(..., 15, 3) radians by which each angle lies outside its range (0 inside)."""
    angles = pose_to_anatomical(hand_pose, frames, side)
    lo, hi = JOINT_LIMITS_RAD[..., 0], JOINT_LIMITS_RAD[..., 1]
    return np.maximum(lo - angles, 0.0) + np.maximum(angles - hi, 0.0)


def violation_rate(
    hand_pose: np.ndarray, frames: AnatomicalFrames, side: str = "right", tol_deg: float = 1.0
) -> float:
    """Fraction of (frame, joint) pairs with any angle more than `tol_deg` outside its range."""
    v = limit_violation(hand_pose, frames, side)
    return float(np.mean(np.any(v > np.radians(tol_deg), axis=-1)))


def clamp_pose(hand_pose: np.ndarray, frames: AnatomicalFrames, side: str = "right") -> np.ndarray:
    """Project each joint's angles into its range; poses inside the limits come back unchanged."""
    angles = pose_to_anatomical(hand_pose, frames, side)
    clamped = np.clip(angles, JOINT_LIMITS_RAD[..., 0], JOINT_LIMITS_RAD[..., 1])
    out = anatomical_to_pose(clamped, frames, side)
    inside = np.all(clamped == angles, axis=(-1, -2))
    return np.where(inside[..., None], np.asarray(hand_pose, dtype=np.float64), out)


# --------------------------------------------------------------------------- differentiable (torch)
# The same decomposition and limits as above, on torch tensors with gradients, for fitting priors.


def anatomical_angles_torch(local_rotmats: torch.Tensor, bases: torch.Tensor) -> torch.Tensor:
    """(..., 15, 3, 3) local joint rotations (model frame) -> (..., 15, 3) (flexion, abduction, twist).

    Differentiable twin of `pose_to_anatomical` (right hand; mirror left poses first): intrinsic
    X-Y-Z Euler angles of B^T R B with B the joint's anatomical basis, on the same branch as scipy
    (abduction in [-90, 90] degrees). `bases` is `AnatomicalFrames.bases` as a (15, 3, 3) tensor.
    """
    local = bases.transpose(-1, -2) @ local_rotmats @ bases
    # R = Rx(a) Ry(b) Rz(c): R[0,2] = sin b, R[1,2] = -sin a cos b, R[2,2] = cos a cos b,
    # R[0,1] = -cos b sin c, R[0,0] = cos b cos c. The clamp keeps asin's gradient finite.
    abduction = torch.asin(local[..., 0, 2].clamp(-1.0 + 1e-6, 1.0 - 1e-6))
    flexion = torch.atan2(-local[..., 1, 2], local[..., 2, 2])
    twist = torch.atan2(-local[..., 0, 1], local[..., 0, 0])
    return torch.stack([flexion, abduction, twist], dim=-1)


def limit_violation_torch(angles: torch.Tensor, limits: torch.Tensor | None = None) -> torch.Tensor:
    """(..., 15, 3) anatomical angles (`anatomical_angles_torch`) -> radians outside the limits.

    Differentiable twin of `limit_violation` for right-hand poses (0 inside); `limits` defaults to
    `JOINT_LIMITS_RAD` (15, 3, 2). Squared and summed it is a smooth joint-limit penalty. Takes
    angles, not rotations, so a caller that also needs the angles (fitting's twist prior) computes
    them once.
    """
    if limits is None:
        limits = torch.as_tensor(JOINT_LIMITS_RAD, dtype=angles.dtype, device=angles.device)
    return torch.relu(limits[..., 0] - angles) + torch.relu(angles - limits[..., 1])
