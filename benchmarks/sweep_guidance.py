"""How many DDIM steps need classifier-free guidance (the infiller's `guided_fraction`)?

    python benchmarks/sweep_guidance.py [--data outputs/corpus] [--windows 40] [--json OUT]

Runs `main.py eval`'s gap and lift tasks on the synthetic validation windows (the real split is
kept for the model card's final numbers) with guidance on all, the first half, the first 30% and
none of 10 steps. Fewer guided steps means fewer denoiser passes: with kp2d and kp3d both guided a
guided step is 3 passes, an unguided one 1. Results: docs/results/guidance_interval.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

FRACTIONS = {"all": 1.0, "half": 0.5, "first_30pct": 0.3, "none": 0.0}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", default="outputs/corpus")
    parser.add_argument("--windows", type=int, default=40)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", default="docs/results/guidance_interval.json")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    from engine.editing.infill import load_infiller
    from engine.eval.infill_eval import evaluate_gaps, evaluate_lifting, load_windows
    from engine.files import write_text_atomic

    infiller = load_infiller("cpu")
    windows = load_windows(args.data, "synthetic", args.windows, 0)
    report: dict = {"data": args.data, "source": "synthetic val", "windows": len(windows.names), "steps": 10}
    for name, fraction in FRACTIONS.items():
        infiller.guided_fraction = fraction
        started = time.perf_counter()
        gap = evaluate_gaps(infiller, windows)
        lift = evaluate_lifting(infiller, windows)
        report[name] = {
            "guided_fraction": fraction,
            "gap_mpjpe_mm": {k: round(v["model"], 2) for k, v in gap.items()},
            "gap_ratio_to_best_baseline": {k: round(v["ratio_to_best_baseline"], 3) for k, v in gap.items()},
            "lift": {k: round(lift[k], 2) for k in ("pa_mpjpe", "mpjpe", "ga_mpjpe", "accel")},
            "seconds": round(time.perf_counter() - started, 1),
        }
        print(name, json.dumps(report[name]), flush=True)
    write_text_atomic(args.json, json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
