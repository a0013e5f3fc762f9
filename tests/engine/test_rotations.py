"""Rotation conventions: the 6D layout is pinned, conversions round-trip, edge angles behave."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.transform import Rotation

from engine.motion.rotations import (
    axis_angle_slerp,
    axis_angle_to_matrix,
    axis_angle_to_rot6d,
    matrix_to_axis_angle,
    matrix_to_rot6d,
    rot6d_to_axis_angle,
    rot6d_to_matrix,
    rotation_between,
)


def _random_rotvecs(n: int, seed: int = 0, max_angle: float = math.pi) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    axes = rng.normal(size=(n, 3))
    axes /= np.linalg.norm(axes, axis=1, keepdims=True)
    angles = rng.uniform(0, max_angle, size=(n, 1))
    return torch.from_numpy(axes * angles)


def test_6d_convention_is_first_two_columns() -> None:
    rotmat = axis_angle_to_matrix(_random_rotvecs(8))
    expected = torch.cat([rotmat[:, :, 0], rotmat[:, :, 1]], dim=-1)
    assert torch.equal(matrix_to_rot6d(rotmat), expected)
    # And a hand-written case: a 90 degree turn about z maps x to y and y to -x.
    rz = torch.tensor([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]], dtype=torch.float64)
    assert matrix_to_rot6d(rz).tolist() == [0.0, 1.0, 0.0, -1.0, 0.0, 0.0]


def test_axis_angle_matches_scipy() -> None:
    rotvecs = _random_rotvecs(32, seed=1)
    ours = axis_angle_to_matrix(rotvecs).numpy()
    theirs = Rotation.from_rotvec(rotvecs.numpy()).as_matrix()
    np.testing.assert_allclose(ours, theirs, atol=1e-12)


def test_round_trips() -> None:
    rotvecs = _random_rotvecs(64, seed=2, max_angle=math.pi - 1e-3)
    torch.testing.assert_close(matrix_to_axis_angle(axis_angle_to_matrix(rotvecs)), rotvecs)
    torch.testing.assert_close(rot6d_to_axis_angle(axis_angle_to_rot6d(rotvecs)), rotvecs)
    rotmat = axis_angle_to_matrix(rotvecs)
    torch.testing.assert_close(rot6d_to_matrix(matrix_to_rot6d(rotmat)), rotmat)


def test_rot6d_to_matrix_orthonormalises_any_input() -> None:
    raw = torch.randn(16, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    rotmat = rot6d_to_matrix(raw)
    eye = torch.eye(3, dtype=torch.float64).expand(16, 3, 3)
    torch.testing.assert_close(rotmat @ rotmat.transpose(-1, -2), eye)
    torch.testing.assert_close(torch.linalg.det(rotmat), torch.ones(16, dtype=torch.float64))
    # The first column keeps the direction of the first 3 values (Gram-Schmidt, Zhou et al.).
    first = raw[:, :3] / raw[:, :3].norm(dim=-1, keepdim=True)
    torch.testing.assert_close(rotmat[:, :, 0], first)


@pytest.mark.parametrize("angle", [0.0, 1e-12, 1e-8, 1e-4])
def test_axis_angle_near_zero(angle: float) -> None:
    rotvec = torch.tensor([[angle, -angle, 0.5 * angle]], dtype=torch.float64)
    rotmat = axis_angle_to_matrix(rotvec)
    assert torch.isfinite(rotmat).all()
    torch.testing.assert_close(matrix_to_axis_angle(rotmat), rotvec, atol=1e-12, rtol=0)
    assert torch.isfinite(rot6d_to_axis_angle(axis_angle_to_rot6d(rotvec))).all()


@pytest.mark.parametrize("eps", [0.0, 1e-9, 1e-6, 1e-3])
def test_axis_angle_near_pi(eps: float) -> None:
    axis = torch.tensor([0.3, -0.5, 0.8], dtype=torch.float64)
    axis = axis / axis.norm()
    rotvec = (math.pi - eps) * axis
    back = matrix_to_axis_angle(axis_angle_to_matrix(rotvec))
    assert torch.isfinite(back).all()
    # Near pi the axis sign is ambiguous (r and -r describe almost the same rotation): compare matrices.
    torch.testing.assert_close(axis_angle_to_matrix(back), axis_angle_to_matrix(rotvec), atol=1e-7, rtol=0)
    assert back.norm() <= math.pi + 1e-9


def test_batch_dims_are_kept() -> None:
    rotvecs = _random_rotvecs(24, seed=4).reshape(2, 3, 4, 3)
    assert axis_angle_to_matrix(rotvecs).shape == (2, 3, 4, 3, 3)
    assert axis_angle_to_rot6d(rotvecs).shape == (2, 3, 4, 6)
    assert rot6d_to_axis_angle(axis_angle_to_rot6d(rotvecs)).shape == (2, 3, 4, 3)


def test_slerp_endpoints_and_midpoint() -> None:
    r0 = _random_rotvecs(16, seed=5, max_angle=2.5)
    r1 = _random_rotvecs(16, seed=6, max_angle=2.5)
    m0, m1 = axis_angle_to_matrix(r0), axis_angle_to_matrix(r1)
    zeros = torch.zeros(16, dtype=torch.float64)
    torch.testing.assert_close(axis_angle_to_matrix(axis_angle_slerp(r0, r1, zeros)), m0)
    torch.testing.assert_close(axis_angle_to_matrix(axis_angle_slerp(r0, r1, zeros + 1)), m1)
    mid = axis_angle_to_matrix(axis_angle_slerp(r0, r1, zeros + 0.5))
    # The midpoint is equally far (geodesically) from both ends.
    d0 = matrix_to_axis_angle(mid.transpose(-1, -2) @ m0).norm(dim=-1)
    d1 = matrix_to_axis_angle(mid.transpose(-1, -2) @ m1).norm(dim=-1)
    torch.testing.assert_close(d0, d1)


@settings(max_examples=40, deadline=None)
@given(angle=st.floats(0.0, 3.0), weight=st.floats(0.0, 1.0))
def test_slerp_about_a_fixed_axis_is_linear_in_angle(angle: float, weight: float) -> None:
    axis = torch.tensor([0.0, 0.6, 0.8], dtype=torch.float64)
    r0 = (0.1 * axis)[None]
    r1 = ((0.1 + angle) * axis)[None]
    out = axis_angle_slerp(r0, r1, torch.tensor([weight], dtype=torch.float64))
    expected = axis_angle_to_matrix(((0.1 + weight * angle) * axis)[None])
    torch.testing.assert_close(axis_angle_to_matrix(out), expected, atol=1e-10, rtol=0)


def test_slerp_takes_the_shorter_arc() -> None:
    # 170 and -170 degrees about z are 20 degrees apart; the midpoint is 180 degrees, not 0.
    z = torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64)
    r0, r1 = (math.radians(170) * z)[None], (math.radians(-170) * z)[None]
    mid = axis_angle_slerp(r0, r1, torch.tensor([0.5], dtype=torch.float64))
    assert abs(mid.norm().item() - math.pi) < 1e-9


def test_rotation_between_is_the_minimal_swing() -> None:
    rng = np.random.default_rng(4)
    a, b = rng.normal(size=(50, 3)), rng.normal(size=(50, 3))
    rot = rotation_between(a, b)
    identity = np.broadcast_to(np.eye(3), rot.shape)
    np.testing.assert_allclose(rot @ np.swapaxes(rot, -1, -2), identity, atol=1e-10)
    np.testing.assert_allclose(np.linalg.det(rot), 1.0, atol=1e-10)
    unit = lambda x: x / np.linalg.norm(x, axis=-1, keepdims=True)  # noqa: E731
    np.testing.assert_allclose(np.einsum("nij,nj->ni", rot, unit(a)), unit(b), atol=1e-10)
    # Minimal: the rotation axis is a x b, and the angle is the angle between the directions.
    axis = matrix_to_axis_angle(torch.as_tensor(rot)).numpy()
    np.testing.assert_allclose(unit(axis), unit(np.cross(a, b)), atol=1e-9)
    np.testing.assert_allclose(
        np.linalg.norm(axis, axis=-1), np.arccos(np.sum(unit(a) * unit(b), axis=-1)), atol=1e-9
    )
