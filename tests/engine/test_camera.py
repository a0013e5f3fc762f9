"""Camera intrinsics, 2D normalisation and the canonical (first-frame camera) space."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from engine.motion.camera import Camera, canonical_extrinsics, from_canonical, to_canonical


def _pose(rotvec: np.ndarray, transl: np.ndarray) -> np.ndarray:
    pose = np.eye(4)
    pose[:3, :3] = Rotation.from_rotvec(rotvec).as_matrix()
    pose[:3, 3] = transl
    return pose


def _moving_camera(num_frames: int = 12, seed: int = 0) -> np.ndarray:
    """(T,4,4) camera-to-world poses of a camera that turns and travels."""
    rng = np.random.default_rng(seed)
    start_rot, start_pos = rng.normal(size=3) * 0.5, rng.normal(size=3)
    step_rot, step_pos = rng.normal(size=3) * 0.05, rng.normal(size=3) * 0.03
    return np.stack([_pose(start_rot + i * step_rot, start_pos + i * step_pos) for i in range(num_frames)])


def _world_to_camera(points_world: np.ndarray, cam_to_world: np.ndarray) -> np.ndarray:
    world_to_cam = np.linalg.inv(cam_to_world)
    homog = np.concatenate([points_world, np.ones((*points_world.shape[:-1], 1))], axis=-1)
    return np.einsum("tij,tkj->tki", world_to_cam, homog)[..., :3]


# --------------------------------------------------------------------------- intrinsics


def test_default_intrinsics() -> None:
    cam = Camera.default(1280, 720)
    np.testing.assert_array_equal(cam.K, [[1280, 0, 640], [0, 1280, 360], [0, 0, 1]])
    assert cam.image_size == (1280, 720)
    portrait = Camera.default(480, 640)
    assert portrait.K[0, 0] == portrait.K[1, 1] == 640
    assert tuple(portrait.K[:2, 2]) == (240, 320)


def test_project_follows_opencv_axes() -> None:
    cam = Camera.default(640, 480)
    # On the optical axis -> the principal point; +x right -> larger u; +y down -> larger v.
    np.testing.assert_allclose(cam.project(np.array([0.0, 0.0, 2.0])), [320, 240])
    u, v = cam.project(np.array([0.1, 0.2, 1.0]))
    assert (u, v) == pytest.approx((320 + 64, 240 + 128))


def test_project_unproject_inverse_numpy_and_torch() -> None:
    rng = np.random.default_rng(1)
    k = np.array([[900.0, 0.5, 310.0], [0.0, 880.0, 250.0], [0.0, 0.0, 1.0]])
    cam = Camera(k, 640, 480)
    points = rng.normal(size=(4, 5, 3)) * 0.2 + [0, 0, 1.5]
    uv = cam.project(points)
    assert uv.shape == (4, 5, 2)
    np.testing.assert_allclose(cam.unproject(uv, points[..., 2]), points, atol=1e-12)

    tpoints = torch.tensor(points, dtype=torch.float32, requires_grad=True)
    tuv = cam.project(tpoints)
    assert tuv.dtype == torch.float32 and tuv.shape == (4, 5, 2)
    np.testing.assert_allclose(tuv.detach().numpy(), uv, rtol=1e-5)
    back = cam.unproject(tuv, tpoints[..., 2])
    torch.testing.assert_close(back, tpoints)
    back.sum().backward()  # differentiable, for reprojection losses
    assert tpoints.grad is not None


def test_camera_rejects_bad_intrinsics() -> None:
    with pytest.raises(ValueError, match="shape"):
        Camera(np.eye(4), 10, 10)
    with pytest.raises(ValueError, match="last row"):
        Camera(np.array([[1.0, 0, 0], [0, 1, 0], [0, 1, 1]]), 10, 10)
    with pytest.raises(ValueError, match="focal"):
        Camera(np.diag([-1.0, 1.0, 1.0]), 10, 10)
    with pytest.raises(ValueError, match="width"):
        Camera(np.eye(3), 0, 10)
    with pytest.raises(ValueError, match="NaN"):
        Camera(np.diag([np.nan, 1.0, 1.0]), 10, 10)


def test_camera_is_immutable_and_comparable() -> None:
    cam = Camera.default(64, 48)
    assert cam == Camera.default(64, 48)
    assert cam != Camera.default(48, 64)
    with pytest.raises(AttributeError):
        cam.width = 1  # type: ignore[misc]


# --------------------------------------------------------------------------- normalisation


@pytest.mark.parametrize("size", [(1280, 720), (480, 640), (256, 256)])
def test_normalise_2d_range_and_inverse(size: tuple[int, int]) -> None:
    w, h = size
    cam = Camera.default(w, h)
    corners = np.array([[0.0, 0.0], [w, h], [w / 2, h / 2]])
    n = cam.normalise_2d(corners)
    # Centre -> 0; the longer side spans exactly [-1, 1]; the aspect ratio is kept.
    np.testing.assert_allclose(n[2], [0, 0])
    longer = 0 if w >= h else 1
    np.testing.assert_allclose(n[[0, 1], longer], [-1, 1])
    np.testing.assert_allclose(n[1, 1 - longer], min(w, h) / max(w, h))
    rng = np.random.default_rng(0)
    uv = rng.uniform(0, 1, size=(7, 21, 2)) * [w, h]
    inside = cam.normalise_2d(uv)
    assert np.abs(inside).max() <= 1.0
    np.testing.assert_allclose(cam.denormalise_2d(inside), uv, atol=1e-9)
    tn = cam.normalise_2d(torch.tensor(uv))
    assert isinstance(tn, torch.Tensor)
    np.testing.assert_allclose(tn.numpy(), inside)
    torch.testing.assert_close(cam.denormalise_2d(tn), torch.tensor(uv))


# --------------------------------------------------------------------------- canonical space


def test_points_fixed_in_world_are_constant_in_canonical_space() -> None:
    poses = _moving_camera()
    rng = np.random.default_rng(2)
    world = rng.normal(size=(21, 3))
    per_frame = _world_to_camera(np.broadcast_to(world, (len(poses), 21, 3)), poses)
    canonical = to_canonical(per_frame, poses)
    # Fixed in the world -> constant in canonical space, equal to frame 0's camera coordinates.
    np.testing.assert_allclose(canonical, np.broadcast_to(per_frame[0], canonical.shape), atol=1e-12)
    np.testing.assert_array_equal(canonical[0], per_frame[0])
    np.testing.assert_allclose(from_canonical(canonical, poses), per_frame, atol=1e-12)


def test_canonical_extrinsics_frame0_identity_and_eq4() -> None:
    poses = _moving_camera(6, seed=3)
    ext = canonical_extrinsics(poses)
    assert ext.shape == (6, 4, 4)
    np.testing.assert_array_equal(ext[0], np.eye(4))
    np.testing.assert_allclose(ext, np.linalg.inv(poses[0]) @ poses, atol=1e-12)


def test_static_camera_canonical_is_camera_space() -> None:
    poses = np.broadcast_to(_pose(np.array([0.2, -0.1, 0.3]), np.array([1.0, 2.0, 3.0])), (5, 4, 4))
    points = np.random.default_rng(4).normal(size=(5, 21, 3))
    np.testing.assert_allclose(to_canonical(points, poses), points, atol=1e-12)


def test_canonical_torch_matches_numpy_and_keeps_nan_local() -> None:
    poses = _moving_camera(5, seed=5)
    points = np.random.default_rng(6).normal(size=(5, 2, 21, 3))
    points[3, 1, 7] = np.nan  # a masked-out keypoint
    expected = to_canonical(points, poses)
    assert np.isnan(expected[3, 1, 7]).all()
    assert np.isfinite(np.delete(expected.reshape(-1, 3), (3 * 2 + 1) * 21 + 7, axis=0)).all()
    ours = to_canonical(torch.tensor(points), torch.tensor(poses))
    np.testing.assert_allclose(ours.numpy(), expected, atol=1e-12)
    back = from_canonical(ours, torch.tensor(poses))
    np.testing.assert_allclose(back.numpy(), points, atol=1e-12)


def test_canonical_rejects_bad_poses() -> None:
    poses = _moving_camera(4)
    with pytest.raises(ValueError, match=r"\(T, 4, 4\)"):
        canonical_extrinsics(poses[:, :3])
    scaled = poses.copy()
    scaled[2, :3, :3] *= 2.0
    with pytest.raises(ValueError, match="frame 2 is not a rigid"):
        canonical_extrinsics(scaled)
    with pytest.raises(ValueError, match="3 frames but cam_to_world has 4"):
        to_canonical(np.zeros((3, 21, 3)), poses)


def test_normalised_focal_is_the_models_focal() -> None:
    from engine.model.features import focal_norm_from_K

    cam = Camera(np.array([[900.0, 0, 640], [0, 900.0, 360], [0, 0, 1]]), 1280, 720)
    assert cam.normalised_focal == pytest.approx(900.0 / 640.0)
    # Focal length times a normalised ray = the normalised pixel: the two units agree.
    n = cam.normalise_2d(cam.project(np.array([0.1, -0.05, 0.5])))
    assert n == pytest.approx(cam.normalised_focal * np.array([0.2, -0.1]))
    torch_value = focal_norm_from_K(torch.tensor(cam.K), torch.tensor(cam.image_size))
    assert float(torch_value) == pytest.approx(cam.normalised_focal)
