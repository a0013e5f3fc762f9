"""The model's own path across 3D keypoint gaps, without the refinement's splines.

    python benchmarks/gap_model_trajectory.py [--data outputs/corpus] [--windows 30] [--json OUT]

`main.py eval gap`'s protocol on the real validation windows (a diagnosis of the shipped model, no
setting is chosen from it), with `DiffusionInfiller.spline_gaps = False`: across a gap the hand
follows the model's motion plus the refinement's offsets interpolated from the observed frames.
Once with one sample, once with the mean of 4 samples' joints: if averaging does not help, the
error is the model's bias, not sampling noise.
Results: docs/results/gap_model_trajectory.json.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", default="outputs/corpus")
    parser.add_argument("--windows", type=int, default=30)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", default="docs/results/gap_model_trajectory.json")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    from engine.editing.infill import load_infiller
    from engine.eval.infill_eval import evaluate_gaps, load_windows
    from engine.files import write_text_atomic

    infiller = load_infiller("cpu")
    windows = load_windows(args.data, "real", args.windows, 0)
    report: dict = {"data": args.data, "source": "real val", "windows": len(windows.names), "steps": 10}
    for name, spline_gaps, samples in (
        ("splines", True, 1),
        ("model", False, 1),
        ("model_mean_of_4", False, 4),
    ):
        infiller.spline_gaps = spline_gaps
        gaps = evaluate_gaps(infiller, windows, samples=samples)
        report[name] = {
            k: {"model_mm": round(v["model"], 2), "cubic_mm": round(v["cubic"], 2),
                "ratio": round(v["ratio_to_best_baseline"], 3)}
            for k, v in gaps.items()
        }  # fmt: skip
        print(name, json.dumps(report[name]), flush=True)
    infiller.spline_gaps = True
    write_text_atomic(args.json, json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
