"""Condition masks: determinism, each pattern's shape, visibility and padding, config checks."""

from __future__ import annotations

import numpy as np
import pytest

from engine.data.masks import JOINT_GROUPS, MaskConfig, mask_rng, sample_masks

T = 120


def only(channel: str, pattern: str) -> MaskConfig:
    """A config whose `channel` always draws `pattern` (other channels absent)."""
    probs = {"kp2d": {"absent": 1.0}, "kp3d": {"absent": 1.0}, "mano": {"absent": 1.0}}
    probs[channel] = {pattern: 1.0}
    return MaskConfig(**probs)


def test_same_seed_same_masks_and_keys_change_them() -> None:
    a = sample_masks(mask_rng(7, 0, 3), T)
    b = sample_masks(mask_rng(7, 0, 3), T)
    for key, value in a.as_dict().items():
        np.testing.assert_array_equal(value, b.as_dict()[key])
    others = [sample_masks(mask_rng(7, 0, i), T) for i in range(20)]
    assert len({o.kp2d_mask.tobytes() for o in others}) > 10
    assert a.kp2d_mask.shape == (T, 21) and a.kp3d_mask.shape == (T, 21) and a.mano_mask.shape == (T,)
    assert all(m.dtype == bool for m in a.as_dict().values())


def test_absent_and_full() -> None:
    s = sample_masks(mask_rng(0), T, only("kp2d", "full"))
    assert s.kp2d_mask.all() and not s.kp3d_mask.any() and not s.mano_mask.any()
    np.testing.assert_array_equal(s.channels, [True, False, False])
    assert s.patterns == {"kp2d": "full", "kp3d": "absent", "mano": "absent"}


def test_occlusion_hides_joint_groups_over_contiguous_frames() -> None:
    for seed in range(20):
        m = sample_masks(mask_rng(seed), T, only("kp2d", "occlusion")).kp2d_mask
        hidden = ~m
        assert hidden.any()
        # Every hidden joint belongs to some group hidden at that frame, and frames stay (partly) seen.
        for joint in np.flatnonzero(hidden.any(axis=0)):
            runs = np.flatnonzero(np.diff(np.r_[0, hidden[:, joint].astype(int), 0]))
            assert len(runs) // 2 <= 3  # at most occlusion_groups stretches per joint
        assert any(set(np.flatnonzero(hidden[f])) <= set(sum(JOINT_GROUPS.values(), ()))
                   for f in np.flatnonzero(hidden.any(axis=1)))  # fmt: skip


def test_dropout_drops_whole_frames_in_bursts() -> None:
    cfg = only("kp2d", "dropout")
    fractions = []
    for seed in range(30):
        m = sample_masks(mask_rng(seed), T, cfg).kp2d_mask
        frames = m.all(axis=1)
        assert np.array_equal(frames, m.any(axis=1))  # whole frames only
        fractions.append(1 - frames.mean())
    assert 0.03 < np.mean(fractions) < 0.4


def test_gap_is_long_and_contiguous() -> None:
    cfg = MaskConfig(kp2d={"absent": 1}, kp3d={"absent": 1}, mano={"gap": 1}, gap_count=(1, 1))
    for seed in range(10):
        m = sample_masks(mask_rng(seed), T, cfg).mano_mask
        missing = np.flatnonzero(~m)
        assert 10 <= len(missing) <= 90
        assert np.all(np.diff(missing) == 1)


def test_pins_keyframes_and_first_frame_are_sparse() -> None:
    pins = sample_masks(mask_rng(1), T, only("kp3d", "pins")).kp3d_mask
    assert 1 <= pins.any(axis=1).sum() <= 8 and pins.sum(axis=1).max() <= 5
    keys = sample_masks(mask_rng(2), T, only("mano", "keyframes")).mano_mask
    steps = np.diff(np.flatnonzero(keys))
    assert len(set(steps.tolist())) == 1 and 10 <= steps[0] <= 40
    first = sample_masks(mask_rng(3), T, only("mano", "first_frame")).mano_mask
    assert first[0] and first.sum() == 1


def test_visibility_and_padding_are_respected() -> None:
    visible = np.ones((T, 21), bool)
    visible[:, 4] = False
    valid = np.arange(T) < 100
    s = sample_masks(
        mask_rng(0), T, MaskConfig(kp2d={"full": 1}, kp3d={"full": 1}, mano={"full": 1}), visible, valid
    )
    assert not s.kp2d_mask[:, 4].any() and s.kp3d_mask[:99, 4].all()
    assert not s.kp2d_mask[100:].any() and not s.kp3d_mask[100:].any() and not s.mano_mask[100:].any()


def test_default_distribution_mixes_patterns() -> None:
    seen = {"kp2d": set(), "kp3d": set(), "mano": set()}
    unconditional = 0
    for i in range(300):
        s = sample_masks(mask_rng(11, i), T)
        for channel, pattern in s.patterns.items():
            seen[channel].add(pattern)
        unconditional += not s.channels.any()
    assert seen["kp2d"] == {"absent", "full", "occlusion", "dropout", "gap", "mixed"}
    assert seen["mano"] == {"absent", "full", "gap", "keyframes", "first_frame"}
    assert 0 < unconditional < 60  # all channels absent: the CFG null condition, a few percent


def test_config_validation_and_round_trip() -> None:
    with pytest.raises(ValueError, match="unknown patterns"):
        MaskConfig(kp2d={"pins": 1.0})
    with pytest.raises(ValueError, match="positive sum"):
        MaskConfig(mano={"absent": 0.0})
    with pytest.raises(ValueError, match="gap_length"):
        MaskConfig(gap_length=(50, 10))
    with pytest.raises(ValueError, match="unknown keys"):
        MaskConfig.from_dict({"nope": 1})
    cfg = MaskConfig(gap_length=(5, 20))
    assert MaskConfig.from_dict(cfg.to_dict()) == cfg
