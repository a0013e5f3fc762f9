"""Latent denoiser (paper 3.3, A.3): a transformer that predicts the clean latent from a noisy one.

Tokens: [global, frame_1..frame_T] latents (Z each). Structured conditions (kp2d, kp3d, mano latents
from the joint VAE's condition encoders) are fused at the latent level, frame by frame: a frame where
a modality is not observed, or the whole modality when it is dropped for classifier-free guidance,
gets that modality's learnable unconditional token instead. Vision hand tokens (one per frame, from
the hand perceptron) enter through cross-attention in every layer; without video the memory is the
vision modality's unconditional token. The timestep enters through adaptive LayerNorm.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from engine.model.config import ModelConfig
from engine.model.features import CONDITION_DIMS
from engine.model.layers import Stack, timestep_embedding
from engine.model.rope import rope_angles
from engine.model.vae import MODALITIES


@dataclass
class DenoiserConditions:
    """Condition latents (B,T,Z) per modality with their per-frame observed flags (B,T) bool.

    A modality missing from `latents` is unconditional everywhere. `vision` holds hand tokens
    (B,T,V) with `vision_observed` (B,T), or None.
    """

    latents: dict[str, torch.Tensor] = field(default_factory=dict)
    observed: dict[str, torch.Tensor] = field(default_factory=dict)
    vision: torch.Tensor | None = None
    vision_observed: torch.Tensor | None = None


class LatentDenoiser(nn.Module):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        d, z = config.denoiser_dim, config.latent_dim
        self.head_dim = d // config.denoiser_heads
        self.latent_in = nn.Linear(z, d)
        self.global_type = nn.Parameter(torch.randn(d) * 0.02)
        self.condition_in = nn.ModuleDict({m: nn.Linear(z, d) for m in MODALITIES})
        if config.condition_encoder == "mlp":
            # The ablation without the VAE's condition encoders: raw features -> latent size, per frame.
            self.condition_mlp = nn.ModuleDict(
                {
                    m: nn.Sequential(nn.Linear(CONDITION_DIMS[m], d), nn.GELU(), nn.Linear(d, z))
                    for m in MODALITIES
                }
            )
        # One learnable unconditional token per modality, in the condition latents' own space.
        self.null = nn.ParameterDict({m: nn.Parameter(torch.randn(z) * 0.02) for m in MODALITIES})
        self.vision_in = nn.Linear(config.vision_dim, d)
        self.vision_null = nn.Parameter(torch.randn(config.vision_dim) * 0.02)
        self.time_mlp = nn.Sequential(nn.Linear(d, d), nn.SiLU(), nn.Linear(d, d))
        self.blocks = Stack(
            config.denoiser_layers,
            d,
            config.denoiser_heads,
            config.denoiser_ff,
            config.dropout,
            adaptive=True,
            cross=True,
        )
        self.out = nn.Linear(d, z)

    def forward(self, noisy: torch.Tensor, timestep: torch.Tensor, cond: DenoiserConditions) -> torch.Tensor:
        """noisy (B,1+T,Z), timestep (B,) -> predicted clean latent (B,1+T,Z)."""
        b, n, _ = noisy.shape
        t = n - 1
        h = self.latent_in(noisy)
        fused = torch.zeros_like(h[:, 1:])
        for m in MODALITIES:
            null = self.null[m].expand(b, t, -1)
            if m in cond.latents:
                obs = cond.observed[m][..., None]
                value = torch.where(obs, cond.latents[m], null)
            else:
                value = null
            fused = fused + self.condition_in[m](value)
        h = torch.cat([h[:, :1] + self.global_type, h[:, 1:] + fused], dim=1)
        pos = torch.cat([torch.zeros(1, device=noisy.device), torch.arange(1, t + 1, device=noisy.device)])
        angles = rope_angles(pos, self.head_dim)
        if cond.vision is not None:
            obs = cond.vision_observed[..., None]
            vision = torch.where(obs, cond.vision, self.vision_null.expand(b, t, -1))
            memory = self.vision_in(vision)
            memory_angles = angles[1:]
        else:
            # Attending to T copies of one null token gives exactly its value: one copy is enough.
            memory = self.vision_in(self.vision_null).expand(b, 1, -1)
            memory_angles = angles[:1]
        temb = self.time_mlp(timestep_embedding(timestep, self.config.denoiser_dim))
        h = self.blocks(h, angles=angles, cond=temb, memory=memory, memory_angles=memory_angles)
        return self.out(h)
