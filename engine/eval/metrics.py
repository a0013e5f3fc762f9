"""Hand-motion metrics (paper 4.1 and the usual hand-pose benchmarks), numpy, millimetres out.

Inputs are keypoints in metres: (..., J, 3) per frame, or (T, J, 3) sequences where a metric is over
time. Every function is tested against hand-computed cases in tests/engine/test_metrics.py.
"""

from __future__ import annotations

import numpy as np

from engine.hand.skeleton import MP21_PARENTS


def _check(pred: np.ndarray, gt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pred, gt = np.asarray(pred, dtype=np.float64), np.asarray(gt, dtype=np.float64)
    if pred.shape != gt.shape or pred.shape[-1] != 3:
        raise ValueError(f"prediction {pred.shape} and ground truth {gt.shape} must both be (..., J, 3)")
    return pred, gt


def per_joint_error(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Euclidean error (..., J) in mm."""
    pred, gt = _check(pred, gt)
    return np.linalg.norm(pred - gt, axis=-1) * 1000.0


def mpjpe(pred: np.ndarray, gt: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Mean per-joint position error in mm; `mask` (..., J) or (...,) selects the entries that count."""
    err = per_joint_error(pred, gt)
    if mask is None:
        return float(err.mean())
    m = np.asarray(mask, dtype=bool)
    if m.shape != err.shape:
        m = np.broadcast_to(m[..., None], err.shape)
    if not m.any():
        return float("nan")
    return float(err[m].mean())


def similarity_align(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Procrustes: the scale, rotation and translation of `pred` (J,3) that best fit `gt`, applied."""
    mu_p, mu_g = pred.mean(0), gt.mean(0)
    p, g = pred - mu_p, gt - mu_g
    u, s, vt = np.linalg.svd(p.T @ g)
    d = np.sign(np.linalg.det(u @ vt))
    fix = np.diag([1.0, 1.0, d])
    rot = u @ fix @ vt
    scale = (s * np.diag(fix)).sum() / max((p**2).sum(), 1e-12)
    return scale * p @ rot + mu_g


def pa_aligned(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Per-frame Procrustes alignment of (..., J, 3) predictions."""
    pred, gt = _check(pred, gt)
    flat_p, flat_g = pred.reshape(-1, *pred.shape[-2:]), gt.reshape(-1, *gt.shape[-2:])
    out = np.stack([similarity_align(p, g) for p, g in zip(flat_p, flat_g, strict=True)])
    return out.reshape(pred.shape)


def pa_mpjpe(pred: np.ndarray, gt: np.ndarray) -> float:
    """MPJPE after per-frame similarity (Procrustes) alignment, mm."""
    return mpjpe(pa_aligned(pred, gt), gt)


def pck_auc(
    pred: np.ndarray, gt: np.ndarray, low_mm: float = 0.0, high_mm: float = 50.0, steps: int = 101
) -> float:
    """Area under the PCK curve between thresholds `low_mm`..`high_mm`, normalised to [0, 1]."""
    err = per_joint_error(pred, gt).ravel()
    thresholds = np.linspace(low_mm, high_mm, steps)
    pck = (err[None, :] <= thresholds[:, None]).mean(axis=1)
    return float(np.trapezoid(pck, thresholds) / (high_mm - low_mm))


def f_score(pred_points: np.ndarray, gt_points: np.ndarray, threshold_mm: float) -> float:
    """F-score at `threshold_mm` of point sets (N,3), (M,3) (Knapitsch et al.; FreiHAND's F@5/F@15)."""
    p, g = np.asarray(pred_points, dtype=np.float64), np.asarray(gt_points, dtype=np.float64)
    d = np.linalg.norm(p[:, None] - g[None], axis=-1) * 1000.0
    precision = (d.min(axis=1) <= threshold_mm).mean()
    recall = (d.min(axis=0) <= threshold_mm).mean()
    return float(0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall))


def _rigid_align_sequence(pred: np.ndarray, gt: np.ndarray, scale: bool) -> np.ndarray:
    """One rigid (or similarity) transform for the whole (T,J,3) sequence, applied to `pred`."""
    p, g = pred.reshape(-1, 3), gt.reshape(-1, 3)
    mu_p, mu_g = p.mean(0), g.mean(0)
    u, s, vt = np.linalg.svd((p - mu_p).T @ (g - mu_g))
    d = np.sign(np.linalg.det(u @ vt))
    fix = np.diag([1.0, 1.0, d])
    rot = u @ fix @ vt
    k = (s * np.diag(fix)).sum() / max(((p - mu_p) ** 2).sum(), 1e-12) if scale else 1.0
    return (k * (p - mu_p) @ rot + mu_g).reshape(pred.shape)


def g_mpjpe(pred: np.ndarray, gt: np.ndarray) -> float:
    """Global MPJPE (mm): the sequence aligned by the first frame's wrist only (paper 4.1, after WHAM)."""
    pred, gt = _check(pred, gt)
    return mpjpe(pred - pred[:1, :1] + gt[:1, :1], gt)


def ga_mpjpe(pred: np.ndarray, gt: np.ndarray) -> float:
    """Global-aligned MPJPE (mm): one similarity transform for the whole sequence."""
    pred, gt = _check(pred, gt)
    return mpjpe(_rigid_align_sequence(pred, gt, scale=True), gt)


def acceleration_error(pred: np.ndarray, gt: np.ndarray, fps: float = 30.0) -> float:
    """Mean norm of the difference of second differences, mm/frame^2 (HMR/VIBE convention, fps unused)."""
    pred, gt = _check(pred, gt)
    if pred.shape[0] < 3:
        return float("nan")
    acc_p = pred[2:] - 2 * pred[1:-1] + pred[:-2]
    acc_g = gt[2:] - 2 * gt[1:-1] + gt[:-2]
    return float(np.linalg.norm(acc_p - acc_g, axis=-1).mean() * 1000.0)


def jitter(joints: np.ndarray, valid: np.ndarray | None = None, scale: float = 1000.0) -> float:
    """Mean acceleration magnitude of a (T,J,D) track: mm/frame^2 for metres (the default `scale`),
    px/frame^2 for pixels with `scale=1`. With `valid` (T,J) bool, only a joint's second differences
    over three valid frames count."""
    j = np.asarray(joints, dtype=np.float64)
    if j.shape[0] < 3:
        return 0.0
    acc = np.linalg.norm(j[2:] - 2 * j[1:-1] + j[:-2], axis=-1)
    if valid is not None:
        ok = np.asarray(valid, dtype=bool)
        acc = acc[ok[2:] & ok[1:-1] & ok[:-2]]
    return float(acc.mean() * scale)


def bone_lengths(joints: np.ndarray) -> np.ndarray:
    """(..., 21, 3) MP21 -> (..., 20) bone lengths (m)."""
    j = np.asarray(joints, dtype=np.float64)
    child = np.arange(1, 21)
    parent = np.asarray(MP21_PARENTS)[1:]
    return np.linalg.norm(j[..., child, :] - j[..., parent, :], axis=-1)


def bone_length_error(pred: np.ndarray, gt: np.ndarray) -> float:
    """Mean absolute bone-length difference, mm."""
    pred, gt = _check(pred, gt)
    return float(np.abs(bone_lengths(pred) - bone_lengths(gt)).mean() * 1000.0)


def bone_length_drift(joints: np.ndarray) -> float:
    """Mean over bones of the std of each bone's length over time, mm (0 for a rigid skeleton)."""
    return float(bone_lengths(joints).std(axis=0).mean() * 1000.0)


def masked_frame_error(pred: np.ndarray, gt: np.ndarray, observed_frames: np.ndarray) -> float:
    """MPJPE (mm) over the frames that were not observed (`observed_frames` (T,) bool)."""
    hidden = ~np.asarray(observed_frames, dtype=bool)
    if not hidden.any():
        return float("nan")
    return mpjpe(np.asarray(pred)[hidden], np.asarray(gt)[hidden])
