"""Shard write and load speed (windows/s) on windows of the real schema (120 frames, all keys).

python benchmarks/bench_shards.py [--windows 4096] [--shard-size 512] [--workers 0] [--dir DIR]

Random window contents: speed depends on bytes, not values. Reads come from the page cache after
the write, as in training once a shard has been touched; a cold read is bounded by the disk.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, DistributedSampler

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.data.masks import MaskConfig
from engine.data.shards import ShardDataset, ShardIterableDataset, ShardReader, ShardWriter
from engine.data.windows import window_schema


def random_window(rng: np.random.Generator, length: int) -> dict[str, np.ndarray]:
    out = {}
    for key, (shape, dtype) in window_schema(length).items():
        if dtype == "bool":
            out[key] = rng.random(shape) > 0.3
        else:
            out[key] = rng.normal(size=shape).astype(dtype)
    return out


def rate(count: int, seconds: float) -> float:
    return round(count / seconds, 1)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--windows", type=int, default=4096)
    parser.add_argument("--shard-size", type=int, default=512)
    parser.add_argument("--length", type=int, default=120)
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument("--dir", default=None, help="where to write (default: a temporary directory)")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    pool = [random_window(rng, args.length) for _ in range(64)]
    results: dict[str, object] = {
        "windows": args.windows,
        "shard_size": args.shard_size,
        "length": args.length,
    }
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        path = Path(tmp) / "shards"
        start = time.perf_counter()
        with ShardWriter(path, args.shard_size) as writer:
            for i in range(args.windows):
                writer.add(pool[i % len(pool)])
        results["write_windows_per_s"] = rate(args.windows, time.perf_counter() - start)
        size = sum(f.stat().st_size for f in path.rglob("*.npy"))
        results["bytes_per_window"] = size // args.windows

        start = time.perf_counter()
        ShardReader(path, verify=True)
        results["open_with_checksums_s"] = round(time.perf_counter() - start, 3)
        start = time.perf_counter()
        reader = ShardReader(path)
        results["open_s"] = round(time.perf_counter() - start, 4)

        order = rng.permutation(args.windows)
        start = time.perf_counter()
        for i in order:
            reader[int(i)]
        results["random_getitem_windows_per_s"] = rate(args.windows, time.perf_counter() - start)

        start = time.perf_counter()
        for b in range(0, args.windows, 64):
            reader.read_batch(order[b : b + 64])
        results["random_read_batch64_windows_per_s"] = rate(args.windows, time.perf_counter() - start)

        ds = ShardDataset(path)
        sampler = DistributedSampler(ds, num_replicas=1, rank=0, shuffle=True, seed=0)
        loader = DataLoader(ds, batch_size=64, sampler=sampler, num_workers=args.workers)
        start = time.perf_counter()
        n = sum(batch["kp3d"].shape[0] for batch in loader)
        results["dataloader_distributed_sampler_windows_per_s"] = rate(n, time.perf_counter() - start)

        ds_masks = ShardDataset(path, mask_config=MaskConfig())
        loader = DataLoader(ds_masks, batch_size=64, shuffle=True, num_workers=args.workers)
        start = time.perf_counter()
        n = sum(batch["kp3d"].shape[0] for batch in loader)
        results["dataloader_fresh_masks_windows_per_s"] = rate(n, time.perf_counter() - start)

        it = ShardIterableDataset(path, rank=0, world_size=1, batch_size=64)
        start = time.perf_counter()
        n = sum(batch["kp3d"].shape[0] for batch in DataLoader(it, batch_size=None, num_workers=args.workers))
        results["iterable_batched_windows_per_s"] = rate(n, time.perf_counter() - start)
    results["threads"] = torch.get_num_threads()
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
