"""Shards of training windows: fixed-size, memory-mapped, validated, deterministic.

Layout of a shard directory (format ``unihand.shards/1``)::

    DIR/manifest.json            format, counts, per-key window shape and dtype, config hash, meta
    DIR/shard-00000/KEY.npy      one uncompressed .npy per key, first axis = windows in the shard
    DIR/shard-00001/...

One ``.npy`` per key (rather than an ``.npz``) because ``np.load(mmap_mode="r")`` maps ``.npy``
files but silently reads ``.npz`` members whole; mapping means a reader touches only the windows it
asks for, and forked DataLoader workers share the page cache. Windows keep the order they were
added in; every shard but the last holds exactly `shard_size` windows. The writer builds into a
temporary sibling directory and renames it into place at the end, so a crash never leaves a
directory that looks complete. Readers check the manifest and every file's header (shape and
dtype) on open and say which shard or key is wrong; `verify=True` also checks SHA-256 sums.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, IterableDataset, get_worker_info

from engine.errors import FileFormatError

SHARDS_FORMAT = "unihand.shards/1"
MANIFEST = "manifest.json"


class ShardError(FileFormatError):
    """A shard directory is missing, incomplete, corrupt or of another format."""


def config_hash(config: dict[str, Any]) -> str:
    """A stable hash of a JSON-able config (sorted keys), independent of git and machine."""
    text = json.dumps(config, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class ShardWriter:
    """Write windows (dicts of arrays with the same keys, shapes and dtypes) into shards.

    Use as a context manager or call `close()`; `abort()` throws everything away.
    """

    def __init__(
        self,
        out_dir: str | os.PathLike[str],
        shard_size: int = 1024,
        config: dict[str, Any] | None = None,
        meta: dict[str, Any] | None = None,
        checksums: bool = True,
    ) -> None:
        if shard_size < 1:
            raise ValueError(f"shard_size must be >= 1, got {shard_size}")
        self.out_dir = Path(out_dir)
        if self.out_dir.exists() and not (self.out_dir / MANIFEST).is_file() and any(self.out_dir.iterdir()):
            raise ShardError(f"{self.out_dir} exists and is not a shard directory; refusing to overwrite it")
        self.shard_size = shard_size
        self.config = config or {}
        self.meta = meta or {}
        self.checksums = checksums
        self._tmp = self.out_dir.with_name(f".{self.out_dir.name}.tmp-{os.getpid()}")
        if self._tmp.exists():
            shutil.rmtree(self._tmp)
        self._tmp.mkdir(parents=True)
        self._schema: dict[str, tuple[tuple[int, ...], np.dtype]] | None = None
        self._buffer: list[dict[str, np.ndarray]] = []
        self._shards: list[dict[str, Any]] = []
        self._count = 0
        self._closed = False

    def __enter__(self) -> ShardWriter:
        return self

    def __exit__(self, exc_type: Any, *_: Any) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    @property
    def count(self) -> int:
        return self._count

    def add(self, window: dict[str, Any]) -> None:
        arrays = {k: np.asarray(v) for k, v in window.items()}
        if self._schema is None:
            self._schema = {k: (a.shape, a.dtype) for k, a in sorted(arrays.items())}
        if set(arrays) != set(self._schema):
            raise ValueError(
                f"window keys {sorted(arrays)} differ from the first window's {sorted(self._schema)}"
            )
        for key, (shape, dtype) in self._schema.items():
            a = arrays[key]
            if a.shape != shape or a.dtype != dtype:
                raise ValueError(
                    f"window {self._count}: {key} is {a.shape} {a.dtype}, expected {shape} {dtype}"
                )
        self._buffer.append(arrays)
        self._count += 1
        if len(self._buffer) == self.shard_size:
            self._flush()

    def _flush(self) -> None:
        if not self._buffer or self._schema is None:
            return
        name = f"shard-{len(self._shards):05d}"
        folder = self._tmp / name
        folder.mkdir()
        files = {}
        for key in self._schema:
            path = folder / f"{key}.npy"
            np.save(path, np.stack([w[key] for w in self._buffer]), allow_pickle=False)
            files[key] = {
                "bytes": path.stat().st_size,
                **({"sha256": _sha256(path)} if self.checksums else {}),
            }
        self._shards.append({"name": name, "count": len(self._buffer), "files": files})
        self._buffer = []

    def close(self) -> dict[str, Any]:
        """Finish the last shard, write the manifest and move the directory into place."""
        if self._closed:
            raise RuntimeError("ShardWriter is closed")
        self._flush()
        schema = self._schema or {}
        manifest = {
            "format": SHARDS_FORMAT,
            "num_windows": self._count,
            "shard_size": self.shard_size,
            "keys": {k: {"shape": list(s), "dtype": d.str} for k, (s, d) in schema.items()},
            "shards": self._shards,
            "config_hash": config_hash(self.config),
            "config": self.config,
            "meta": self.meta,
        }
        (self._tmp / MANIFEST).write_text(json.dumps(manifest, indent=1, default=str))
        if self.out_dir.exists():
            shutil.rmtree(self.out_dir)
        self.out_dir.parent.mkdir(parents=True, exist_ok=True)
        os.replace(self._tmp, self.out_dir)
        self._closed = True
        return manifest

    def abort(self) -> None:
        shutil.rmtree(self._tmp, ignore_errors=True)
        self._closed = True


def read_manifest(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The validated manifest of the shard directory `path`."""
    folder = Path(path)
    file = folder / MANIFEST
    if not folder.is_dir():
        raise ShardError(f"{folder}: no such shard directory (build one with `python main.py data build`)")
    if not file.is_file():
        raise ShardError(f"{folder}: no {MANIFEST}; not a shard directory, or its build did not finish")
    try:
        manifest = json.loads(file.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ShardError(f"{file}: corrupt manifest ({exc})") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != SHARDS_FORMAT:
        got = manifest.get("format") if isinstance(manifest, dict) else None
        raise ShardError(f"{file}: format is {got!r}, expected {SHARDS_FORMAT!r}")
    for key in ("num_windows", "keys", "shards"):
        if key not in manifest:
            raise ShardError(f"{file}: missing {key!r}")
    counts = [int(s["count"]) for s in manifest["shards"]]
    if sum(counts) != manifest["num_windows"]:
        raise ShardError(
            f"{file}: shard counts sum to {sum(counts)}, manifest says {manifest['num_windows']}"
        )
    return manifest


class ShardReader:
    """Random access to the windows of a shard directory through memory maps.

    Files are mapped lazily per process (so the reader pickles small for spawned DataLoader workers).
    """

    def __init__(self, path: str | os.PathLike[str], keys: Sequence[str] | None = None, verify: bool = False):
        self.path = Path(path)
        self.manifest = read_manifest(self.path)
        all_keys = list(self.manifest["keys"])
        unknown = sorted(set(keys or ()) - set(all_keys))
        if unknown:
            raise ShardError(f"{self.path}: no keys {unknown} in these shards (they have {all_keys})")
        self.keys = list(keys) if keys is not None else all_keys
        counts = np.array([int(s["count"]) for s in self.manifest["shards"]], dtype=np.int64)
        self._offsets = np.concatenate([[0], np.cumsum(counts)])
        self._maps: dict[tuple[int, str], np.ndarray] = {}
        self._pid = os.getpid()
        for i in range(len(counts)):
            for key in self.keys:
                self._open(i, key, verify=verify)
        self._maps.clear()

    def __len__(self) -> int:
        return int(self._offsets[-1])

    @property
    def num_shards(self) -> int:
        return len(self.manifest["shards"])

    def shard_range(self, shard: int) -> range:
        """Global window indices held by `shard`."""
        return range(int(self._offsets[shard]), int(self._offsets[shard + 1]))

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_maps"] = {}
        return state

    def _open(self, shard: int, key: str, verify: bool = False) -> np.ndarray:
        if os.getpid() != self._pid:  # forked: map again in this process
            self._maps, self._pid = {}, os.getpid()
        cached = self._maps.get((shard, key))
        if cached is not None:
            return cached
        info = self.manifest["shards"][shard]
        file = self.path / info["name"] / f"{key}.npy"
        expect_shape = (int(info["count"]), *self.manifest["keys"][key]["shape"])
        expect_dtype = np.dtype(self.manifest["keys"][key]["dtype"])
        if not file.is_file():
            raise ShardError(f"{self.path}: shard {info['name']} is missing {key}.npy")
        try:
            arr = np.load(file, mmap_mode="r", allow_pickle=False)
        except (ValueError, OSError) as exc:
            raise ShardError(f"{file}: corrupt shard file ({exc})") from exc
        if arr.shape != expect_shape or arr.dtype != expect_dtype:
            raise ShardError(
                f"{file}: holds {arr.shape} {arr.dtype}, the manifest says {expect_shape} {expect_dtype}"
            )
        recorded = info.get("files", {}).get(key, {})
        if "bytes" in recorded and file.stat().st_size != recorded["bytes"]:
            raise ShardError(f"{file}: {file.stat().st_size} bytes, the manifest says {recorded['bytes']}")
        if verify and "sha256" in recorded and _sha256(file) != recorded["sha256"]:
            raise ShardError(f"{file}: checksum mismatch (corrupt shard)")
        self._maps[(shard, key)] = arr
        return arr

    def _locate(self, index: int) -> tuple[int, int]:
        n = len(self)
        if not -n <= index < n:
            raise IndexError(f"window {index} out of range for {n} windows")
        index %= n
        shard = int(np.searchsorted(self._offsets, index, side="right") - 1)
        return shard, index - int(self._offsets[shard])

    def __getitem__(self, index: int) -> dict[str, np.ndarray]:
        shard, local = self._locate(int(index))
        return {key: np.array(self._open(shard, key)[local]) for key in self.keys}

    def read_batch(self, indices: Sequence[int]) -> dict[str, np.ndarray]:
        """Stacked windows at `indices` (any order), gathering per shard with one fancy index."""
        idx = np.asarray(indices, dtype=np.int64)
        shards = np.searchsorted(self._offsets, idx, side="right") - 1
        out: dict[str, np.ndarray] = {}
        for key in self.keys:
            spec = self.manifest["keys"][key]
            buf = np.empty((len(idx), *spec["shape"]), dtype=np.dtype(spec["dtype"]))
            for shard in np.unique(shards):
                sel = np.flatnonzero(shards == shard)
                buf[sel] = self._open(int(shard), key)[idx[sel] - self._offsets[shard]]
            out[key] = buf
        return out


def _to_torch(window: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    # np.ascontiguousarray would turn 0-d values into 1-d ones; copy only when torch needs it.
    return {
        k: torch.from_numpy(v if v.flags.c_contiguous and v.flags.writeable else np.array(v))
        for k, v in window.items()
    }


def _resample_masks(
    window: dict[str, np.ndarray], mask_config: Any, seed: int, epoch: int, index: int
) -> None:
    from engine.data.masks import mask_rng, sample_masks

    rng = mask_rng(seed, epoch, index)
    sample = sample_masks(
        rng, len(window["frame_valid"]), mask_config, window["visible"], window["frame_valid"]
    )
    window.update(sample.as_dict())


class ShardDataset(Dataset):
    """Map-style dataset of windows as dicts of tensors; works with `DistributedSampler`.

    With `mask_config`, masks are drawn afresh per (seed, epoch, index) instead of the stored ones,
    so every epoch sees new occlusions; call `set_epoch` like the sampler's.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        keys: Sequence[str] | None = None,
        mask_config: Any | None = None,
        seed: int = 0,
    ) -> None:
        self.reader = ShardReader(path, keys)
        self.mask_config = mask_config
        self.seed = seed
        self.epoch = 0
        if mask_config is not None:
            need = {"visible", "frame_valid"} - set(self.reader.keys)
            if need:
                raise ShardError(f"fresh masks need the keys {sorted(need)}")

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.reader)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        window = self.reader[index]
        if self.mask_config is not None:
            _resample_masks(window, self.mask_config, self.seed, self.epoch, int(index))
        return _to_torch(window)


class ShardIterableDataset(IterableDataset):
    """Streams windows shard by shard (sequential reads), split over ranks and DataLoader workers.

    Order per epoch: shards in a seeded permutation, windows within each shard permuted, then
    consumer ``r`` of ``R = world_size * num_workers`` takes every R-th window. With `drop_last`
    every consumer gets the same count (needed for lock-step distributed training); otherwise the
    order is padded by wrapping round. Deterministic for a given (seed, epoch, rank, world size).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        keys: Sequence[str] | None = None,
        shuffle: bool = True,
        seed: int = 0,
        rank: int | None = None,
        world_size: int | None = None,
        drop_last: bool = True,
        batch_size: int | None = None,
    ) -> None:
        self.reader = ShardReader(path, keys)
        self.shuffle = shuffle
        self.seed = seed
        if rank is None or world_size is None:
            dist = torch.distributed
            ready = dist.is_available() and dist.is_initialized()
            rank = dist.get_rank() if ready else 0 if rank is None else rank
            world_size = dist.get_world_size() if ready else 1 if world_size is None else world_size
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is not in [0, {world_size})")
        self.rank, self.world_size = rank, world_size
        self.drop_last = drop_last
        self.batch_size = batch_size
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def order(self, consumer: int = 0, consumers: int = 1) -> np.ndarray:
        """Global window indices consumer `consumer` of `consumers` (ranks x workers) reads."""
        rng = np.random.default_rng([self.seed, self.epoch])
        shards = rng.permutation(self.reader.num_shards) if self.shuffle else range(self.reader.num_shards)
        parts = []
        for s in shards:
            r = np.arange(self.reader.shard_range(int(s)).start, self.reader.shard_range(int(s)).stop)
            parts.append(rng.permutation(r) if self.shuffle else r)
        full = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
        if self.drop_last:
            full = full[: len(full) - len(full) % consumers]
        elif len(full) % consumers:
            full = np.concatenate([full, full[: consumers - len(full) % consumers]])
        return full[consumer::consumers]

    def __len__(self) -> int:
        return len(self.order(self.rank, self.world_size))

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        info = get_worker_info()
        workers, worker = (1, 0) if info is None else (info.num_workers, info.id)
        consumers = self.world_size * workers
        mine = self.order(self.rank * workers + worker, consumers)
        step = self.batch_size or 64
        for start in range(0, len(mine), step):
            chunk = mine[start : start + step]
            batch = self.reader.read_batch(chunk)
            if self.batch_size:
                yield _to_torch(batch)
            else:
                for i in range(len(chunk)):
                    yield _to_torch({k: v[i] for k, v in batch.items()})
