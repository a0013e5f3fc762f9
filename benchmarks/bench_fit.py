"""Fitting: speed on a 1,000-frame sequence and recovery of known synthetic motion.

    python benchmarks/bench_fit.py [--sequences 16] [--repeats 3] [--out docs/results/fitting_synthetic.json]

Speed: median wall time of `fit_keypoints` on 1,000 frames of synthetic keypoints (frames/s).
Recovery: synthetic sequences from engine/data/synthetic.py (known parameters, right hands, varied
shapes) fitted from their keypoints alone; MPJPE against the true keypoints, in mm.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.data.fitting import fit_keypoints
from engine.data.synthetic import generate_corpus, generate_sequence


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sequences", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    long = generate_sequence(seed=12345, num_frames=1000)
    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        result = fit_keypoints(long.motion.joints)
        times.append(time.perf_counter() - start)
    seconds = float(np.median(times))
    errors = []
    for seq in generate_corpus(args.sequences, seed=777, num_frames=120):
        fit = fit_keypoints(seq.motion.joints)
        errors.append(np.linalg.norm(fit.motion.joints - seq.motion.joints, axis=-1))
    errors = np.concatenate(errors) * 1000.0
    report = {
        "threads": torch.get_num_threads(),
        "fit_1000_frames_s_p50": round(seconds, 3),
        "fit_frames_per_s": round(1000.0 / seconds, 1),
        "fit_1000_frames_mpjpe_mm": round(result.mpjpe * 1000.0, 3),
        "recovery_sequences": args.sequences,
        "recovery_frames": int(errors.shape[0]),
        "recovery_mpjpe_mm": round(float(errors.mean()), 3),
        "recovery_p95_mm": round(float(np.percentile(errors, 95)), 3),
        "recovery_max_mm": round(float(errors.max()), 3),
    }
    print(json.dumps(report, indent=1))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
