"""The UniHand model as one object: joint VAE + latent denoiser + latent statistics, with the
conversions between window tensors (the shard layout of docs/data.md) and the networks' inputs.

Training (engine/train) and inference (engine/editing) both go through `condition_inputs`, so a
condition is encoded the same way in both.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import torch
from torch import nn

from engine.model.checkpoint import CheckpointError, load_checkpoint, load_state_strict
from engine.model.config import ModelConfig
from engine.model.denoiser import DenoiserConditions, LatentDenoiser
from engine.model.features import (
    focal_norm_from_K,
    kp2d_features,
    kp3d_features,
    mano_features,
    motion_features,
    motion_from_features,
)
from engine.model.vae import MODALITIES, JointVAE


def condition_inputs(
    batch: dict[str, torch.Tensor], config: ModelConfig
) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Window tensors -> {modality: (features (B,T,F), observed frames (B,T) bool)} for present channels.

    A frame counts as observed for a modality when any of its joints is (per-joint masks travel
    inside the features). Padded frames (`frame_valid` false) are never observed.
    """
    valid = batch["frame_valid"]
    channels = batch["channels"]
    out: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
    present = channels.any(dim=0)
    if present[0]:
        mask = batch["kp2d_mask"] & valid[..., None] & channels[:, 0, None, None]
        focal = focal_norm_from_K(batch["K"], batch["image_size"])[:, None].expand(mask.shape[:2])
        out["kp2d"] = (kp2d_features(batch["kp2d_norm"], mask, focal), mask.any(-1))
    if present[1]:
        mask = batch["kp3d_mask"] & valid[..., None] & channels[:, 1, None, None]
        out["kp3d"] = (kp3d_features(batch["kp3d"], mask, config), mask.any(-1))
    if present[2]:
        mask = batch["mano_mask"] & valid & channels[:, 2, None]
        out["mano"] = (mano_features(batch["mano_pose"], batch["mano_transl"], mask, config), mask)
    return out


class UniHand(nn.Module):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.vae = JointVAE(config)
        self.denoiser = LatentDenoiser(config)
        z = config.latent_dim
        # Per-channel statistics of the motion latents' means: the diffusion runs on unit-scale latents.
        self.register_buffer("frame_mean", torch.zeros(z))
        self.register_buffer("frame_std", torch.ones(z))
        self.register_buffer("global_mean", torch.zeros(z))
        self.register_buffer("global_std", torch.ones(z))

    # ------------------------------------------------------------------ latent space

    def normalise(self, frames: torch.Tensor, global_token: torch.Tensor) -> torch.Tensor:
        """(B,T,Z) frame latents and (B,Z) global -> (B,1+T,Z) diffusion space."""
        f = (frames - self.frame_mean) / self.frame_std
        g = (global_token - self.global_mean) / self.global_std
        return torch.cat([g[:, None], f], dim=1)

    def denormalise(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return x[:, 1:] * self.frame_std + self.frame_mean, x[:, 0] * self.global_std + self.global_mean

    def encode_motion(
        self, pose48: torch.Tensor, transl: torch.Tensor, frame_valid: torch.Tensor | None = None
    ) -> torch.Tensor:
        enc = self.vae.encode(motion_features(pose48, transl, self.config), frame_valid)
        return self.normalise(enc.mu, enc.global_mu)

    def encode_conditions(self, batch: dict[str, torch.Tensor]) -> DenoiserConditions:
        cond = DenoiserConditions()
        for m, (feats, observed) in condition_inputs(batch, self.config).items():
            if self.config.condition_encoder == "mlp":
                cond.latents[m] = self.denoiser.condition_mlp[m](feats)
            else:
                latents = self.vae.encode_condition(m, feats, batch["frame_valid"])
                cond.latents[m] = (latents - self.frame_mean) / self.frame_std
            cond.observed[m] = observed
        return cond

    def decode(self, x: torch.Tensor, staggered: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """Diffusion-space latents (B,1+T,Z) -> MANO pose (B,T,48) and translation (B,T,3);
        `staggered`: without seams at the decoder's segment boundaries (JointVAE.decode)."""
        frames, global_token = self.denormalise(x)
        return motion_from_features(self.vae.decode(frames, global_token, staggered), self.config)

    # ------------------------------------------------------------------ files

    @classmethod
    def load(cls, vae_path: str | os.PathLike[str], denoiser_path: str | os.PathLike[str]) -> UniHand:
        """Both stages from safetensors checkpoints; their configs must agree."""
        vae_config, vae_state, _ = load_checkpoint(vae_path, "vae")
        config, den_state, _ = load_checkpoint(denoiser_path, "denoiser", expect_config=None)
        # The denoiser's config is the VAE's plus how it reads conditions (a denoiser-only choice).
        if replace(config, condition_encoder=vae_config.condition_encoder) != vae_config:
            raise CheckpointError(
                f"{denoiser_path}: trained on another VAE config than {Path(vae_path).name}"
            )
        model = cls(config)
        load_state_strict(model.vae, vae_state, vae_path)
        stats = {
            k: den_state.pop(k)
            for k in ("frame_mean", "frame_std", "global_mean", "global_std")
            if k in den_state
        }
        if len(stats) != 4:
            raise CheckpointError(f"{denoiser_path}: latent statistics missing")
        load_state_strict(model.denoiser, den_state, denoiser_path)
        for k, v in stats.items():
            getattr(model, k).copy_(v)
        return model.eval()


__all__ = ["MODALITIES", "UniHand", "condition_inputs"]
