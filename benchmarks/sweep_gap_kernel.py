"""The Gaussian-process gap prior's covariance, chosen on real training windows.

    python benchmarks/sweep_gap_kernel.py [--data outputs/corpus] [--json OUT]

`main.py eval gap`'s protocol (all 21 3D keypoints observed in a 120-frame window except one gap of
10, 30 or 60 frames), on the real *training* windows (the real validation split is kept for the
model card): MPJPE on the gap frames of the keypoints alone, a natural cubic spline against the
Gaussian-process mean of `engine/editing/gap_prior.py` for Matern-5/2 length scales in frames.
Every window gets `--gaps-per-window` seeded gap positions per length. Shipped: LENGTH_SCALE.
Results: docs/results/gap_kernel_sweep.json.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

LENGTH_SCALES = (8.0, 12.0, 16.0, 20.0, 24.0, 28.0, 32.0, 48.0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", default="outputs/corpus")
    parser.add_argument("--gaps-per-window", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default="docs/results/gap_kernel_sweep.json")
    args = parser.parse_args(argv)
    from benchmarks.gap_predictability import CONTEXT, _train_windows
    from engine.editing import gap_prior
    from engine.eval import metrics
    from engine.eval.infill_eval import GAPS, interpolate
    from engine.files import write_text_atomic

    windows = _train_windows(Path(args.data))
    rng = np.random.default_rng(args.seed)
    report: dict = {
        "data": args.data,
        "split": "train (real windows only)",
        "windows": len(windows),
        "gaps_per_window": args.gaps_per_window,
        "shipped_length_scale": gap_prior.LENGTH_SCALE,
    }
    for gap in GAPS:
        rows: dict[str, list[float]] = {"cubic": []} | {f"matern52_{s:g}": [] for s in LENGTH_SCALES}
        for kp in windows:
            for start in rng.integers(CONTEXT, len(kp) - gap - CONTEXT + 1, size=args.gaps_per_window):
                observed = np.ones(len(kp), dtype=bool)
                observed[start : start + gap] = False
                truth, frames = kp[~observed], np.flatnonzero(~observed)
                rows["cubic"].append(metrics.mpjpe(interpolate(kp, observed, "cubic")[~observed], truth))
                flat = kp.reshape(len(kp), -1)
                for scale in LENGTH_SCALES:
                    mean = gap_prior.fill(flat, observed, frames, scale).reshape(-1, 21, 3)
                    rows[f"matern52_{scale:g}"].append(metrics.mpjpe(mean, truth))
        cubic = float(np.mean(rows["cubic"]))
        row = {k: {"mm": round(float(np.mean(v)), 2), "ratio_to_cubic": round(float(np.mean(v)) / cubic, 3)}
               for k, v in rows.items()}  # fmt: skip
        report[f"gap_{gap}"] = row
        print(f"gap {gap}: {json.dumps(row)}", flush=True)
    write_text_atomic(args.json, json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
