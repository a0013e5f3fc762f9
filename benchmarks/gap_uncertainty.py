"""How sure are the gap-infilling ratios? Bootstrap intervals on the real validation split.

    python benchmarks/gap_uncertainty.py [--data outputs/corpus] [--source real|synthetic]
        [--resamples 2000] [--json OUT]

`main.py eval gap`'s protocol (one seeded gap of 10, 30 or 60 frames per 120-frame window, all 21
3D keypoints observed elsewhere) on all real validation windows, scoring the keypoints that the
hand is fitted to: the Gaussian-process prior and the prior corrected by the shipped gap refiner,
each against the cubic spline (the card's full-model numbers differ from these by about 1%). For
each, the ratio of mean errors and its 95% bootstrap interval, resampling windows, and resampling
whole captures (windows cut from one capture overlap and move alike, so this interval is the
honest one), plus the share of windows on which it beats the spline. No model sampling: about a
minute on 2 cores. Results: docs/results/gap_uncertainty.json; with `--source synthetic` (our
procedural motion, which the refiner never trained on; the "captures" are synthetic sequences)
docs/results/gap_uncertainty_synthetic.json.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def _interval(values: list[float]) -> list[float]:
    return [round(float(v), 3) for v in np.percentile(values, [2.5, 97.5])]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", default="outputs/corpus")
    parser.add_argument("--source", choices=("real", "synthetic"), default="real")
    parser.add_argument("--resamples", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", help="default: docs/results/gap_uncertainty[_synthetic].json")
    args = parser.parse_args(argv)
    from engine.editing.gap_prior import keypoint_fill
    from engine.editing.infill import default_gap_checkpoint
    from engine.eval.infill_eval import GAPS, gap_positions, interpolate, load_windows
    from engine.files import write_text_atomic
    from engine.model.gap_refiner import load_gap_refiner

    refiner = load_gap_refiner(default_gap_checkpoint())
    windows = load_windows(args.data, args.source, limit=None)
    suffix = "" if args.source == "real" else f"_{args.source}"
    out = args.json or f"docs/results/gap_uncertainty{suffix}.json"
    names = np.array(windows.names)
    captures = np.unique(names)
    members = {c: np.flatnonzero(names == c) for c in captures}
    rng = np.random.default_rng(args.seed)
    report: dict = {"data": args.data, "source": args.source, "windows": len(names)}
    report["captures"] = len(captures)
    for gap in GAPS:
        errors: dict[str, list[float]] = {"cubic": [], "gp_prior": [], "learned_prior": []}
        for kp, start in zip(windows.kp3d, gap_positions(len(names), gap), strict=True):
            observed = np.ones(len(kp), dtype=bool)
            observed[start : start + gap] = False
            mask = np.repeat(observed[:, None], 21, axis=1)
            frames = np.flatnonzero(~observed)
            truth = kp[frames]
            fills = {
                "cubic": interpolate(kp, observed, "cubic")[frames],
                "gp_prior": keypoint_fill(kp, mask, frames),
                "learned_prior": refiner.fill(kp, mask, frames),
            }
            for k, v in fills.items():
                errors[k].append(float(np.linalg.norm(v - truth, axis=-1).mean() * 1000))
        cubic = np.array(errors["cubic"])
        row: dict = {"cubic_mm": round(float(cubic.mean()), 2)}
        for name in ("gp_prior", "learned_prior"):
            e = np.array(errors[name])
            by_window, by_capture = [], []
            for _ in range(args.resamples):
                i = rng.integers(0, len(e), len(e))
                by_window.append(e[i].sum() / cubic[i].sum())
                j = np.concatenate([members[c] for c in rng.choice(captures, len(captures))])
                by_capture.append(e[j].sum() / cubic[j].sum())
            row[name] = {
                "mm": round(float(e.mean()), 2),
                "ratio_to_cubic": round(float(e.sum() / cubic.sum()), 3),
                "interval_windows": _interval(by_window),
                "interval_captures": _interval(by_capture),
                "share_better_than_cubic": round(float((e < cubic).mean()), 2),
            }
        report[f"gap_{gap}"] = row
        print(f"gap {gap}: {json.dumps(row)}", flush=True)
    write_text_atomic(out, json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
