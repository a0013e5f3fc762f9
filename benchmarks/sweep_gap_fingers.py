"""Finger rotations inside gaps: model, spline, or a blend by distance to the evidence?

    python benchmarks/sweep_gap_fingers.py [--data outputs/corpus] [--windows 30] [--json OUT]

Gap infilling (`main.py eval gap`'s protocol: 3D keypoints, one gap of 10, 30 or 60 frames in
120-frame windows) on the synthetic validation windows (the real split is kept for the model card),
for `RefineWeights.gap_fingers_decay` L: spline weight exp(-(d - 1) / L) at d frames from the
nearest observed frame. L = 0 is the model's articulation throughout, L = inf the spline throughout
(rotation splines of each joint); `_keypoints`: the hand fitted to a cubic spline of each keypoint
instead, `_keypoints_gp`: to each keypoint's Gaussian-process mean (`RefineWeights.gap_splines`).
`--source real --split train`: on real training windows.
Results: docs/results/gap_fingers_sweep.json (synthetic val), gap_fingers_sweep_real_train.json.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

DECAYS = (0.0, 10.0, 20.0, 40.0, math.inf)


def main(argv: list[str] | None = None) -> int:
    from benchmarks.synthetic_sweep import start_sweep
    from engine.editing.refine import RefineWeights
    from engine.eval.infill_eval import evaluate_gaps

    sweep = start_sweep(__doc__, 30, "docs/results/gap_fingers_sweep.json", argv)
    variants = [("rotations", decay) for decay in DECAYS] + [("keypoints", 20.0)]
    variants += [("keypoints_gp", 20.0), ("keypoints_gp", math.inf)]
    for splines, decay in variants:
        sweep.infiller.refine_weights = RefineWeights(gap_fingers_decay=decay, gap_splines=splines)
        gaps = evaluate_gaps(sweep.infiller, sweep.windows)
        sweep.add(
            f"decay_{decay:g}" + ("" if splines == "rotations" else f"_{splines}"),
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
