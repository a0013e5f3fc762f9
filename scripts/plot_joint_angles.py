"""Histograms of finger joint angles, real (fitted GRAB + ARCTIC) vs synthetic motion: how realistic
the generator is. Needs the fitted corpus from scripts/fit_real_corpus.py.

    python scripts/plot_joint_angles.py [--fits outputs/real_fits] [--sequences 96]

Writes docs/images/joint_angles_real_vs_synthetic.png and docs/results/joint_angles.json (per-angle
1D Wasserstein distance between the two distributions, degrees).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from scipy.stats import wasserstein_distance

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.data.real_corpus import load_fitted_corpus
from engine.data.synthetic import generate_corpus
from engine.hand.joint_limits import AnatomicalFrames, pose_to_anatomical
from engine.hand.registry import get_hand_model_data

REPO = Path(__file__).resolve().parent.parent
FINGERS = {
    "index": (1, 2, 3),
    "middle": (4, 5, 6),
    "ring": (10, 11, 12),
    "pinky": (7, 8, 9),
    "thumb": (13, 14, 15),
}
PANELS = (
    ("knuckle (MCP) flexion", [FINGERS[f][0] for f in ("index", "middle", "ring", "pinky")], 0),
    ("middle joint (PIP) flexion", [FINGERS[f][1] for f in ("index", "middle", "ring", "pinky")], 0),
    ("end joint (DIP) flexion", [FINGERS[f][2] for f in ("index", "middle", "ring", "pinky")], 0),
    ("knuckle (MCP) abduction", [FINGERS[f][0] for f in ("index", "middle", "ring", "pinky")], 1),
    ("thumb flexion (CMC, MCP, IP)", list(FINGERS["thumb"]), 0),
    ("thumb CMC abduction", [FINGERS["thumb"][0]], 1),
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--fits", type=Path, default=REPO / "outputs" / "real_fits")
    parser.add_argument("--sequences", type=int, default=96)
    args = parser.parse_args(argv)
    frames = AnatomicalFrames.from_hand(get_hand_model_data("default"))
    real_pose = np.concatenate(
        [
            s.motion.hand_pose
            for name in ("grab_s1", "arctic")
            for s in load_fitted_corpus(args.fits / f"{name}.npz")
        ]
    )
    synth_pose = np.concatenate([s.motion.hand_pose for s in generate_corpus(args.sequences, seed=2024)])
    real = np.degrees(pose_to_anatomical(real_pose, frames))
    synth = np.degrees(pose_to_anatomical(synth_pose, frames))

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 3, figsize=(13, 7))
    for ax, (title, joints, component) in zip(axes.ravel(), PANELS, strict=True):
        r = real[:, [j - 1 for j in joints], component].ravel()
        s = synth[:, [j - 1 for j in joints], component].ravel()
        bins = np.linspace(min(r.min(), s.min()), max(r.max(), s.max()), 60)
        ax.hist(r, bins=bins, density=True, alpha=0.55, label=f"real fitted ({len(real_pose):,} frames)")
        ax.hist(s, bins=bins, density=True, alpha=0.55, label=f"synthetic ({len(synth_pose):,} frames)")
        ax.set_title(f"{title}\nWasserstein {wasserstein_distance(r, s):.1f} deg", fontsize=10)
        ax.set_xlabel("degrees")
    axes[0, 0].legend(fontsize=8)
    fig.tight_layout()
    out = REPO / "docs" / "images" / "joint_angles_real_vs_synthetic.png"
    fig.savefig(out, dpi=100)
    names = ["flexion", "abduction", "twist"]
    from engine.hand.skeleton import MANO_JOINT_NAMES

    distances = {
        f"{MANO_JOINT_NAMES[j + 1]}_{names[c]}": round(
            float(wasserstein_distance(real[:, j, c], synth[:, j, c])), 2
        )
        for j in range(15)
        for c in range(3)
    }
    report = {
        "real_frames": len(real_pose),
        "synthetic_frames": len(synth_pose),
        "mean_wasserstein_deg": round(float(np.mean(list(distances.values()))), 2),
        "per_angle_wasserstein_deg": distances,
    }
    (REPO / "docs" / "results" / "joint_angles.json").write_text(json.dumps(report, indent=1) + "\n")
    print(f"wrote {out}; mean Wasserstein {report['mean_wasserstein_deg']} deg")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
