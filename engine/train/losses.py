"""Training objectives as modules (so DistributedDataParallel sees one forward per step).

VAE (paper A.2, eq. 5-13): MANO-parameter and joint reconstruction (smooth L1), KL of the per-frame
and global latents, alignment of every present condition's latents to the motion latents' means
(MSE on observed frames), and an auxiliary reconstruction decoded from one condition's latents.
Denoiser (A.3, eq. 15-16): MSE to the clean latent (x0-prediction) plus reconstruction through the
frozen decoder; each condition is replaced by its unconditional token with probability `cfg_dropout`.
"""

from __future__ import annotations

import contextlib

import torch
import torch.nn.functional as F
from torch import nn

from engine.hand.model import HandModel
from engine.model.denoiser import DenoiserConditions
from engine.model.features import motion_features, motion_from_features
from engine.model.unihand import UniHand, condition_inputs
from engine.train.config import TrainConfig


def _masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of `values` (B,T,...) over frames where mask (B,T) is true."""
    m = mask.to(values.dtype)
    while m.dim() < values.dim():
        m = m[..., None]
    denom = (m.expand_as(values).sum()).clamp_min(1.0)
    return (values * m).sum() / denom


def joint_error_cm(
    hand: HandModel, features: torch.Tensor, betas: torch.Tensor, target: torch.Tensor, config
) -> torch.Tensor:
    """Per-entry smooth-L1 joint error in cm of decoded features (B,T,99) against keypoints (B,T,21,3)."""
    b, t, _ = features.shape
    pose, transl = motion_from_features(features, config)
    _, kp = hand.forward_keypoints(
        pose[..., 3:].reshape(b * t, 45),
        pose[..., :3].reshape(b * t, 3),
        betas[:, None].expand(b, t, -1).reshape(b * t, -1),
        transl.reshape(b * t, 3),
    )
    return F.smooth_l1_loss(kp.reshape(b, t, 21, 3) * 100.0, target * 100.0, reduction="none")


class VAEObjective(nn.Module):
    def __init__(self, model: UniHand, hand: HandModel, config: TrainConfig) -> None:
        super().__init__()
        self.model = model
        self.hand = hand
        self.cfg = config

    def forward(self, batch: dict[str, torch.Tensor], aux_choice: int = 0) -> dict[str, torch.Tensor]:
        vae, mc = self.model.vae, self.model.config
        valid = batch["frame_valid"]
        motion = motion_features(batch["mano_pose"], batch["mano_transl"], mc)
        enc = vae.encode(motion, valid)
        z = enc.mu + torch.randn_like(enc.mu) * (0.5 * enc.logvar).exp()
        g = enc.global_mu + torch.randn_like(enc.global_mu) * (0.5 * enc.global_logvar).exp()
        rec = vae.decode_teacher_forced(z, g, motion, self.cfg.anchor_noise)
        out: dict[str, torch.Tensor] = {}
        out["rec_param"] = _masked_mean(F.smooth_l1_loss(rec, motion, reduction="none", beta=0.1), valid)
        out["rec_joint"] = _masked_mean(
            joint_error_cm(self.hand, rec, batch["betas"], batch["kp3d"], mc), valid
        )
        kl = -0.5 * (1 + enc.logvar - enc.mu.pow(2) - enc.logvar.exp())
        kl_g = -0.5 * (1 + enc.global_logvar - enc.global_mu.pow(2) - enc.global_logvar.exp())
        out["kl"] = _masked_mean(kl, valid) + kl_g.mean()
        conds = condition_inputs(batch, mc)
        align = torch.zeros((), device=motion.device)
        aux = torch.zeros((), device=motion.device)
        names = sorted(conds)
        for i, m in enumerate(names):
            feats, observed = conds[m]
            c = vae.encode_condition(m, feats, valid)
            align = align + _masked_mean(F.mse_loss(c, enc.mu.detach(), reduction="none"), observed & valid)
            if i == aux_choice % len(names):
                rec_c = vae.decode_teacher_forced(c, g.detach(), motion, self.cfg.anchor_noise)
                aux = _masked_mean(F.smooth_l1_loss(rec_c, motion, reduction="none", beta=0.1), valid)
        out["align"] = align
        out["aux"] = aux
        c = self.cfg
        out["loss"] = (
            out["rec_param"]
            + c.w_joint * out["rec_joint"]
            + c.w_kl * out["kl"]
            + c.w_align * align
            + c.w_aux * aux
        )
        # MPJPE in mm of the reconstruction, for logs.
        with torch.no_grad():
            b, t, _ = rec.shape
            pose, transl = motion_from_features(rec, mc)
            _, kp = self.hand.forward_keypoints(
                pose[..., 3:].reshape(-1, 45),
                pose[..., :3].reshape(-1, 3),
                batch["betas"][:, None].expand(b, t, -1).reshape(b * t, -1),
                transl.reshape(-1, 3),
            )
            err = (kp.reshape(b, t, 21, 3) - batch["kp3d"]).norm(dim=-1).mean(-1) * 1000.0
            out["mpjpe_mm"] = _masked_mean(err, valid)
        return out


class DenoiserObjective(nn.Module):
    def __init__(self, model: UniHand, hand: HandModel, config: TrainConfig, ddpm) -> None:
        super().__init__()
        self.model = model
        self.hand = hand
        self.cfg = config
        self.ddpm = ddpm

    def conditions(self, batch: dict[str, torch.Tensor]) -> DenoiserConditions:
        """The window's structured conditions, each dropped per sample with probability cfg_dropout."""
        b = batch["frame_valid"].shape[0]
        # The VAE's condition encoders are frozen; the ablation's MLP trains with the denoiser.
        frozen = self.model.config.condition_encoder == "vae"
        with torch.no_grad() if frozen else contextlib.nullcontext():
            cond = self.model.encode_conditions(batch)
        dropped = DenoiserConditions()
        for m in cond.latents:
            keep = torch.rand(b, device=batch["frame_valid"].device) >= self.cfg.cfg_dropout
            dropped.latents[m] = cond.latents[m]
            dropped.observed[m] = cond.observed[m] & keep[:, None]
        return dropped

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return self.diffusion_losses(batch, self.conditions(batch))

    def diffusion_losses(
        self, batch: dict[str, torch.Tensor], cond: DenoiserConditions
    ) -> dict[str, torch.Tensor]:
        model, mc = self.model, self.model.config
        valid = batch["frame_valid"]
        b = valid.shape[0]
        with torch.no_grad():
            z0 = model.encode_motion(batch["mano_pose"], batch["mano_transl"], valid)
        t = torch.randint(0, mc.diffusion_steps, (b,), device=valid.device)
        noise = torch.randn_like(z0)
        alphas = self.ddpm.alphas_cumprod.to(z0.device)[t].to(z0.dtype)[:, None, None]
        noisy = alphas.sqrt() * z0 + (1 - alphas).sqrt() * noise
        x0 = model.denoiser(noisy, t, cond)
        token_valid = torch.cat([torch.ones(b, 1, dtype=torch.bool, device=valid.device), valid], dim=1)
        out: dict[str, torch.Tensor] = {}
        out["simple"] = _masked_mean(F.mse_loss(x0, z0, reduction="none"), token_valid)
        frames, global_token = model.denormalise(x0)
        motion = motion_features(batch["mano_pose"], batch["mano_transl"], mc)
        rec = model.vae.decode_teacher_forced(frames, global_token, motion)
        out["rec_param"] = _masked_mean(F.smooth_l1_loss(rec, motion, reduction="none", beta=0.1), valid)
        out["rec_joint"] = _masked_mean(
            joint_error_cm(self.hand, rec, batch["betas"], batch["kp3d"], mc), valid
        )
        out["loss"] = out["simple"] + self.cfg.w_rec * (
            out["rec_param"] + self.cfg.w_joint * out["rec_joint"]
        )
        return out


def initial_pose(batch: dict[str, torch.Tensor], noise: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """The 2D keypoints (B,21,2, normalised) and mask (B,21) of each window's first frame with any
    observed 2D keypoint: the hand perceptron's initial-pose query (estimate takes the same frame
    of the detections). A window without one gets an all-false mask."""
    mask = batch["kp2d_mask"] & batch["frame_valid"][..., None] & batch["channels"][:, 0, None, None]
    seen = mask.any(-1)
    first = torch.where(seen.any(-1), seen.float().argmax(-1), 0)
    rows = torch.arange(len(first), device=first.device)
    kp = batch["kp2d_norm"][rows, first]
    if noise:
        kp = kp + noise * torch.randn_like(kp)
    return kp, mask[rows, first] & seen.any(-1, keepdim=True)


class VisionObjective(DenoiserObjective):
    """Hand perceptron + denoiser on rendered windows (paper A.3, with our auxiliary pose head).

    Conditions are those of `main.py estimate`: vision hand tokens and 2D keypoints. The 2D channel
    is dropped for a whole window with probability `vision_kp2d_dropout`, so the denoiser also learns
    from the picture alone; the vision tokens are replaced by their unconditional token with
    probability `cfg_dropout`, so the no-video path stays trained. The auxiliary head (ours, not in
    the paper) predicts the root-relative 3D keypoints of each frame from its hand token, a direct
    signal for the perceptron while the denoiser learns to use it.
    """

    def __init__(
        self, model: UniHand, perceptron: nn.Module, hand: HandModel, config: TrainConfig, ddpm
    ) -> None:
        super().__init__(model, hand, config, ddpm)
        self.perceptron = perceptron
        self.pose_head = nn.Linear(perceptron.config.vision_dim, 21 * 3)

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        valid = batch["frame_valid"]
        b = valid.shape[0]
        keep_2d = torch.rand(b, device=valid.device) >= self.cfg.vision_kp2d_dropout
        channels = torch.zeros_like(batch["channels"])
        channels[:, 0] = keep_2d
        batch = {**batch, "channels": channels}
        cond = self.conditions(batch)
        if not self.cfg.vision_tokens:
            out = self.diffusion_losses(batch, cond)
            out["pose_aux_cm"] = 0.0 * sum(
                p.sum() for p in self.pose_head.parameters()
            )  # DDP: all params used
            return out
        init_kp, init_mask = initial_pose(batch, noise=0.01)
        tokens = self.perceptron(batch["tokens"], init_kp, init_mask, valid)
        keep_vision = torch.rand(b, device=valid.device) >= self.cfg.cfg_dropout
        cond.vision = tokens
        cond.vision_observed = valid & keep_vision[:, None]
        out = self.diffusion_losses(batch, cond)
        rel = batch["kp3d_cam"] - batch["kp3d_cam"][:, :, :1]
        pred = self.pose_head(tokens).reshape(rel.shape) * 0.1  # unit: 10 cm
        err = F.smooth_l1_loss(pred * 100.0, rel * 100.0, reduction="none", beta=1.0).mean((-1, -2))
        out["pose_aux_cm"] = _masked_mean(err, valid)
        out["loss"] = out["loss"] + self.cfg.w_vision_aux * out["pose_aux_cm"]
        return out
