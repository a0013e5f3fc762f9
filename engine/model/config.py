"""Sizes and constants of the UniHand model, saved inside every checkpoint and checked on load."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

MODEL_FORMAT = "unihand.model/1"


def check_keys(config_class: type, values: dict[str, Any], what: str) -> None:
    """A ValueError naming the keys of `values` that are not fields of the dataclass `config_class`."""
    unknown = sorted(set(values) - {f.name for f in fields(config_class)})
    if unknown:
        raise ValueError(f"unknown {what} keys {unknown}")


@dataclass(frozen=True)
class ModelConfig:
    """Architecture of the joint VAE and the latent denoiser (paper A.2, A.3; our sizes, see MODEL_CARD).

    `position_center` / `position_scale` normalise translations and 3D keypoints (metres, canonical
    space) to order-one values; they are measured on the training windows when training starts.
    """

    window: int = 120  # frames per model window (30 fps)
    segment: int = 30  # autoregressive decoder segment length; `window` must be a multiple
    latent_dim: int = 16  # per-frame latent token size (also the global token's)
    vae_dim: int = 128
    vae_heads: int = 4
    vae_ff: int = 256
    motion_encoder_layers: int = 3
    condition_encoder_layers: int = 2
    decoder_layers: int = 3
    denoiser_dim: int = 192
    denoiser_heads: int = 4
    denoiser_ff: int = 384
    denoiser_layers: int = 4
    vision_dim: int = 128  # hand token size from the hand perceptron
    dropout: float = 0.0  # 0.1 in the paper; on CPU dropout costs ~30% of a step, see MODEL_CARD
    diffusion_steps: int = 50  # DDPM training steps (paper B.2), cosine schedule
    position_center: tuple[float, float, float] = (0.0, 0.0, 0.5)
    position_scale: float = 0.1
    # "vae": conditions enter the denoiser as latents of the joint VAE's condition encoders (the
    # paper). "mlp": paper Table 4's "w/o condition encoders" ablation: a per-frame MLP inside the
    # denoiser maps the raw condition features to the latent size, trained with the denoiser.
    condition_encoder: str = "vae"

    def __post_init__(self) -> None:
        if self.condition_encoder not in ("vae", "mlp"):
            raise ValueError(f"condition_encoder must be 'vae' or 'mlp', got {self.condition_encoder!r}")
        if self.window % self.segment:
            raise ValueError(f"window ({self.window}) must be a multiple of segment ({self.segment})")

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["position_center"] = list(self.position_center)
        return out

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ModelConfig:
        check_keys(cls, values, "model config")
        values = dict(values)
        if "position_center" in values:
            values["position_center"] = tuple(float(v) for v in values["position_center"])
        return cls(**values)
