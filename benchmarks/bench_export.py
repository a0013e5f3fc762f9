"""Export time per format for one hand over a 1,000-frame motion (default hand, 30 fps).

Wall time of `engine.export.export_motions` from an in-memory motion to a finished file on disk:
the rig (forward kinematics in float64), encoding and the atomic write; for FBX also starting
Blender in its own process. Median and min over --repeats runs, file sizes in KB.

python benchmarks/bench_export.py [--frames 1000] [--repeats 5] [--threads 2] [--formats glb,bvh,npz,fbx]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.export import export_motions
from engine.export.tools import blender_python
from engine.hand.model import HandModel
from engine.hand.registry import get_hand_model_data
from engine.motion.types import HandMotion


def moving_hand(frames: int, fps: float = 30.0, side: str = "right", seed: int = 0) -> HandMotion:
    """Fingers waving about a mid flexion while the wrist turns and travels (as in the tests)."""
    rng = np.random.default_rng(seed)
    t = np.arange(frames)[:, None] / fps
    hand_pose = rng.uniform(0.1, 0.4, 45) * np.sin(2 * np.pi * 0.8 * t + rng.uniform(0, 6.3, 45))
    global_orient = np.hstack([0.4 * np.sin(t), 1.2 * t, 0.3 + 0.2 * np.cos(2 * t)])
    transl = np.hstack([0.05 * np.sin(3 * t), -0.03 * t, 0.55 + 0.04 * np.cos(t)])
    betas = rng.normal(size=10) * 0.5
    model = HandModel(get_hand_model_data("default", side), dtype=torch.float64)
    with torch.no_grad():
        keypoints = model(hand_pose, global_orient, betas, transl).keypoints.numpy()
    return HandMotion(fps, side, "default", global_orient, hand_pose, transl, betas, keypoints)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--frames", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--formats", default="glb,bvh,npz,fbx")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    motion = moving_hand(args.frames)
    results: dict = {"frames": args.frames, "threads": torch.get_num_threads(), "formats": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for fmt in args.formats.split(","):
            if fmt == "fbx" and blender_python() is None:
                results["formats"][fmt] = "skipped: python -m engine.export.tools install blender"
                continue
            out = Path(tmp) / f"hand.{fmt}"
            export_motions([motion], out)  # warm-up: imports, caches, disk
            times = []
            for _ in range(args.repeats):
                start = time.perf_counter()
                export_motions([motion], out)
                times.append(time.perf_counter() - start)
            results["formats"][fmt] = {
                "median_s": round(statistics.median(times), 3),
                "min_s": round(min(times), 3),
                "size_kb": round(out.stat().st_size / 1024),
            }
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
