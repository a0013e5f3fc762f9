"""Shards: round trip, memory maps, validation errors, distributed and iterable reading."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, DistributedSampler

from engine.data.masks import MaskConfig
from engine.data.shards import (
    SHARDS_FORMAT,
    ShardDataset,
    ShardError,
    ShardIterableDataset,
    ShardReader,
    ShardWriter,
    config_hash,
)
from engine.errors import UniHandError


def window(i: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(i)
    return {
        "kp2d": rng.normal(size=(8, 21, 2)).astype(np.float32),
        "visible": rng.random((8, 21)) > 0.2,
        "frame_valid": np.ones(8, bool),
        "kp2d_mask": np.ones((8, 21), bool),
        "kp3d_mask": np.ones((8, 21), bool),
        "mano_mask": np.ones(8, bool),
        "channels": np.ones(3, bool),
        "sequence": np.int32(i),
    }


def write(path: Path, n: int = 23, shard_size: int = 5) -> Path:
    with ShardWriter(path, shard_size, config={"a": 1}, meta={"split": "train"}) as w:
        for i in range(n):
            w.add(window(i))
    return path


def test_round_trip_order_manifest_and_mmap(tmp_path: Path) -> None:
    path = write(tmp_path / "s")
    manifest = json.loads((path / "manifest.json").read_text())
    assert manifest["format"] == SHARDS_FORMAT and manifest["num_windows"] == 23
    assert [s["count"] for s in manifest["shards"]] == [5, 5, 5, 5, 3]
    assert manifest["keys"]["kp2d"] == {"shape": [8, 21, 2], "dtype": "<f4"}
    assert manifest["config_hash"] == config_hash({"a": 1})
    reader = ShardReader(path)
    assert len(reader) == 23
    for i in (0, 4, 5, 22, -1):
        got, expect = reader[i], window(i % 23)
        for key in expect:
            np.testing.assert_array_equal(got[key], expect[key])
    batch = reader.read_batch([22, 0, 7, 7])
    np.testing.assert_array_equal(batch["sequence"], [22, 0, 7, 7])
    assert isinstance(np.load(path / "shard-00000" / "kp2d.npy", mmap_mode="r"), np.memmap)
    with pytest.raises(IndexError):
        reader[23]
    # Writing again replaces the old shards atomically; no temp directories are left behind.
    write(path, n=3)
    assert len(ShardReader(path)) == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s"]


def test_writer_rejects_inconsistent_windows_and_non_shard_dirs(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="keys"), ShardWriter(tmp_path / "a") as w:
        w.add(window(0))
        w.add({"kp2d": window(1)["kp2d"]})
    assert not (tmp_path / "a").exists()
    with pytest.raises(ValueError, match="expected"), ShardWriter(tmp_path / "b") as w:
        w.add(window(0))
        w.add({**window(1), "kp2d": np.zeros((8, 21, 2))})  # float64
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "precious.txt").write_text("x")
    with pytest.raises(ShardError, match="not a shard directory"):
        ShardWriter(tmp_path / "c")


def test_clear_errors_for_missing_corrupt_or_foreign_shards(tmp_path: Path) -> None:
    with pytest.raises(ShardError, match="no such shard directory"):
        ShardReader(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ShardError, match=r"no manifest\.json"):
        ShardReader(tmp_path / "empty")
    path = write(tmp_path / "s")
    manifest_file = path / "manifest.json"
    good = manifest_file.read_text()
    manifest_file.write_text(good.replace(SHARDS_FORMAT, "unihand.shards/99"))
    with pytest.raises(ShardError, match=r"unihand\.shards/99"):
        ShardReader(path)
    manifest_file.write_text("{not json")
    with pytest.raises(ShardError, match="corrupt manifest"):
        ShardReader(path)
    manifest_file.write_text(good)
    (path / "shard-00002" / "visible.npy").unlink()
    with pytest.raises(ShardError, match=r"shard-00002 is missing visible\.npy"):
        ShardReader(path)
    path = write(tmp_path / "t")
    target = path / "shard-00001" / "kp2d.npy"
    target.write_bytes(target.read_bytes()[:200])  # truncated
    with pytest.raises(UniHandError, match="shard-00001"):
        ShardReader(path)
    path = write(tmp_path / "u")
    target = path / "shard-00003" / "kp2d.npy"
    data = bytearray(target.read_bytes())
    data[-1] ^= 0xFF  # flipped payload bit: same size and header
    target.write_bytes(bytes(data))
    ShardReader(path)  # headers and sizes are fine
    with pytest.raises(ShardError, match="checksum"):
        ShardReader(path, verify=True)
    with pytest.raises(ShardError, match="no keys"):
        ShardReader(write(tmp_path / "v"), keys=["nope"])


def test_map_dataset_with_distributed_sampler_covers_every_window_once(tmp_path: Path) -> None:
    ds = ShardDataset(write(tmp_path / "s", n=24), keys=["sequence", "kp2d"])
    seen = []
    for rank in range(3):
        sampler = DistributedSampler(ds, num_replicas=3, rank=rank, shuffle=True, seed=1)
        sampler.set_epoch(2)
        loader = DataLoader(ds, batch_size=4, sampler=sampler)
        for batch in loader:
            assert batch["kp2d"].shape[1:] == (8, 21, 2) and batch["kp2d"].dtype == torch.float32
            seen.extend(batch["sequence"].tolist())
    assert sorted(seen) == list(range(24))


def test_fresh_masks_per_epoch_are_deterministic(tmp_path: Path) -> None:
    path = write(tmp_path / "s")
    ds = ShardDataset(path, mask_config=MaskConfig(), seed=3)
    a = ds[4]["kp2d_mask"].clone()
    assert torch.equal(ShardDataset(path, mask_config=MaskConfig(), seed=3)[4]["kp2d_mask"], a)
    changed = False
    for epoch in range(1, 6):
        ds.set_epoch(epoch)
        changed |= not torch.equal(ds[4]["kp2d_mask"], a)
    assert changed
    assert not (ds[4]["kp2d_mask"] & ~ds[4]["visible"]).any()


def test_iterable_dataset_splits_ranks_and_workers_deterministically(tmp_path: Path) -> None:
    path = write(tmp_path / "s", n=23)
    parts = []
    for rank in range(2):
        ds = ShardIterableDataset(path, keys=["sequence"], seed=5, rank=rank, world_size=2)
        ds.set_epoch(1)
        got = [int(w["sequence"]) for w in ds]
        assert len(got) == len(ds) == 11
        again = [int(w["sequence"]) for w in ds]
        assert got == again
        parts.append(got)
    assert not set(parts[0]) & set(parts[1])
    ds = ShardIterableDataset(path, keys=["sequence"], shuffle=False, rank=0, world_size=1, drop_last=False)
    assert [int(w["sequence"]) for w in ds] == list(range(23))
    batched = ShardIterableDataset(path, keys=["sequence"], rank=0, world_size=1, batch_size=8)
    sizes = [b["sequence"].shape[0] for b in DataLoader(batched, batch_size=None)]
    assert sum(sizes) == 23 and max(sizes) == 8
    with pytest.raises(ValueError, match="rank"):
        ShardIterableDataset(path, rank=2, world_size=2)
