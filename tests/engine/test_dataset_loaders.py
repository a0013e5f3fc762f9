"""DexYCB and HOT3D-Clips loaders on tiny fixtures written in the datasets' layouts."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.data.loaders import DatasetLayoutError, pca_to_axis_angle, valid_runs
from engine.data.loaders.dexycb import _parse_simple_yaml, iter_dexycb, load_yaml, s0_split
from engine.data.loaders.hot3d import hash_split, iter_hot3d_clips
from engine.hand.model import HandModel
from engine.hand.model_file import HandModelData
from engine.hand.procedural import build_procedural_hand

SERIAL = "836212060125"


def pca_hand(seed: int = 0) -> HandModelData:
    """The procedural hand with a random orthonormal MANO-style PCA basis and mean pose."""
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.normal(size=(45, 45)))
    return build_procedural_hand().with_changes(hands_components=q, hands_mean=0.1 * rng.normal(size=45))


def write_dexycb(root: Path, num_sequences: int = 5, frames: int = 8) -> dict[str, np.ndarray]:
    (root / "calibration" / "intrinsics").mkdir(parents=True)
    (root / "calibration" / "intrinsics" / f"{SERIAL}_640x480.yml").write_text(
        "color:\n  fx: 615.5\n  fy: 616.25\n  ppx: 321.0\n  ppy: 239.5\ndepth:\n  fx: 380.0\n"
    )
    (root / "calibration" / "mano_20200709-subject-01_right").mkdir()
    betas = np.linspace(-0.5, 0.5, 10)
    (root / "calibration" / "mano_20200709-subject-01_right" / "mano.yml").write_text(
        "betas:\n" + "".join(f"- {float(b)!r}\n" for b in betas)
    )
    rng = np.random.default_rng(1)
    truth = {}
    for s in range(num_sequences):
        seq = root / "20200709-subject-01" / f"20200709_14{s:04d}"
        (seq / SERIAL).mkdir(parents=True)
        (seq / "meta.yml").write_text(
            f"serials:\n- '{SERIAL}'\nnum_frames: {frames}\nmano_sides:\n- right\n"
            "mano_calib:\n- 20200709-subject-01_right\nycb_ids: [2, 5]\nycb_grasp_ind: 0\n"
        )
        pose_m = rng.normal(0, 0.3, (frames, 51)).astype(np.float32)
        joints = rng.uniform(0.1, 0.8, (frames, 21, 3)).astype(np.float32)
        if s == 0 and frames > 3:
            pose_m[3] = 0.0  # no hand in frame 3
            joints[3] = -1.0
        for f in range(frames):
            np.savez(
                seq / SERIAL / f"labels_{f:06d}.npz",
                seg=np.zeros((4, 4), np.uint8),
                pose_y=np.zeros((2, 3, 4), np.float32),
                pose_m=pose_m[f : f + 1],
                joint_3d=joints[f : f + 1],
                joint_2d=np.zeros((1, 21, 2), np.float32),
            )
        truth[seq.name] = (pose_m, joints)
    return truth


def test_dexycb_motion_camera_runs_and_split(tmp_path: Path) -> None:
    truth = write_dexycb(tmp_path)
    model = pca_hand()
    items = list(iter_dexycb(tmp_path, hand_model=model, min_frames=3))
    names = [n for n, *_ in items]
    base = f"dexycb/20200709-subject-01/20200709_140000/{SERIAL}"
    assert names[:2] == [f"{base}#0", f"{base}#1"]
    assert len(items) == 6
    assert [split for _, split, *_ in items] == ["train"] * 5 + ["val"]
    name, _, motion, track = items[2]
    pose_m, joints = truth[name.split("/")[2]]
    assert motion.num_frames == 8 and motion.fps == 30.0 and motion.handedness == "right"
    np.testing.assert_allclose(motion.global_orient, pose_m[:, :3], atol=1e-6)
    np.testing.assert_allclose(
        motion.hand_pose, pose_m[:, 3:48] @ model.hands_components + model.hands_mean, atol=1e-5
    )
    np.testing.assert_allclose(motion.transl, pose_m[:, 48:], atol=1e-6)
    np.testing.assert_allclose(motion.joints, joints, atol=1e-6)
    np.testing.assert_allclose(motion.betas, np.linspace(-0.5, 0.5, 10))
    np.testing.assert_allclose(track.camera.K, [[615.5, 0, 321.0], [0, 616.25, 239.5], [0, 0, 1]])
    assert (track.camera.width, track.camera.height) == (640, 480)
    np.testing.assert_array_equal(track.cam_to_world, np.tile(np.eye(4), (8, 1, 1)))
    first = items[0][2]
    assert first.num_frames == 3 and items[1][2].num_frames == 4  # frame 3 had no hand
    assert [s0_split(i) for i in range(10)] == ["train"] * 4 + ["val"] + ["train"] * 4 + ["val"]


def test_dexycb_refuses_a_hand_without_pca_basis_and_bad_layouts(tmp_path: Path) -> None:
    write_dexycb(tmp_path, num_sequences=1, frames=3)
    with pytest.raises(DatasetLayoutError, match="PCA"):
        next(iter_dexycb(tmp_path, hand_model="procedural", min_frames=1))
    with pytest.raises(DatasetLayoutError, match="not a DexYCB root"):
        next(iter_dexycb(tmp_path / "20200709-subject-01"))
    (next(tmp_path.rglob("labels_000002.npz"))).unlink()
    with pytest.raises(DatasetLayoutError, match="labels_000002"):
        next(iter_dexycb(tmp_path, hand_model=pca_hand(), min_frames=1))


def test_simple_yaml_subset_matches_pyyaml(tmp_path: Path) -> None:
    text = (
        "serials:\n- '836212060125'\n- '839512060362'\nnum_frames: 72\nmano_sides:\n- right\n"
        "ycb_ids: [2, 5, 10]\npcd_depth: true\ncolor:\n  fx: 615.5\n  ppx: 321.0\nname: abc  # note\n"
    )
    path = tmp_path / "meta.yml"
    path.write_text(text)
    parsed = _parse_simple_yaml(text, path)
    assert parsed == {
        "serials": ["836212060125", "839512060362"],
        "num_frames": 72,
        "mano_sides": ["right"],
        "ycb_ids": [2, 5, 10],
        "pcd_depth": True,
        "color": {"fx": 615.5, "ppx": 321.0},
        "name": "abc",
    }
    assert load_yaml(path) == parsed


def _add(tar: tarfile.TarFile, name: str, data: object) -> None:
    raw = json.dumps(data).encode()
    info = tarfile.TarInfo(name)
    info.size = len(raw)
    tar.addfile(info, io.BytesIO(raw))


def write_hot3d_clip(path: Path, frames: int = 6, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    betas = rng.normal(0, 0.5, 10)
    wrist = np.c_[rng.normal(0, 1, (frames, 3)), rng.normal(0, 0.3, (frames, 3))]
    thetas = rng.normal(0, 0.5, (frames, 15))
    cam_t = rng.normal(0, 1, (frames, 3))
    quats = rng.normal(size=(frames, 4))
    quats /= np.linalg.norm(quats, axis=1, keepdims=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w") as tar:
        _add(tar, "__hand_shapes.json__", {"mano": betas.tolist(), "umetrack": {}})
        for f in range(frames):
            hand = {"mano_pose": {"thetas": thetas[f].tolist(), "wrist_xform": wrist[f].tolist()}}
            hands = {"right": hand}
            if f < 3:
                hands["left"] = hand
            _add(tar, f"{f:06d}.hands.json", hands)
            calib = {
                "image_width": 1408,
                "image_height": 1408,
                "projection_params": [610.0, 704.5, 703.5, 0.1, 0.2],
            }
            transform = {"quaternion_wxyz": quats[f].tolist(), "translation_xyz": cam_t[f].tolist()}
            _add(
                tar,
                f"{f:06d}.cameras.json",
                {"214-1": {"calibration": calib, "T_world_from_camera": transform}},
            )
            _add(tar, f"{f:06d}.objects.json", {})
    return {"betas": betas, "wrist": wrist, "thetas": thetas, "cam_t": cam_t, "quats": quats}


def test_hot3d_clip_world_motion_fk_and_moving_camera(tmp_path: Path) -> None:
    truth = write_hot3d_clip(tmp_path / "train_aria" / "clip-001849.tar")
    write_hot3d_clip(tmp_path / "train_aria" / "clip-001850.tar", seed=1)
    model = pca_hand()
    items = list(iter_hot3d_clips(tmp_path, hand_model=model, val_clips={"clip-001850"}, min_frames=2))
    assert [(n, s) for n, s, *_ in items] == [
        ("hot3d/clip-001849/right", "train"),
        ("hot3d/clip-001849/left", "train"),
        ("hot3d/clip-001850/right", "val"),
        ("hot3d/clip-001850/left", "val"),
    ]
    _, _, right, track = items[0]
    expect_pose = truth["thetas"] @ model.hands_components[:15] + model.hands_mean
    np.testing.assert_allclose(right.hand_pose, expect_pose, atol=1e-9)
    np.testing.assert_allclose(right.global_orient, truth["wrist"][:, :3])
    np.testing.assert_allclose(right.transl, truth["wrist"][:, 3:])
    fk = HandModel(model, dtype=torch.float64)
    kp = fk(right.hand_pose, right.global_orient, right.betas, right.transl).keypoints.numpy()
    np.testing.assert_allclose(right.joints, kp, atol=1e-9)
    assert track.cam_to_world.shape == (6, 4, 4) and track.camera.width == 1408
    np.testing.assert_allclose(track.camera.K[0], [610.0, 0.0, 704.5])
    np.testing.assert_allclose(track.cam_to_world[:, :3, 3], truth["cam_t"])
    w, x, y, z = truth["quats"][2]
    r = track.cam_to_world[2, :3, :3]
    # A quaternion rotates its own vector part onto itself.
    np.testing.assert_allclose(r @ [x, y, z], [x, y, z], atol=1e-9)
    np.testing.assert_allclose(np.trace(r), 4 * w * w - 1, atol=1e-9)
    left = items[1][2]
    assert left.num_frames == 3 and left.handedness == "left"


def test_hot3d_errors_and_hash_split(tmp_path: Path) -> None:
    with pytest.raises(DatasetLayoutError, match="no clip"):
        next(iter_hot3d_clips(tmp_path))
    (tmp_path / "clip-000001.tar").write_bytes(b"not a tar at all" * 10)
    with pytest.raises(DatasetLayoutError, match="unreadable clip"):
        next(iter_hot3d_clips(tmp_path, hand_model=pca_hand()))
    names = [f"clip-{i:06d}" for i in range(2000)]
    share = np.mean([hash_split(n, 0.1) == "val" for n in names])
    assert 0.07 < share < 0.13 and hash_split("clip-000007", 0.1) == hash_split("clip-000007", 0.1)


def test_pca_and_runs_helpers() -> None:
    model = pca_hand()
    coeffs = np.random.default_rng(0).normal(size=(4, 45))
    full = pca_to_axis_angle(coeffs, model)
    np.testing.assert_allclose((full - model.hands_mean) @ model.hands_components.T, coeffs, atol=1e-9)
    assert valid_runs(np.array([1, 1, 0, 1, 1, 1, 0, 1], bool), 2) == [(0, 2), (3, 6)]
