"""Joint VAE (paper 3.2, A.2): a motion encoder and condition encoders that map MANO motion, 2D and 3D
keypoints into one per-frame latent space, and an autoregressive segment decoder.

- Motion encoder: [dist_mu, dist_logvar, frame_1..frame_T] -> per-frame Gaussian latents (mu,
  logvar) and, from the two learnable distribution tokens, the global motion token's Gaussian.
- Condition encoders (kp2d, kp3d, mano): per-frame condition features with per-joint masks ->
  per-frame latent tokens aligned (MSE) to the motion latents' means.
- Decoder: segments of `segment` frames; each reads [global, anchor, z_frames] where the anchor
  token encodes the last frame of the previous segment (a learnable start token for the first),
  so long motions decode segment by segment without seams.
Rotary time positions everywhere; padded frames are excluded from attention.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from engine.model.config import ModelConfig
from engine.model.features import CONDITION_DIMS, MOTION_DIM
from engine.model.layers import Stack
from engine.model.rope import rope_angles

MODALITIES = ("kp2d", "kp3d", "mano")


@dataclass
class Encoded:
    mu: torch.Tensor  # (B,T,Z)
    logvar: torch.Tensor  # (B,T,Z)
    global_mu: torch.Tensor  # (B,Z)
    global_logvar: torch.Tensor  # (B,Z)


def _time_angles(num_special: int, frames: int, dim: int, device: torch.device) -> torch.Tensor:
    # Special tokens sit at position 0, frames at 1..T: only relative offsets matter to RoPE.
    pos = torch.cat([torch.zeros(num_special, device=device), torch.arange(1, frames + 1, device=device)])
    return rope_angles(pos, dim)


def _padding(frame_valid: torch.Tensor | None, num_special: int) -> torch.Tensor | None:
    if frame_valid is None:
        return None
    special = torch.zeros(frame_valid.shape[0], num_special, dtype=torch.bool, device=frame_valid.device)
    return torch.cat([special, ~frame_valid], dim=1)


class JointVAE(nn.Module):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        c, d, z = config, config.vae_dim, config.latent_dim
        self.head_dim = d // c.vae_heads

        def stack(layers: int) -> Stack:
            return Stack(layers, d, c.vae_heads, c.vae_ff, c.dropout)

        self.motion_in = nn.Linear(MOTION_DIM, d)
        self.dist_tokens = nn.Parameter(torch.randn(2, d) * 0.02)
        self.motion_encoder = stack(c.motion_encoder_layers)
        self.to_latent = nn.Linear(d, 2 * z)
        self.to_global = nn.Linear(d, z)
        self.condition_in = nn.ModuleDict({m: nn.Linear(CONDITION_DIMS[m], d) for m in MODALITIES})
        self.condition_encoders = nn.ModuleDict({m: stack(c.condition_encoder_layers) for m in MODALITIES})
        self.condition_out = nn.ModuleDict({m: nn.Linear(d, z) for m in MODALITIES})
        self.latent_in = nn.Linear(z, d)
        self.global_in = nn.Linear(z, d)
        self.anchor_in = nn.Linear(MOTION_DIM, d)
        self.start_anchor = nn.Parameter(torch.randn(d) * 0.02)
        self.decoder = stack(c.decoder_layers)
        self.motion_out = nn.Linear(d, MOTION_DIM)

    # ------------------------------------------------------------------ encoders

    def encode(self, motion: torch.Tensor, frame_valid: torch.Tensor | None = None) -> Encoded:
        """(B,T,99) motion features -> per-frame and global Gaussian parameters."""
        b, t, _ = motion.shape
        x = torch.cat([self.dist_tokens.expand(b, -1, -1), self.motion_in(motion)], dim=1)
        angles = _time_angles(2, t, self.head_dim, motion.device)
        h = self.motion_encoder(x, angles=angles, key_padding=_padding(frame_valid, 2))
        mu, logvar = self.to_latent(h[:, 2:]).chunk(2, dim=-1)
        return Encoded(
            mu, logvar.clamp(-10, 5), self.to_global(h[:, 0]), self.to_global(h[:, 1]).clamp(-10, 5)
        )

    def encode_condition(
        self, modality: str, features: torch.Tensor, frame_valid: torch.Tensor | None = None
    ) -> torch.Tensor:
        """(B,T,F) condition features -> (B,T,Z) latent tokens in the motion latent space."""
        t = features.shape[1]
        angles = _time_angles(0, t, self.head_dim, features.device)
        x = self.condition_in[modality](features)
        h = self.condition_encoders[modality](x, angles=angles, key_padding=_padding(frame_valid, 0))
        return self.condition_out[modality](h)

    # ------------------------------------------------------------------ decoder

    def _decode_segments(
        self, latents: torch.Tensor, global_token: torch.Tensor, anchors: torch.Tensor
    ) -> torch.Tensor:
        """latents (N,L,Z), global (N,Z), anchors (N,D) -> (N,L,99)."""
        seg = latents.shape[1]
        x = torch.cat(
            [self.global_in(global_token)[:, None], anchors[:, None], self.latent_in(latents)], dim=1
        )
        angles = _time_angles(2, seg, self.head_dim, latents.device)
        return self.motion_out(self.decoder(x, angles=angles)[:, 2:])

    def decode_teacher_forced(
        self,
        latents: torch.Tensor,
        global_token: torch.Tensor,
        motion: torch.Tensor,
        anchor_noise: float = 0.0,
    ) -> torch.Tensor:
        """Training decode: every segment's anchor is the true last frame before it (all segments at once)."""
        b, t, z = latents.shape
        seg = self.config.segment
        s = t // seg
        prev = motion[:, seg - 1 : t - 1 : seg]  # (B, S-1, 99): last frame of segments 0..S-2
        if anchor_noise > 0:
            prev = prev + anchor_noise * torch.randn_like(prev)
        anchors = torch.cat([self.start_anchor.expand(b, 1, -1), self.anchor_in(prev)], dim=1)
        out = self._decode_segments(
            latents.reshape(b * s, seg, z),
            global_token[:, None].expand(b, s, z).reshape(b * s, z),
            anchors.reshape(b * s, -1),
        )
        return out.reshape(b, t, -1)

    def _decode_from(
        self, latents: torch.Tensor, global_token: torch.Tensor, anchor: torch.Tensor, start: int, stop: int
    ) -> torch.Tensor:
        """Frames [start, stop) decoded segment by segment from `anchor` (B,D)."""
        seg = self.config.segment
        parts = []
        for a in range(start, stop, seg):
            part = self._decode_segments(latents[:, a : a + seg], global_token, anchor)
            parts.append(part)
            anchor = self.anchor_in(part[:, -1])
        return torch.cat(parts, dim=1)

    def decode(
        self, latents: torch.Tensor, global_token: torch.Tensor, staggered: bool = False
    ) -> torch.Tensor:
        """Inference decode, segment by segment: (B,T,Z), (B,Z) -> (B,T,99); T a multiple of segment.

        `staggered`: also decode segments shifted by half a segment (their first anchored on the
        plain decode's frame there) and crossfade the two, each weighted by its distance to its own
        segment boundaries. A segment's first frames continue its anchor imperfectly: the plain
        decode of a real motion has 4x the acceleration at the boundaries that it has elsewhere
        (MODEL_CARD.md); the shifted decode is mid-segment there.
        """
        b, t, _ = latents.shape
        seg = self.config.segment
        if t % seg:
            raise ValueError(f"decode needs a multiple of {seg} frames, got {t}")
        plain = self._decode_from(latents, global_token, self.start_anchor.expand(b, -1), 0, t)
        if not staggered or t < 2 * seg:
            return plain
        half = seg // 2
        stop = t - (seg - half)
        anchor = self.anchor_in(plain[:, half - 1])
        shifted = self._decode_from(latents, global_token, anchor, half, stop)
        frames = torch.arange(half, stop, device=latents.device, dtype=plain.dtype) + 0.5
        # Distance (frames) to the nearest boundary between segments of each decode; the window's
        # own ends are no seam for the plain decode.
        inner = torch.arange(seg, t, seg, device=latents.device, dtype=plain.dtype)
        d_plain = (frames[:, None] - inner[None]).abs().min(dim=1).values
        edges = torch.arange(half, stop + 1, seg, device=latents.device, dtype=plain.dtype)
        d_shifted = (frames[:, None] - edges[None]).abs().min(dim=1).values
        w = (d_shifted / (d_plain + d_shifted))[None, :, None]
        out = plain.clone()
        out[:, half:stop] = (1 - w) * plain[:, half:stop] + w * shifted
        return out
