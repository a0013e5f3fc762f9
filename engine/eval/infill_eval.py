"""Evaluation of the model on held-out windows (`python main.py eval`): the numbers of the model card.

- gap: 120-frame windows with all 21 3D keypoints observed except one gap of 10, 30 or 60 frames;
  MPJPE on the gap frames against linear and cubic-spline interpolation of the same keypoints, error
  on the observed frames, bone-length error.
- lift: 2D keypoints alone (exact projections with the window's intrinsics + Gaussian pixel noise,
  only joints inside the image); PA-MPJPE, MPJPE, G-MPJPE, GA-MPJPE, AUC, acceleration error, and
  F@5 / F@15 of the meshes against the ground truth's (the captures' MANO fits with the default hand).

Windows come from a shard directory's `val` split; `source="real"` keeps those cut from real
captures (whole held-out objects, docs/data.md), which training never saw.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy.interpolate import CubicSpline

from engine.data.shards import ShardReader, read_manifest
from engine.editing.request import InfillRequest
from engine.eval import metrics
from engine.motion.types import Conditions

GAPS = (10, 30, 60)
KEYS = ["kp3d", "K", "image_size", "frame_valid", "sequence", "betas", "mano_pose", "mano_transl"]


@dataclass(frozen=True)
class EvalWindows:
    kp3d: np.ndarray  # (N,120,21,3)
    K: np.ndarray  # (N,3,3)
    image_size: np.ndarray  # (N,2)
    names: list[str]
    # The ground truth's MANO parameters (fits of the captures with the default hand): its meshes.
    mano_pose: np.ndarray | None = None  # (N,120,48)
    mano_transl: np.ndarray | None = None  # (N,120,3)
    betas: np.ndarray | None = None  # (N,10)


def load_windows(
    data_dir: str | Path, source: str = "real", limit: int | None = None, seed: int = 0, split: str = "val"
) -> EvalWindows:
    """Full-length windows of `split` and `source` ("real", "synthetic" or "all"), a seeded subset of
    `limit`. The model card's numbers come from the val split; inference settings may be chosen on
    the train split's real windows, so that the real validation split stays unseen."""
    path = Path(data_dir) / split
    manifest = read_manifest(path)
    sequences = manifest["meta"]["sequences"]
    reader = ShardReader(path, keys=KEYS)
    batch = reader.read_batch(list(range(len(reader))))
    keep = batch["frame_valid"].all(axis=1)
    if source != "all":
        keep &= np.array([sequences[int(s)]["source"] == source for s in batch["sequence"]])
    idx = np.flatnonzero(keep)
    if limit is not None and len(idx) > limit:
        idx = np.sort(np.random.default_rng(seed).choice(idx, limit, replace=False))
    names = [sequences[int(batch["sequence"][i])]["name"] for i in idx]
    return EvalWindows(
        batch["kp3d"][idx].astype(np.float64),
        batch["K"][idx],
        batch["image_size"][idx],
        names,
        batch["mano_pose"][idx],
        batch["mano_transl"][idx],
        batch["betas"][idx],
    )


F_SCORE_EVERY = 10  # frames: F-scores compare 778 x 778 vertex distances, so every 10th frame


def mesh_f_scores(
    hand: Any, pred_motion: Any, pose: np.ndarray, transl: np.ndarray, betas: np.ndarray
) -> tuple[float, float]:
    """Mean F@5 and F@15 (mm) of the predicted meshes against the ground truth's, every
    `F_SCORE_EVERY`-th frame, each after similarity alignment (as FreiHAND scores meshes)."""
    import torch

    frames = np.arange(0, len(pose), F_SCORE_EVERY)
    with torch.no_grad():
        gt = hand(pose[frames, 3:], pose[frames, :3], betas, transl[frames]).vertices.numpy()
        pred = hand(
            pred_motion.hand_pose[frames],
            pred_motion.global_orient[frames],
            pred_motion.betas,
            pred_motion.transl[frames],
        ).vertices.numpy()
    aligned = metrics.pa_aligned(pred.astype(np.float64), gt.astype(np.float64))
    f5 = [metrics.f_score(a, g, 5.0) for a, g in zip(aligned, gt, strict=True)]
    f15 = [metrics.f_score(a, g, 15.0) for a, g in zip(aligned, gt, strict=True)]
    return float(np.mean(f5)), float(np.mean(f15))


def interpolate(kp: np.ndarray, observed: np.ndarray, kind: str) -> np.ndarray:
    """Fill unobserved frames of (T,21,3) by linear or cubic-spline interpolation over observed frames."""
    t = np.arange(kp.shape[0])
    obs = np.flatnonzero(observed)
    flat = kp[obs].reshape(len(obs), -1)
    if kind == "linear":
        out = np.stack([np.interp(t, obs, flat[:, i]) for i in range(flat.shape[1])], axis=1)
    elif kind == "cubic":
        out = CubicSpline(obs, flat, axis=0, bc_type="natural")(t)
    else:
        raise ValueError(f"unknown interpolation {kind!r}")
    return out.reshape(kp.shape)


def gap_positions(num_windows: int, gap: int, length: int = 120, seed: int = 0) -> np.ndarray:
    """Seeded gap starts, each leaving at least 10 observed frames on both sides."""
    rng = np.random.default_rng([seed, gap])
    return rng.integers(10, length - gap - 10 + 1, size=num_windows)


def evaluate_gaps(
    infiller: Any, windows: EvalWindows, steps: int = 10, seed: int = 0, samples: int = 1
) -> dict[str, Any]:
    """Gap infilling against linear and cubic interpolation (the baselines of the targets); also the
    keypoints of the Gaussian-process gap prior alone (`gp_prior`) and, with the infiller's learned
    gap refiner, of that prior corrected by it (`learned_prior`): references for what the rest of
    the model and the hand fit add. With `samples` > 1 the prediction is the mean of that many
    samples' joints."""
    from engine.editing.gap_prior import keypoint_fill

    refiner = getattr(infiller, "gap_refiner", None)
    names = ["model", "linear", "cubic", "gp_prior", "observed", "bone", "seconds"]
    if refiner is not None:
        names.insert(4, "learned_prior")
    results: dict[str, Any] = {}
    for gap in GAPS:
        starts = gap_positions(len(windows.names), gap, seed=seed)
        rows: dict[str, list[float]] = {k: [] for k in names}
        for i, start in enumerate(starts):
            gt = windows.kp3d[i]
            observed = np.ones(gt.shape[0], dtype=bool)
            observed[start : start + gap] = False
            mask = np.repeat(observed[:, None], 21, axis=1)
            kp = gt.copy()
            kp[~observed] = np.nan  # must be ignored under a false mask
            cond = Conditions(fps=30.0, num_frames=gt.shape[0], kp3d=kp, kp3d_mask=mask)
            result = infiller(InfillRequest(cond, steps=steps, seed=seed + i, samples=samples))
            pred = result.motion.joints if samples == 1 else result.motion.joints_samples.mean(axis=0)
            rows["model"].append(metrics.mpjpe(pred[~observed], gt[~observed]))
            rows["observed"].append(metrics.mpjpe(pred[observed], gt[observed]))
            rows["linear"].append(
                metrics.mpjpe(interpolate(gt, observed, "linear")[~observed], gt[~observed])
            )
            rows["cubic"].append(metrics.mpjpe(interpolate(gt, observed, "cubic")[~observed], gt[~observed]))
            prior = keypoint_fill(gt, mask, np.flatnonzero(~observed))
            rows["gp_prior"].append(metrics.mpjpe(prior, gt[~observed]))
            if refiner is not None:
                learned = refiner.fill(gt, mask, np.flatnonzero(~observed))
                rows["learned_prior"].append(metrics.mpjpe(learned, gt[~observed]))
            rows["bone"].append(metrics.bone_length_error(pred, gt))
            rows["seconds"].append(result.seconds)
        mean = {k: float(np.mean(v)) for k, v in rows.items()}
        best = min(mean["linear"], mean["cubic"])
        mean["ratio_to_best_baseline"] = mean["model"] / best
        mean["windows"] = len(starts)
        results[f"gap_{gap}"] = mean
    return results


def evaluate_lifting(
    infiller: Any, windows: EvalWindows, noise_px: float = 2.0, steps: int = 10, seed: int = 0
) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    rows: dict[str, list[float]] = {
        k: [] for k in ("pa_mpjpe", "mpjpe", "g_mpjpe", "ga_mpjpe", "auc", "accel", "f5", "f15")
    }
    hand = None
    if windows.mano_pose is not None:
        from engine.hand import create_hand_model

        hand = create_hand_model("default", "right")
    for i in range(len(windows.names)):
        gt = windows.kp3d[i]
        K = windows.K[i].astype(np.float64)
        w, h = (int(v) for v in windows.image_size[i])
        uv = (gt @ K.T)[..., :2] / gt[..., 2:3]
        uv = uv + rng.normal(0.0, noise_px, uv.shape)
        inside = (
            (gt[..., 2] > 1e-3) & (uv[..., 0] >= 0) & (uv[..., 0] < w) & (uv[..., 1] >= 0) & (uv[..., 1] < h)
        )
        cond = Conditions(
            fps=30.0, num_frames=gt.shape[0], kp2d=uv, kp2d_mask=inside, image_size=np.array([w, h]), K=K
        )
        motion = infiller(InfillRequest(cond, steps=steps, seed=seed + i)).motion
        pred = motion.joints
        if hand is not None:
            f5, f15 = mesh_f_scores(
                hand, motion, windows.mano_pose[i], windows.mano_transl[i], windows.betas[i]
            )
            rows["f5"].append(f5)
            rows["f15"].append(f15)
        rows["pa_mpjpe"].append(metrics.pa_mpjpe(pred, gt))
        rows["mpjpe"].append(metrics.mpjpe(pred, gt))
        rows["g_mpjpe"].append(metrics.g_mpjpe(pred, gt))
        rows["ga_mpjpe"].append(metrics.ga_mpjpe(pred, gt))
        rows["auc"].append(metrics.pck_auc(metrics.pa_aligned(pred, gt), gt))
        rows["accel"].append(metrics.acceleration_error(pred, gt))
    out: dict[str, Any] = {k: float(np.mean(v)) for k, v in rows.items() if v}
    out["windows"] = len(windows.names)
    out["noise_px"] = noise_px
    return out


def run_eval(
    data_dir: str = "outputs/corpus",
    tasks: tuple[str, ...] = ("gap", "lift"),
    source: str = "real",
    limit: int | None = 60,
    steps: int = 10,
    seed: int = 0,
    out_json: str | None = None,
    infiller: Any = None,
) -> dict[str, Any]:
    if infiller is None:
        from engine.editing.infill import load_infiller

        infiller = load_infiller()
    windows = load_windows(data_dir, source, limit, seed)
    started = time.perf_counter()
    report: dict[str, Any] = {
        "data": str(data_dir),
        "source": source,
        "windows": len(windows.names),
        "steps": steps,
    }
    if "gap" in tasks:
        report["gap"] = evaluate_gaps(infiller, windows, steps, seed)
    if "lift" in tasks:
        report["lift"] = evaluate_lifting(infiller, windows, steps=steps, seed=seed)
    report["seconds"] = round(time.perf_counter() - started, 1)
    if out_json:
        from engine.files import write_text_atomic

        write_text_atomic(out_json, json.dumps(report, indent=2))
    return report
