"""Right <-> left mirroring: the one place that owns it (DESIGN.md section 2, paper B.1).

The mirror is the reflection x -> -x of camera space (and of MANO's model frame, where MANO's
left model is the x-reflection of its right model). Under it a rotation R becomes M R M with
M = diag(-1, 1, 1), which for axis-angle is (a, b, c) -> (a, -b, -c). The 3D mirrors are exact
involutions: applying one twice returns the input bit for bit (negation is exact in floating
point); the pixel mirror rounds once.
"""

from __future__ import annotations

from typing import TypeVar

import numpy as np
import torch

from engine.hand.model_file import HandModelData

ArrayT = TypeVar("ArrayT", np.ndarray, torch.Tensor)

_AXIS_ANGLE_SIGN = (1.0, -1.0, -1.0)
_POINT_SIGN = (-1.0, 1.0, 1.0)


def _signed(values: ArrayT, signs: tuple[float, float, float]) -> ArrayT:
    shape = values.shape
    if isinstance(values, torch.Tensor):
        sign = torch.tensor(signs, dtype=values.dtype, device=values.device)
    else:
        sign = np.asarray(signs, dtype=values.dtype)
    return (values.reshape(*shape[:-1], -1, 3) * sign).reshape(shape)


def mirror_axis_angle(pose: ArrayT) -> ArrayT:
    """Mirror any (..., 3k) axis-angle array (global orient, 45 finger values or 48 together)."""
    return _signed(pose, _AXIS_ANGLE_SIGN)


def mirror_points(points: ArrayT) -> ArrayT:
    """Mirror (..., 3) points or (..., 3k) flattened points in camera or model space."""
    return _signed(points, _POINT_SIGN)


def mirror_pixels(uv: ArrayT, cx: float) -> ArrayT:
    """Mirror (..., 2) pixel coordinates about the principal point's column: u -> 2 cx - u.

    This is the image of `mirror_points` under a pinhole camera with principal point cx, so a
    mirrored 3D point projects to the mirrored pixel with the same intrinsics. Unlike the 3D
    mirrors it rounds once (2cx - u is inexact in floating point): round trips agree to ~1e-12 px.
    """
    out = uv.clone() if isinstance(uv, torch.Tensor) else uv.copy()
    out[..., 0] = 2.0 * cx - uv[..., 0]
    return out


def mirror_transl(transl: ArrayT, rest_wrist_from: np.ndarray, rest_wrist_to: np.ndarray) -> ArrayT:
    """Mirror a MANO translation between two hand models exactly.

    MANO places the wrist at rest_wrist + transl (the root rotates about the rest wrist), so the
    mirrored wrist M (w_from + t) must equal w_to + t'. For a model and its exact mirror image
    w_to = M w_from and this reduces to t' = M t.
    """
    w_from = np.asarray(rest_wrist_from, dtype=np.float64)
    w_to = np.asarray(rest_wrist_to, dtype=np.float64)
    if isinstance(transl, torch.Tensor):
        offset = torch.as_tensor(mirror_points(w_from) - w_to, dtype=transl.dtype, device=transl.device)
    else:
        offset = (mirror_points(w_from) - w_to).astype(transl.dtype)
    return mirror_points(transl) + offset


def mirror_faces(faces: np.ndarray) -> np.ndarray:
    """Reverse triangle winding, which a reflection flips, so normals still point outwards."""
    return faces[:, ::-1].copy()


def mirror_hand_model(data: HandModelData) -> HandModelData:
    """The exact mirror image of a hand model (right -> left or left -> right)."""
    shapedirs = data.shapedirs * np.asarray(_POINT_SIGN)[None, :, None]
    posedirs = data.posedirs * np.asarray(_POINT_SIGN)[None, :, None]
    return data.with_changes(
        side="left" if data.side == "right" else "right",
        v_template=mirror_points(data.v_template),
        faces=mirror_faces(data.faces),
        shapedirs=shapedirs,
        # Pose correctives are indexed by rotation-matrix entries, which also change under the
        # mirror; models with correctives (real MANO) ship both sides, so only zero ones mirror.
        posedirs=posedirs if not data.has_pose_correctives else _mirror_posedirs(data.posedirs),
        hands_mean=mirror_axis_angle(data.hands_mean),
    )


def _mirror_posedirs(posedirs: np.ndarray) -> np.ndarray:
    """Mirror pose-corrective directions: features are (R - I) entries, and M R M flips the
    sign of entries (i, j) where exactly one of i, j is the x axis."""
    sign_rm = np.array([[1, -1, -1], [-1, 1, 1], [-1, 1, 1]], dtype=np.float64).reshape(-1)
    feature_sign = np.tile(sign_rm, posedirs.shape[2] // 9)
    return posedirs * np.asarray(_POINT_SIGN)[None, :, None] * feature_sign[None, None, :]
