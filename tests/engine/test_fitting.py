"""Fitting keypoints to the hand model: recovery of known motion, masks, outliers, left hands,
bad input, the `main.py fit` command, and a real GRAB sequence."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.interpolate import CubicSpline

from engine.data.fitting import FitError, estimate_betas, fit_keypoints
from engine.hand import create_hand_model
from engine.hand.joint_limits import JOINT_LIMITS_RAD, AnatomicalFrames, anatomical_to_pose
from engine.hand.mirror import mirror_points
from engine.motion.io import load_motion, save_conditions
from engine.motion.types import Conditions

REPO = Path(__file__).resolve().parents[2]


def known_motion(num_frames: int, seed: int) -> dict[str, np.ndarray]:
    """Smooth random motion within the joint limits, a random shape, and its keypoints."""
    model = create_hand_model("default", dtype=torch.float64)
    frames = AnatomicalFrames.from_hand(model.data)
    rng = np.random.default_rng(seed)
    lo, hi = JOINT_LIMITS_RAD[..., 0], JOINT_LIMITS_RAD[..., 1]
    n_knots = num_frames // 20 + 2
    t = np.linspace(0, n_knots - 1, num_frames)
    angles = np.clip(
        CubicSpline(np.arange(n_knots), rng.uniform(0.8 * lo, 0.8 * hi, (n_knots, 15, 3)))(t), lo, hi
    )
    params = {
        "hand_pose": anatomical_to_pose(angles, frames).reshape(num_frames, 45),
        "global_orient": CubicSpline(np.arange(n_knots), rng.normal(size=(n_knots, 3)))(t),
        "transl": CubicSpline(np.arange(n_knots), rng.normal(scale=0.1, size=(n_knots, 3)))(t),
        "betas": np.clip(rng.normal(size=10), -2.0, 2.0),
    }
    with torch.no_grad():
        params["keypoints"] = model(
            *(torch.as_tensor(params[k]) for k in ("hand_pose", "global_orient", "betas", "transl"))
        ).keypoints.numpy()
    return params


def keypoints_of(motion, side: str = "right") -> np.ndarray:
    model = create_hand_model(motion.hand_model, side, dtype=torch.float64)
    with torch.no_grad():
        out = model(motion.hand_pose, motion.global_orient, motion.betas, motion.transl)
    return out.keypoints.numpy()


@pytest.fixture(scope="module")
def known() -> dict[str, np.ndarray]:
    return known_motion(90, seed=7)


def test_recovers_known_motion_within_a_millimetre(known: dict[str, np.ndarray]) -> None:
    result = fit_keypoints(known["keypoints"])
    assert result.mpjpe < 0.001, result.mpjpe
    assert np.percentile(result.errors, 95) < 0.002
    # The stored joints are the model's keypoints for the stored parameters.
    np.testing.assert_allclose(keypoints_of(result.motion), result.motion.joints, atol=1e-6)
    assert result.motion.handedness == "right" and result.motion.hand_model == "default"


def test_shape_from_pose_independent_distances(known: dict[str, np.ndarray]) -> None:
    model = create_hand_model("default", dtype=torch.float64)
    mask = np.ones(known["keypoints"].shape[:2], dtype=bool)
    betas = estimate_betas(model, known["keypoints"], mask)
    rest = model.forward_keypoints
    zero = torch.zeros(1, 45, dtype=torch.float64), torch.zeros(1, 3, dtype=torch.float64)
    _, ours = rest(zero[0], zero[1], torch.as_tensor(betas[None]), zero[1])
    _, truth = rest(zero[0], zero[1], torch.as_tensor(known["betas"][None]), zero[1])
    # Bone lengths (e.g. index proximal phalanx, palm width) agree to a fraction of a millimetre.
    for a, b in ((5, 6), (6, 7), (9, 10), (5, 17), (0, 9), (2, 3)):
        d_ours = torch.linalg.norm(ours[0, a] - ours[0, b])
        d_truth = torch.linalg.norm(truth[0, a] - truth[0, b])
        assert abs(float(d_ours - d_truth)) < 3e-4, (a, b)


def test_left_hands_are_fitted_through_the_mirror(known: dict[str, np.ndarray]) -> None:
    left_keypoints = mirror_points(known["keypoints"])
    result = fit_keypoints(left_keypoints, handedness="left")
    assert result.motion.handedness == "left"
    assert result.mpjpe < 0.001
    np.testing.assert_allclose(result.motion.joints, keypoints_of(result.motion, "left"), atol=1e-6)
    assert np.abs(result.motion.joints - left_keypoints).mean() < 0.001


def test_masked_joints_and_frames_are_filled_plausibly(known: dict[str, np.ndarray]) -> None:
    rng = np.random.default_rng(1)
    kp = known["keypoints"].copy()
    mask = rng.random(kp.shape[:2]) > 0.3
    mask[40:50] = False  # a 10-frame gap with nothing observed
    kp[~mask] = np.nan  # masked entries may hold anything
    result = fit_keypoints(kp, mask)
    assert np.isfinite(result.motion.joints).all()
    assert np.isnan(result.errors[~mask]).all()
    assert result.mpjpe < 0.0015
    hidden = np.linalg.norm(result.motion.joints - known["keypoints"], axis=-1)[~mask]
    # Unseen keypoints come from smoothness, limits and the skeleton: at least as good as
    # interpolating each keypoint's track in time.
    frames = np.arange(len(kp))
    interpolated = known["keypoints"].copy()
    for j in range(21):
        for c in range(3):
            seen = mask[:, j]
            interpolated[~seen, j, c] = np.interp(frames[~seen], frames[seen], kp[seen, j, c])
    baseline = np.linalg.norm(interpolated - known["keypoints"], axis=-1)[~mask]
    assert hidden.mean() < 0.8 * baseline.mean(), (hidden.mean(), baseline.mean())


def test_outliers_do_not_drag_the_fit(known: dict[str, np.ndarray]) -> None:
    rng = np.random.default_rng(2)
    kp = known["keypoints"].copy()
    bad = rng.random(kp.shape[:2]) < 0.03
    kp[bad] += rng.normal(scale=0.08, size=(int(bad.sum()), 3))
    result = fit_keypoints(kp)
    clean = np.linalg.norm(result.motion.joints - known["keypoints"], axis=-1)[~bad]
    assert clean.mean() < 0.0015, clean.mean()
    assert result.outlier_fraction > 0.02  # the corrupted points are reported, not absorbed


def test_single_frame_and_fixed_shape(known: dict[str, np.ndarray]) -> None:
    one = fit_keypoints(known["keypoints"][:1])
    assert one.motion.num_frames == 1 and one.mpjpe < 0.002
    fixed = fit_keypoints(known["keypoints"][:10], betas=known["betas"])
    np.testing.assert_array_equal(fixed.motion.betas, known["betas"])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda kp: kp[:, :20], "expected shape (T, 21, 3)"),
        (lambda kp: kp[:0], "no frames"),
        (lambda kp: kp * 1000.0, "millimetres"),
        (lambda kp: kp * 100.0, "centimetres"),
        (lambda kp: kp * 0.1, "times the size"),
        (lambda kp: np.full_like(kp, np.nan), "no frame has 3 or more observed keypoints"),
    ],
    ids=["shape", "empty", "mm", "cm", "tiny", "all-nan"],
)
def test_bad_input_gets_a_clear_error(known: dict[str, np.ndarray], change, message: str) -> None:
    with pytest.raises(FitError, match=message.replace("(", r"\(").replace(")", r"\)")):
        fit_keypoints(change(known["keypoints"][:5]))


def test_nan_under_a_true_mask_names_frame_and_joint(known: dict[str, np.ndarray]) -> None:
    kp = known["keypoints"][:5].copy()
    kp[3, 7, 1] = np.nan
    with pytest.raises(FitError, match="frame 3, joint 7"):
        fit_keypoints(kp, np.ones((5, 21), dtype=bool))
    with pytest.raises(FitError, match="mask: expected shape"):
        fit_keypoints(kp, np.ones((4, 21), dtype=bool))


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "main.py", *args], cwd=REPO, capture_output=True, text=True, timeout=300
    )


def test_fit_command_files_and_directories(known: dict[str, np.ndarray], tmp_path: Path) -> None:
    kp = known["keypoints"][:30]
    mask = np.ones((30, 21), dtype=bool)
    save_conditions(tmp_path / "in" / "a.npz", Conditions(fps=30.0, num_frames=30, kp3d=kp, kp3d_mask=mask))
    left = Conditions(fps=24.0, num_frames=30, handedness="left", kp3d=mirror_points(kp), kp3d_mask=mask)
    save_conditions(tmp_path / "in" / "b.npz", left)
    out = _cli("fit", str(tmp_path / "in" / "a.npz"), "-o", str(tmp_path / "a_motion.npz"))
    assert out.returncode == 0, out.stderr
    motion = load_motion(tmp_path / "a_motion.npz")
    assert motion.num_frames == 30 and np.abs(motion.joints - kp).mean() < 0.001
    out = _cli("fit", str(tmp_path / "in"), "-o", str(tmp_path / "out"))
    assert out.returncode == 0, out.stderr
    b = load_motion(tmp_path / "out" / "b.npz")
    assert b.handedness == "left" and b.fps == 24.0


def test_fit_command_reports_unusable_input(tmp_path: Path) -> None:
    cond = Conditions(fps=30.0, num_frames=4)
    save_conditions(tmp_path / "empty.npz", cond)
    out = _cli("fit", str(tmp_path / "empty.npz"), "-o", str(tmp_path / "m.npz"))
    assert out.returncode == 1
    assert "needs 3D keypoints (kp3d)" in out.stderr and "Traceback" not in out.stderr
    out = _cli("fit", str(tmp_path / "missing.npz"), "-o", str(tmp_path / "m.npz"))
    assert out.returncode == 1 and "no such file" in out.stderr
    assert not (tmp_path / "m.npz").exists()


@pytest.mark.shared_data
def test_a_real_grab_sequence_fits_within_five_millimetres(shared_data: Path) -> None:
    from engine.data.real_corpus import load_capture_file

    seq = next(s for s in load_capture_file(shared_data / "real" / "grab_s1.npz") if s.name == "apple_lift")
    result = fit_keypoints(seq.joints[:200], fps=seq.fps)
    assert result.mpjpe < 0.005, result.mpjpe
    assert np.isfinite(result.motion.hand_pose).all()
