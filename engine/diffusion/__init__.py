"""Noise schedule (diffusers' maintained DDPM/DDIM schedulers), the training objective's forward
process, and our own DDIM sampling loop with per-modality classifier-free guidance and editing hooks."""
