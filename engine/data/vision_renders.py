"""Rendered training windows for the vision path: `python main.py data renders`.

Each window of a source shard directory (camera-space MANO motion, `engine.data.windows`) is drawn
with `engine.data.render` at a small landscape size, passed through the frozen vision backbone,
and written as a window of the same schema plus `tokens` (T, H', W', C) float16: the backbone's
dense tokens. The window's camera is re-framed for the picture (`frame_camera`), so `K`,
`image_size`, `kp2d`, `kp2d_norm` and `visible` are recomputed for it; everything else (canonical
motion, betas, camera-to-canonical) is the source window's. Training reads these shards like any
other (`ShardDataset`, fresh masks per epoch); the backbone never runs in the training loop.

Train renders come from the training shards and validation renders from the validation shards,
so the held-out renders show motions, objects and captures that training never saw.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from engine.data.shards import ShardReader, ShardWriter

RENDERS_FORMAT = "unihand.renders/1"


@dataclass(frozen=True)
class RenderConfig:
    width: int = 256
    height: int = 144
    layer: str = "stage5"  # backbone token layer (engine.model.backbone)
    fill_min: float = 0.15  # share of the picture's longer side the hand spans
    fill_max: float = 0.45
    seed: int = 0


def render_training_window(
    window: dict[str, np.ndarray],
    faces: np.ndarray,
    vertices: np.ndarray,
    config: RenderConfig,
    rng: np.random.Generator,
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """A source window and its camera-space vertices (T,V,3) -> (updated window, frames (T,H,W,3))."""
    from engine.data.render import frame_camera, render_window, sample_style
    from engine.motion.camera import Camera

    size = (config.width, config.height)
    valid = window["frame_valid"]
    kp3d_cam = window["kp3d_cam"]
    source = Camera(window["K"].astype(np.float64), *(int(v) for v in window["image_size"]))
    camera = frame_camera(
        kp3d_cam[valid], source.normalised_focal, size, rng, (config.fill_min, config.fill_max)
    )
    style = sample_style(rng, config.width, config.height, len(valid))
    frames = render_window(vertices, faces, camera, style, rng)
    kp2d = np.zeros((*kp3d_cam.shape[:-1], 2))
    kp2d[valid] = camera.project(kp3d_cam[valid].astype(np.float64))  # padded frames stay zero
    inside = (kp2d >= 0).all(-1) & (kp2d[..., 0] < size[0]) & (kp2d[..., 1] < size[1])
    out = dict(window)
    out.update(
        K=camera.K.astype(np.float32),
        image_size=np.array(size, dtype=np.int32),
        kp2d=kp2d.astype(np.float32),
        kp2d_norm=np.where(valid[:, None, None], camera.normalise_2d(kp2d), 0).astype(np.float32),
        visible=inside & valid[:, None],
    )
    return out, frames


class _Worker:
    """Per-process state: the hand model and the backbone, built once."""

    def __init__(self, config: RenderConfig) -> None:
        import torch

        from engine.hand import create_hand_model
        from engine.model.backbone import VisionBackbone

        torch.set_num_threads(1)
        self.torch = torch
        self.config = config
        self.hand = create_hand_model("default", "right")
        self.faces = np.asarray(self.hand.faces, dtype=np.int64)
        self.backbone = VisionBackbone(layer=config.layer, max_side=None, batch_size=16)

    def __call__(self, item: tuple[int, dict[str, np.ndarray]]) -> tuple[dict[str, np.ndarray], np.ndarray]:
        index, window = item
        rng = np.random.default_rng([self.config.seed, index])
        pose = self.torch.from_numpy(window["mano_pose_cam"])
        with self.torch.no_grad():
            verts = self.hand(
                pose[:, 3:],
                pose[:, :3],
                self.torch.from_numpy(window["betas"]),
                self.torch.from_numpy(window["mano_transl_cam"]),
            ).vertices.numpy()
        out, frames = render_training_window(window, self.faces, verts, self.config, rng)
        out["tokens"] = self.backbone(frames).numpy().astype(np.float16)
        return out, frames[:: max(1, len(frames) // 4)]


_WORKER: _Worker | None = None


def _init(config: RenderConfig) -> None:
    global _WORKER
    _WORKER = _Worker(config)


def _run(item: tuple[int, dict[str, np.ndarray]]) -> tuple[dict[str, np.ndarray], np.ndarray]:
    assert _WORKER is not None
    return _WORKER(item)


def choose_windows(num_windows: int, count: int, seed: int) -> np.ndarray:
    """`count` distinct source windows (all of them if fewer), in a seeded random order."""
    order = np.random.default_rng(seed).permutation(num_windows)
    return np.sort(order[: min(count, num_windows)])


def build_renders(
    source: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    count: int,
    config: RenderConfig | None = None,
    workers: int = 1,
    progress: bool = True,
) -> dict[str, Any]:
    """Render `count` windows of the shard directory `source` into shards at `out_dir`."""
    from tqdm import tqdm

    config = config or RenderConfig()
    reader = ShardReader(source)
    chosen = choose_windows(len(reader), count, config.seed)

    def items() -> Iterator[tuple[int, dict[str, np.ndarray]]]:
        for i in chosen:
            yield int(i), reader[int(i)]

    meta = {
        "format": RENDERS_FORMAT,
        "source": str(source),
        "render": asdict(config),
        "windows": chosen.tolist(),
    }
    bar = tqdm(total=len(chosen), desc=f"render {Path(out_dir).name}", unit="window", disable=not progress)
    with (
        ShardWriter(out_dir, shard_size=64, config=asdict(config), meta=meta) as writer,
        ExitStack() as stack,
    ):
        if workers <= 1:
            _init(config)
            results: Iterator[Any] = map(_run, items())
        else:
            pool = stack.enter_context(
                multiprocessing.get_context("spawn").Pool(workers, initializer=_init, initargs=(config,))
            )
            results = pool.imap(_run, items(), chunksize=2)
        for window, _sample in results:
            writer.add(window)
            bar.update(1)
    bar.close()
    return meta
