"""Metrics against cases computed by hand."""

from __future__ import annotations

import numpy as np
import pytest

from engine.eval import metrics
from engine.eval.infill_eval import interpolate


def _hand(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(21, 3)) * 0.05


def test_mpjpe_and_mask() -> None:
    gt = np.zeros((2, 21, 3))
    pred = gt.copy()
    pred[0, :, 0] = 0.003  # 3 mm on every joint of frame 0
    pred[1, :, 1] = 0.004  # 4 mm on frame 1
    assert metrics.mpjpe(pred, gt) == pytest.approx(3.5)
    assert metrics.mpjpe(pred, gt, mask=np.array([True, False])) == pytest.approx(3.0)
    assert metrics.masked_frame_error(pred, gt, observed_frames=np.array([True, False])) == pytest.approx(4.0)
    with pytest.raises(ValueError):
        metrics.mpjpe(pred[:1], gt)


def test_pa_mpjpe_removes_similarity_but_not_articulation() -> None:
    gt = _hand()
    angle = 0.7
    rot = np.array([[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]])
    pred = 1.3 * gt @ rot.T + np.array([0.1, -0.2, 0.5])
    assert metrics.pa_mpjpe(pred[None], gt[None]) == pytest.approx(0.0, abs=1e-9)
    assert metrics.mpjpe(pred[None], gt[None]) > 100
    bent = gt.copy()
    bent[8] += [0.01, 0.0, 0.0]
    assert metrics.pa_mpjpe(bent[None], gt[None]) > 0.1


def test_auc_of_a_constant_error() -> None:
    gt = np.zeros((1, 21, 3))
    pred = gt.copy()
    pred[..., 0] = 0.010  # 10 mm: PCK is 0 below 10 mm and 1 from 10 mm on -> AUC 0.8 over 0..50
    assert metrics.pck_auc(pred, gt) == pytest.approx(0.8, abs=0.011)
    assert metrics.pck_auc(gt, gt) == pytest.approx(1.0)


def test_f_score() -> None:
    gt = np.array([[0.0, 0, 0], [0.1, 0, 0]])
    pred = np.array([[0.002, 0, 0], [0.5, 0, 0]])  # one point within 5 mm, one far
    # precision 1/2, recall 1/2 -> F = 0.5
    assert metrics.f_score(pred, gt, 5.0) == pytest.approx(0.5)
    assert metrics.f_score(gt, gt, 5.0) == pytest.approx(1.0)


def test_global_metrics() -> None:
    gt = np.stack([_hand() + np.array([0.01 * t, 0, 0]) for t in range(10)])
    shifted = gt + np.array([0.2, 0.0, 0.0])
    assert metrics.g_mpjpe(shifted, gt) == pytest.approx(0.0, abs=1e-9)  # first-frame wrist aligned
    drift = gt + np.arange(10)[:, None, None] * np.array([0.0, 0.001, 0.0])  # 1 mm per frame
    assert metrics.g_mpjpe(drift, gt) == pytest.approx(4.5, abs=1e-6)  # mean of 0..9 mm
    angle = 0.3
    rot = np.array([[1, 0, 0], [0, np.cos(angle), -np.sin(angle)], [0, np.sin(angle), np.cos(angle)]])
    assert metrics.ga_mpjpe(gt @ rot.T + 0.5, gt) == pytest.approx(0.0, abs=1e-9)


def test_acceleration_jitter_and_bones() -> None:
    gt = np.zeros((5, 21, 3))
    pred = gt.copy()
    pred[2, :, 0] = 0.001  # a 1 mm spike: second differences 1, -2, 1 mm at frames 1..3
    assert metrics.acceleration_error(pred, gt) == pytest.approx((1 + 2 + 1) / 3)
    assert metrics.jitter(pred) == pytest.approx(4 / 3)
    # Pixels (scale 1) with a mask: frame 4 unseen leaves the triples (0,1,2) and (1,2,3): 1 and 2 px.
    uv = pred[..., :2] * 1000.0
    seen = np.ones((5, 21), bool)
    seen[4] = False
    assert metrics.jitter(uv, seen, scale=1.0) == pytest.approx(1.5)
    hand = _hand()
    scaled = hand * 1.1
    err = metrics.bone_length_error(scaled[None], hand[None])
    assert err == pytest.approx(0.1 * metrics.bone_lengths(hand).mean() * 1000, rel=1e-9)
    moving = np.stack([hand + t * 0.01 for t in range(4)])  # rigid translation: no drift
    assert metrics.bone_length_drift(moving) == pytest.approx(0.0, abs=1e-9)


def test_interpolation_baselines() -> None:
    t = np.arange(20, dtype=float)
    kp = np.zeros((20, 21, 3))
    kp[..., 0] = (2 * t + 1)[:, None] * 0.001  # linear in time: both baselines are exact
    observed = np.ones(20, dtype=bool)
    observed[5:12] = False
    for kind in ("linear", "cubic"):
        filled = interpolate(kp, observed, kind)
        assert np.allclose(filled, kp, atol=1e-12)
    with pytest.raises(ValueError):
        interpolate(kp, observed, "quintic")


def test_mesh_f_scores_align_then_compare_vertices() -> None:
    from types import SimpleNamespace

    from engine.eval.infill_eval import mesh_f_scores
    from engine.hand import create_hand_model

    hand = create_hand_model("default", "right")
    rng = np.random.default_rng(0)
    pose = (rng.normal(0, 0.2, (20, 48))).astype(np.float32)
    transl = np.tile([0.0, 0.0, 0.5], (20, 1)).astype(np.float32)
    betas = np.zeros(10, dtype=np.float32)

    def motion(p, t):
        return SimpleNamespace(hand_pose=p[:, 3:], global_orient=p[:, :3], betas=betas, transl=t)

    assert mesh_f_scores(hand, motion(pose, transl), pose, transl, betas) == pytest.approx((1.0, 1.0))
    # A rigid move of the whole hand is aligned away: still a perfect score.
    moved = pose.copy()
    moved[:, :3] += 0.3
    assert mesh_f_scores(hand, motion(moved, transl + 0.1), pose, transl, betas)[1] > 0.99
    # Bent fingers are not: F@5 drops more than F@15.
    bent = pose.copy()
    bent[:, 3:] += 0.5
    f5, f15 = mesh_f_scores(hand, motion(bent, transl), pose, transl, betas)
    assert f5 < f15 < 1.0 and f5 < 0.8
