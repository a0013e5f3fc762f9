"""Training configuration: one TOML/JSON file per run (`python main.py train STAGE --config F`)."""

from __future__ import annotations

import json
import os
import tomllib
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from engine.errors import UniHandError
from engine.model.config import ModelConfig


class TrainConfigError(UniHandError):
    """A training config file or value is wrong; the message names the key."""


@dataclass(frozen=True)
class TrainConfig:
    data: str = "outputs/corpus"  # shard directory from `main.py data build` (train/ and val/)
    out: str = "runs/default"  # checkpoints, TensorBoard logs
    vae_checkpoint: str = ""  # the denoiser stage reads this (default: <out>/vae.safetensors)
    steps: int = 4000
    batch_size: int = 32
    lr: float = 5e-4
    warmup: int = 100  # paper B.2: 100 warmup iterations, then linear annealing
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    seed: int = 0
    threads: int = 0  # torch threads per process (0: torch's default)
    log_every: int = 25
    val_every: int = 500
    checkpoint_every: int = 500
    # VAE loss weights (paper A.2 / B.2; the values there are stripped: ours, see the model card)
    w_joint: float = 0.1  # joint error in cm, smooth L1
    w_kl: float = 1e-4
    w_align: float = 1.0
    w_aux: float = 0.5
    anchor_noise: float = 0.02
    # Denoiser
    w_rec: float = 0.1  # reconstruction through the frozen decoder (paper eq. 15)
    cfg_dropout: float = 0.1  # per modality and sample: replaced by its unconditional token
    condition_encoder: str = "vae"  # "mlp": the "w/o condition encoders" ablation (ModelConfig)
    # Vision stage (`main.py train vision`): perceptron + denoiser fine-tuned on rendered windows
    vision_data: str = "outputs/renders"  # from `main.py data renders` (train/ and val/)
    denoiser_checkpoint: str = ""  # the vision stage starts from it (default: assets/model)
    vision: dict = field(default_factory=dict)  # engine.model.perceptron.VisionConfig values
    vision_kp2d_dropout: float = 0.3  # windows trained on the picture alone
    vision_tokens: bool = True  # False: the same fine-tuning with the vision slot always empty (ablation)
    w_vision_aux: float = 0.1  # auxiliary root-relative pose head, cm
    denoiser_lr_scale: float = 0.2  # the pretrained denoiser moves slower than the new perceptron
    # "all": the whole denoiser is fine-tuned; "cross": only its cross-attention to the vision
    # tokens (and the vision input layer and null token), at the full lr, so the structured
    # conditions' path stays the shipped one
    vision_denoiser_train: str = "all"
    vision_init: str = ""  # a vision checkpoint whose perceptron (and pose head) to start from
    # Gap refiner stage (`main.py train gap`, engine/model/gap_refiner.py)
    gap: dict = field(default_factory=dict)  # engine.model.gap_refiner.GapRefinerConfig values
    gap_sources: str = "real"  # windows it learns from: "real", "synthetic" or "all"
    gap_augment: bool = True  # mirror half the windows
    model: ModelConfig = field(default_factory=ModelConfig)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["model"] = self.model.to_dict()
        return out

    def replace(self, **changes: Any) -> TrainConfig:
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values.update(changes)
        return TrainConfig(**values)

    @classmethod
    def from_dict(cls, values: dict[str, Any], source: str = "config") -> TrainConfig:
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise TrainConfigError(f"{source}: unknown keys {unknown}; known keys are {sorted(names)}")
        values = dict(values)
        try:
            if "model" in values:
                values["model"] = ModelConfig.from_dict(values["model"])
            return cls(**values)
        except (TypeError, ValueError) as exc:
            raise TrainConfigError(f"{source}: {exc}") from exc


def load_train_config(path: str | os.PathLike[str]) -> TrainConfig:
    p = Path(path)
    if not p.exists():
        raise TrainConfigError(f"{p}: no such config file")
    try:
        text = p.read_text()
        values = json.loads(text) if p.suffix == ".json" else tomllib.loads(text)
    except (OSError, ValueError) as exc:
        raise TrainConfigError(f"{p}: cannot parse ({exc})") from exc
    return TrainConfig.from_dict(values, source=str(p))
