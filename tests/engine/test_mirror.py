"""Mirroring right <-> left: exact round trips, and consistent with forward kinematics."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from engine.hand import HandModel, get_hand_model_data
from engine.hand.mirror import (
    mirror_axis_angle,
    mirror_hand_model,
    mirror_pixels,
    mirror_points,
    mirror_transl,
)
from tests.engine.hand_fixtures import hand_with_pose_correctives, random_pose

finite = st.floats(-1e3, 1e3, allow_nan=False, width=64)


@settings(max_examples=50, deadline=None)
@given(arrays(np.float64, st.tuples(st.integers(1, 5), st.sampled_from([3, 45, 48])), elements=finite))
def test_pose_and_point_mirrors_are_exact_involutions(values: np.ndarray) -> None:
    assert np.array_equal(mirror_axis_angle(mirror_axis_angle(values)), values)
    assert np.array_equal(mirror_points(mirror_points(values)), values)
    t = torch.as_tensor(values)
    assert torch.equal(mirror_axis_angle(mirror_axis_angle(t)), t)


@settings(max_examples=50, deadline=None)
@given(
    arrays(np.float64, (7, 21, 2), elements=st.floats(0, 4096, width=64)),
    st.sampled_from([320.0, 640.0, 959.5]),
)
def test_pixel_mirror_round_trips_to_rounding(uv: np.ndarray, cx: float) -> None:
    # 2cx - (2cx - u) rounds once in float64: below a nano-pixel, unlike the exact 3D mirrors.
    np.testing.assert_allclose(mirror_pixels(mirror_pixels(uv, cx), cx), uv, rtol=0, atol=1e-9)


def test_model_mirror_round_trip_is_exact() -> None:
    right = get_hand_model_data("default")
    back = mirror_hand_model(mirror_hand_model(right))
    assert back.side == "right"
    for key in ("v_template", "faces", "shapedirs", "posedirs", "weights", "j_regressor"):
        assert np.array_equal(getattr(back, key), getattr(right, key)), key


@pytest.mark.parametrize("make", [lambda: get_hand_model_data("default"), hand_with_pose_correctives])
def test_left_fk_of_mirrored_params_is_the_mirror_of_right_fk(make) -> None:
    right_data = make()
    right = HandModel(right_data, dtype=torch.float64)
    left = HandModel(mirror_hand_model(right_data), dtype=torch.float64)
    pose, orient, transl = random_pose(4, seed=7)
    betas = np.random.default_rng(3).standard_normal((4, right.num_betas))
    out_r = right(pose, orient, betas, transl)
    out_l = left(mirror_axis_angle(pose), mirror_axis_angle(orient), betas, mirror_points(transl))
    assert torch.allclose(out_l.vertices, mirror_points(out_r.vertices), atol=1e-9)
    assert torch.allclose(out_l.keypoints, mirror_points(out_r.keypoints), atol=1e-9)


def test_mirrored_faces_still_point_outwards() -> None:
    right = get_hand_model_data("default")
    left = mirror_hand_model(right)

    def signed_volume(v: np.ndarray, f: np.ndarray) -> float:
        a, b, c = v[f[:, 0]], v[f[:, 1]], v[f[:, 2]]
        return float(np.einsum("ij,ij->i", a - v.mean(0), np.cross(b - v.mean(0), c - v.mean(0))).sum())

    assert signed_volume(right.v_template, right.faces) > 0
    assert signed_volume(left.v_template, left.faces) > 0


def test_transl_mirror_between_different_models_keeps_the_wrist_exact() -> None:
    right = get_hand_model_data("procedural")
    other = right.with_changes(v_template=right.v_template + np.array([0.01, -0.02, 0.005]))
    left_other = mirror_hand_model(other)
    wr, wl = right.rest_joints()[0], left_other.rest_joints()[0]
    transl = np.array([[0.1, 0.2, 0.5], [-0.3, 0.0, 0.8]])
    t_left = mirror_transl(transl, wr, wl)
    np.testing.assert_allclose(wl + t_left, mirror_points(wr + transl), atol=1e-12)
    np.testing.assert_allclose(mirror_transl(t_left, wl, wr), transl, atol=1e-12)


def test_pixel_mirror_matches_projection_of_mirrored_points() -> None:
    fx, cx, cy = 800.0, 640.0, 360.0
    pts = np.array([[0.05, -0.02, 0.5], [-0.1, 0.03, 0.7]])

    def project(p: np.ndarray) -> np.ndarray:
        return np.stack([fx * p[:, 0] / p[:, 2] + cx, fx * p[:, 1] / p[:, 2] + cy], axis=1)

    np.testing.assert_allclose(project(mirror_points(pts)), mirror_pixels(project(pts), cx), atol=1e-9)
