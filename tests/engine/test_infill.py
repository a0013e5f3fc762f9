"""The editing engine's guarantees, on the shipped model (assets/model)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine.editing.infill import DiffusionInfiller, default_checkpoints, load_infiller
from engine.editing.request import InfillCancelled, InfillRequest
from engine.eval.bench import _demo_conditions
from engine.hand.mirror import mirror_pixels
from engine.motion.camera import Camera
from engine.motion.io import save_conditions
from engine.motion.types import Conditions

pytestmark = pytest.mark.skipif(
    not all(p.exists() for p in default_checkpoints()), reason="no model checkpoint in assets/model"
)


@pytest.fixture(scope="module")
def infiller() -> DiffusionInfiller:
    return load_infiller("cpu")


@pytest.fixture(scope="module")
def clip() -> Conditions:
    return _demo_conditions(120, seed=3)


@pytest.fixture(scope="module")
def base(infiller: DiffusionInfiller, clip: Conditions):
    return infiller(InfillRequest(clip, steps=6)).motion


def test_output_follows_2d_keypoints_and_is_plausible(base, clip: Conditions) -> None:
    assert base.num_frames == 120 and base.fps == 30.0 and np.isfinite(base.joints).all()
    uv = np.asarray(clip.camera().project(base.joints))
    err = np.linalg.norm(uv - clip.kp2d, axis=-1)
    # Measured 8.3 px on this clip (MODEL_CARD.md, guidance interval): the target is a few px.
    assert np.median(err) < 10.0


def test_pins_met_locality_and_no_pop(infiller: DiffusionInfiller, clip: Conditions, base) -> None:
    kp3d = np.full((120, 21, 3), np.nan)  # NaN under false masks must be ignored
    mask = np.zeros((120, 21), bool)
    target = base.joints[60, 8] + np.array([0.015, -0.01, 0.0])
    kp3d[60, 8], mask[60, 8] = target, True
    kp3d[62, 4], mask[62, 4] = base.joints[62, 4] + np.array([0.0, 0.01, 0.0]), True
    request = InfillRequest(clip.replace(kp3d=kp3d, kp3d_mask=mask), previous=base, frames=(60, 63), steps=6)
    result = infiller(request)
    moved = result.motion
    assert np.linalg.norm(moved.joints[60, 8] - target) * 1000 < 2.0
    assert np.linalg.norm(moved.joints[62, 4] - kp3d[62, 4]) * 1000 < 2.0
    change = np.linalg.norm(moved.joints - base.joints, axis=-1).max(axis=1) * 1000
    far = np.ones(120, bool)
    far[60 - infiller.margin : 63 + infiller.margin] = False
    assert change[far].max() < 1.0
    assert result.changed == (60 - infiller.margin, 63 + infiller.margin)
    # No pop: the edit adds no acceleration beyond the order of the motion's own (the shipped
    # model's output is itself jittery: MODEL_CARD.md), and nothing at the window's edges.
    acc = np.linalg.norm(np.diff(moved.joints - base.joints, 2, axis=0), axis=-1).max(axis=1) * 1000
    own = np.linalg.norm(np.diff(base.joints, 2, axis=0), axis=-1).max(axis=1) * 1000
    assert acc.max() < 2 * own[40:80].max()
    assert acc[:20].max() < 1e-6 and acc[-20:].max() < 1e-6


def test_2d_drags_met(infiller: DiffusionInfiller, clip: Conditions, base) -> None:
    kp2d = np.array(clip.kp2d)
    kp2d[40, 12] += [12.0, -8.0]  # drag the middle fingertip 14 px
    hard = np.zeros((120, 21), bool)
    hard[40, 12] = True
    request = InfillRequest(clip.replace(kp2d=kp2d), previous=base, frames=(40, 41), steps=6, kp2d_hard=hard)
    result = infiller(request)
    uv = np.asarray(clip.camera().project(result.motion.joints[40, 12]))
    assert np.linalg.norm(uv - kp2d[40, 12]) < 2.0


def test_locked_frames_come_back_bit_exact(infiller: DiffusionInfiller, clip: Conditions, base) -> None:
    pose = np.concatenate([base.global_orient, base.hand_pose], axis=1)
    pose[:30, 3:] += 0.05  # a different, known pose on the locked frames
    mask = np.zeros(120, bool)
    mask[:30] = True
    mask[90:] = True
    cond = clip.replace(mano_pose=pose, mano_transl=base.transl, mano_betas=base.betas, mano_mask=mask)
    motion = infiller(InfillRequest(cond, steps=6)).motion
    assert np.array_equal(motion.hand_pose[mask], pose[mask, 3:])
    assert np.array_equal(motion.global_orient[mask], pose[mask, :3])
    assert np.array_equal(motion.transl[mask], base.transl[mask])


def test_determinism_samples_and_spread(infiller: DiffusionInfiller, clip: Conditions) -> None:
    sparse = clip.replace(kp2d_mask=np.repeat((np.arange(120) % 20 == 0)[:, None], 21, axis=1))
    a = infiller(InfillRequest(sparse, steps=4, seed=1, samples=3)).motion
    b = infiller(InfillRequest(sparse, steps=4, seed=1, samples=3)).motion
    c = infiller(InfillRequest(sparse, steps=4, seed=2, samples=3)).motion
    assert np.array_equal(a.joints, b.joints) and not np.array_equal(a.joints, c.joints)
    assert a.joints_samples.shape == (3, 120, 21, 3) and a.joints_std.shape == (120, 21)
    assert a.joints_std.max() > 0


def test_left_hand_is_the_mirror_of_the_right(infiller: DiffusionInfiller, clip: Conditions) -> None:
    right = infiller(InfillRequest(clip, steps=4)).motion
    cx = float(clip.camera().K[0, 2])
    left_cond = clip.replace(
        handedness="left", kp2d=mirror_pixels(np.array(clip.kp2d), cx), kp3d=None, kp3d_mask=None
    )
    left = infiller(InfillRequest(left_cond, steps=4)).motion
    right2 = infiller(InfillRequest(clip.replace(kp3d=None, kp3d_mask=None), steps=4)).motion
    assert left.handedness == "left"
    mirrored = right2.joints * np.array([-1.0, 1.0, 1.0])
    assert np.abs(left.joints - mirrored).max() < 1e-6
    assert right.num_frames == left.num_frames


def test_long_clips_join_windows_without_seams(infiller: DiffusionInfiller, monkeypatch) -> None:
    monkeypatch.setattr("engine.editing.infill.PREVIEW_EVERY_S", 0.0)  # a preview at every step
    monkeypatch.setattr("engine.editing.infill.PREVIEW_MAX_SHARE", 1.0)
    cond = _demo_conditions(400, seed=5)
    previews = []
    motion = infiller(
        InfillRequest(cond, steps=3), progress=lambda i, n, p: p is not None and previews.append((i, n, p))
    ).motion
    assert motion.num_frames == 400 and np.isfinite(motion.joints).all()
    acc = np.linalg.norm(np.diff(motion.joints, 2, axis=0), axis=-1).max(axis=1)
    assert acc.max() < 10 * np.median(acc) + 0.005
    # A long job previews the motion so far at its steps (every one here; all but the last, which
    # the result follows): the first window's frames move from step to step, later ones fill in.
    total = 3 * len(infiller._windows(0, 400))
    assert total >= 12 and [i for i, _, _ in previews] == list(range(1, total))
    assert all(n == total and p.num_frames == 400 and np.isfinite(p.joints).all() for _, n, p in previews)
    assert not np.allclose(previews[0][2].joints[:120], previews[1][2].joints[:120])
    np.testing.assert_array_equal(previews[0][2].joints[300:], previews[1][2].joints[300:])


def test_other_frame_rates_come_back_at_their_rate(infiller: DiffusionInfiller) -> None:
    cond = _demo_conditions(90, seed=6).replace(fps=60.0)
    motion = infiller(InfillRequest(cond, steps=3)).motion
    assert motion.fps == 60.0 and motion.num_frames == 90 and np.isfinite(motion.joints).all()


def test_cancellation_between_steps(infiller: DiffusionInfiller, clip: Conditions) -> None:
    calls = []
    with pytest.raises(InfillCancelled):
        infiller(
            InfillRequest(clip, steps=6),
            progress=lambda i, n, p: calls.append(i),
            should_cancel=lambda: len(calls) >= 2,
        )
    assert len(calls) == 2


def test_cli_batch_reports_bad_files_and_goes_on(tmp_path: Path, clip: Conditions, capsys) -> None:
    import main as cli

    inputs = tmp_path / "in"
    inputs.mkdir()
    save_conditions(inputs / "good.npz", clip.slice(0, 60))
    (inputs / "broken.npz").write_bytes(b"not a zip")
    out = tmp_path / "out"
    assert cli.main(["infill", str(inputs), "-o", str(out), "--steps", "3"]) == cli.EXIT_USER_ERROR
    text = capsys.readouterr()
    assert (out / "good.npz").exists() and not (out / "broken.npz").exists()
    assert "broken.npz" in text.err and "1 written, 1 failed" in text.out
    report = (out / "infill_report.json").read_text()
    assert '"unobserved_frames": 0' in report and "jitter_mm" in report
    _ = Camera


def test_vision_tokens_are_checked_and_need_the_vision_model(
    infiller: DiffusionInfiller, clip: Conditions
) -> None:
    t = clip.num_frames
    with pytest.raises(ValueError, match=r"vision: expected \(120, V\)"):
        InfillRequest(clip, vision=np.zeros((t - 1, 128)))
    with pytest.raises(ValueError, match="NaN"):
        InfillRequest(clip, vision=np.full((t, 128), np.nan))
    with pytest.raises(ValueError, match="unknown modality 'video'"):
        InfillRequest(clip, guidance={"video": 2.0})
    InfillRequest(clip, guidance={"vision": 1.5})  # the vision condition has a CFG scale too
    with pytest.raises(ValueError, match="no vision path"):
        infiller(InfillRequest(clip, steps=2, vision=np.zeros((t, 128))))


def test_vision_model_reads_hand_tokens_at_any_frame_rate() -> None:
    from engine.editing.infill import default_vision_checkpoint

    if not default_vision_checkpoint().exists():
        pytest.skip("no vision checkpoint in assets/model")
    vision = load_infiller("cpu", vision=True)
    assert vision.perceptron is not None and vision is not load_infiller("cpu")
    cond = Conditions(fps=60.0, num_frames=90)  # vision alone, at 60 fps (the model runs at 30)
    tokens = (
        np.random.default_rng(0).normal(size=(90, vision.perceptron.config.vision_dim)).astype(np.float32)
    )
    a = vision(InfillRequest(cond, steps=3, vision=tokens)).motion
    b = vision(InfillRequest(cond, steps=3, vision=tokens)).motion
    c = vision(InfillRequest(cond, steps=3, vision=-tokens)).motion
    assert a.num_frames == 90 and np.isfinite(a.joints).all()
    assert np.array_equal(a.joints, b.joints)  # deterministic
    assert np.abs(a.joints - c.joints).max() > 1e-4  # the tokens are read


@pytest.mark.parametrize("splines", ["keypoints", "keypoints_gp", "keypoints_learned"])
def test_3d_gaps_can_follow_the_keypoint_priors_near_the_evidence(
    infiller: DiffusionInfiller, splines: str
) -> None:
    """`gap_splines="keypoints"` / `"keypoints_gp"` / `"keypoints_learned"`: observed frames are met,
    and the gap starts from each joint's cubic spline / Gaussian-process mean / that mean corrected
    by the learned gap refiner (the hand fitted to it), giving way to the model's articulation deep
    inside."""
    import math

    from engine.data.synthetic import generate_sequence
    from engine.editing.gap_prior import keypoint_fill, keypoint_spline
    from engine.editing.refine import RefineWeights
    from engine.eval.metrics import mpjpe

    truth = generate_sequence(5, 120).motion.joints.astype(np.float64)
    truth = truth - truth[:, 0].mean(axis=0) + np.array([0.0, 0.0, 0.5])  # in front of the camera
    observed = np.ones(120, dtype=bool)
    observed[50:60] = False
    mask = np.repeat(observed[:, None], 21, axis=1)
    kp = np.where(observed[:, None, None], truth, np.nan)
    cond = Conditions(fps=30.0, num_frames=120, kp3d=kp, kp3d_mask=mask)
    prior = {
        "keypoints": keypoint_spline,
        "keypoints_gp": keypoint_fill,
        "keypoints_learned": keypoint_fill if infiller.gap_refiner is None else infiller.gap_refiner.fill,
    }[splines]
    spline = prior(truth, mask, np.flatnonzero(~observed))
    saved = infiller.refine_weights
    try:
        infiller.refine_weights = RefineWeights(gap_fingers_decay=math.inf, gap_splines=splines)
        pure = infiller(InfillRequest(cond, steps=6)).motion.joints
        infiller.refine_weights = RefineWeights(gap_splines=splines)
        blended = infiller(InfillRequest(cond, steps=6)).motion.joints
    finally:
        infiller.refine_weights = saved
    with pytest.raises(ValueError, match="gap_splines"):
        RefineWeights(gap_splines="bezier")
    # Prior throughout: the hand fitted to the keypoint prior (its keypoints are no exact hand, so
    # the fit is near them, not on them: 1.2 mm for splines, 2.2 for the Gaussian process), about
    # as far from the truth (8.3 vs 8.2 mm for splines, 8.5 vs 8.5 for the Gaussian process).
    assert np.linalg.norm(pure[~observed] - spline, axis=-1).mean() < 0.003
    assert mpjpe(pure[~observed], truth[~observed]) <= mpjpe(spline, truth[~observed]) * 1.05
    for joints in (pure, blended):
        assert np.linalg.norm(joints[observed] - truth[observed], axis=-1).max() < 1e-3
    # Next to the evidence the blend is the spline's, inside it moves towards the model.
    edge = np.linalg.norm(blended[50] - pure[50], axis=-1).max()
    middle = np.linalg.norm(blended[55] - pure[55], axis=-1).max()
    assert edge < 1e-3 < middle
    # A joint seen on fewer than two frames has no spline: the refinement falls back to rotations.
    once = mask.copy()
    once[1:, 4] = False
    assert keypoint_spline(truth, once, np.arange(50, 60)) is None


def test_decoded_motion_has_no_jerk_at_decoder_segment_boundaries(infiller: DiffusionInfiller) -> None:
    """The shipped VAE decodes 30-frame segments; the staggered decode hides their seams."""
    import torch

    from engine.data.synthetic import generate_sequence

    motion = generate_sequence(8, 120).motion
    model, hand = infiller.model, infiller.hand_fast
    pose = torch.as_tensor(np.concatenate([motion.global_orient, motion.hand_pose], 1), dtype=torch.float32)
    transl = torch.as_tensor(motion.transl - motion.transl.mean(0) + [0, 0, 0.5], dtype=torch.float32)
    betas = torch.as_tensor(motion.betas, dtype=torch.float32)[None].expand(120, -1)
    seams = [28, 29, 58, 59, 88, 89]  # second differences centred on frames 29/30, 59/60, 89/90

    def seam_acceleration_mm(staggered: bool) -> float:
        with torch.no_grad():
            p, tr = model.decode(model.encode_motion(pose[None], transl[None]), staggered=staggered)
            _, joints = hand.forward_keypoints(p[0, :, 3:], p[0, :, :3], betas, tr[0])
        acc = np.linalg.norm(np.diff(joints.numpy(), 2, axis=0), axis=-1).mean(axis=1)
        return float(acc[seams].mean() * 1000)

    # Measured: 11 mm/frame^2 plain, 0.5 staggered; this motion's median is 1.2.
    assert seam_acceleration_mm(True) < 2.0 < 5.0 < seam_acceleration_mm(False)


def test_gaps_can_keep_the_models_own_path(infiller: DiffusionInfiller) -> None:
    """`spline_gaps = False` (a diagnosis, benchmarks/gap_model_trajectory.py): the gap keeps the
    model's motion plus interpolated offsets; observed frames are met either way."""
    from engine.data.synthetic import generate_sequence

    truth = generate_sequence(6, 120).motion.joints.astype(np.float64)
    truth = truth - truth[:, 0].mean(axis=0) + np.array([0.0, 0.0, 0.5])
    observed = np.ones(120, dtype=bool)
    observed[40:70] = False
    kp = np.where(observed[:, None, None], truth, np.nan)
    cond = Conditions(fps=30.0, num_frames=120, kp3d=kp, kp3d_mask=np.repeat(observed[:, None], 21, 1))
    splined = infiller(InfillRequest(cond, steps=4)).motion.joints
    try:
        infiller.spline_gaps = False
        own = infiller(InfillRequest(cond, steps=4)).motion.joints
    finally:
        infiller.spline_gaps = True
    for joints in (splined, own):
        assert np.linalg.norm(joints[observed] - truth[observed], axis=-1).max() < 1e-3
    assert np.abs(own[~observed] - splined[~observed]).max() > 1e-3


def test_gap_evaluation_reports_the_model_against_its_baselines(infiller: DiffusionInfiller) -> None:
    """`main.py eval gap` on two small windows: the baselines are the same run's interpolations of
    the same keypoints, the prior rows are the Gaussian-process mean alone and (with a gap refiner)
    that mean corrected by it, observed frames are met."""
    from engine.data.synthetic import generate_sequence
    from engine.editing.gap_prior import keypoint_fill
    from engine.eval.infill_eval import GAPS, EvalWindows, evaluate_gaps, gap_positions, interpolate
    from engine.eval.metrics import mpjpe

    kp3d = np.stack([generate_sequence(seed, 120).motion.joints.astype(np.float64) for seed in (11, 12)])
    kp3d = kp3d - kp3d[:, :, :1].mean(axis=1, keepdims=True) + np.array([0.0, 0.0, 0.5])
    windows = EvalWindows(kp3d, np.tile(np.eye(3), (2, 1, 1)), np.tile([640, 480], (2, 1)), ["a", "b"])
    report = evaluate_gaps(infiller, windows, steps=2)
    assert set(report) == {f"gap_{g}" for g in GAPS}
    for gap in GAPS:
        row = report[f"gap_{gap}"]
        cubic, prior, learned = [], [], []
        for kp, start in zip(kp3d, gap_positions(2, gap), strict=True):
            observed = np.ones(120, dtype=bool)
            observed[start : start + gap] = False
            cubic.append(mpjpe(interpolate(kp, observed, "cubic")[~observed], kp[~observed]))
            mask = np.repeat(observed[:, None], 21, axis=1)
            prior.append(mpjpe(keypoint_fill(kp, mask, np.flatnonzero(~observed)), kp[~observed]))
            if infiller.gap_refiner is not None:
                refined = infiller.gap_refiner.fill(kp, mask, np.flatnonzero(~observed))
                learned.append(mpjpe(refined, kp[~observed]))
        assert row["cubic"] == pytest.approx(np.mean(cubic))
        assert row["gp_prior"] == pytest.approx(np.mean(prior))
        assert ("learned_prior" in row) == (infiller.gap_refiner is not None)
        if learned:
            assert row["learned_prior"] == pytest.approx(np.mean(learned))
        assert row["ratio_to_best_baseline"] == pytest.approx(row["model"] / min(row["linear"], row["cubic"]))
        assert row["observed"] < 1.0 and row["bone"] < 1.0  # mm
        assert row["windows"] == 2
