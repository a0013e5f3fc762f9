"""Fit the real captures in ../shared/data/real with the default hand and report the fit error.

    python scripts/fit_real_corpus.py [--data ../shared/data/real] [--out outputs/real_fits] [--limit N]

Writes one fitted corpus per dataset (outputs/real_fits/<dataset>.npz, ignored by git: the captures'
licences forbid redistribution), docs/results/fitting_real.json with the numbers, and
docs/images/fit_real_examples.png (fitted vs captured keypoints of a few sequences).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.data.real_corpus import fit_capture, load_capture_file, save_fitted_corpus
from engine.paths import shared_data_dir

REPO = Path(__file__).resolve().parent.parent
MP21_SHORT = ["W", "T1", "T2", "T3", "T4", "I1", "I2", "I3", "I4", "M1", "M2", "M3", "M4",
              "R1", "R2", "R3", "R4", "P1", "P2", "P3", "P4"]  # fmt: skip


def summarise(fitted: list) -> dict:
    out: dict = {}
    for split in ("train", "val", "all"):
        chosen = [f for f in fitted if split in ("all", f.split)]
        if not chosen:
            continue
        errors = np.concatenate([f.errors for f in chosen]) * 1000.0
        out[split] = {
            "sequences": len(chosen),
            "frames": int(errors.shape[0]),
            "mpjpe_mm": round(float(np.nanmean(errors)), 3),
            "p95_mm": round(float(np.nanpercentile(errors, 95)), 3),
            "per_keypoint_mm": dict(
                zip(MP21_SHORT, np.round(np.nanmean(errors, axis=0), 2).tolist(), strict=True)
            ),
        }
    return out


def plot_examples(fitted: list, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from engine.hand.skeleton import MP21_PARENTS

    picks = fitted[:: max(1, len(fitted) // 4)][:4]
    fig, axes = plt.subplots(1, len(picks), figsize=(4.5 * len(picks), 4.8), subplot_kw={"projection": "3d"})
    for ax, seq in zip(np.atleast_1d(axes), picks, strict=False):
        frame = int(np.nanargmax(np.nanmean(seq.errors, axis=1)))  # the worst frame: the honest one
        for pts, colour, label in (
            (seq.captured[frame], "k", "captured"),
            (seq.motion.joints[frame], "tab:red", "fitted"),
        ):
            for child, parent in enumerate(MP21_PARENTS):
                if parent >= 0:
                    ax.plot(*np.stack([pts[parent], pts[child]]).T, color=colour, lw=1.5)
            ax.scatter(*pts.T, color=colour, s=8, label=label)
        centre = seq.captured[frame].mean(0)
        for set_lim, c in zip((ax.set_xlim, ax.set_ylim, ax.set_zlim), centre, strict=True):
            set_lim(c - 0.1, c + 0.1)
        err = np.nanmean(seq.errors[frame]) * 1000
        ax.set_title(f"{seq.dataset}/{seq.name}\nworst frame {frame}: {err:.1f} mm", fontsize=9)
        ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=REPO / "outputs" / "real_fits")
    parser.add_argument("--limit", type=int, default=None, help="fit only the first N sequences per file")
    args = parser.parse_args(argv)
    data = args.data or shared_data_dir() / "real"
    report: dict = {}
    all_fitted = []
    for name in ("grab_s1", "arctic"):
        sequences = load_capture_file(data / f"{name}.npz")[: args.limit]
        frames = sum(len(s.joints) for s in sequences)
        bar = tqdm(total=frames, desc=name, unit="frame")
        start = time.perf_counter()
        fitted = fit_capture(sequences, progress=lambda s, bar=bar: bar.update(len(s.joints)))
        seconds = time.perf_counter() - start
        bar.close()
        save_fitted_corpus(args.out / f"{name}.npz", fitted)
        report[name] = summarise(fitted) | {
            "seconds": round(seconds, 1),
            "frames_per_s": round(frames / seconds, 1),
        }
        print(json.dumps({name: {k: v for k, v in report[name].items() if k != "per_keypoint"}}, indent=1))
        all_fitted += fitted
    (REPO / "docs" / "results").mkdir(parents=True, exist_ok=True)
    (REPO / "docs" / "results" / "fitting_real.json").write_text(json.dumps(report, indent=1) + "\n")
    plot_examples(all_fitted, REPO / "docs" / "images" / "fit_real_examples.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
