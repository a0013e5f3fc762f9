"""`python main.py train vae|denoiser|vision|gap [--config F] [--resume]`: one loop for one CPU, one
GPU, or many GPUs / nodes under torchrun (torch.distributed + DistributedDataParallel; gloo on CPU,
NCCL on CUDA).

Reproducible: seeded (data order, masks, noise), config saved beside the checkpoints. Resumable:
`<out>/<stage>_state.pt` (weights, optimiser, scheduler, step, RNG) is written every
`checkpoint_every` steps and picked up by --resume. Logs: TensorBoard in `<out>/tb`, a progress bar.
At the end rank 0 writes `<out>/<stage>.safetensors` (weights + config + training record).
"""

from __future__ import annotations

import json
import os
import random
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler, RandomSampler
from tqdm import tqdm

from engine.data.masks import MaskConfig
from engine.data.shards import ShardDataset, ShardReader, read_manifest
from engine.diffusion.sampler import make_schedulers
from engine.errors import UniHandError
from engine.files import atomic_path
from engine.hand import create_hand_model
from engine.model.checkpoint import load_checkpoint, load_state_strict, save_checkpoint
from engine.model.features import motion_features
from engine.model.unihand import UniHand
from engine.train.config import TrainConfig
from engine.train.losses import DenoiserObjective, VAEObjective, VisionObjective

STATS_WINDOWS = 2048  # windows read to measure position / latent statistics


class TrainError(UniHandError):
    """Training cannot start (missing data or VAE checkpoint); the message says what to run."""


def _distributed() -> tuple[int, int, torch.device]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend)
    rank = dist.get_rank() if dist.is_initialized() else 0
    if torch.cuda.is_available():
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        device = torch.device("cuda", local)
    else:
        device = torch.device("cpu")
    return rank, world, device


def _seed(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _to(batch: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    return {k: v.to(device, non_blocking=True) for k, v in batch.items()}


def position_center(data_dir: Path) -> tuple[float, float, float]:
    """Mean canonical translation of the training windows (deterministic: same on every rank)."""
    reader = ShardReader(data_dir / "train", keys=["mano_transl", "frame_valid"])
    idx = np.linspace(0, len(reader) - 1, min(len(reader), STATS_WINDOWS)).astype(int)
    batch = reader.read_batch(idx.tolist())
    transl = batch["mano_transl"][batch["frame_valid"]]
    return tuple(round(float(v), 4) for v in transl.mean(axis=0))  # type: ignore[return-value]


@torch.no_grad()
def measure_latent_stats(
    model: UniHand, dataset: ShardDataset, device: torch.device, batch_size: int
) -> None:
    """Per-channel mean/std of the motion encoder's means over training windows -> model buffers."""
    n = min(len(dataset), STATS_WINDOWS)
    frames, globals_ = [], []
    for start in range(0, n, batch_size):
        items = [dataset[i] for i in range(start, min(n, start + batch_size))]
        batch = _to({k: torch.stack([it[k] for it in items]) for k in items[0]}, device)
        features = motion_features(batch["mano_pose"], batch["mano_transl"], model.config)
        enc = model.vae.encode(features, batch["frame_valid"])
        frames.append(enc.mu[batch["frame_valid"]])
        globals_.append(enc.global_mu)
    f, g = torch.cat(frames), torch.cat(globals_)
    model.frame_mean.copy_(f.mean(0))
    model.frame_std.copy_(f.std(0).clamp_min(1e-3))
    model.global_mean.copy_(g.mean(0))
    model.global_std.copy_(g.std(0).clamp_min(1e-3))


def _lr_lambda(config: TrainConfig):
    def f(step: int) -> float:
        if step < config.warmup:
            return (step + 1) / config.warmup
        span = max(1, config.steps - config.warmup)
        return max(0.0, 1.0 - (step - config.warmup) / span)

    return f


def _save_state(path: Path, payload: dict[str, Any]) -> None:
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


@torch.no_grad()
def _validate(
    objective: torch.nn.Module, loader: DataLoader, device: torch.device, limit: int = 8
) -> dict[str, float]:
    objective.eval()
    sums: dict[str, float] = {}
    n = 0
    gen_state = torch.get_rng_state()
    torch.manual_seed(1234)  # the same noise draws at every validation
    for i, batch in enumerate(loader):
        if i >= limit:
            break
        out = objective(_to(batch, device))
        for k, v in out.items():
            sums[k] = sums.get(k, 0.0) + float(v)
        n += 1
    torch.set_rng_state(gen_state)
    objective.train()
    return {k: v / max(n, 1) for k, v in sums.items()}


def train(stage: str, config: TrainConfig, resume: bool = False, progress: bool = True) -> Path:
    """Train one stage; returns the path of the final safetensors checkpoint (on rank 0)."""
    rank, world, device = _distributed()
    if config.threads:
        torch.set_num_threads(config.threads)
    data_dir = Path(config.vision_data if stage == "vision" else config.data)
    if not (data_dir / "train" / "manifest.json").exists():
        command = "data renders" if stage == "vision" else "data build"
        raise TrainError(f"{data_dir}: no training shards; run `python main.py {command}` first")
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    _seed(config.seed + rank)
    hand = create_hand_model("default", "right").to(device)
    hand.requires_grad_(False)

    if stage == "vae":
        model_config = config.model.__class__.from_dict(
            {**config.model.to_dict(), "position_center": position_center(data_dir)}
        )
        model = UniHand(model_config).to(device)
        trainable: torch.nn.Module = model.vae
        objective: torch.nn.Module = VAEObjective(model, hand, config)
    elif stage == "denoiser":
        vae_path = Path(config.vae_checkpoint or out / "vae.safetensors")
        model_config, vae_state, _ = load_checkpoint(vae_path, "vae")
        try:
            model_config = replace(model_config, condition_encoder=config.condition_encoder)
        except ValueError as exc:
            raise TrainError(str(exc)) from exc
        model = UniHand(model_config).to(device)
        load_state_strict(model.vae, {k: v.to(device) for k, v in vae_state.items()}, vae_path)
        model.vae.requires_grad_(False)
        model.vae.eval()
        trainable = model.denoiser
        ddpm, _ = make_schedulers(model_config.diffusion_steps)
        objective = DenoiserObjective(model, hand, config, ddpm)
    elif stage == "vision":
        from engine.editing.infill import DEFAULT_DENOISER, DEFAULT_VAE
        from engine.model.perceptron import HandPerceptron, VisionConfig

        vae_path = Path(config.vae_checkpoint or DEFAULT_VAE)
        den_path = Path(config.denoiser_checkpoint or DEFAULT_DENOISER)
        model = UniHand.load(vae_path, den_path).to(device)
        model_config = model.config
        model.vae.requires_grad_(False)
        model.vae.eval()
        # The backbone, picture size and token width are the renders' (their manifest says).
        manifest = read_manifest(data_dir / "train")
        rendered = manifest["meta"].get("render", {})
        from_data = {
            "layer": rendered.get("layer", "stage5"),
            "width": rendered.get("width", 256),
            "height": rendered.get("height", 144),
            "token_channels": int(manifest["keys"]["tokens"]["shape"][-1]),
            "vision_dim": model_config.vision_dim,
        }
        vision_config = VisionConfig.from_dict({**from_data, **config.vision})
        perceptron = HandPerceptron(vision_config).to(device)
        ddpm, _ = make_schedulers(model_config.diffusion_steps)
        objective = VisionObjective(model, perceptron, hand, config, ddpm).to(device)
        init = config.vision_init
        if init:
            _, init_state, init_info = load_checkpoint(init, "vision", expect_config=model_config)
            if VisionConfig.from_dict(init_info["vision_config"]) != vision_config:
                raise TrainError(f"{init}: its perceptron is not this config's {vision_config}")
            for part, module in (("perceptron", perceptron), ("pose_head", objective.pose_head)):
                n = len(part) + 1
                own = {k[n:]: v for k, v in init_state.items() if k[:n] == f"{part}."}
                load_state_strict(module, own, init)
        if config.vision_denoiser_train not in ("all", "cross"):
            raise TrainError(
                f"vision_denoiser_train must be 'all' or 'cross', got {config.vision_denoiser_train!r}"
            )
        trainable = torch.nn.ModuleDict(
            {"perceptron": perceptron, "pose_head": objective.pose_head, "denoiser": model.denoiser}
        )
    elif stage == "gap":
        from engine.model.gap_refiner import GapRefiner, GapRefinerConfig
        from engine.train.gap import GapDataset, GapObjective

        try:
            gap_config = GapRefinerConfig.from_dict(config.gap)
        except (TypeError, ValueError) as exc:
            raise TrainError(f"gap: {exc}") from exc
        model = GapRefiner(gap_config).to(device)
        trainable = model
        objective = GapObjective(model, config.gap_augment)
    else:
        raise TrainError(f"unknown stage {stage!r}; expected 'vae', 'denoiser', 'vision' or 'gap'")

    if stage == "gap":
        sources, longest = config.gap_sources, gap_config.max_gap
        train_set: Any = GapDataset(data_dir, "train", sources, longest, config.seed)
        val_set: Any = GapDataset(data_dir, "val", sources, longest, config.seed + 1)
        if len(train_set) == 0:
            raise TrainError(
                f"{data_dir}: no full-length {config.gap_sources!r} training windows for the gap refiner "
                "(gap_sources: 'real', 'synthetic' or 'all')"
            )
    else:
        mask_config = MaskConfig()
        train_set = ShardDataset(data_dir / "train", mask_config=mask_config, seed=config.seed)
        val_set = ShardDataset(data_dir / "val", mask_config=mask_config, seed=config.seed + 1)
    if stage == "denoiser":
        measure_latent_stats(model, train_set, device, config.batch_size)
    if world > 1:
        sampler: Any = DistributedSampler(
            train_set, num_replicas=world, rank=rank, shuffle=True, seed=config.seed
        )
    else:
        sampler = RandomSampler(train_set, generator=torch.Generator().manual_seed(config.seed))
    loader = DataLoader(train_set, batch_size=config.batch_size, sampler=sampler, drop_last=True)
    val_loader = DataLoader(val_set, batch_size=config.batch_size, shuffle=False)
    if len(loader) == 0:
        raise TrainError(f"{data_dir}: fewer training windows than one batch of {config.batch_size}")

    if stage == "vision":
        fast = [p for n, p in trainable.named_parameters() if not n.startswith("denoiser.")]
        if config.vision_denoiser_train == "cross":
            vision_part = ("vision_in.", "vision_null", ".cross.", ".norm_cross.")
            for n, p in model.denoiser.named_parameters():
                p.requires_grad_(any(s in n if s.startswith(".") else n.startswith(s) for s in vision_part))
            fast += [p for p in model.denoiser.parameters() if p.requires_grad]
            groups: Any = [{"params": fast}]
        else:
            slow = list(model.denoiser.parameters())
            groups = [{"params": fast}, {"params": slow, "lr": config.lr * config.denoiser_lr_scale}]
    else:
        groups = trainable.parameters()
    optimizer = torch.optim.AdamW(groups, lr=config.lr, weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _lr_lambda(config))
    step = 0
    state_path = out / f"{stage}_state.pt"
    resumable = objective if stage == "vision" else model  # vision: the perceptron and its head too
    if resume and state_path.exists():
        state = torch.load(state_path, map_location=device, weights_only=True)
        resumable.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        step = int(state["step"])
        torch.set_rng_state(state["rng"])
    if world > 1:
        wrapped: torch.nn.Module = DistributedDataParallel(
            objective,
            device_ids=[device.index] if device.type == "cuda" else None,
            find_unused_parameters=True,
        )
    else:
        wrapped = objective
    writer = None
    if rank == 0:
        from torch.utils.tensorboard import SummaryWriter

        writer = SummaryWriter(str(out / "tb" / stage))
        (out / f"{stage}_config.json").write_text(json.dumps(config.to_dict(), indent=2))
    bar = tqdm(total=config.steps, initial=step, desc=f"train {stage}", disable=rank != 0 or not progress)
    epoch = step // len(loader)
    record: dict[str, Any] = {"history": []}
    started = time.perf_counter()
    objective.train()
    if stage in ("denoiser", "vision"):
        model.vae.eval()
    while step < config.steps:
        train_set.set_epoch(epoch)
        if isinstance(sampler, DistributedSampler):
            sampler.set_epoch(epoch)
        for batch in loader:
            if step >= config.steps:
                break
            batch = _to(batch, device)
            kwargs = {"aux_choice": step} if stage == "vae" else {}
            losses = wrapped(batch, **kwargs)
            loss = losses["loss"]
            if not torch.isfinite(loss):
                raise TrainError(f"loss became {float(loss)} at step {step}; lower lr or check the data")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(trainable.parameters(), config.grad_clip)
            optimizer.step()
            scheduler.step()
            step += 1
            bar.update(1)
            if writer is not None and step % config.log_every == 0:
                for k, v in losses.items():
                    writer.add_scalar(f"train/{k}", float(v.detach()), step)
                writer.add_scalar("train/lr", scheduler.get_last_lr()[0], step)
                bar.set_postfix(loss=f"{float(loss.detach()):.4f}")
            if rank == 0 and (step % config.val_every == 0 or step == config.steps):
                metrics = _validate(objective, val_loader, device)
                if stage in ("denoiser", "vision"):
                    model.vae.eval()
                record["history"].append(
                    {"step": step, "train": {k: float(v.detach()) for k, v in losses.items()}, "val": metrics}
                )
                if writer is not None:
                    for k, v in metrics.items():
                        writer.add_scalar(f"val/{k}", v, step)
            if rank == 0 and (step % config.checkpoint_every == 0 or step == config.steps):
                _save_state(
                    state_path,
                    {
                        "model": resumable.state_dict(),
                        "optimizer": optimizer.state_dict(),
                        "scheduler": scheduler.state_dict(),
                        "step": step,
                        "rng": torch.get_rng_state(),
                    },
                )
            if world > 1 and step % config.checkpoint_every == 0:
                dist.barrier()
        epoch += 1
    bar.close()
    final = out / f"{stage}.safetensors"
    if rank == 0:
        seconds = time.perf_counter() - started
        info = {
            "steps": step,
            "world_size": world,
            "device": device.type,
            "seconds": round(seconds, 1),
            "train_windows": len(train_set),
            "val_windows": len(val_set),
            "data": str(data_dir),
            "history": record["history"],
        }
        if stage == "vae":
            state = {k: v for k, v in model.vae.state_dict().items()}
        elif stage == "vision":
            state = dict(trainable.state_dict())
            for k in ("frame_mean", "frame_std", "global_mean", "global_std"):
                state[f"denoiser.{k}"] = getattr(model, k)
            info["vision_config"] = vision_config.to_dict()
            info["vision_format"] = "unihand.vision/1"
            info["vision_tokens"] = config.vision_tokens  # False: the no-vision ablation
        elif stage == "gap":
            from engine.model.gap_refiner import GAP_FORMAT

            state = dict(model.state_dict())
            info["gap_format"] = GAP_FORMAT
            info["gap_sources"] = config.gap_sources
        else:
            state = dict(model.denoiser.state_dict())
            for k in ("frame_mean", "frame_std", "global_mean", "global_std"):
                state[k] = getattr(model, k)
        save_checkpoint(final, stage, model.config, state, info)
        (out / f"{stage}_history.json").write_text(json.dumps(info, indent=2))
        if writer is not None:
            writer.close()
    if world > 1:
        dist.barrier()
        dist.destroy_process_group()
    return final
