"""Pinhole camera, 2D normalisation and the canonical space: the one place that owns them.

Axes follow OpenCV (DESIGN.md section 2): x right, y down, z forward; pixel (u, v) with u to the
right and v down, the image spanning [0, W] x [0, H] so that its centre is (W/2, H/2).

Canonical space (paper section 3.1 and A.1, eq. 4) is the camera space of the first frame. With
per-frame camera-to-world transforms T_t, a point p_t in the camera space of frame t maps to
``p_can = inv(T_0) @ T_t @ p_t``. For a static camera all T_t are equal and canonical space is
camera space.

Every function here works on numpy arrays and on torch tensors (any leading dims, autograd
intact); torch is imported only when a tensor is passed in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

Array = Any  # numpy.ndarray or torch.Tensor; results have the input's type


def _is_numpy(x: Array) -> bool:
    return isinstance(x, np.ndarray)


def _const(value: Array, like: Array) -> Array:
    """`value` (numpy or torch) as the array type of `like`: float64 numpy, or like's torch dtype/device."""
    if _is_numpy(like):
        if not _is_numpy(value) and type(value).__module__.startswith("torch"):
            value = value.detach().cpu().numpy()
        return np.asarray(value, dtype=np.float64)
    import torch

    if _is_numpy(value):
        value = np.array(value)  # a copy: never share memory with a Camera's K
    return torch.as_tensor(value, dtype=like.dtype, device=like.device)


def _to_array(x: Array) -> Array:
    if _is_numpy(x):
        return x if x.dtype.kind == "f" else x.astype(np.float64)
    if type(x).__module__.startswith("torch"):
        return x if x.is_floating_point() else x.double()
    return np.asarray(x, dtype=np.float64)


def _cat(parts: list[Array], axis: int) -> Array:
    if _is_numpy(parts[0]):
        return np.concatenate(parts, axis=axis)
    import torch

    return torch.cat(parts, dim=axis)


def _mT(x: Array) -> Array:
    return np.swapaxes(x, -1, -2) if _is_numpy(x) else x.transpose(-1, -2)


@dataclass(frozen=True, eq=False)
class Camera:
    """Pinhole intrinsics `K` (3,3) of an image `width` x `height` pixels. No lens distortion."""

    K: np.ndarray
    width: int
    height: int

    __hash__: ClassVar[None] = None  # type: ignore[assignment]

    def __post_init__(self) -> None:
        k = np.array(self.K, dtype=np.float64)
        if k.shape != (3, 3):
            raise ValueError(f"K must have shape (3, 3), got {k.shape}")
        if not np.isfinite(k).all():
            raise ValueError("K contains NaN or inf")
        if not np.array_equal(k[2], [0.0, 0.0, 1.0]) or k[1, 0] != 0.0:
            raise ValueError(f"K must be upper triangular with last row [0, 0, 1], got {k.tolist()}")
        if not (k[0, 0] > 0 and k[1, 1] > 0):
            raise ValueError(f"focal lengths must be positive, got fx={k[0, 0]}, fy={k[1, 1]}")
        for name in ("width", "height"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
            object.__setattr__(self, name, int(value))
        object.__setattr__(self, "K", k)

    @classmethod
    def default(cls, width: int, height: int) -> Camera:
        """Intrinsics used when none are known: focal = max(W, H), principal point at the centre."""
        focal = float(max(width, height))
        k = np.array([[focal, 0.0, width / 2.0], [0.0, focal, height / 2.0], [0.0, 0.0, 1.0]])
        return cls(k, width, height)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Camera):
            return NotImplemented
        return (self.width, self.height) == (other.width, other.height) and np.array_equal(self.K, other.K)

    @property
    def image_size(self) -> tuple[int, int]:
        """(W, H) in pixels."""
        return self.width, self.height

    def project(self, points3d: Array) -> Array:
        """(..., 3) camera-space points -> (..., 2) pixels. Points need z > 0 to be meaningful."""
        p = _to_array(points3d)
        uvw = p @ _mT(_const(self.K, p))
        return uvw[..., :2] / uvw[..., 2:3]

    def unproject(self, uv: Array, depth: Array) -> Array:
        """(..., 2) pixels and (...) depths (camera z, metres) -> (..., 3) camera-space points."""
        uv = _to_array(uv)
        ones = uv[..., :1] * 0 + 1
        rays = _cat([uv, ones], axis=-1) @ _mT(_const(np.linalg.inv(self.K), uv))
        return rays * _const(depth, uv)[..., None]

    def normalise_2d(self, uv: Array) -> Array:
        """Pixels -> the model's normalised 2D coordinates (paper A.1, "according to the frame resolution").

        The paper's formula is not given; we choose ``n = (uv - (W/2, H/2)) / (max(W, H) / 2)``:
        the image centre maps to 0, the longer side spans exactly [-1, 1] and the shorter side a
        sub-range, so the aspect ratio is kept (x and y use the same scale, unlike a per-axis
        division that would squash the hand on non-square frames).
        """
        uv = _to_array(uv)
        centre, half = self._norm_params()
        return (uv - _const(centre, uv)) / half

    def denormalise_2d(self, n: Array) -> Array:
        """Inverse of `normalise_2d`: normalised coordinates -> pixels."""
        n = _to_array(n)
        centre, half = self._norm_params()
        return n * half + _const(centre, n)

    @property
    def normalised_focal(self) -> float:
        """fx in `normalise_2d` units (2 fx / max(W, H)): the focal length the model is told."""
        return float(self.K[0, 0]) / self._norm_params()[1]

    def _norm_params(self) -> tuple[np.ndarray, float]:
        return np.array([self.width / 2.0, self.height / 2.0]), max(self.width, self.height) / 2.0


# --------------------------------------------------------------------------- canonical space


def _check_poses(cam_to_world: Array) -> Array:
    poses = _to_array(cam_to_world)
    if poses.ndim != 3 or tuple(poses.shape[1:]) != (4, 4) or poses.shape[0] < 1:
        raise ValueError(f"cam_to_world must have shape (T, 4, 4), got {tuple(poses.shape)}")
    if _is_numpy(poses):
        # Only rigid transforms have the closed-form inverse used below; catch scaled/sheared input.
        rot = poses[:, :3, :3]
        if not np.isfinite(poses).all():
            raise ValueError("cam_to_world contains NaN or inf")
        if not np.allclose(poses[:, 3], [0.0, 0.0, 0.0, 1.0]):
            raise ValueError("cam_to_world: the last row of every transform must be [0, 0, 0, 1]")
        err = np.abs(rot @ np.swapaxes(rot, -1, -2) - np.eye(3)).max(axis=(1, 2))
        bad = np.flatnonzero((err > 1e-5) | (np.linalg.det(rot) <= 0))
        if bad.size:
            raise ValueError(f"cam_to_world: frame {int(bad[0])} is not a rigid transform")
    return poses


def _rigid(rot: Array, transl: Array) -> Array:
    """(T,3,3), (T,3) -> (T,4,4)."""
    top = _cat([rot, transl[..., None]], axis=-1)
    bottom = _const(np.array([[[0.0, 0.0, 0.0, 1.0]]]), rot)
    if _is_numpy(top):
        bottom = np.broadcast_to(bottom, (top.shape[0], 1, 4))
    else:
        bottom = bottom.expand(top.shape[0], 1, 4)
    return _cat([top, bottom], axis=-2)


def canonical_extrinsics(cam_to_world: Array) -> Array:
    """(T,4,4) per-frame camera-to-world -> (T,4,4) camera-to-canonical, ``inv(T_0) @ T_t`` (eq. 4).

    Frame 0's transform is the identity exactly (not merely to rounding).
    """
    poses = _check_poses(cam_to_world)
    r0, t0 = poses[0, :3, :3], poses[0, :3, 3]
    r0_inv = _mT(r0)
    rot = r0_inv @ poses[:, :3, :3]
    transl = (poses[:, :3, 3] - t0) @ _mT(r0_inv)  # row form of r0^T (t_t - t_0)
    out = _rigid(rot, transl)
    eye = _const(np.eye(4), out)
    if _is_numpy(out):
        out[0] = eye
        return out
    import torch

    return torch.cat([eye[None], out[1:]], dim=0)


def _apply(points: Array, rot: Array, transl: Array, inverse: bool) -> Array:
    t = points.shape[0]
    if rot.shape[0] != t:
        raise ValueError(f"points have {t} frames but cam_to_world has {rot.shape[0]}")
    if points.shape[-1] != 3:
        raise ValueError(f"points must end in 3 coordinates, got shape {tuple(points.shape)}")
    flat = points.reshape(t, -1, 3)
    # Points are rows, so R p becomes p @ R^T (and R^T p becomes p @ R).
    out = (flat - transl[:, None, :]) @ rot if inverse else flat @ _mT(rot) + transl[:, None, :]
    return out.reshape(points.shape)


def to_canonical(points_cam: Array, cam_to_world: Array) -> Array:
    """(T, ..., 3) points in each frame's camera space -> canonical space (frame 0's camera).

    `cam_to_world` is (T,4,4); frame t of the points uses transform t. NaN in one point (a
    masked-out keypoint) stays in that point and never spreads to others.
    """
    ext = canonical_extrinsics(cam_to_world)
    points = _to_array(points_cam)
    ext = _const(ext, points)
    return _apply(points, ext[:, :3, :3], ext[:, :3, 3], inverse=False)


def from_canonical(points_can: Array, cam_to_world: Array) -> Array:
    """Inverse of `to_canonical`: canonical (T, ..., 3) points -> each frame's camera space."""
    ext = canonical_extrinsics(cam_to_world)
    points = _to_array(points_can)
    ext = _const(ext, points)
    return _apply(points, ext[:, :3, :3], ext[:, :3, 3], inverse=True)
