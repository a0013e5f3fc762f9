"""Model checkpoints: safetensors weights (no pickle) with a JSON header (format, stage, config,
statistics, training record), checked on load so a mismatch fails with a clear message."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from engine.errors import UniHandError
from engine.files import atomic_path
from engine.model.config import MODEL_FORMAT, ModelConfig

STAGES = ("vae", "denoiser", "vision", "gap")


class CheckpointError(UniHandError):
    """A checkpoint is missing, corrupt, of another format or version, or does not fit the model."""


def save_checkpoint(
    path: str | os.PathLike[str],
    stage: str,
    config: Any,
    state: dict[str, torch.Tensor],
    info: dict[str, Any] | None = None,
) -> Path:
    """Write weights + header atomically (a temporary sibling renamed into place). `config`: the
    stage's architecture config (a `ModelConfig`, or the gap refiner's), anything with `to_dict`."""
    header = {"format": MODEL_FORMAT, "stage": stage, "config": config.to_dict(), "info": info or {}}
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in state.items()}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata={"unihand": json.dumps(header)})
        umask = os.umask(0)
        os.umask(umask)
        tmp.chmod(0o666 & ~umask)  # safetensors creates its file 0600; a shipped asset is readable
    return Path(path)


def read_header(path: str | os.PathLike[str]) -> dict[str, Any]:
    from safetensors import safe_open

    p = Path(path)
    if not p.exists():
        raise CheckpointError(f"{p}: no such checkpoint (train one with `python main.py train`)")
    try:
        with safe_open(str(p), framework="pt") as f:
            meta = f.metadata() or {}
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{p}: not a readable safetensors checkpoint ({exc})") from exc
    if "unihand" not in meta:
        raise CheckpointError(f"{p}: not a UniHand checkpoint (no 'unihand' header)")
    try:
        header = json.loads(meta["unihand"])
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{p}: damaged header ({exc})") from exc
    if header.get("format") != MODEL_FORMAT:
        raise CheckpointError(
            f"{p}: checkpoint format {header.get('format')!r}, this version reads {MODEL_FORMAT!r}"
        )
    return header


def load_checkpoint(
    path: str | os.PathLike[str],
    stage: str,
    expect_config: Any = None,
    config_class: Any = ModelConfig,
) -> tuple[Any, dict[str, torch.Tensor], dict[str, Any]]:
    """-> (config, state dict, info). Fails clearly on the wrong stage or a config other than expected.
    `config_class` parses the header's config (`ModelConfig` for the UniHand stages)."""
    header = read_header(path)
    if header.get("stage") != stage:
        raise CheckpointError(f"{path}: a {header.get('stage')!r} checkpoint, expected {stage!r}")
    try:
        config = config_class.from_dict(header["config"])
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: bad model config in header ({exc})") from exc
    if expect_config is not None and config != expect_config:
        diff = {
            k: (v, expect_config.to_dict()[k])
            for k, v in config.to_dict().items()
            if expect_config.to_dict()[k] != v
        }
        raise CheckpointError(f"{path}: model config differs from the expected one: {diff}")
    try:
        state = load_file(str(path))
    except (SafetensorError, OSError) as exc:
        raise CheckpointError(f"{path}: cannot read weights ({exc})") from exc
    return config, state, header.get("info", {})


def load_state_strict(
    module: torch.nn.Module, state: dict[str, torch.Tensor], path: str | os.PathLike[str]
) -> None:
    """load_state_dict that reports missing / unexpected / mis-shaped weights as a CheckpointError."""
    own = module.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shapes = [k for k in set(own) & set(state) if own[k].shape != state[k].shape]
    if missing or unexpected or shapes:
        raise CheckpointError(
            f"{path}: weights do not fit the model (missing {missing[:3]}, unexpected {unexpected[:3]}, "
            f"wrong shape {shapes[:3]})"
        )
    module.load_state_dict(state)
