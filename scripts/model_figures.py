"""Pictures for the model card: training curves (the VAE and denoiser; the gap refiner), a
gap-infilling example on a held-out real window, and a strip of meshes of generated motion.

    python scripts/model_figures.py [--run runs/default] [--data outputs/corpus]

Writes docs/images/training_curves.png, docs/images/gap_refiner_curves.png,
docs/images/gap_infill_example.png and docs/images/generated_strip.png.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

REPO = Path(__file__).resolve().parent.parent
IMAGES = REPO / "docs" / "images"


def _scalars(run: Path, stage: str) -> dict[str, list[tuple[int, float]]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run / "tb" / stage))
    acc.Reload()
    out = {}
    for tag in acc.Tags()["scalars"]:
        # A resumed run logs some steps twice: keep the last value of each step.
        by_step = {e.step: e.value for e in acc.Scalars(tag)}
        out[tag] = sorted(by_step.items())
    return out


def training_curves(run: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    vae = _scalars(run, "vae")
    for tag, ax in (("mpjpe_mm", axes[0]), ("loss", axes[1])):
        for split in ("train", "val"):
            pts = vae.get(f"{split}/{tag}", [])
            if pts:
                s, v = zip(*pts, strict=True)
                ax.plot(s, v, label=f"VAE {split}", marker="o" if split == "val" else None, ms=3)
        ax.set_xlabel("step")
        ax.legend()
    axes[0].set_title("VAE reconstruction MPJPE (mm)")
    axes[0].set_yscale("log")
    axes[1].set_title("VAE total loss")
    den = _scalars(run, "denoiser")
    for split in ("train", "val"):
        pts = den.get(f"{split}/simple", [])
        if pts:
            s, v = zip(*pts, strict=True)
            axes[2].plot(s, v, label=f"denoiser {split}", marker="o" if split == "val" else None, ms=3)
    axes[2].set_title("Denoiser x0 MSE (unit latents)")
    axes[2].set_xlabel("step")
    axes[2].legend()
    fig.tight_layout()
    out = IMAGES / "training_curves.png"
    fig.savefig(out, dpi=90)
    return out


def gap_refiner_curves(run: Path) -> Path:
    """The gap refiner's training (`main.py train gap`): its error on the holes against the prior's."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    gap = _scalars(run, "gap")
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for split in ("train", "val"):
        for tag, ax in (("gap_mm", axes[0]), ("ratio_to_prior", axes[1])):
            pts = gap.get(f"{split}/{tag}", [])
            if pts:
                s, v = zip(*pts, strict=True)
                ax.plot(s, v, label=f"refined, {split}", marker="o" if split == "val" else None, ms=3)
    prior = gap.get("val/prior_mm", [])
    if prior:
        s, v = zip(*prior, strict=True)
        axes[0].plot(s, v, color="0.5", ls="--", label="prior alone, val")
    axes[0].set_title("Gap refiner: MPJPE on the holes (mm)")
    axes[1].set_title("Gap refiner: error / prior's error")
    for ax in axes:
        ax.set_xlabel("step")
        ax.legend()
    fig.tight_layout()
    out = IMAGES / "gap_refiner_curves.png"
    fig.savefig(out, dpi=90)
    return out


def gap_example(data: Path, gap: int = 30, index: int = 0) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from engine.editing.infill import load_infiller
    from engine.editing.request import InfillRequest
    from engine.eval.infill_eval import interpolate, load_windows
    from engine.hand.skeleton import MP21_PARENTS
    from engine.motion.types import Conditions

    windows = load_windows(data, "real", limit=20, seed=0)
    gt = windows.kp3d[index]
    start = 45
    observed = np.ones(120, bool)
    observed[start : start + gap] = False
    cond = Conditions(fps=30.0, num_frames=120, kp3d=gt, kp3d_mask=np.repeat(observed[:, None], 21, 1))
    pred = load_infiller("cpu")(InfillRequest(cond, steps=10)).motion.joints
    spline = interpolate(gt, observed, "cubic")
    fig = plt.figure(figsize=(16, 7))
    frames = np.linspace(start + 2, start + gap - 3, 5).astype(int)
    for i, f in enumerate(frames):
        ax = fig.add_subplot(2, 5, i + 1, projection="3d")
        for joints, colour, label in (
            (gt, "0.4", "truth"),
            (pred, "tab:orange", "UniHand"),
            (spline, "tab:blue", "spline"),
        ):
            j = joints[f]
            for c, p in enumerate(MP21_PARENTS):
                if p >= 0:
                    ax.plot(
                        *zip(j[c], j[p], strict=True), color=colour, lw=2, label=label if c == 1 else None
                    )
        ax.set_title(f"gap frame {f - start + 1}/{gap}")
        centre = gt[f].mean(0)
        for setter, k in ((ax.set_xlim, 0), (ax.set_ylim, 1), (ax.set_zlim, 2)):
            setter(centre[k] - 0.09, centre[k] + 0.09)
        ax.view_init(elev=-70, azim=-90)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_zticks([])
        if i == 0:
            ax.legend(loc="upper left", fontsize=8)
    names = {8: "index tip", 4: "thumb tip"}
    for i, (joint, name) in enumerate(names.items()):
        for axis in range(3):
            ax = fig.add_subplot(2, 6, 7 + 3 * i + axis)
            ax.plot(gt[:, joint, axis] * 1000, color="0.4", label="truth")
            ax.plot(pred[:, joint, axis] * 1000, color="tab:orange", label="UniHand")
            ax.plot(spline[:, joint, axis] * 1000, color="tab:blue", ls="--", label="spline")
            ax.axvspan(start, start + gap, color="0.9")
            ax.set_title(f"{name} {'xyz'[axis]} (mm)", fontsize=9)
            if i == 0 and axis == 0:
                ax.legend(fontsize=7)
    from engine.eval.metrics import mpjpe

    errors = (mpjpe(pred[~observed], gt[~observed]), mpjpe(spline[~observed], gt[~observed]))
    fig.suptitle(
        f"Held-out real window ({windows.names[index]}), {gap}-frame gap of 3D keypoints: "
        "MPJPE on the gap %.1f mm (UniHand), %.1f mm (spline)" % errors
    )
    fig.tight_layout()
    out = IMAGES / "gap_infill_example.png"
    fig.savefig(out, dpi=80)
    return out


def generated_strip() -> Path:
    import torch

    from engine.editing.infill import load_infiller
    from engine.editing.request import InfillRequest
    from engine.eval.bench import _demo_conditions
    from engine.eval.mesh_plot import render_views
    from engine.hand import create_hand_model

    cond = _demo_conditions(120, seed=11)
    # 2D keypoints on every 15th frame only: the frames between are generated.
    sparse = np.zeros((120, 21), bool)
    sparse[::15] = True
    motion = load_infiller("cpu")(InfillRequest(cond.replace(kp2d_mask=sparse), steps=10)).motion
    hand = create_hand_model(motion.hand_model, "right")
    frames = [0, 20, 40, 60, 80, 100, 119]
    with torch.no_grad():
        out = hand(
            torch.as_tensor(motion.hand_pose[frames], dtype=torch.float32),
            torch.as_tensor(motion.global_orient[frames], dtype=torch.float32),
            torch.as_tensor(motion.betas[None], dtype=torch.float32).expand(len(frames), -1),
            torch.as_tensor(motion.transl[frames], dtype=torch.float32),
        )
    view = np.array([0.0, 0.0, 1.0])  # the camera looks along +z
    meshes = [(f"frame {f}", out.vertices[i].numpy(), hand.faces, view) for i, f in enumerate(frames)]
    return render_views(meshes, IMAGES / "generated_strip.png", joints=[motion.joints[f] for f in frames])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--run", default="runs/default")
    parser.add_argument("--data", default="outputs/corpus")
    parser.add_argument("--only", choices=("curves", "gap_curves", "gap", "strip"))
    args = parser.parse_args(argv)
    if args.only in (None, "curves"):
        print(training_curves(Path(args.run)))
    if args.only in (None, "gap_curves"):
        print(gap_refiner_curves(Path(args.run)))
    if args.only in (None, "gap"):
        print(gap_example(Path(args.data)))
    if args.only in (None, "strip"):
        print(generated_strip())
    return 0


if __name__ == "__main__":
    sys.exit(main())
