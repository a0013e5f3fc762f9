"""The UniHand networks: RoPE, joint VAE, denoiser, features, sampler, checkpoints."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from engine.diffusion.sampler import Inpaint, SamplingCancelled, ddim_sample, guided_x0
from engine.model.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from engine.model.denoiser import DenoiserConditions, LatentDenoiser
from engine.model.features import motion_features, motion_from_features
from engine.model.rope import apply_rope, rope_angles, rope_angles_3d
from engine.model.unihand import UniHand
from engine.model.vae import JointVAE
from tests.engine.model_fixtures import TINY


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def test_rope_scores_depend_only_on_relative_position() -> None:
    q, k = torch.randn(1, 16), torch.randn(1, 16)

    def score(i: int, j: int) -> float:
        qi = apply_rope(q, rope_angles(torch.tensor([float(i)]), 16))
        kj = apply_rope(k, rope_angles(torch.tensor([float(j)]), 16))
        return float((qi * kj).sum())

    assert score(3, 1) == pytest.approx(score(10, 8), abs=1e-4)
    assert score(3, 1) != pytest.approx(score(3, 2), abs=1e-3)
    # Rotation keeps the norm.
    rotated = apply_rope(q, rope_angles(torch.tensor([5.0]), 16))
    assert float(rotated.norm()) == pytest.approx(float(q.norm()), rel=1e-5)


def test_rope_3d_splits_channels_per_axis() -> None:
    zero = torch.zeros(1)
    angles = rope_angles_3d(zero, torch.ones(1), zero, 32)
    assert angles.shape == (1, 16)
    # 32 channels -> 12 (time) + 10 (height) + 10 (width): only the height part moves.
    assert (
        torch.all(angles[0, :6] == 0) and torch.any(angles[0, 6:11] != 0) and torch.all(angles[0, 11:] == 0)
    )


def test_motion_features_round_trip() -> None:
    pose = torch.randn(4, 7, 48) * 0.5
    transl = torch.randn(4, 7, 3) * 0.1 + torch.tensor([0.0, 0.0, 0.5])
    feats = motion_features(pose, transl, TINY)
    assert feats.shape == (4, 7, 99)
    p2, t2 = motion_from_features(feats, TINY)
    assert torch.allclose(motion_features(p2, t2, TINY), feats, atol=1e-5)
    assert torch.allclose(t2, transl, atol=1e-6)


def test_vae_sequential_decode_matches_teacher_forcing_on_its_own_output() -> None:
    vae = JointVAE(TINY).eval()
    motion = torch.randn(2, 120, 99)
    enc = vae.encode(motion)
    assert enc.mu.shape == (2, 120, TINY.latent_dim) and enc.global_mu.shape == (2, TINY.latent_dim)
    with torch.no_grad():
        out = vae.decode(enc.mu, enc.global_mu)
        again = vae.decode_teacher_forced(enc.mu, enc.global_mu, out)
    assert torch.allclose(out, again, atol=1e-5)
    with pytest.raises(ValueError, match="multiple of 30"):
        vae.decode(enc.mu[:, :50], enc.global_mu)


def test_staggered_decode_crossfades_a_half_segment_shifted_decode() -> None:
    vae = JointVAE(TINY).eval()
    seg, half = TINY.segment, TINY.segment // 2
    lat, glob = torch.randn(2, 120, TINY.latent_dim), torch.randn(2, TINY.latent_dim)
    with torch.no_grad():
        plain = vae.decode(lat, glob)
        smooth = vae.decode(lat, glob, staggered=True)
        # The shifted decode: its first segment anchored on the plain decode's frame before it.
        shifted = vae._decode_from(lat, glob, vae.anchor_in(plain[:, half - 1]), half, 120 - half)
    # Before the first shifted segment and after the last one, only the plain decode exists.
    assert torch.equal(smooth[:, :half], plain[:, :half]) and torch.equal(smooth[:, -half:], plain[:, -half:])
    # On either side of a plain segment boundary the shifted decode weighs 29/30 (it is mid-segment).
    for frame in (seg - 1, seg, 2 * seg):
        expected = (plain[:, frame] + 29 * shifted[:, frame - half]) / 30
        assert torch.allclose(smooth[:, frame], expected, atol=1e-5)
    # At a shifted segment's boundary, the plain decode weighs 29/30.
    expected = (29 * plain[:, seg + half] + shifted[:, seg]) / 30
    assert torch.allclose(smooth[:, seg + half], expected, atol=1e-5)
    # A single segment has no seam to hide.
    with torch.no_grad():
        assert torch.equal(vae.decode(lat[:, :seg], glob, True), vae.decode(lat[:, :seg], glob))


def test_padded_frames_do_not_change_valid_latents() -> None:
    vae = JointVAE(TINY).eval()
    motion = torch.randn(1, 120, 99)
    valid = torch.zeros(1, 120, dtype=torch.bool)
    valid[:, :90] = True
    a = vae.encode(motion, valid).mu[:, :90]
    motion2 = motion.clone()
    motion2[:, 90:] = 100.0
    b = vae.encode(motion2, valid).mu[:, :90]
    assert torch.allclose(a, b, atol=1e-5)


def test_denoiser_null_tokens_replace_unobserved_frames_and_vision() -> None:
    den = LatentDenoiser(TINY).eval()
    x = torch.randn(2, 121, TINY.latent_dim)
    t = torch.tensor([3, 40])
    lat = torch.randn(2, 120, TINY.latent_dim)
    observed = torch.zeros(2, 120, dtype=torch.bool)
    observed[:, :50] = True
    cond = DenoiserConditions(latents={"kp3d": lat}, observed={"kp3d": observed})
    lat2 = lat.clone()
    lat2[:, 50:] = 7.0  # unobserved: must be ignored
    cond2 = DenoiserConditions(latents={"kp3d": lat2}, observed={"kp3d": observed})
    with torch.no_grad():
        assert torch.allclose(den(x, t, cond), den(x, t, cond2), atol=1e-6)
        # No vision equals vision present but observed nowhere (T copies of the null token).
        vis = DenoiserConditions(
            vision=torch.randn(2, 120, TINY.vision_dim), vision_observed=torch.zeros(2, 120, dtype=torch.bool)
        )
        assert torch.allclose(den(x, t, DenoiserConditions()), den(x, t, vis), atol=1e-5)
        # A fully unobserved modality equals the modality absent.
        none = DenoiserConditions(latents={"kp3d": lat}, observed={"kp3d": torch.zeros_like(observed)})
        assert torch.allclose(den(x, t, none), den(x, t, DenoiserConditions()), atol=1e-6)


def test_guidance_scale_one_is_the_conditional_pass_and_scales_extrapolate() -> None:
    den = LatentDenoiser(TINY).eval()
    x = torch.randn(1, 121, TINY.latent_dim)
    t = torch.tensor([10])
    cond = DenoiserConditions(
        latents={"kp2d": torch.randn(1, 120, TINY.latent_dim)},
        observed={"kp2d": torch.ones(1, 120, dtype=torch.bool)},
    )
    with torch.no_grad():
        plain = den(x, t, cond)
        assert torch.allclose(guided_x0(den, x, t, cond, {"kp2d": 1.0}), plain, atol=1e-6)
        uncond = den(x, t, DenoiserConditions())
        g = guided_x0(den, x, t, cond, {"kp2d": 3.0})
        assert torch.allclose(g, uncond + 3.0 * (plain - uncond), atol=1e-5)


def test_guidance_interval_guides_only_the_first_steps() -> None:
    den = LatentDenoiser(TINY).eval()
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():  # away from the zero-initialised (identity) blocks, so conditions matter
        for p in den.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=gen))
    shape = (1, 121, TINY.latent_dim)
    cond = DenoiserConditions(
        latents={"kp2d": torch.randn(1, 120, TINY.latent_dim, generator=gen)},
        observed={"kp2d": torch.ones(1, 120, dtype=torch.bool)},
    )
    batches: list[int] = []
    den.register_forward_hook(lambda _m, args, _out: batches.append(args[0].shape[0]))

    def run(guided_steps: int | None, scale: float = 3.0) -> torch.Tensor:
        batches.clear()
        return ddim_sample(den, shape, cond, 4, guidance={"kp2d": scale},
                           generator=torch.Generator().manual_seed(1), guided_steps=guided_steps)  # fmt: skip

    full = run(None)
    assert batches == [2, 2, 2, 2]  # unconditional + kp2d-only passes in one batch
    part = run(2)
    assert batches == [2, 2, 1, 1]  # then the one conditional pass
    none = run(0)
    assert batches == [1, 1, 1, 1]
    assert torch.allclose(none, run(None, scale=1.0), atol=1e-6)
    assert not torch.allclose(part, full, atol=1e-4) and not torch.allclose(part, none, atol=1e-4)


def test_ddim_is_deterministic_inpaints_known_latents_reports_and_cancels() -> None:
    den = LatentDenoiser(TINY).eval()
    shape = (2, 121, TINY.latent_dim)
    calls: list[tuple[int, int]] = []
    a = ddim_sample(den, shape, DenoiserConditions(), 5, generator=torch.Generator().manual_seed(3),
                    progress=lambda i, n, _x: calls.append((i, n)))  # fmt: skip
    b = ddim_sample(den, shape, DenoiserConditions(), 5, generator=torch.Generator().manual_seed(3))
    c = ddim_sample(den, shape, DenoiserConditions(), 5, generator=torch.Generator().manual_seed(4))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert calls == [(i, 5) for i in range(1, 6)]
    known = torch.zeros(2, 121, dtype=torch.bool)
    known[:, 10:20] = True
    target = torch.randn(shape)
    out = ddim_sample(den, shape, DenoiserConditions(), 5, inpaint=Inpaint(target, known))
    assert torch.equal(out[known], target[known])
    with pytest.raises(SamplingCancelled):
        ddim_sample(den, shape, DenoiserConditions(), 5, should_cancel=lambda: True)


def _save_pair(tmp_path: Path) -> tuple[Path, Path, UniHand]:
    model = UniHand(TINY)
    model.frame_std.fill_(2.0)
    vae = save_checkpoint(tmp_path / "vae.safetensors", "vae", TINY, model.vae.state_dict(), {"steps": 1})
    state = dict(model.denoiser.state_dict())
    for k in ("frame_mean", "frame_std", "global_mean", "global_std"):
        state[k] = getattr(model, k)
    den = save_checkpoint(tmp_path / "den.safetensors", "denoiser", TINY, state)
    return vae, den, model


def test_checkpoint_round_trip(tmp_path: Path) -> None:
    vae, den, model = _save_pair(tmp_path)
    loaded = UniHand.load(vae, den)
    assert loaded.config == TINY
    assert torch.equal(loaded.frame_std, model.frame_std)
    for k, v in model.vae.state_dict().items():
        assert torch.equal(loaded.vae.state_dict()[k], v)
    config, _, info = load_checkpoint(vae, "vae")
    assert config == TINY and info == {"steps": 1}


def test_checkpoint_errors_are_clear(tmp_path: Path) -> None:
    vae, den, model = _save_pair(tmp_path)
    with pytest.raises(CheckpointError, match="expected 'denoiser'"):
        UniHand.load(vae, vae)
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        UniHand.load(tmp_path / "nope.safetensors", den)
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"\x00" * 64)
    with pytest.raises(CheckpointError, match="not a readable"):
        load_checkpoint(junk, "vae")
    other = TINY.__class__.from_dict({**TINY.to_dict(), "latent_dim": 4})
    with pytest.raises(CheckpointError, match="config differs"):
        load_checkpoint(vae, "vae", expect_config=other)
    # Weights of another architecture under a matching header.
    bad = save_checkpoint(tmp_path / "bad.safetensors", "vae", TINY, {"x": torch.zeros(1)})
    with pytest.raises(CheckpointError, match="do not fit"):
        UniHand.load(bad, den)
    # A newer format version.
    from safetensors.torch import save_file

    newer = tmp_path / "newer.safetensors"
    save_file({"x": torch.zeros(1)}, str(newer), metadata={"unihand": '{"format": "unihand.model/9"}'})
    with pytest.raises(CheckpointError, match="this version reads"):
        load_checkpoint(newer, "vae")
    _ = np, model
