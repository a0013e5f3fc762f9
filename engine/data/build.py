"""`python main.py data build`: synthetic (+ real fitted) sequences -> train/val window shards.

Splits never mix: validation windows come only from whole sequences whose split is "val" (real
corpus) or from synthetic sequences generated from a seed range disjoint from training's. Every
random choice (cameras, mirroring, masks) comes from a generator keyed by (seed, split, sequence,
...), so the same config writes the same shards bit for bit.

Output (`out_dir`): ``train/`` and ``val/`` shard directories (engine/data/shards.py) and
``summary.json``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
import tomllib
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from engine.data.masks import MaskConfig, mask_rng, sample_masks
from engine.data.shards import ShardWriter, config_hash
from engine.data.windows import WindowConfig, make_windows, mirror_motion, to_storage
from engine.errors import UniHandError
from engine.motion.resample import resample_motion
from engine.motion.types import HandMotion

SPLITS = ("train", "val")
_SPLIT_ID = {"train": 0, "val": 1}
_MIRROR_4X4 = np.diag([-1.0, 1.0, 1.0, 1.0])


class DataBuildError(UniHandError):
    """A data-build config or input is wrong (the message says which key or file)."""


@dataclass(frozen=True)
class DataBuildConfig:
    """Everything `build_corpus` needs; loadable from TOML or JSON (`load_build_config`)."""

    out_dir: str = "outputs/corpus"
    synthetic_sequences: int = 200  # total (about 40 s on 2 cores); `synthetic_val_fraction` go to val
    synthetic_val_fraction: float = 0.2
    synthetic_frames: int = 240
    seed: int = 0
    val_seed_offset: int = 1_000_000  # synthetic val seeds start here: disjoint from train's
    real_path: str | None = None  # fitted corpora (engine/data/real_corpus.py), comma-separated, or None
    cameras_per_real_sequence: int = 1
    moving_camera: bool | None = None  # None: sample_camera_track decides per sequence
    mirror_prob: float = 0.25  # right hands turned into left hands (then mirrored back in)
    window_length: int = 120
    window_stride: int = 60
    window_min_length: int = 60
    fps: float = 30.0
    shard_size: int = 512
    masks: MaskConfig = field(default_factory=MaskConfig)

    def __post_init__(self) -> None:
        if self.synthetic_sequences < 0:
            raise DataBuildError(f"synthetic_sequences must be >= 0, got {self.synthetic_sequences}")
        if not 0.0 <= self.synthetic_val_fraction < 1.0:
            raise DataBuildError(
                f"synthetic_val_fraction must be in [0, 1), got {self.synthetic_val_fraction}"
            )
        if not 0.0 <= self.mirror_prob <= 1.0:
            raise DataBuildError(f"mirror_prob must be in [0, 1], got {self.mirror_prob}")
        if self.shard_size < 1 or self.cameras_per_real_sequence < 1:
            raise DataBuildError("shard_size and cameras_per_real_sequence must be >= 1")
        try:
            self.window_config()
        except ValueError as exc:
            raise DataBuildError(f"window settings: {exc}") from exc

    def window_config(self) -> WindowConfig:
        return WindowConfig(self.window_length, self.window_stride, self.fps, self.window_min_length)

    @property
    def synthetic_split(self) -> tuple[int, int]:
        """(train, val) synthetic sequence counts."""
        n = self.synthetic_sequences
        val = 0 if n < 2 else max(1, math.floor(n * self.synthetic_val_fraction + 0.5))
        return n - val, val

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["masks"] = self.masks.to_dict()
        return out

    def replace(self, **changes: Any) -> DataBuildConfig:
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values.update(changes)
        return DataBuildConfig(**values)

    @classmethod
    def from_dict(cls, values: dict[str, Any], source: str = "config") -> DataBuildConfig:
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise DataBuildError(f"{source}: unknown keys {unknown}; known keys are {sorted(names)}")
        values = dict(values)
        try:
            if "masks" in values:
                values["masks"] = MaskConfig.from_dict(values["masks"])
            return cls(**values)
        except (TypeError, ValueError) as exc:
            raise DataBuildError(f"{source}: {exc}") from exc


def load_build_config(path: str | os.PathLike[str]) -> DataBuildConfig:
    """A `DataBuildConfig` from a .toml or .json file (keys as the dataclass fields)."""
    file = Path(path)
    if not file.is_file():
        raise DataBuildError(f"{file}: no such config file")
    try:
        if file.suffix.lower() == ".toml":
            values = tomllib.loads(file.read_text())
        elif file.suffix.lower() == ".json":
            values = json.loads(file.read_text())
        else:
            raise DataBuildError(f"{file}: config files must end in .toml or .json")
    except (tomllib.TOMLDecodeError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataBuildError(f"{file}: cannot parse ({exc})") from exc
    if not isinstance(values, dict):
        raise DataBuildError(f"{file}: expected a table of settings")
    return DataBuildConfig.from_dict(values, source=str(file))


@dataclass(frozen=True)
class BuildSummary:
    out_dir: str
    train_windows: int
    val_windows: int
    train_sequences: int
    val_sequences: int
    seconds: float
    config_hash: str

    @property
    def windows_per_second(self) -> float:
        return (self.train_windows + self.val_windows) / max(self.seconds, 1e-9)


@dataclass
class _Item:
    """One sequence on its way to windows: world-frame motion and, for synthetic data, its camera."""

    name: str
    source: str
    motion: HandMotion
    track: Any | None  # CameraTrack, or None: place one with sample_camera_track
    index: int


def _synthetic_items(config: DataBuildConfig, split: str, train_seeds: set[int]) -> Iterator[_Item]:
    try:
        from engine.data.synthetic import generate_corpus
    except ImportError as exc:  # pragma: no cover - only while the generator is being written
        raise DataBuildError(f"the synthetic generator is not available ({exc})") from exc
    n_train, n_val = config.synthetic_split
    count, seed = (
        (n_train, config.seed) if split == "train" else (n_val, config.seed + config.val_seed_offset)
    )
    if count == 0:
        return
    for i, seq in enumerate(generate_corpus(count, seed, num_frames=config.synthetic_frames)):
        if split == "train":
            train_seeds.add(int(seq.seed))
        elif int(seq.seed) in train_seeds:
            raise DataBuildError(f"synthetic val sequence seed {seq.seed} is also a training seed")
        yield _Item(f"synthetic/{seq.kind}/{seq.seed}", "synthetic", seq.motion, seq.camera, i)


def _real_items(sequences: Iterable[tuple[str, str, HandMotion]], split: str) -> Iterator[_Item]:
    for i, (name, seq_split, motion) in enumerate(sequences):
        if seq_split not in SPLITS:
            raise DataBuildError(f"real sequence {name!r}: split {seq_split!r} is not 'train' or 'val'")
        if seq_split == split:
            yield _Item(f"real/{name}", "real", motion, None, i)


def _items_to_windows(
    items: Iterable[_Item],
    config: DataBuildConfig,
    split: str,
    writer: ShardWriter,
    progress: bool,
    total: int | None = None,
) -> tuple[int, list[dict[str, Any]]]:
    from tqdm import tqdm

    from engine.data.cameras import sample_camera_track

    wcfg = config.window_config()
    sid = _SPLIT_ID[split]
    sequences: list[dict[str, Any]] = []
    bar = tqdm(items, desc=f"{split} sequences", unit="seq", total=total, disable=not progress)
    for item in bar:
        source_id = 0 if item.source == "synthetic" else 1
        rng = np.random.default_rng([config.seed, sid, source_id, item.index])
        motion = item.motion
        if abs(motion.fps - config.fps) > 1e-9:
            motion = resample_motion(motion, config.fps)
            item.track = None  # the synthetic camera was at the old rate: place a new one
        tracks = [item.track] if item.track is not None else []
        while len(tracks) < (config.cameras_per_real_sequence if item.source == "real" else 1):
            tracks.append(
                sample_camera_track(
                    rng, motion.joints, config.fps, moving=config.moving_camera, handedness=motion.handedness
                )
            )
        for track in tracks:
            mirrored_in = motion.handedness == "right" and rng.random() < config.mirror_prob
            m, t = motion, track
            if mirrored_in:
                # A right hand seen in a mirror is a left hand seen by the mirrored camera.
                m = mirror_motion(motion)
                t = dataclasses.replace(track, cam_to_world=_MIRROR_4X4 @ track.cam_to_world @ _MIRROR_4X4)
            seq_index = len(sequences)
            sequences.append(
                {
                    "name": item.name,
                    "source": item.source,
                    "frames": motion.num_frames,
                    "handedness": m.handedness,
                }
            )
            for window in make_windows(m, t, wcfg):
                masks = sample_masks(
                    mask_rng(config.seed, sid, writer.count), wcfg.length, config.masks,
                    window["visible"], window["frame_valid"],
                )  # fmt: skip
                window.update(masks.as_dict())
                window["sequence"] = np.int32(seq_index)
                writer.add(to_storage(window, wcfg.length))
        bar.set_postfix(windows=writer.count)
    return writer.count, sequences


def build_corpus(
    config: DataBuildConfig | None = None,
    real_sequences: Iterable[tuple[str, str, HandMotion]] | None = None,
    progress: bool = True,
) -> BuildSummary:
    """Write train/val shards under `config.out_dir` (see the module docstring).

    `real_sequences` overrides `config.real_path` (any iterable of (name, split, world motion)).
    """
    config = config or DataBuildConfig()
    start = time.perf_counter()
    out = Path(config.out_dir)
    if real_sequences is None and config.real_path is not None:
        try:
            from engine.data.real_corpus import iter_fitted_sequences
        except ImportError as exc:
            raise DataBuildError(f"the real corpus reader is not available ({exc})") from exc
        # Several corpora (e.g. GRAB and ARCTIC fits) are given comma-separated.
        real_paths = [p.strip() for p in config.real_path.split(",") if p.strip()]
        for path in real_paths:
            if not Path(path).exists():
                raise DataBuildError(f"{path}: no such fitted corpus")

        def real_factory() -> Iterable[tuple[str, str, HandMotion]]:
            return (seq for path in real_paths for seq in iter_fitted_sequences(path))
    elif real_sequences is not None:
        real_list = list(real_sequences)

        def real_factory() -> Iterable[tuple[str, str, HandMotion]]:
            return real_list
    else:

        def real_factory() -> Iterable[tuple[str, str, HandMotion]]:
            return ()

    has_real = real_sequences is not None or config.real_path is not None
    _check_disjoint_seeds(config)
    digest = config_hash(config.to_dict())
    counts: dict[str, tuple[int, int]] = {}
    train_seeds: set[int] = set()  # SPLITS puts train first, so val can be checked against it
    for split in SPLITS:
        meta: dict[str, Any] = {"split": split}
        writer = ShardWriter(out / split, config.shard_size, config=config.to_dict(), meta=meta)
        try:
            items: Iterator[_Item] = _chain(
                _synthetic_items(config, split, train_seeds), _real_items(real_factory(), split)
            )
            # Real corpora are streamed, so their length is unknown up front.
            total = None if has_real else config.synthetic_split[_SPLIT_ID[split]]
            n, sequences = _items_to_windows(items, config, split, writer, progress, total)
            meta["sequences"] = sequences
            writer.close()
        except BaseException:
            writer.abort()
            raise
        counts[split] = (n, len(sequences))
    summary = BuildSummary(
        out_dir=str(out),
        train_windows=counts["train"][0],
        val_windows=counts["val"][0],
        train_sequences=counts["train"][1],
        val_sequences=counts["val"][1],
        seconds=time.perf_counter() - start,
        config_hash=digest,
    )
    (out / "summary.json").write_text(json.dumps({**asdict(summary), "config": config.to_dict()}, indent=1))
    return summary


def _chain(*iterables: Iterable[_Item]) -> Iterator[_Item]:
    for it in iterables:
        yield from it


def _check_disjoint_seeds(config: DataBuildConfig) -> None:
    n_train, n_val = config.synthetic_split
    if n_val and config.val_seed_offset < n_train:
        raise DataBuildError(
            f"val_seed_offset {config.val_seed_offset} overlaps the {n_train} training seeds; make it larger"
        )
