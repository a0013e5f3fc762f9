"""Shaded mesh pictures with matplotlib (a dev dependency, imported lazily) for docs and checks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def shade_mesh(ax: Any, vertices: np.ndarray, faces: np.ndarray, view_dir: np.ndarray, colour: tuple) -> None:
    """Draw a Lambert-shaded triangle mesh on a 3D axis, back faces culled, painter-sorted."""
    from mpl_toolkits.mplot3d.art3d import Poly3DCollection

    tris = vertices[faces]
    normals = np.cross(tris[:, 1] - tris[:, 0], tris[:, 2] - tris[:, 0])
    normals /= np.linalg.norm(normals, axis=1, keepdims=True) + 1e-12
    to_eye = -view_dir / np.linalg.norm(view_dir)
    facing = normals @ to_eye
    light = np.clip(0.25 + 0.75 * np.abs(facing), 0, 1)
    order = np.argsort(-(tris.mean(axis=1) @ view_dir))  # far to near
    base = np.asarray(colour)
    colours = np.clip(base[None] * light[order, None], 0, 1)
    ax.add_collection3d(Poly3DCollection(tris[order], facecolors=colours, edgecolors="none"))


def render_views(
    meshes: list[tuple[str, np.ndarray, np.ndarray, np.ndarray]],
    out_path: str | Path,
    joints: list[np.ndarray | None] | None = None,
    colour: tuple = (0.93, 0.74, 0.62),
) -> Path:
    """Save a row of panels: (title, vertices, faces, view direction) each, optional skeletons."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from engine.hand.skeleton import MP21_PARENTS

    fig = plt.figure(figsize=(4.2 * len(meshes), 4.4), dpi=110)
    for i, (title, verts, faces, view) in enumerate(meshes):
        ax = fig.add_subplot(1, len(meshes), i + 1, projection="3d")
        view = np.asarray(view, dtype=float)
        shade_mesh(ax, verts, faces, view, colour)
        if joints is not None and joints[i] is not None:
            kp = joints[i]
            for c, p in enumerate(MP21_PARENTS):
                if p >= 0:
                    ax.plot(*np.stack([kp[p], kp[c]]).T, color="tab:blue", lw=1.2, alpha=0.8)
        centre = verts.mean(axis=0)
        radius = np.ptp(verts, axis=0).max() / 2
        for setter, c in zip((ax.set_xlim, ax.set_ylim, ax.set_zlim), centre, strict=True):
            setter(c - radius, c + radius)
        ax.set_box_aspect((1, 1, 1))
        # matplotlib's camera: elevation/azimuth looking towards the origin along -view.
        v = -view / np.linalg.norm(view)
        ax.view_init(elev=np.degrees(np.arcsin(v[2])), azim=np.degrees(np.arctan2(v[1], v[0])), roll=0)
        ax.set_axis_off()
        ax.set_title(title, fontsize=11)
    fig.tight_layout()
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_path)
    plt.close(fig)
    return out_path
