"""Diffusion over the joint VAE's latents: DDPM forward process for training, DDIM sampling for inference.

The schedules come from diffusers (a maintained implementation: cosine "squaredcos_cap_v2" betas
over `diffusion_steps`, x0-prediction); the loop is ours so editing can hook into every step:

- per-modality classifier-free guidance: x0 = x0_u + sum_m s_m (x0_m - x0_u), where x0_m sees only
  modality m (and x0_u none). With every scale 1 this is one conditional pass (x0 = x0_all).
  `guided_steps` limits guidance to the first (noisiest) steps, where it shapes the motion; later
  steps take the one conditional pass (a guidance interval, Kynkaanniemi et al. 2024), which makes an
  edit with two guided modalities a third cheaper (MODEL_CARD.md has the measurement).
- inpainting: latent frames known from the motion being edited are written into the x0 estimate
  at every step, so the sample grows around them;
- progress once per step (with the x0 estimate) and cancellation between steps.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from diffusers import DDIMScheduler, DDPMScheduler

from engine.model.denoiser import DenoiserConditions, LatentDenoiser


class SamplingCancelled(Exception):
    """Raised between denoising steps when `should_cancel` returns True."""


def make_schedulers(diffusion_steps: int) -> tuple[DDPMScheduler, DDIMScheduler]:
    common = dict(
        num_train_timesteps=diffusion_steps,
        beta_schedule="squaredcos_cap_v2",
        prediction_type="sample",
        clip_sample=False,
    )
    return DDPMScheduler(**common), DDIMScheduler(**common, set_alpha_to_one=True)


@dataclass
class Inpaint:
    """Latent tokens (B,1+T,Z) known in `known` (B,1+T) bool: written into every x0 estimate."""

    latents: torch.Tensor
    known: torch.Tensor


def _only(cond: DenoiserConditions, modality: str | None) -> DenoiserConditions:
    if modality is None:
        return DenoiserConditions()
    if modality == "vision":
        return DenoiserConditions(vision=cond.vision, vision_observed=cond.vision_observed)
    return DenoiserConditions(
        latents={modality: cond.latents[modality]}, observed={modality: cond.observed[modality]}
    )


def _stack_conditions(parts: list[DenoiserConditions], batch: int, frames: int) -> DenoiserConditions:
    """Concatenate condition sets along the batch for one fused forward pass."""
    out = DenoiserConditions()
    modalities = {m for p in parts for m in p.latents}
    for m in modalities:
        like = next(p.latents[m] for p in parts if m in p.latents)
        out.latents[m] = torch.cat([p.latents.get(m, torch.zeros_like(like)) for p in parts])
        out.observed[m] = torch.cat(
            [
                p.observed.get(m, torch.zeros(batch, frames, dtype=torch.bool, device=like.device))
                for p in parts
            ]
        )
    if any(p.vision is not None for p in parts):
        like = next(p.vision for p in parts if p.vision is not None)
        out.vision = torch.cat([p.vision if p.vision is not None else torch.zeros_like(like) for p in parts])
        out.vision_observed = torch.cat(
            [
                p.vision_observed
                if p.vision_observed is not None
                else torch.zeros(batch, frames, dtype=torch.bool, device=like.device)
                for p in parts
            ]
        )
    return out


def guided_x0(
    denoiser: LatentDenoiser,
    x: torch.Tensor,
    t: torch.Tensor,
    cond: DenoiserConditions,
    guidance: dict[str, float],
) -> torch.Tensor:
    """The clean-latent estimate with per-modality CFG (one batched forward pass)."""
    b, n, _ = x.shape
    present = [m for m in cond.latents if cond.observed[m].any()]
    if cond.vision is not None:
        present.append("vision")
    scales = {m: float(guidance.get(m, 1.0)) for m in present}
    if all(abs(s - 1.0) < 1e-9 for s in scales.values()) or not present:
        return denoiser(x, t, cond)
    parts = [_only(cond, None)] + [_only(cond, m) for m in present]
    stacked = _stack_conditions(parts, b, n - 1)
    out = denoiser(x.repeat(len(parts), 1, 1), t.repeat(len(parts)), stacked).chunk(len(parts))
    x0 = out[0].clone()
    for m, o in zip(present, out[1:], strict=True):
        x0 = x0 + scales[m] * (o - out[0])
    return x0


@torch.no_grad()
def ddim_sample(
    denoiser: LatentDenoiser,
    shape: tuple[int, int, int],
    cond: DenoiserConditions,
    steps: int,
    guidance: dict[str, float] | None = None,
    generator: torch.Generator | None = None,
    inpaint: Inpaint | None = None,
    progress: Callable[[int, int, torch.Tensor], None] | None = None,
    should_cancel: Callable[[], bool] | None = None,
    eta: float = 0.0,
    guided_steps: int | None = None,
) -> torch.Tensor:
    """DDIM from pure noise to a clean latent (B,1+T,Z) in `steps` steps (deterministic for a generator)."""
    _, scheduler = make_schedulers(denoiser.config.diffusion_steps)
    scheduler.set_timesteps(min(steps, denoiser.config.diffusion_steps))
    device = next(denoiser.parameters()).device
    x = torch.randn(shape, generator=generator, device="cpu").to(device)
    timesteps = scheduler.timesteps
    for i, t in enumerate(timesteps):
        if should_cancel is not None and should_cancel():
            raise SamplingCancelled
        tt = torch.full((shape[0],), int(t), device=device, dtype=torch.long)
        guided = guided_steps is None or i < guided_steps
        x0 = guided_x0(denoiser, x, tt, cond, guidance or {}) if guided else denoiser(x, tt, cond)
        if inpaint is not None:
            x0 = torch.where(inpaint.known[..., None], inpaint.latents, x0)
        if progress is not None:
            progress(i + 1, len(timesteps), x0)
        if i == len(timesteps) - 1:
            x = x0
            break
        x = scheduler.step(x0, t, x, eta=eta, generator=generator).prev_sample
    return x
