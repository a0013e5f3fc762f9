"""Finger rotations inside gaps: model, rotation spline, or a blend by distance to the evidence?

    python benchmarks/sweep_gap_fingers.py [--data outputs/corpus] [--windows 30] [--json OUT]

Gap infilling (`main.py eval gap`'s protocol: 3D keypoints, one gap of 10, 30 or 60 frames in
120-frame windows) on the synthetic validation windows (the real split is kept for the model card),
for `RefineWeights.gap_fingers_decay` L: spline weight exp(-(d - 1) / L) at d frames from the
nearest observed frame. L = 0 is the model's articulation throughout, L = inf the spline throughout.
Results: docs/results/gap_fingers_sweep.json.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

DECAYS = (0.0, 5.0, 10.0, 20.0, math.inf)


def main(argv: list[str] | None = None) -> int:
    from benchmarks.synthetic_sweep import start_sweep
    from engine.editing.refine import RefineWeights
    from engine.eval.infill_eval import evaluate_gaps

    sweep = start_sweep(__doc__, 30, "docs/results/gap_fingers_sweep.json", argv)
    for decay in DECAYS:
        sweep.infiller.refine_weights = RefineWeights(gap_fingers_decay=decay)
        gaps = evaluate_gaps(sweep.infiller, sweep.windows)
        sweep.add(
            f"decay_{decay:g}",
            {
                k: {"model_mm": round(v["model"], 2), "cubic_mm": round(v["cubic"], 2),
                    "ratio": round(v["ratio_to_best_baseline"], 3)}
                for k, v in gaps.items()
            },
        )  # fmt: skip
    sweep.write()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
