"""Pictures of the synthetic generator for the docs and for checking realism by eye.

python scripts/plot_synthetic.py [--out-dir docs/images] [--seed 0]

Writes synthetic_poses_grid.png (posed meshes from every kind, at held shapes where a kind has
them) and synthetic_camera_examples.png (2D skeletons in their image frames, static and moving).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.data.synthetic import SEQUENCE_KINDS, SyntheticSequence, generate_sequence, hand_model_for
from engine.eval.mesh_plot import shade_mesh
from engine.hand.skeleton import MP21_PARENTS

FINGER_COLOURS = ("tab:red", "tab:orange", "tab:green", "tab:blue", "tab:purple")


def _finger_of(child: int) -> int:
    return (child - 1) // 4


def _pick_frame(seq: SyntheticSequence, rng: np.random.Generator) -> tuple[int, str]:
    if seq.holds:
        start, end, label = seq.holds[int(rng.integers(0, len(seq.holds)))]
        return (start + end) // 2, label
    return int(rng.integers(0, seq.motion.num_frames)), seq.kind


def poses_grid(out: Path, seed: int, rows: int = 4, cols: int = 6) -> None:
    """A rows x cols grid of shaded meshes, seen from the sequence's own camera."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    model, _ = hand_model_for("default")
    rng = np.random.default_rng(seed)
    fig = plt.figure(figsize=(3.0 * cols, 3.2 * rows), dpi=90)
    for i in range(rows * cols):
        kind = SEQUENCE_KINDS[i % len(SEQUENCE_KINDS)]
        seq = generate_sequence(seed * 1000 + i, 60, kind)
        frame, label = _pick_frame(seq, rng)
        m = seq.motion
        with torch.inference_mode():
            verts = (
                model(
                    m.hand_pose[frame : frame + 1],
                    m.global_orient[frame : frame + 1],
                    m.betas,
                    m.transl[frame : frame + 1],
                )
                .vertices[0]
                .numpy()
            )
        # Into the camera of that frame, so we see the hand as the camera does (y down -> flip).
        pose = seq.camera.cam_to_world[frame]
        cam_verts = (verts - pose[:3, 3]) @ pose[:3, :3]
        cam_verts = cam_verts * np.array([1.0, -1.0, -1.0])  # OpenCV -> a y-up, z-towards-viewer frame
        ax = fig.add_subplot(rows, cols, i + 1, projection="3d")
        shade_mesh(ax, cam_verts, model.faces, np.array([0.0, 0.0, -1.0]), (0.93, 0.74, 0.62))
        centre = cam_verts.mean(axis=0)
        radius = np.ptp(cam_verts, axis=0).max() / 2
        for setter, c in zip((ax.set_xlim, ax.set_ylim, ax.set_zlim), centre, strict=True):
            setter(c - radius, c + radius)
        ax.set_box_aspect((1, 1, 1))
        ax.view_init(elev=90, azim=-90, roll=0)
        ax.set_proj_type("ortho")
        ax.set_axis_off()
        ax.set_title(f"{kind}\n{label} (f{frame})", fontsize=8)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    plt.close(fig)


def camera_examples(out: Path, seed: int, count: int = 8) -> None:
    """2D skeletons in each sequence's image frame: first, middle and last frame (fading in), wrist path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = 4
    rows = (count + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.8 * rows), dpi=90)
    for i, ax in enumerate(np.ravel(axes)):
        kind = SEQUENCE_KINDS[i % len(SEQUENCE_KINDS)]
        seq = generate_sequence(seed * 1000 + 500 + i, 90, kind)
        # Regenerate the camera as static/moving alternately so both appear.
        from engine.data.cameras import sample_camera_track

        track = sample_camera_track(
            np.random.default_rng(seed + i), seq.motion.joints, 30.0, moving=i % 2 == 1
        )
        uv = track.project(seq.motion.joints)
        w, h = track.camera.image_size
        ax.add_patch(plt.Rectangle((0, 0), w, h, fill=False, color="k", lw=1.0))
        last = seq.motion.num_frames - 1
        ax.plot(*uv[:, 0].T, color="0.5", lw=0.8, ls="--")  # the wrist's path
        for f, alpha in ((0, 0.3), (last // 2, 0.6), (last, 1.0)):
            for c, p in enumerate(MP21_PARENTS):
                if p >= 0:
                    ax.plot(*uv[f, [p, c]].T, color=FINGER_COLOURS[_finger_of(c)], lw=1.2, alpha=alpha)
        inside = track.inside_fraction(seq.motion.joints)
        fov = np.degrees(2 * np.arctan(w / 2 / track.camera.K[0, 0]))
        ax.set_title(
            f"{kind}, {'moving' if track.moving else 'static'} {w}x{h}\n"
            f"hfov {fov:.0f} deg, inside {inside:.0%}",
            fontsize=9,
        )
        ax.set_xlim(-0.05 * w, 1.05 * w)
        ax.set_ylim(1.05 * h, -0.05 * h)  # image v grows downwards
        ax.set_aspect("equal")
        ax.tick_params(labelsize=7)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out-dir", type=Path, default=Path("docs/images"))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    grid = args.out_dir / "synthetic_poses_grid.png"
    poses_grid(grid, args.seed)
    print(f"wrote {grid}")
    cams = args.out_dir / "synthetic_camera_examples.png"
    camera_examples(cams, args.seed)
    print(f"wrote {cams}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
