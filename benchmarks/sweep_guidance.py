"""How many DDIM steps need classifier-free guidance (the infiller's `guided_fraction`)?

    python benchmarks/sweep_guidance.py [--data outputs/corpus] [--windows 40] [--json OUT]

Runs `main.py eval`'s gap and lift tasks on the synthetic validation windows (the real split is
kept for the model card's final numbers) with guidance on all, the first half, the first 30% and
none of 10 steps. Fewer guided steps means fewer denoiser passes: with kp2d and kp3d both guided a
guided step is 3 passes, an unguided one 1. Results: docs/results/guidance_interval.json.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

FRACTIONS = {"all": 1.0, "half": 0.5, "first_30pct": 0.3, "none": 0.0}


def main(argv: list[str] | None = None) -> int:
    from benchmarks.synthetic_sweep import start_sweep
    from engine.eval.infill_eval import evaluate_gaps, evaluate_lifting

    sweep = start_sweep(__doc__, 40, "docs/results/guidance_interval.json", argv)
    for name, fraction in FRACTIONS.items():
        sweep.infiller.guided_fraction = fraction
        started = time.perf_counter()
        gap = evaluate_gaps(sweep.infiller, sweep.windows)
        lift = evaluate_lifting(sweep.infiller, sweep.windows)
        sweep.add(
            name,
            {
                "guided_fraction": fraction,
                "gap_mpjpe_mm": {k: round(v["model"], 2) for k, v in gap.items()},
                "gap_ratio_to_best_baseline": {
                    k: round(v["ratio_to_best_baseline"], 3) for k, v in gap.items()
                },
                "lift": {k: round(lift[k], 2) for k in ("pa_mpjpe", "mpjpe", "ga_mpjpe", "accel")},
                "seconds": round(time.perf_counter() - started, 1),
            },
        )
    sweep.write()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
