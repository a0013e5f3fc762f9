"""The Gaussian-process gap prior (engine/editing/gap_prior.py), headless and without the model."""

from __future__ import annotations

import numpy as np
import pytest

from engine.editing import gap_prior


def test_covariance_against_hand_computed_values() -> None:
    s5 = np.sqrt(5.0)
    expected = [1.0, (1 + s5 + 5 / 3) * np.exp(-s5), (1 + 2 * s5 + 20 / 3) * np.exp(-2 * s5)]
    assert np.allclose(gap_prior.matern52(np.array([0.0, 20.0, -40.0]), 20.0), expected)
    both = gap_prior.covariance(np.array([0.0, 20.0]), ((20.0, 1.0), (10.0, 2.0)))
    assert np.allclose(both, [3.0, expected[1] + 2 * expected[2]])


def test_fill_equals_the_generalised_least_squares_posterior_mean() -> None:
    """The saddle-point system is universal kriging; check it against the textbook GLS form:
    F_g b + k_g^T C^-1 (y - F b), b = (F^T C^-1 F)^-1 F^T C^-1 y."""
    rng = np.random.default_rng(3)
    t = 40
    values = rng.normal(size=(t, 2)).cumsum(axis=0)
    known = np.ones(t, dtype=bool)
    known[12:25] = False
    frames = np.flatnonzero(~known)
    to = np.flatnonzero(known)
    centre = (frames[0] + frames[-1]) / 2
    peak = gap_prior.covariance(np.zeros(1))[0]
    cov = gap_prior.covariance(to[:, None] - to[None]) + gap_prior.JITTER * peak * np.eye(len(to))
    f = np.stack([np.ones(len(to)), (to - centre) / 7.0], 1)  # the trend's time unit is immaterial
    fg = np.stack([np.ones(len(frames)), (frames - centre) / 7.0], 1)
    ci = np.linalg.inv(cov)
    b = np.linalg.solve(f.T @ ci @ f, f.T @ ci @ values[to])
    expected = fg @ b + gap_prior.covariance(frames[:, None] - to[None]) @ ci @ (values[to] - f @ b)
    assert np.allclose(gap_prior.fill(values, known, frames), expected, atol=1e-9)


def test_linear_motion_is_filled_exactly_and_frame_order_is_kept() -> None:
    t = np.arange(1800, dtype=np.float64)
    values = np.stack([0.01 * t - 1.0, np.full(1800, 0.4), -0.002 * t], axis=1)
    known = np.ones(1800, dtype=bool)
    known[20:23] = False
    known[30:280] = False
    known[283:300:2] = False  # dropouts on every other frame, to the end
    known[299] = True
    known[1200:] = False  # a longer run than the neighbourhood either side
    known[-1] = True
    frames = np.flatnonzero(~known)[::-1]  # any order
    out = gap_prior.fill(values, known, frames)
    assert out.shape == (len(frames), 3)
    assert np.allclose(out, values[frames], atol=1e-9)
    with pytest.raises(ValueError, match="two known frames"):
        gap_prior.fill(values, np.eye(1800, dtype=bool)[0], frames)


def test_it_beats_a_cubic_spline_on_motion_drawn_from_its_own_prior() -> None:
    """The posterior mean is the best predictor for paths drawn from the prior; a natural cubic
    spline through the same frames must do worse on average over 40 seeded paths."""
    from scipy.interpolate import CubicSpline

    t = 120
    lags = np.arange(t)[:, None] - np.arange(t)[None]
    chol = np.linalg.cholesky(gap_prior.covariance(lags) + 1e-8 * np.eye(t))
    rng = np.random.default_rng(0)
    known = np.ones(t, dtype=bool)
    known[45:75] = False
    frames, times = np.flatnonzero(~known), np.flatnonzero(known)
    gp_err, cubic_err = [], []
    for _ in range(40):
        path = chol @ rng.normal(size=(t, 3)) + np.linspace(0, 1, t)[:, None] * rng.normal(size=3)
        gp_err.append(np.linalg.norm(gap_prior.fill(path, known, frames) - path[frames], axis=1).mean())
        cubic = CubicSpline(times, path[times], axis=0, bc_type="natural")(frames)
        cubic_err.append(np.linalg.norm(cubic - path[frames], axis=1).mean())
    assert np.mean(gp_err) < 0.9 * np.mean(cubic_err)  # 0.84x with this seed


def test_keypoint_fill_handles_joints_observed_on_different_frames() -> None:
    rng = np.random.default_rng(1)
    kp = rng.normal(size=(60, 21, 3)).cumsum(axis=0) * 0.01
    mask = np.ones((60, 21), dtype=bool)
    mask[20:30] = False
    mask[30:35, 8] = False  # a fingertip missing longer than the rest
    frames = np.arange(20, 35)
    out = gap_prior.keypoint_fill(kp, mask, frames)
    assert out is not None and out.shape == (15, 21, 3)
    for j in (0, 8):
        alone = gap_prior.fill(kp[:, j], mask[:, j], frames)
        assert np.allclose(out[:, j], alone)
    once = mask.copy()
    once[1:, 4] = False
    assert gap_prior.keypoint_fill(kp, once, frames) is None
