"""Finger rotations inside gaps: model, rotation spline, or a blend by distance to the evidence?

    python benchmarks/sweep_gap_fingers.py [--data outputs/corpus] [--windows 30] [--json OUT]

Gap infilling (`main.py eval gap`'s protocol: 3D keypoints, one gap of 10, 30 or 60 frames in
120-frame windows) on the synthetic validation windows (the real split is kept for the model card),
for `RefineWeights.gap_fingers_decay` L: spline weight exp(-(d - 1) / L) at d frames from the
nearest observed frame. L = 0 is the model's articulation throughout, L = inf the spline throughout.
Results: docs/results/gap_fingers_sweep.json.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

DECAYS = (0.0, 5.0, 10.0, 20.0, math.inf)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", default="outputs/corpus")
    parser.add_argument("--windows", type=int, default=30)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", default="docs/results/gap_fingers_sweep.json")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    from engine.editing.infill import load_infiller
    from engine.editing.refine import RefineWeights
    from engine.eval.infill_eval import evaluate_gaps, load_windows
    from engine.files import write_text_atomic

    infiller = load_infiller("cpu")
    windows = load_windows(args.data, "synthetic", args.windows, 0)
    report: dict = {"data": args.data, "source": "synthetic val", "windows": len(windows.names), "steps": 10}
    for decay in DECAYS:
        infiller.refine_weights = RefineWeights(gap_fingers_decay=decay)
        gaps = evaluate_gaps(infiller, windows)
        report[f"decay_{decay:g}"] = {
            k: {"model_mm": round(v["model"], 2), "cubic_mm": round(v["cubic"], 2),
                "ratio": round(v["ratio_to_best_baseline"], 3)}
            for k, v in gaps.items()
        }  # fmt: skip
        print(decay, json.dumps(report[f"decay_{decay:g}"]), flush=True)
    write_text_atomic(args.json, json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
