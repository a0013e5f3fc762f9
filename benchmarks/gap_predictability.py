"""How far can anything learned from our training data beat a cubic spline over 3D keypoint gaps?

    python benchmarks/gap_predictability.py [--data outputs/corpus] [--windows 60] [--json OUT]

A reference for the gap targets of the model card (`main.py eval gap`'s protocol: the same real
validation windows and gap positions, one gap of 10, 30 or 60 frames in 120). For each gap length
a ridge regression is fitted on the real *training* windows (8 random gap positions each): per
joint, from the 10 observed frames on either side of the gap and the joint's cubic spline through
the gap (all relative to the mean of the two frames that bound the gap), it predicts the spline's
error on every gap frame. The same weights serve x, y and z, so the predictor does not depend on
the camera's orientation. It knows the gap length (one regression per length), which the model does
not need to, so it is a generous linear reference, not a method we ship.
Results: docs/results/gap_predictability.json.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

CONTEXT = 10  # observed frames on either side that the regression reads
TRAIN_GAPS_PER_WINDOW = 8
RIDGE = 1e-4  # on features in metres; 1e-3 gave the same to 1% (one-off check)


def _features(kp: np.ndarray, start: int, gap: int, spline: np.ndarray) -> np.ndarray:
    """(2*CONTEXT + gap, 21, 3) for one window `kp` (T,21,3) with a gap at [start, start+gap)."""
    ref = (kp[start - 1] + kp[start + gap]) / 2
    before = kp[start - CONTEXT : start] - ref
    after = kp[start + gap : start + gap + CONTEXT] - ref
    return np.concatenate([before, after, spline[start : start + gap] - ref], axis=0)


def _cubic(kp: np.ndarray, observed: np.ndarray) -> np.ndarray:
    from engine.eval.infill_eval import interpolate

    return interpolate(kp, observed, "cubic")


def fit_ridge(windows: np.ndarray, gap: int, rng: np.random.Generator) -> np.ndarray:
    """-> (21, F, gap) weights per joint: features -> spline error on the gap frames."""
    feats, errors = [], []
    for kp in windows:
        for start in rng.integers(CONTEXT, len(kp) - gap - CONTEXT + 1, size=TRAIN_GAPS_PER_WINDOW):
            observed = np.ones(len(kp), dtype=bool)
            observed[start : start + gap] = False
            spline = _cubic(kp, observed)
            feats.append(_features(kp, start, gap, spline))
            errors.append(kp[start : start + gap] - spline[start : start + gap])
    x, y = np.stack(feats), np.stack(errors)  # (N,F,21,3), (N,gap,21,3)
    weights = []
    for j in range(21):
        a = x[:, :, j].transpose(0, 2, 1).reshape(-1, x.shape[1])  # rows: (window, axis)
        b = y[:, :, j].transpose(0, 2, 1).reshape(-1, gap)
        weights.append(np.linalg.solve(a.T @ a + RIDGE * np.eye(a.shape[1]), a.T @ b))
    return np.stack(weights)


def predict(weights: np.ndarray, kp: np.ndarray, start: int, gap: int, spline: np.ndarray) -> np.ndarray:
    f = _features(kp, start, gap, spline)  # (F,21,3)
    correction = np.einsum("fjc,jfg->gjc", f, weights)
    return spline[start : start + gap] + correction


def _train_windows(data: Path) -> np.ndarray:
    from engine.data.shards import ShardReader, read_manifest

    path = data / "train"
    sequences = read_manifest(path)["meta"]["sequences"]
    reader = ShardReader(path, keys=["kp3d", "frame_valid", "sequence"])
    batch = reader.read_batch(list(range(len(reader))))
    keep = batch["frame_valid"].all(axis=1)
    keep &= np.array([sequences[int(s)]["source"] == "real" for s in batch["sequence"]])
    return batch["kp3d"][keep].astype(np.float64)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", default="outputs/corpus")
    parser.add_argument("--windows", type=int, default=60)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default="docs/results/gap_predictability.json")
    args = parser.parse_args(argv)
    from engine.eval import metrics
    from engine.eval.infill_eval import GAPS, gap_positions, interpolate, load_windows
    from engine.files import write_text_atomic

    train = _train_windows(Path(args.data))
    val = load_windows(args.data, "real", args.windows or None, args.seed)
    report: dict = {
        "data": args.data,
        "train_windows": len(train),
        "val_windows": len(val.names),
        "context": CONTEXT,
        "ridge": RIDGE,
    }
    for gap in GAPS:
        weights = fit_ridge(train, gap, np.random.default_rng([args.seed, gap]))
        rows: dict[str, list[float]] = {"linear": [], "cubic": [], "ridge": []}
        for kp, start in zip(val.kp3d, gap_positions(len(val.names), gap, seed=args.seed), strict=True):
            observed = np.ones(len(kp), dtype=bool)
            observed[start : start + gap] = False
            truth = kp[~observed]
            spline = _cubic(kp, observed)
            rows["linear"].append(metrics.mpjpe(interpolate(kp, observed, "linear")[~observed], truth))
            rows["cubic"].append(metrics.mpjpe(spline[~observed], truth))
            rows["ridge"].append(metrics.mpjpe(predict(weights, kp, start, gap, spline), truth))
        mean = {k: round(float(np.mean(v)), 2) for k, v in rows.items()}
        mean["ridge_ratio_to_best_baseline"] = round(mean["ridge"] / min(mean["linear"], mean["cubic"]), 3)
        report[f"gap_{gap}"] = mean
        print(f"gap {gap}: {json.dumps(mean)}", flush=True)
    write_text_atomic(args.json, json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
