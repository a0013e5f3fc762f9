"""The learned gap refiner (engine/model/gap_refiner.py) and its training data (engine/train/gap.py),
headless: what it may change, how long clips are windowed, its checkpoint, and the shipped weights."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.editing import gap_prior
from engine.model.checkpoint import CheckpointError, save_checkpoint
from engine.model.gap_refiner import (
    GapRefiner,
    GapRefinerConfig,
    load_gap_refiner,
    observation_distance,
    save_gap_refiner,
)
from engine.train.gap import RATIO_FLOOR, GapObjective, augment, sample_holes
from tests.conftest import REPO_ROOT

SHIPPED = REPO_ROOT / "assets" / "model" / "unihand_gap.safetensors"
TINY = GapRefinerConfig(dim=16, heads=2, ff=32, layers=1, dropout=0.0)


def _randomised(config: GapRefinerConfig = TINY, seed: int = 0) -> GapRefiner:
    """A refiner whose output layer is not the zero it starts from."""
    torch.manual_seed(seed)
    refiner = GapRefiner(config).eval()
    with torch.no_grad():
        refiner.out.weight.normal_(0.0, 0.5)
        refiner.out.bias.normal_(0.0, 0.5)
    return refiner


def _track(t: int, seed: int = 0) -> np.ndarray:
    """A smooth (T,21,3) keypoint track in metres, half a metre in front of the camera."""
    rng = np.random.default_rng(seed)
    base = rng.normal(0.0, 0.04, (21, 3)) + np.array([0.0, 0.0, 0.5])
    times = np.arange(t)[:, None, None]
    freq = rng.uniform(0.02, 0.08, (1, 21, 3))
    return base + 0.05 * np.sin(2 * np.pi * freq * times + rng.uniform(0, 6, (1, 21, 3)))


def test_observation_distance_by_hand() -> None:
    mask = torch.tensor([[[True], [False], [False], [False], [True], [False]]])
    valid = torch.tensor([[True, True, True, True, True, False]])
    assert observation_distance(mask, valid)[0, :, 0].tolist() == [0, 1, 2, 1, 0, 1]
    never = torch.zeros(1, 6, 1, dtype=torch.bool)
    assert observation_distance(never, valid)[0, :, 0].tolist() == [6] * 6


def test_untrained_refiner_is_the_prior_and_known_entries_never_move() -> None:
    kp = _track(120)
    mask = np.ones((120, 21), dtype=bool)
    mask[40:70] = False
    mask[80:95, [4, 8]] = False
    frames = np.flatnonzero(~mask.all(axis=1))
    prior = gap_prior.keypoint_fill(kp, mask, frames)
    prior = np.where(mask[frames][..., None], kp[frames], prior)  # observed entries: exact
    assert np.array_equal(GapRefiner(TINY).fill(kp, mask, frames), prior)  # zero-initialised
    refiner = _randomised()
    out = refiner.fill(kp, mask, frames)
    assert not np.allclose(out, prior, atol=1e-4)
    observed = mask[frames]
    assert np.array_equal(out[observed], kp[frames][observed])  # observations come back exact
    # Padding and known entries get no correction, whatever the weights.
    filled = torch.tensor(np.where(mask[..., None], kp, 0.0), dtype=torch.float32)[None]
    valid = torch.ones(1, 120, dtype=torch.bool)
    valid[0, 110:] = False
    correction = refiner(filled, torch.from_numpy(mask)[None], valid)
    assert torch.all(correction[0][torch.from_numpy(mask)] == 0) and torch.all(correction[0, 110:] == 0)


def test_correction_ignores_where_the_hand_is() -> None:
    """Positions enter relative to the window's centre: moving the whole window moves the fill."""
    kp = _track(120, seed=1)
    mask = np.ones((120, 21), dtype=bool)
    mask[50:80] = False
    frames = np.arange(50, 80)
    refiner = _randomised(seed=1)
    shift = np.array([0.3, -0.2, 0.4])
    assert np.allclose(
        refiner.fill(kp + shift, mask, frames), refiner.fill(kp, mask, frames) + shift, atol=1e-5
    )
    # NaN in unknown entries is ignored.
    holes = kp.copy()
    holes[~mask] = np.nan
    assert np.allclose(refiner.fill(holes, mask, frames), refiner.fill(kp, mask, frames))


def test_correction_turns_with_the_camera() -> None:
    """The window is read in its own hand frame: the same motion seen from a turned camera gets the
    same correction, turned."""
    from scipy.spatial.transform import Rotation

    kp = _track(120, seed=4)
    mask = np.ones((120, 21), dtype=bool)
    mask[30:70] = False
    mask[75:90, [3, 4]] = False
    frames = np.flatnonzero(~mask.all(axis=1))
    refiner = _randomised(seed=4)
    out = refiner.fill(kp, mask, frames)
    for seed in range(3):
        rot = Rotation.random(random_state=seed).as_matrix()
        turned = refiner.fill(kp @ rot.T, mask, frames)
        assert np.allclose(turned, out @ rot.T, atol=2e-5)


def test_long_clips_are_windowed_per_gap() -> None:
    """Each run of incomplete frames gets its own window centred on it: a gap in a 400-frame clip
    is corrected by the network reading the 120 frames around it; a run longer than
    `max_gap`, or one touching the clip's ends, keeps the prior."""
    kp = _track(400, seed=2)
    mask = np.ones((400, 21), dtype=bool)
    mask[100:130] = False  # refined
    mask[200:300] = False  # longer than max_gap (90): the prior alone
    mask[390:] = False  # not bounded on the right
    mask[390:, 0] = True
    frames = np.flatnonzero(~mask.all(axis=1))
    refiner = _randomised(seed=2)
    out = refiner.fill(kp, mask, frames)
    prior = gap_prior.keypoint_fill(kp, mask, frames)
    first = np.isin(frames, np.arange(100, 130))
    filled = np.where(mask[..., None], kp, 0.0)
    filled[frames] = np.where(mask[frames][..., None], kp[frames], prior)
    with torch.no_grad():  # the window centred on the gap: frames 55..174
        window = (
            refiner(
                torch.tensor(filled[55:175], dtype=torch.float32)[None],
                torch.from_numpy(mask[55:175])[None],
                torch.ones(1, 120, dtype=torch.bool),
            )[0]
            .double()
            .numpy()
        )
    assert np.allclose(out[first] - prior[first], window[45:75], atol=1e-6)
    assert not np.allclose(out[first], prior[first], atol=1e-4)
    # Elsewhere the prior, with observed entries exact.
    assert np.array_equal(out[~first], np.where(mask[frames][..., None], kp[frames], prior)[~first])
    # A clip shorter than the window is read whole (padded).
    short = refiner.fill(kp[:60], mask[:60].copy() | True, np.zeros(0, dtype=int))
    assert short.shape == (0, 21, 3)
    m = np.ones((60, 21), dtype=bool)
    m[20:35] = False
    assert np.isfinite(refiner.fill(kp[:60], m, np.arange(20, 35))).all()
    assert refiner.fill(kp, np.eye(400, 21, dtype=bool), frames) is None  # joints seen once


def test_checkpoint_round_trip_and_clear_errors(tmp_path) -> None:
    refiner = _randomised()
    path = tmp_path / "gap.safetensors"
    save_gap_refiner(path, refiner, {"steps": 1})
    loaded = load_gap_refiner(path)
    assert loaded.config == TINY and not loaded.training
    assert all(torch.equal(loaded.state_dict()[k], v) for k, v in refiner.state_dict().items())
    other = tmp_path / "other.safetensors"
    save_checkpoint(other, "gap", TINY, refiner.state_dict(), {"gap_format": "unihand.gap/0"})
    with pytest.raises(CheckpointError, match="gap refiner format"):
        load_gap_refiner(other)
    with pytest.raises(CheckpointError, match="expected 'gap'"):
        save_checkpoint(other, "vae", TINY, refiner.state_dict(), {})
        load_gap_refiner(other)
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        load_gap_refiner(tmp_path / "missing.safetensors")


@pytest.mark.parametrize("seed", range(20))
def test_training_holes_are_bounded_on_both_sides(seed: int) -> None:
    rng = np.random.default_rng(seed)
    length = int(rng.integers(40, 121))
    mask = sample_holes(rng, length, min(90, length - 10))
    assert (~mask).any()
    assert mask[:2].all() and mask[-2:].all()
    runs = np.diff(np.concatenate([[1], mask.all(axis=1).astype(int), [1]]))
    assert (np.flatnonzero(runs == 1) - np.flatnonzero(runs == -1)).max() <= 90


def test_augmentation_moves_fill_and_truth_together_and_the_loss_is_relative() -> None:
    torch.manual_seed(0)
    kp = torch.tensor(_track(120, seed=3), dtype=torch.float32)[None].repeat(64, 1, 1, 1)
    valid = torch.ones(64, 120, dtype=torch.bool)
    filled, truth = augment(kp + 0.01, kp)
    sign = torch.sign(truth[:, 0, 0, 0] / kp[:, 0, 0, 0])  # per window: mirrored in x or not
    flip = torch.stack([sign, torch.ones(64), torch.ones(64)], dim=-1)[:, None, None]
    assert torch.allclose(truth, kp * flip) and torch.allclose(filled, (kp + 0.01) * flip)
    assert 10 < (sign < 0).sum() < 54  # about half
    mask = torch.ones(64, 120, 21, dtype=torch.bool)
    mask[:, 30:60] = False
    out = GapObjective(GapRefiner(TINY)).eval()(
        {"filled": kp + 0.01, "truth": kp, "mask": mask, "valid": valid}
    )
    # The untrained refiner is the prior: the loss is the prior's error over (itself + the floor).
    assert torch.isclose(out["ratio_to_prior"], torch.tensor(1.0))
    assert out["gap_mm"] == pytest.approx(out["prior_mm"].item())
    assert out["loss"].item() == pytest.approx(0.01 * 3**0.5 / (0.01 * 3**0.5 + RATIO_FLOOR), rel=1e-4)


@pytest.mark.skipif(not SHIPPED.is_file(), reason="no shipped gap refiner")
def test_shipped_refiner_loads_and_keeps_smooth_motion_near_the_prior() -> None:
    """On motion unlike any hand's (independent sinusoids per coordinate), the trained correction
    does no harm: within 10% of the prior's own error over 30-frame gaps, on average over 10 tracks
    (98.7 vs 101.6 mm when written: slightly better)."""
    refiner = load_gap_refiner(SHIPPED)
    assert refiner.config == GapRefinerConfig()
    errors = {"refined": [], "prior": []}
    for seed in range(10):
        kp = _track(120, seed=10 + seed)
        mask = np.ones((120, 21), dtype=bool)
        mask[45:75] = False
        frames = np.arange(45, 75)
        truth = kp[frames]
        errors["refined"].append(np.linalg.norm(refiner.fill(kp, mask, frames) - truth, axis=-1).mean())
        errors["prior"].append(
            np.linalg.norm(gap_prior.keypoint_fill(kp, mask, frames) - truth, axis=-1).mean()
        )
    assert np.mean(errors["refined"]) < 1.1 * np.mean(errors["prior"])


def test_the_infiller_loads_the_refiner_named_by_the_environment(tmp_path, monkeypatch) -> None:
    """UNIHAND_GAP names the refiner (which must load) or switches it off; without it, the shipped
    one when installed."""
    from engine.editing.infill import DEFAULT_GAP, load_gap_refiner_if_present

    path = tmp_path / "gap.safetensors"
    save_gap_refiner(path, _randomised(), {"steps": 1})
    monkeypatch.setenv("UNIHAND_GAP", str(path))
    assert load_gap_refiner_if_present().config == TINY
    monkeypatch.setenv("UNIHAND_GAP", str(tmp_path / "missing.safetensors"))
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        load_gap_refiner_if_present()
    for off in ("none", "OFF"):
        monkeypatch.setenv("UNIHAND_GAP", off)
        assert load_gap_refiner_if_present() is None
    monkeypatch.delenv("UNIHAND_GAP")
    assert (load_gap_refiner_if_present() is None) == (not DEFAULT_GAP.is_file())


def test_many_gaps_are_batched_in_chunks_and_short_dropouts_keep_the_prior(monkeypatch) -> None:
    from engine.model import gap_refiner

    kp = _track(1500, seed=5)
    mask = np.ones((1500, 21), dtype=bool)
    for start in range(20, 1450, 30):  # 48 gaps of 6 frames: two chunks of windows
        mask[start : start + 6] = False
    mask[1480:1483] = False  # a 3-frame dropout: shorter than any hole it was trained on
    frames = np.flatnonzero(~mask.all(axis=1))
    refiner = _randomised(seed=5)
    chunked = refiner.fill(kp, mask, frames)
    monkeypatch.setattr(gap_refiner, "CHUNK", 1000)
    assert np.allclose(chunked, refiner.fill(kp, mask, frames), atol=1e-6)
    prior = gap_prior.keypoint_fill(kp, mask, frames)
    short = frames >= 1480
    assert np.array_equal(chunked[short], prior[short])
    assert not np.allclose(chunked[~short], prior[~short], atol=1e-4)
