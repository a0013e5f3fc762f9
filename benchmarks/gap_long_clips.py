"""Gap infilling in long clips: several gaps of 3D keypoints in one 600-frame clip, so the model's
overlapping windows and the gap prior's neighbourhoods both come into play.

    python benchmarks/gap_long_clips.py [--fits outputs/real_fits] [--clips 6] [--json OUT]

Clips are the first 600 frames of seeded real captures of the **validation** split (held-out
objects; nothing is tuned here), centred half a metre in front of the camera. Each gets gaps of 10,
30, 60, 30 and 10 frames, 130 frames apart, with all 21 keypoints observed elsewhere. MPJPE over
all gap frames for the cubic spline, the Gaussian-process prior alone, that prior corrected by the
learned gap refiner alone, and the infiller with rotation splines, with the Gaussian-process prior
or with the learned one (`RefineWeights.gap_splines`), 10 DDIM steps; also the median time of
one whole-clip infill with each.
Results: docs/results/gap_long_clips.json.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

FRAMES = 600
GAPS = ((30, 10), (160, 30), (290, 60), (420, 30), (550, 10))  # (start, length)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--fits", default="outputs/real_fits")
    parser.add_argument("--clips", type=int, default=6)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default="docs/results/gap_long_clips.json")
    args = parser.parse_args(argv)
    import torch

    from engine.data.real_corpus import load_fitted_corpus
    from engine.editing.gap_prior import keypoint_fill
    from engine.editing.infill import load_infiller
    from engine.editing.refine import RefineWeights
    from engine.editing.request import InfillRequest
    from engine.eval.infill_eval import interpolate
    from engine.eval.metrics import mpjpe
    from engine.files import write_text_atomic
    from engine.motion.types import Conditions

    torch.set_num_threads(2)
    sequences = [
        s
        for path in sorted(Path(args.fits).glob("*.npz"))
        for s in load_fitted_corpus(path)
        if s.split == "val" and s.motion.num_frames >= FRAMES
    ]
    rng = np.random.default_rng(args.seed)
    count = min(args.clips, len(sequences))
    picked = [sequences[i] for i in sorted(rng.choice(len(sequences), count, replace=False))]
    infiller = load_infiller("cpu")
    observed = np.ones(FRAMES, dtype=bool)
    for start, length in GAPS:
        observed[start : start + length] = False
    mask = np.repeat(observed[:, None], 21, axis=1)
    splines = ("rotations", "keypoints_gp", "keypoints_learned")
    rows: dict[str, list[float]] = {k: [] for k in ("cubic", "gp_prior", "learned_prior", *splines)}
    seconds: dict[str, list[float]] = {k: [] for k in splines}
    clips = []
    for seq in picked:
        kp = seq.motion.joints[:FRAMES].astype(np.float64)
        kp = kp - kp[:, 0].mean(axis=0) + np.array([0.0, 0.0, 0.5])
        truth = kp[~observed]
        rows["cubic"].append(mpjpe(interpolate(kp, observed, "cubic")[~observed], truth))
        rows["gp_prior"].append(mpjpe(keypoint_fill(kp, mask, np.flatnonzero(~observed)), truth))
        if infiller.gap_refiner is not None:
            learned = infiller.gap_refiner.fill(kp, mask, np.flatnonzero(~observed))
            rows["learned_prior"].append(mpjpe(learned, truth))
        cond = Conditions(
            fps=30.0, num_frames=FRAMES, kp3d=np.where(mask[..., None], kp, np.nan), kp3d_mask=mask
        )
        for name in splines:
            infiller.refine_weights = RefineWeights(gap_splines=name)
            result = infiller(InfillRequest(cond, steps=10))
            rows[name].append(mpjpe(result.motion.joints[~observed], truth))
            seconds[name].append(result.seconds)
        latest = {k: round(v[-1], 2) for k, v in rows.items() if v}
        clips.append({"name": f"{seq.dataset}/{seq.name}"} | latest)
        print(json.dumps(clips[-1]), flush=True)
    mean = {k: round(float(np.mean(v)), 2) for k, v in rows.items() if v}
    report = {"fits": args.fits, "frames": FRAMES, "gaps": GAPS, "mean_mm": mean, "clips": clips}
    report["ratio_to_cubic"] = {k: round(v / mean["cubic"], 3) for k, v in mean.items()}
    report["infill_seconds_median"] = {k: round(float(np.median(v)), 2) for k, v in seconds.items()}
    print(json.dumps(report["mean_mm"]), json.dumps(report["ratio_to_cubic"]))
    write_text_atomic(args.json, json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
