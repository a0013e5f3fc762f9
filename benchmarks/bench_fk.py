"""Forward kinematics (vertices + 21 keypoints) on the CPU: median and p90 ms, and the speed-up
over smplx's MANO layer on the same model data.

python benchmarks/bench_fk.py [--frames 1000] [--repeats 30] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.eval.bench import bench_forward_kinematics


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--frames", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    results = {"threads": torch.get_num_threads(), "frames": args.frames}
    for name in ("default", "procedural"):
        results[name] = bench_forward_kinematics(name, args.frames, args.repeats, against_smplx=True)
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
