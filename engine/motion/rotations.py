"""Rotation conversions: the one place that owns rotation representations.

The conversions take and return torch tensors with arbitrary leading batch dimensions and delegate
to `roma` (a maintained rotation library) so no formula is re-derived here. `rotation_between`
(numpy, for fitting and asset building) is the one formula of our own: neither roma nor scipy
has a batched minimal ("swing") rotation between two directions.

6D convention (Zhou et al. 2019, as used by the paper): the first two *columns* of the
rotation matrix, concatenated as ``[R[:, 0], R[:, 1]]``. ``tests/engine/test_rotations.py``
pins this so that a change of convention cannot slip in silently.
"""

from __future__ import annotations

import numpy as np
import roma
import torch


def axis_angle_to_matrix(rotvec: torch.Tensor) -> torch.Tensor:
    """(..., 3) axis-angle (radians) -> (..., 3, 3) rotation matrices."""
    return roma.rotvec_to_rotmat(rotvec)


def matrix_to_axis_angle(rotmat: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) rotation matrices -> (..., 3) axis-angle with angle in [0, pi]."""
    return roma.rotmat_to_rotvec(rotmat)


def matrix_to_rot6d(rotmat: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) -> (..., 6): first column then second column."""
    return torch.cat([rotmat[..., :, 0], rotmat[..., :, 1]], dim=-1)


def rot6d_to_matrix(rot6d: torch.Tensor) -> torch.Tensor:
    """(..., 6) -> (..., 3, 3) by Gram-Schmidt; inverse of `matrix_to_rot6d` on rotations."""
    cols = torch.stack([rot6d[..., :3], rot6d[..., 3:]], dim=-1)  # (..., 3, 2)
    return roma.special_gramschmidt(cols)


def axis_angle_to_rot6d(rotvec: torch.Tensor) -> torch.Tensor:
    """(..., 3) axis-angle -> (..., 6)."""
    return matrix_to_rot6d(axis_angle_to_matrix(rotvec))


def rot6d_to_axis_angle(rot6d: torch.Tensor) -> torch.Tensor:
    """(..., 6) -> (..., 3) axis-angle."""
    return matrix_to_axis_angle(rot6d_to_matrix(rot6d))


def axis_angle_slerp(rotvec0: torch.Tensor, rotvec1: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Spherical linear interpolation of (..., 3) axis-angle rotations along the shorter arc.

    `weight` (...) broadcasts against the batch dims: 0 gives rotvec0's rotation, 1 rotvec1's,
    with constant angular velocity in between. Output angles are in [0, pi].
    """
    q0 = roma.rotvec_to_unitquat(rotvec0)
    q1 = roma.rotvec_to_unitquat(rotvec1)
    delta = roma.quat_product(roma.quat_conjugation(q0), q1)  # rotation from 0 to 1, XYZW
    # q and -q are the same rotation; w >= 0 picks the shorter way round.
    delta = torch.where(delta[..., 3:] < 0, -delta, delta)
    step = roma.rotvec_to_unitquat(roma.unitquat_to_rotvec(delta) * weight[..., None])
    return roma.unitquat_to_rotvec(roma.quat_product(q0, step))


def rotation_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(..., 3, 3) minimal rotations taking directions a onto b (..., 3): no twist about either.

    Rodrigues' formula about a x b. Near-opposite directions (where the minimal rotation is not
    unique) are damped rather than refused; callers that must not meet them check beforehand.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    a = a / np.linalg.norm(a, axis=-1, keepdims=True)
    b = b / np.linalg.norm(b, axis=-1, keepdims=True)
    v = np.cross(a, b)
    c = np.sum(a * b, axis=-1)
    vx = np.zeros((*v.shape[:-1], 3, 3))
    vx[..., 0, 1], vx[..., 0, 2], vx[..., 1, 0] = -v[..., 2], v[..., 1], v[..., 2]
    vx[..., 1, 2], vx[..., 2, 0], vx[..., 2, 1] = -v[..., 0], -v[..., 1], v[..., 0]
    return np.eye(3) + vx + (vx @ vx) / np.maximum(1.0 + c, 1e-6)[..., None, None]
