"""Render a hand model in rest pose (palm and back) and in named poses to a PNG for the docs.

python scripts/render_hand_pictures.py [--model default] [--side right] [-o docs/images/default_hand.png]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.eval.mesh_plot import render_views
from engine.hand import create_hand_model
from engine.hand.joint_limits import AnatomicalFrames
from engine.hand.poses import named_pose


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="default", help="hand model name or .npz path")
    parser.add_argument("--side", default="right", choices=("right", "left"))
    parser.add_argument("-o", "--out", type=Path, default=None)
    args = parser.parse_args(argv)
    out = args.out or Path(f"docs/images/{Path(args.model).stem}_hand_{args.side}.png")

    model = create_hand_model(args.model, args.side, dtype=torch.float64)
    frames = AnatomicalFrames.from_hand(
        model.data if args.side == "right" else create_hand_model(args.model).data
    )
    poses = {name: named_pose(name, frames, args.side) for name in ("flat", "fist", "point", "pinch")}
    batch = model(torch.as_tensor(np.stack(list(poses.values()))))
    verts = batch.vertices.numpy()
    kps = batch.keypoints.numpy()
    palm_view = np.array([0.0, 1.0, 0.0])  # looking along +y sees the palm (palm faces -y)
    back_view = np.array([0.0, -1.0, 0.0])
    side_view = np.array([0.3, 0.55, -1.0 if args.side == "right" else 1.0])
    panels = [
        ("rest, palm", verts[0], model.faces, palm_view),
        ("rest, back", verts[0], model.faces, back_view),
        ("fist", verts[1], model.faces, side_view),
        ("point", verts[2], model.faces, side_view),
        ("pinch", verts[3], model.faces, side_view),
    ]
    render_views(panels, out, joints=[kps[0], None, None, None, None])
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
