"""The Gaussian-process gap prior's covariance, chosen on real training windows.

    python benchmarks/sweep_gap_kernel.py [--data outputs/corpus] [--json OUT]

`main.py eval gap`'s protocol (all 21 3D keypoints observed in a 120-frame window except one gap of
10, 30 or 60 frames), on the real *training* windows (the real validation split is kept for the
model card): MPJPE on the gap frames of the keypoints alone, a natural cubic spline against the
Gaussian-process mean of `engine/editing/gap_prior.py` for covariances made of Matern-5/2
components (length scale in frames, variance): one component of each length scale, then the best
short one plus a long one. Every window gets `--gaps-per-window` seeded gap positions per length.
Shipped: `gap_prior.COMPONENTS`.
Results: docs/results/gap_kernel_sweep.json.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

SINGLE = [((scale, 1.0),) for scale in (8.0, 12.0, 16.0, 20.0, 24.0, 28.0, 32.0, 48.0)]
PAIRS = [((20.0, 1.0), (scale, var)) for scale in (40.0, 60.0, 90.0) for var in (0.3, 1.0, 2.0, 4.0)]


def _name(components: tuple[tuple[float, float], ...]) -> str:
    return "matern52_" + "+".join(f"{variance:g}x{scale:g}" for scale, variance in components)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", default="outputs/corpus")
    parser.add_argument("--gaps-per-window", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default="docs/results/gap_kernel_sweep.json")
    args = parser.parse_args(argv)
    from engine.editing import gap_prior
    from engine.eval import metrics
    from engine.eval.infill_eval import GAPS, interpolate, load_windows
    from engine.files import write_text_atomic

    windows = load_windows(args.data, "real", split="train").kp3d
    rng = np.random.default_rng(args.seed)
    report: dict = {
        "data": args.data,
        "split": "train (real windows only)",
        "windows": len(windows),
        "gaps_per_window": args.gaps_per_window,
        "shipped": _name(gap_prior.COMPONENTS),
    }
    for gap in GAPS:
        rows: dict[str, list[float]] = {"cubic": []} | {_name(c): [] for c in SINGLE + PAIRS}
        for kp in windows:
            flat = kp.reshape(len(kp), -1)
            # At least 10 observed frames on either side, as `main.py eval gap` leaves.
            for start in rng.integers(10, len(kp) - gap - 10 + 1, size=args.gaps_per_window):
                observed = np.ones(len(kp), dtype=bool)
                observed[start : start + gap] = False
                truth, frames = kp[~observed], np.flatnonzero(~observed)
                rows["cubic"].append(metrics.mpjpe(interpolate(kp, observed, "cubic")[~observed], truth))
                for components in SINGLE + PAIRS:
                    mean = gap_prior.fill(flat, observed, frames, components).reshape(-1, 21, 3)
                    rows[_name(components)].append(metrics.mpjpe(mean, truth))
        cubic = float(np.mean(rows["cubic"]))
        row = {k: {"mm": round(float(np.mean(v)), 2), "ratio_to_cubic": round(float(np.mean(v)) / cubic, 3)}
               for k, v in rows.items()}  # fmt: skip
        report[f"gap_{gap}"] = row
        print(f"gap {gap}: {json.dumps(row)}", flush=True)
    write_text_atomic(args.json, json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
