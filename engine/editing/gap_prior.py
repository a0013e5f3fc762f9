"""Gaps in keypoint tracks filled by Gaussian-process regression: the prior behind 3D-keypoint gaps
(`KEYPOINT_PRIORS` also holds the plain cubic spline per keypoint, `RefineWeights.gap_splines`).

Each coordinate of a joint's track is a Gaussian process over time plus an unknown linear trend
(universal kriging); an unknown frame takes the posterior mean given the known frames around it.
The covariance is a sum of Matern-5/2 components (`COMPONENTS`): a short one for the hand's
articulation and small moves, a long one for reaches. A natural cubic spline is the same estimator
under an integrated-Wiener prior, which lets velocity wander without bound; this prior knows how
fast hand motion decorrelates, so deep in a gap it bends towards the trend of the motion around the
gap instead of swinging out. The components were chosen on real training windows
(`benchmarks/sweep_gap_kernel.py`, docs/results/gap_kernel_sweep.json); the model card reports the
prior on the real validation split.

Times are frames of the model's 30 fps timeline (refine works there).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.interpolate import CubicSpline

# (length scale in frames at 30 fps, variance): best of the sweep above on real training windows,
# 0.74x / 0.90x / 0.93x the cubic spline over gaps of 10 / 30 / 60 frames.
COMPONENTS: tuple[tuple[float, float], ...] = ((20.0, 1.0), (60.0, 2.0))
NEIGHBOURHOOD = 240  # known frames this far from an unknown one are read: the covariance there is < 0.5%
BLOCK_SPAN = 64  # unknown frames within this span share one solve (many short dropouts stay cheap)
JITTER = 1e-6  # of the covariance's peak, on the diagonal: captures are smooth, a larger nugget blurred
TREND_SCALE = 60.0  # frames: the linear trend's time unit (conditioning only)


def matern52(lags: np.ndarray, length_scale: float) -> np.ndarray:
    """Matern-5/2 correlation at time lags (frames); 1 at lag 0."""
    r = np.sqrt(5.0) * np.abs(np.asarray(lags, dtype=np.float64)) / length_scale
    return (1.0 + r + r * r / 3.0) * np.exp(-r)


def covariance(lags: np.ndarray, components: tuple[tuple[float, float], ...] = COMPONENTS) -> np.ndarray:
    """The prior's covariance at time lags (frames), up to a scale the posterior mean ignores."""
    return sum(variance * matern52(lags, scale) for scale, variance in components)


def _blocks(frames: np.ndarray) -> list[np.ndarray]:
    """Sorted unknown frames -> groups spanning at most BLOCK_SPAN frames."""
    out, start = [], 0
    for i in range(1, len(frames) + 1):
        if i == len(frames) or frames[i] - frames[start] >= BLOCK_SPAN:
            out.append(frames[start:i])
            start = i
    return out


def fill(
    values: np.ndarray,
    known: np.ndarray,
    frames: np.ndarray,
    components: tuple[tuple[float, float], ...] = COMPONENTS,
) -> np.ndarray:
    """values (T,C) with `known` (T,) bool -> (len(frames), C) posterior means at `frames`.

    Needs at least two known frames; `frames` should lie between the first and the last known one
    (beyond them the linear trend is extrapolated)."""
    values = np.asarray(values, dtype=np.float64)
    known = np.asarray(known, dtype=bool)
    frames = np.asarray(frames, dtype=int)
    order = np.argsort(frames, kind="stable")
    times = np.flatnonzero(known)
    if len(times) < 2:
        raise ValueError("a Gaussian-process fill needs at least two known frames")
    out = np.zeros((len(frames), values.shape[1]))
    peak = sum(variance for _, variance in components)
    done = 0
    for block in _blocks(frames[order]):
        near = times[(times >= block[0] - NEIGHBOURHOOD) & (times <= block[-1] + NEIGHBOURHOOD)]
        centre = (block[0] + block[-1]) / 2.0
        if len(near) < 2:  # a gap far longer than the neighbourhood: the nearest known frames
            near = np.sort(times[np.argsort(np.abs(times - centre), kind="stable")[:2]])
        cov = covariance(near[:, None] - near[None], components) + JITTER * peak * np.eye(len(near))
        trend = np.stack([np.ones(len(near)), (near - centre) / TREND_SCALE], axis=1)
        system = np.block([[cov, trend], [trend.T, np.zeros((2, 2))]])
        rhs = np.concatenate(
            [
                covariance(near[:, None] - block[None], components),
                np.stack([np.ones(len(block)), (block - centre) / TREND_SCALE]),
            ]
        )
        weights = np.linalg.solve(system, rhs)[: len(near)]  # (n, F): each column sums to 1
        out[order[done : done + len(block)]] = weights.T @ values[near]
        done += len(block)
    return out


def keypoint_fill(kp3d: np.ndarray, mask: np.ndarray, frames: np.ndarray) -> np.ndarray | None:
    """(F,21,3) Gaussian-process means of each joint through the frames where it is observed, at
    `frames`; None when a joint is observed on fewer than two frames."""
    mask = np.asarray(mask, dtype=bool)
    if (mask.sum(axis=0) < 2).any():
        return None
    out = np.zeros((len(frames), 21, 3))
    # Joints observed on the same frames share one solve (usually all 21).
    patterns: dict[bytes, list[int]] = {}
    for j in range(21):
        patterns.setdefault(mask[:, j].tobytes(), []).append(j)
    for joints in patterns.values():
        values = np.asarray(kp3d, dtype=np.float64)[:, joints].reshape(len(mask), -1)
        out[:, joints] = fill(values, mask[:, joints[0]], frames).reshape(len(frames), len(joints), 3)
    return out


def keypoint_spline(kp3d: np.ndarray, mask: np.ndarray, frames: np.ndarray) -> np.ndarray | None:
    """(F,21,3) natural cubic splines of each joint through the frames where it is observed, at
    `frames`; None when a joint is observed on fewer than two frames."""
    out = np.zeros((len(frames), 21, 3))
    for j in range(21):
        times = np.flatnonzero(mask[:, j])
        if len(times) < 2:
            return None
        out[:, j] = CubicSpline(times, kp3d[times, j], axis=0, bc_type="natural")(frames)
    return out


# `RefineWeights.gap_splines` -> the keypoint prior that fills a gap bounded by 3D keypoints.
KEYPOINT_PRIORS: dict[str, Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray | None]] = {
    "keypoints": keypoint_spline,
    "keypoints_gp": keypoint_fill,
}
