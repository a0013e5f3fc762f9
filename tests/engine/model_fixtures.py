"""A tiny model configuration and a tiny real training corpus for model and training tests."""

from __future__ import annotations

from pathlib import Path

from engine.model.config import ModelConfig

TINY = ModelConfig(
    latent_dim=8,
    vae_dim=32,
    vae_heads=2,
    vae_ff=64,
    motion_encoder_layers=1,
    condition_encoder_layers=1,
    decoder_layers=1,
    denoiser_dim=32,
    denoiser_heads=2,
    denoiser_ff=64,
    denoiser_layers=1,
    vision_dim=16,
)


def build_tiny_corpus(out: Path) -> Path:
    """A few synthetic sequences through the real data builder (seconds on 2 cores)."""
    from engine.data.build import DataBuildConfig, build_corpus

    config = DataBuildConfig(out_dir=str(out), synthetic_sequences=6, synthetic_frames=150, shard_size=8)
    build_corpus(config, progress=False)
    return out
